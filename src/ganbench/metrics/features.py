"""The one check of a feature matrix before a metric reads it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ganbench.errors import MetricError


def feature_matrix(metric: str, name: str, x: Any) -> np.ndarray:
    """``x`` (an array or a tensor, one feature vector per row) as a finite float64
    ``(N, D)`` array; a :class:`MetricError` naming ``metric`` and ``name`` otherwise."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise MetricError(f"{metric}: {name} must be a (N, D) feature array, got shape {arr.shape}; pass "
                          f"one feature vector per row")
    if not np.all(np.isfinite(arr)):
        raise MetricError(f"{metric}: {name} has NaN/inf features; the images or the feature extractor "
                          f"produced non-finite values, fix them and recompute the features")
    return arr
