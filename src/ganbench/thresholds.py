"""Metric gates for CI: the mean of each gated metric over a variant's seeds against a
committed upper (or lower) bound, refused where the protocols differ.

A bound holds for the protocol it was measured under (:mod:`ganbench.protocol`: N real,
split, weights, resize, …), which a metric's name does not fully carry.  A thresholds
file therefore declares that protocol with one reserved key, ``protocol_from:`` the
folder (relative to the file) of the measured eval results the bounds were set from.
For every gated (variant, metric), :func:`check` refuses to gate, naming the first
differing field,

* a mean over seeds whose scores were made with different protocols, and
* scores whose protocol differs from the declared one (that variant's score in
  ``protocol_from``).

Without ``protocol_from`` only the first applies, and the command says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ganbench.errors import ParamsError
from ganbench.results import read_result
from ganbench.protocol import protocol_difference, score_provenance


#: The reserved key of a thresholds file that declares the bounds' protocol.
PROTOCOL_KEY = "protocol_from"


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsError(f"thresholds file {path} is unreadable ({type(exc).__name__}); fix or create it") from None


def protocol_source(path: Path) -> Path | None:
    """The folder of eval results that declares the protocol of the bounds in the
    thresholds file ``path`` (its ``protocol_from``, relative to the file), or None."""
    raw = _read(path)
    value = raw.get(PROTOCOL_KEY) if isinstance(raw, dict) else None
    if value is None:
        return None
    folder = Path(path).parent / str(value)
    if not folder.is_dir():
        raise ParamsError(f"{path}: {PROTOCOL_KEY} names {folder}, which is not a folder; point it at the eval "
                          "results the bounds were set from")
    return folder


def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """YAML ``{variant: {metric_name: bound}}`` (and optionally ``protocol_from: <folder>``,
    see :func:`protocol_source`); the metric name carries N (e.g. fid500). A bound is a
    maximum, or a minimum for metrics where higher is better."""
    raw = _read(path)
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != PROTOCOL_KEY}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ParamsError(f"{path} must map variant → {{metric: bound}}, e.g. 'dcgan: {{fid500: 150}}'")
    try:
        return {str(k): {str(m): float(x) for m, x in v.items()} for k, v in raw.items()}
    except (TypeError, ValueError):
        raise ParamsError(f"{path}: every bound must be a number") from None


def _runs(eval_dir: Path, variant: str) -> list[dict[str, Any]]:
    """The evaluation results of every seed of ``variant`` (files ``<variant>-<seed>.json``)."""
    out = []
    for path in sorted(Path(eval_dir).glob(f"{variant}-*.json")):
        if not re.fullmatch(rf"{re.escape(variant)}-\d+\.json", path.name):
            continue
        out.append(read_result(path, f"evaluate@{path.stem}"))
    return out


def _seed(run: dict[str, Any]) -> str:
    return f"seed {run.get('seed', '?')}"


def protocol_refusal(metric: str, runs: list[dict[str, Any]], declared: list[dict[str, Any]] | None,
                     source: Path | None = None) -> str | None:
    """Why the scores of ``metric`` in ``runs`` (one variant's seeds) may not be gated on a
    bound set from ``declared`` (that variant's eval results where the bound was set;
    None: no protocol declared), with the fix, or None when they may."""
    provs = [score_provenance(r, metric) for r in runs]
    for run, prov in zip(runs[1:], provs[1:]):
        diff = protocol_difference(provs[0], prov)
        if diff:
            return (f"its seeds were made with different protocols: {diff} ({_seed(runs[0])} vs {_seed(run)}); "
                    "evaluate every seed with the same params (`dvc repro`)")
    if declared is None:
        return None
    bound_provs = [score_provenance(r, metric) for r in declared if metric in r]
    if not bound_provs:
        return (f"{source} holds no {metric} of this variant to say how its bound was made; add the measured "
                "results there or drop the bound")
    diff = protocol_difference(bound_provs[0], provs[0])
    if diff:
        return (f"its protocol is not the one the bound was set under ({source}): {diff} (bound vs this run); "
                "evaluate with the bound's protocol, or re-measure the baseline and reset the bound")
    return None


def direction(metric: str) -> str:
    """``higher`` (gated from below) or ``lower`` (from above), as the metric that writes
    the value declares it (``MetricSpec.better``)."""
    from ganbench.metrics.registry import value_spec

    try:
        spec, prefix = value_spec(metric)
    except KeyError:
        raise ParamsError(f"thresholds name {metric!r}, which no registered metric writes; use a value name "
                          "from metrics/eval/*.json (e.g. fid2k)") from None
    return spec.better[prefix]


def unattainable(thresholds: dict[str, dict[str, float]], protocol_dir: Path) -> list[str]:
    """Bounds that can never fail (or never pass): outside the range the metric can take
    (``MetricSpec.attainable``) for the protocol of the eval results in ``protocol_dir``
    (e.g. ``class_kl1k ≤ 12.7`` when a one-class generator scores 10.3). One line each."""
    from ganbench.metrics.registry import value_spec

    problems = []
    for variant, bounds in thresholds.items():
        runs = _runs(protocol_dir, variant)
        for metric, bound in bounds.items():
            spec, prefix = value_spec(metric)
            prov = score_provenance(runs[0], metric.removesuffix("_std")) if runs else {}
            low, high = spec.attainable_range(prefix, prov)
            if spec.better[prefix] == "lower":  # an upper bound: useless at or above the maximum
                useless = (high is not None and bound >= high) or (low is not None and bound < low)
            else:  # a lower bound: useless at or below the minimum
                useless = (low is not None and bound <= low) or (high is not None and bound > high)
            if useless:
                problems.append(f"{variant} {metric} bound {bound:g} is outside what the metric can take "
                                f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]: "
                                "it can never fail")
    return problems


def check(thresholds: dict[str, dict[str, float]], eval_dir: Path,
          protocol_dir: Path | None = None) -> list[dict[str, Any]]:
    """One row per (variant, metric): the mean over seeds, the bound, its direction, the
    number of seeds, ok, and ``refused``: why the scores may not be gated on the bound
    (:func:`protocol_refusal` against the eval results in ``protocol_dir``), else None.
    A metric missing from any seed's results gives value None (a score made with another
    N is not comparable with the bound); a refused row is never ok."""
    rows = []
    for variant, bounds in thresholds.items():
        runs = _runs(eval_dir, variant)
        declared = _runs(protocol_dir, variant) if protocol_dir is not None else None
        for metric, bound in bounds.items():
            values = [r.get(metric) for r in runs]
            present = bool(values) and all(isinstance(v, (int, float)) for v in values)
            value = sum(values) / len(values) if present else None
            refused = protocol_refusal(metric, runs, declared, protocol_dir) if present else None
            higher = direction(metric) == "higher"
            ok = present and refused is None and (value >= bound if higher else value <= bound)
            rows.append({"variant": variant, "metric": metric, "value": value, "bound": bound,
                         "direction": "min" if higher else "max", "seeds": len(runs), "ok": ok,
                         "refused": refused})
    return rows
