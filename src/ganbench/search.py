"""A hyper-parameter search with the same budget for every variant, as Lucic et al. 2018 ran
theirs (google/compare_gan v1 ``generate_tasks_lib.py``, ``params.py``; docs/lucic_protocol.md §3).

:func:`sample_settings` draws K settings per variant from the study's ranges: setting 0 is
the variant's own defaults (compare_gan's "sample 0"), the others are drawn from a seeded
stream. A knob applies to a variant only where its section has that field (``n_critic``
for the adversarial objectives, ``clip`` for WGAN, ``gp_weight`` for WGAN-GP and DRAGAN,
no ``d_optim`` for the VAE), so one table serves every objective. Each setting becomes
``dvc exp run -S`` overrides (:func:`overrides`); the experiments choose nothing on the test
split: :func:`selection` points evaluation at the training split's first images.

:func:`summarize` aggregates the scores: per variant the best of K, the median, and the
expected best score when only k of the K settings had been tried, for k = 1..K
(:func:`expected_best`; Lucic et al.'s "minimum FID as a function of the budget", computed
exactly over the K values rather than by resampling).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ganbench.protocol import lookup

Range = Literal["wide", "narrow"]


@dataclass(frozen=True)
class Knob:
    """One searched hyper-parameter: its name in compare_gan, the variant-section fields it
    sets (all to the same value), the field whose presence makes it apply, and its draw;
    ``unless``: (a field, another draw) for the sections that have that field."""

    name: str
    fields: tuple[str, ...]
    applies_if: str
    draw: Callable[[random.Random], Any]
    unless: tuple[str, Callable[[random.Random], Any]] | None = None

    def draw_for(self, section: Mapping[str, Any]) -> Callable[[random.Random], Any]:
        """The draw for a variant whose params section is ``section``."""
        if self.unless is not None and lookup(section, self.unless[0]) is not None:
            return self.unless[1]
        return self.draw


def _log_uniform(lo: float, hi: float) -> Callable[[random.Random], float]:
    return lambda rng: float(10 ** rng.uniform(lo, hi))


def _uniform(lo: float, hi: float) -> Callable[[random.Random], float]:
    return lambda rng: float(rng.uniform(lo, hi))


def _choice(*values: Any) -> Callable[[random.Random], Any]:
    return lambda rng: rng.choice(values)


def _const(value: Any) -> Callable[[random.Random], Any]:
    return lambda rng: value


#: compare_gan v1 params.py: the wide range of the study's phase 1 (100 samples per model)
#: and the narrow one of phase 2 (50 samples). lr and β1 set G's and D's Adam alike.
RANGES: dict[str, tuple[Knob, ...]] = {
    "wide": (
        Knob("learning_rate", ("g_optim.lr", "d_optim.lr"), "g_optim", _log_uniform(-5, -2)),
        Knob("beta1", ("g_optim.betas.0", "d_optim.betas.0"), "g_optim", _uniform(0.0, 1.0)),
        Knob("disc_iters", ("loss.n_critic",), "loss.n_critic", _choice(1, 5)),
        Knob("discriminator_batchnorm", ("model.d_batchnorm",), "model.d_batchnorm", _choice(True, False)),
        Knob("weight_clipping", ("loss.clip",), "loss.clip", _log_uniform(-3, 0)),
        Knob("lambda", ("loss.gp_weight",), "loss.gp_weight", _log_uniform(-1, 2)),
    ),
    "narrow": (
        Knob("learning_rate", ("g_optim.lr", "d_optim.lr"), "g_optim", _log_uniform(-4, -3)),
        Knob("beta1", ("g_optim.betas.0", "d_optim.betas.0"), "g_optim", _const(0.5)),
        Knob("disc_iters", ("loss.n_critic",), "loss.n_critic", _const(1)),
        # BN off for WGAN-GP and DRAGAN (the objectives with a gradient penalty), searched otherwise.
        Knob("discriminator_batchnorm", ("model.d_batchnorm",), "model.d_batchnorm", _choice(True, False),
             unless=("loss.gp_weight", _const(False))),
        Knob("weight_clipping", ("loss.clip",), "loss.clip", _log_uniform(-2, 0)),
        Knob("lambda", ("loss.gp_weight",), "loss.gp_weight", _log_uniform(-1, 1)),
    ),
}

def selection(num_real: int = 10_000) -> dict[str, str]:
    """What every search experiment changes besides its setting: one training seed, and the
    score that selects computed against the *training* split's first ``num_real`` images
    (Fashion-MNIST's test split holds 10,000), never the test split."""
    return {"seeds": "[0]", "evaluate.reference_split": "train", "evaluate.num_real": str(num_real)}


def _has(section: Mapping[str, Any], dotted: str) -> bool:
    return lookup(section, dotted) is not None


def sample_settings(section: Mapping[str, Any], k: int, seed: int | str, search_range: Range = "wide",
                    ) -> list[dict[str, Any]]:
    """K settings for a variant whose (complete, plain-data) params section is ``section``:
    ``[{}, {knob: value, ...}, ...]``, the first being its defaults. The same (section's
    knobs, k, seed, range) give the same list."""
    if k < 1:
        raise ValueError(f"a search needs K ≥ 1 settings, got {k}")
    draws = {knob.name: knob.draw_for(section) for knob in RANGES[search_range]
             if _has(section, knob.applies_if)}
    rng = random.Random(seed)
    settings: list[dict[str, Any]] = [{}]
    for _ in range(k - 1):
        settings.append({name: draw(rng) for name, draw in draws.items()})
    return settings


def overrides(variant: str, section: Mapping[str, Any], setting: Mapping[str, Any],
              search_range: Range = "wide", num_real: int = 10_000) -> list[str]:
    """``dvc exp run -S`` values for one setting of ``variant``: the setting's fields (β1 as
    the whole ``betas`` pair, whose β2 stays), the variant alone in ``variants``, and
    :func:`selection`."""
    out = [f"variants=[{variant}]", *(f"{k}={v}" for k, v in selection(num_real).items())]
    knobs = {knob.name: knob for knob in RANGES[search_range]}
    for name, value in setting.items():
        for dotted in knobs[name].fields:
            if not _has(section, dotted):  # a VAE has no d_optim
                continue
            if dotted.endswith(".betas.0"):
                prefix = dotted.removesuffix(".0")
                beta2 = lookup(section, f"{prefix}.1")
                out.append(f"{variant}.{prefix}=[{_number(value)},{_number(beta2)}]")
            else:
                out.append(f"{variant}.{dotted}={_number(value) if not isinstance(value, bool) else str(value).lower()}")
    return out


def _number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def experiment_name(variant: str, index: int) -> str:
    """``search-<variant>-<index>`` (DVC experiment names allow letters, digits, - and _)."""
    return f"search-{variant.replace('_', '-')}-{index:03d}"


def expected_best(values: Sequence[float], lower_is_better: bool = True) -> list[float]:
    """E[best of k settings drawn at random without replacement from ``values``], for
    k = 1..K: with the values sorted best first, the i-th best (1-based) is the best of a
    k-subset with probability C(K − i, k − 1) / C(K, k)."""
    ordered = sorted(values, reverse=not lower_is_better)
    n = len(ordered)
    curve = []
    for k in range(1, n + 1):
        total = math.comb(n, k)
        curve.append(sum(ordered[i] * math.comb(n - 1 - i, k - 1) for i in range(n - k + 1)) / total)
    return curve


def summarize(scores: Mapping[str, Mapping[str, float]], lower_is_better: bool = True) -> dict[str, Any]:
    """``{variant: {experiment: score}}`` → per variant: K, the best score and its
    experiment, the median, and :func:`expected_best`'s curve."""
    out: dict[str, Any] = {}
    for variant, by_exp in scores.items():
        if not by_exp:
            continue
        values = list(by_exp.values())
        pick = min if lower_is_better else max
        best_exp = pick(by_exp, key=by_exp.__getitem__)
        out[variant] = {"k": len(values), "best": by_exp[best_exp], "best_experiment": best_exp,
                        "median": statistics.median(values),
                        "expected_best": expected_best(values, lower_is_better)}
    return out
