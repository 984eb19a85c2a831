"""Metric gates for CI: the mean of each gated metric over a variant's seeds against a
committed upper (or lower) bound."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ganbench.errors import DataError, ParamsError

#: Metrics where higher is better are gated from below; all others from above.
HIGHER_IS_BETTER = re.compile(r"^(precision|recall|classes_covered|class_accuracy)")


def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """YAML ``{variant: {metric_name: bound}}``; the metric name carries N (e.g. fid500).
    A bound is a maximum, or a minimum for metrics where higher is better."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsError(f"thresholds file {path} is unreadable ({type(exc).__name__}); fix or create it") from None
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
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            raise DataError(f"{path} is unreadable; re-run `dvc repro evaluate@{path.stem}`") from None
    return out


def check(thresholds: dict[str, dict[str, float]], eval_dir: Path) -> list[dict[str, Any]]:
    """One row per (variant, metric): the mean over seeds, the bound, its direction, the
    number of seeds, ok. A metric missing from any seed's results gives value None (a
    score made with another N is not comparable with the bound)."""
    rows = []
    for variant, bounds in thresholds.items():
        runs = _runs(eval_dir, variant)
        for metric, bound in bounds.items():
            values = [r.get(metric) for r in runs]
            present = bool(values) and all(isinstance(v, (int, float)) for v in values)
            value = sum(values) / len(values) if present else None
            higher = bool(HIGHER_IS_BETTER.match(metric))
            ok = present and (value >= bound if higher else value <= bound)
            rows.append({"variant": variant, "metric": metric, "value": value, "bound": bound,
                         "direction": "min" if higher else "max", "seeds": len(runs), "ok": ok})
    return rows
