"""FID gates for CI: compare evaluation metrics against committed upper bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ganbench.errors import DataError, ParamsError


def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """YAML ``{variant: {metric_name: max_value}}``; the metric name carries N (e.g. fid500)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsError(f"thresholds file {path} is unreadable ({type(exc).__name__}); fix or create it") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ParamsError(f"{path} must map variant → {{metric: max}}, e.g. 'dcgan: {{fid500: 150}}'")
    return {str(k): {str(m): float(x) for m, x in v.items()} for k, v in raw.items()}


def check(thresholds: dict[str, dict[str, float]], eval_dir: Path) -> list[dict[str, Any]]:
    """One row per (variant, metric): value, bound, ok. A missing metric is a failure:
    a score made with another N is not comparable with the bound."""
    rows = []
    for variant, bounds in thresholds.items():
        path = Path(eval_dir) / f"{variant}.json"
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            raise DataError(f"{path} is missing or unreadable; run `dvc repro evaluate@{variant}`") from None
        for metric, bound in bounds.items():
            value = result.get(metric)
            ok = isinstance(value, (int, float)) and value <= bound
            rows.append({"variant": variant, "metric": metric, "value": value, "max": bound, "ok": ok})
    return rows
