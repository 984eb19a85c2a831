"""Exact comparison of evaluation metrics with committed baseline metrics (CI).

With ``numerics.cpu_isa: avx2`` training, sampling and the domain classifier give the
same bits on every x86-64 CPU with AVX2, so a CI run must reproduce its committed
baseline, not merely stay inside the gates. What is left differs by float rounding
alone, and each score's tolerance follows from how it was made (its provenance):

* torch-only scores (the domain classifier's features, or Inception on torch): the
  float64 metric algebra runs in NumPy's OpenBLAS, whose kernels still follow the CPU
  (~1e-13 relative seen between AVX2 and AVX-512 machines): ``TORCH_RTOL`` = 1e-6;
* Inception scores from ONNX Runtime: its MLAS kernels are chosen by CPUID with no
  switch to pin them (~1e-7 relative in the features; fid250 moved by 6e-8 between an
  AVX2 and an AVX-512 machine, issue 20): ``ONNX_RTOL`` = 1e-5, a 100× margin.

A run made under another protocol (:func:`ganbench.protocol.protocol_difference`) or
other numerics (``native``, other threads) is not compared: the row says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.errors import DataError
from ganbench.results import is_result_file, read_result
from ganbench.protocol import protocol_difference, score_provenance

TORCH_RTOL = 1e-6
ONNX_RTOL = 1e-5
#: Absolute slack for values at or near 0 (precision 0.0, KID of identical sets).
ATOL = 1e-12
#: Provenance fields of ``numerics`` that must agree for the bits to agree.
NUMERICS_FIELDS = ("cpu_isa", "threads")


@dataclass(frozen=True)
class Comparison:
    """One value of one run against its baseline value."""

    run: str
    metric: str
    baseline: float | None
    value: float | None
    rtol: float
    #: Why the values cannot be compared (missing, other numerics), or None.
    problem: str | None = None

    @property
    def rel_diff(self) -> float | None:
        if self.baseline is None or self.value is None:
            return None
        scale = max(abs(self.baseline), abs(self.value))
        return 0.0 if scale == 0 else abs(self.value - self.baseline) / scale

    @property
    def ok(self) -> bool:
        if self.problem is not None or self.baseline is None or self.value is None:
            return False
        return abs(self.value - self.baseline) <= self.rtol * max(abs(self.baseline), abs(self.value)) + ATOL


def tolerance(provenance: Mapping[str, Any]) -> float:
    """The relative tolerance of a score made as ``provenance`` says (module docstring)."""
    return ONNX_RTOL if provenance.get("engine") == "onnx" else TORCH_RTOL


def values(result: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of an evaluation file (every score and its spread, not the seed)."""
    return {k: float(v) for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed"}


def numerics_difference(base: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str | None:
    """Which ``numerics`` provenance field differs between two scores, in words, or None."""
    base, new = base or {}, new or {}
    for key in NUMERICS_FIELDS:
        if base.get(key) != new.get(key):
            return (f"made with numerics.{key} {new.get(key)!r}, the baseline with {base.get(key)!r}: "
                    "not comparable bit for bit")
    return None


def compare(eval_dir: Path, baseline_dir: Path) -> list[Comparison]:
    """Every value of every baseline file ``<run>.json`` against the same run's file in
    ``eval_dir`` (a missing run or value is a problem row)."""
    files = sorted(p for p in Path(baseline_dir).glob("*.json") if is_result_file(p))
    if not files:
        raise DataError(f"no baseline metrics (*.json) in {baseline_dir}; commit a CI run's metrics/eval there")
    rows: list[Comparison] = []
    for base_path in files:
        run = base_path.stem
        base = read_result(base_path, f"evaluate@{run}")
        new_path = Path(eval_dir) / base_path.name
        new = read_result(new_path, f"evaluate@{run}") if new_path.is_file() else None
        for metric, expected in values(base).items():
            prov = score_provenance(base, metric.removesuffix("_std"))
            rtol = tolerance(prov)
            if new is None:
                rows.append(Comparison(run, metric, expected, None, rtol, f"{new_path} is missing"))
                continue
            value = values(new).get(metric)
            new_prov = score_provenance(new, metric.removesuffix("_std"))
            problem = None if value is not None else f"{metric} is missing from {new_path}"
            if problem is None and (why := protocol_difference(prov, new_prov)) is not None:
                problem = f"another protocol than the baseline's ({why})"
            if problem is None:
                problem = numerics_difference(prov.get("numerics"), new_prov.get("numerics"))
            if problem is None and not math.isfinite(value):
                problem = f"{metric} is {value}"
            rows.append(Comparison(run, metric, expected, value, rtol, problem))
    return rows
