"""Reading one run's outputs from the pipeline's files into a :class:`Run`.

A run is one (variant, seed) pair; its key ``"<variant>-<seed>"`` names every file::

    metrics/train/<key>.json   {"variant", "seed", "budget", "budget_amount", "kimg", "g_steps", ...}
    metrics/eval/<key>.json    {"variant", "seed", "fid2k": 42.9, "kid2k": 0.012, "kid2k_std": 0.001,
                                ..., "provenance": {"fid2k": {...}, "kid2k": {...}}}
    plots/losses/<key>.csv     long CSV step,name,value (objective scalars per generator step)
    plots/curves/<key>.csv     long CSV step,kimg,name,value (the training-time metric, e.g.
                               fd_domain2k; a kimg column, or kimg rows, at the same steps)
    samples/<key>.png          the sample grid
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.errors import DataError
from ganbench.io import read_series_csv, series_errors
from ganbench.results import read_result
from ganbench.protocol import score_provenance
from ganbench.report.names import is_spread

#: Keys of an eval JSON that identify the run rather than score it.
IDENTITY_KEYS = frozenset({"variant", "seed", "provenance", "metric"})

Row = tuple[int, str, float]


@dataclass(frozen=True)
class RunId:
    """One trained model: a variant and a seed (``key`` is DVC's matrix suffix)."""

    variant: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.variant}-{self.seed}"


def run_ids(variants: Iterable[str], seeds: Iterable[int]) -> list[RunId]:
    """Every (variant, seed) pair, variants outermost: ``dcgan-0, dcgan-1, wgan_gp-0, …``."""
    seeds = list(seeds)
    return [RunId(v, int(s)) for v in variants for s in seeds]


@dataclass(frozen=True)
class ReportPaths:
    """Where the pipeline's outputs are (the report stage's deps)."""

    train_dir: Path = Path("metrics/train")
    eval_dir: Path = Path("metrics/eval")
    samples_dir: Path = Path("samples")
    losses_dir: Path = Path("plots/losses")
    curves_dir: Path = Path("plots/curves")


@dataclass(frozen=True)
class Run:
    """Everything the report knows about one run.

    ``scores``: metric → value (finite numbers, ``*_std`` keys excluded);
    ``spreads``: metric → its ``*_std``; ``provenance``: metric → provenance dict;
    ``losses``/``curves``: rows ``(step, name, value)``; ``grid``: the PNG's bytes."""

    id: RunId
    train: Mapping[str, Any]
    eval: Mapping[str, Any]
    scores: Mapping[str, float]
    spreads: Mapping[str, float]
    provenance: Mapping[str, Mapping[str, Any]]
    losses: Sequence[Row] = ()
    curves: Sequence[Row] = ()
    grid: bytes | None = None
    files: Mapping[str, Path] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.id.key

    @property
    def variant(self) -> str:
        return self.id.variant


def is_number(value: Any) -> bool:
    """A real number (bools are not), finite or not."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def split_scores(ev: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """(scores, spreads) of an eval JSON, both in file order."""
    keys = frozenset(ev)
    scores, spreads = {}, {}
    for k, v in ev.items():
        if k in IDENTITY_KEYS or not is_number(v):
            continue
        if is_spread(k, keys):
            spreads[k[: -len("_std")]] = float(v)
        elif math.isfinite(float(v)):
            scores[k] = float(v)
    return scores, spreads


def metric_provenance(ev: Mapping[str, Any], metrics: Iterable[str]) -> dict[str, dict[str, Any]]:
    """metric → provenance: the per-metric dict, or (older files) one flat dict shared by all."""
    return {m: score_provenance(ev, m) for m in metrics}


def read_series(path: Path) -> list[Row]:
    """Rows of a long ``step,name,value`` CSV; ``[]`` when the file is absent.  A ``kimg``
    column (``step,kimg,name,value``) becomes ``(step, "kimg", kimg)`` rows, once per step."""
    fix = "re-run the stage that writes it"
    rows: list[Row] = []
    kimg_at: dict[int, float] = {}
    with series_errors(path, fix):
        for r in read_series_csv(path, fix):
            step = int(float(r["step"]))
            rows.append((step, r["name"], float(r["value"])))
            if r.get("kimg") not in ("", None) and step not in kimg_at:
                kimg_at[step] = float(r["kimg"])
    return rows + [(s, "kimg", k) for s, k in kimg_at.items() if math.isfinite(k)]


def load_run(rid: RunId, paths: ReportPaths) -> Run:
    """Read one run's files (train and eval JSON are required; plots and grid are optional)."""
    key = rid.key
    files = {
        "train": Path(paths.train_dir) / f"{key}.json",
        "eval": Path(paths.eval_dir) / f"{key}.json",
        "losses": Path(paths.losses_dir) / f"{key}.csv",
        "curves": Path(paths.curves_dir) / f"{key}.csv",
        "grid": Path(paths.samples_dir) / f"{key}.png",
    }
    ev = read_result(files["eval"], f"evaluate@{key}")
    tr = read_result(files["train"], f"train@{key}")
    scores, spreads = split_scores(ev)
    grid = files["grid"].read_bytes() if files["grid"].is_file() else None
    return Run(id=rid, train=tr, eval=ev, scores=scores, spreads=spreads,
               provenance=metric_provenance(ev, scores), losses=read_series(files["losses"]),
               curves=read_series(files["curves"]), grid=grid, files=files)


def load_runs(ids: Sequence[RunId], paths: ReportPaths) -> list[Run]:
    """:func:`load_run` for every id, in order; the first missing JSON stops with its stage."""
    if not ids:
        raise DataError("no runs to report: params 'variants' (and 'seeds') is empty")
    return [load_run(rid, paths) for rid in ids]
