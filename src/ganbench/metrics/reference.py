"""Reference files: the real images' features and statistics in one feature space.

``data/reference/stats.npz`` (Inception) and ``data/domain-reference/features.npz``
(domain classifier) hold ``features`` (N×D float32), ``mu`` (D,) and ``sigma`` (D×D)
in float64 (computed from the float64 features before they were stored), optional
``labels`` (N,) and a ``meta`` JSON string; all readable with
``np.load(..., allow_pickle=False)`` and byte-stable.  The meta says how they were made
(extractor, weights sha256, split, N, image shape) and evaluation refuses a reference
made differently from the samples it is compared with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.errors import DataError
from ganbench.io import save_npz


@dataclass(frozen=True)
class Reference:
    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    labels: np.ndarray | None
    meta: dict[str, Any]


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, rows are samples) of an ``(N, D)`` feature array."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise DataError(
            f"feature statistics need at least 2 feature vectors of shape (N, D), got "
            f"{feats.shape}; use more images (evaluate.num_real / evaluate.num_gen / sample.num)"
        )
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def save_reference(path: Path, features: np.ndarray, meta: dict[str, Any],
                   labels: np.ndarray | None = None) -> None:
    mu, sigma = feature_stats(features)
    arrays = {"features": np.asarray(features, dtype=np.float32), "mu": mu, "sigma": sigma,
              "meta": np.array(json.dumps(meta, sort_keys=True))}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    save_npz(path, arrays)


def load_reference(path: Path, fix: str) -> Reference:
    """Read what :func:`save_reference` wrote; ``fix`` says how to remake it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"reference file {path} not found; {fix}")
    try:
        with np.load(path, allow_pickle=False) as data:
            ref = Reference(
                features=data["features"], mu=data["mu"], sigma=data["sigma"],
                labels=data["labels"] if "labels" in data.files else None,
                meta=json.loads(str(data["meta"])))
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError) as exc:
        raise DataError(f"reference file {path} is unreadable ({type(exc).__name__}); delete it "
                        f"and {fix}") from None
    d = ref.mu.shape[0] if ref.mu.ndim == 1 else -1
    if d < 1 or ref.sigma.shape != (d, d) or ref.features.ndim != 2 or ref.features.shape[1] != d:
        raise DataError(f"reference file {path} has features {ref.features.shape}, mu {ref.mu.shape} "
                        f"and sigma {ref.sigma.shape}; delete it and {fix}")
    return ref
