"""Kernel Inception Distance (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018).

KID is the squared maximum mean discrepancy between two feature distributions under
the cubic polynomial kernel ``k(x, y) = (x . y / d + 1)^3`` (``d`` the feature size),
estimated without bias.  For samples ``X`` (m rows) and ``Y`` (n rows)::

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1))
            + sum_{i != j} k(y_i, y_j) / (n (n - 1))
            - 2 sum_{i, j} k(x_i, y_j) / (m n)

The estimator is unbiased, so it can be (slightly) negative when both samples come
from one distribution.  :func:`kid` averages it over ``num_subsets`` random subsets of
``min(subset_size, N_a, N_b)`` rows of each set (each subset drawn without
replacement, independently of the others) from a seeded ``numpy`` Generator, and
reports the mean and the standard deviation across subsets; :func:`mmd2_unbiased` is
the single-set estimator.  Everything is computed in float64.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ganbench.errors import MetricError
from ganbench.metrics.features import feature_matrix


@dataclass(frozen=True)
class KIDConfig:
    """Knobs of :func:`kid`.

    Attributes:
        num_subsets: how many random subset pairs are averaged (the reference
            implementation uses 100).
        subset_size: rows per subset; capped at the size of the smaller feature set
            (the reference uses 1000).
        seed: seed of the ``numpy.random.Generator`` that draws the subsets.
        degree: degree of the polynomial kernel (3 for KID).
        coef0: constant added inside the kernel (1 for KID).
    """

    num_subsets: int = 100
    subset_size: int = 1000
    seed: int = 0
    degree: int = 3
    coef0: float = 1.0


@dataclass(frozen=True)
class KIDResult:
    """KID over subsets: ``mean`` and ``std`` (ddof 1; 0 for a single subset) of the
    per-subset unbiased MMD² estimates, with the subset count and size used."""

    mean: float
    std: float
    num_subsets: int
    subset_size: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0
) -> np.ndarray:
    """``(x @ y.T / d + coef0) ** degree`` for ``x`` ``(m, d)`` and ``y`` ``(n, d)``;
    returns the ``(m, n)`` Gram matrix."""
    d = x.shape[1]
    return (x @ y.T / d + coef0) ** degree


def mmd2_unbiased(
    x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0
) -> float:
    """Unbiased MMD² between the rows of ``x`` ``(m, d)`` and ``y`` ``(n, d)`` with the
    polynomial kernel (the formula in the module docstring); m and n must be >= 2.

    Raises:
        MetricError: wrong shapes, fewer than 2 rows, or non-finite values.
    """
    x = feature_matrix("KID", "x", x)
    y = feature_matrix("KID", "y", y)
    if x.shape[1] != y.shape[1]:
        raise MetricError(
            f"KID: the feature sets have {x.shape[1]} and {y.shape[1]} dimensions; compute "
            f"both with the same feature extractor"
        )
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise MetricError(
            f"KID needs at least 2 feature vectors per set, got {m} and {n}; use more images"
        )
    k_xx = polynomial_kernel(x, x, degree, coef0)
    k_yy = polynomial_kernel(y, y, degree, coef0)
    k_xy = polynomial_kernel(x, y, degree, coef0)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    value = float(within_x + within_y - 2.0 * k_xy.mean())
    if not np.isfinite(value):
        raise MetricError(
            "KID is not finite: the kernel overflowed float64; rescale the features"
        )
    return value


def kid(
    features_a: np.ndarray,
    features_b: np.ndarray,
    cfg: KIDConfig | None = None,
) -> KIDResult:
    """KID between two feature sets ``(N_a, D)`` and ``(N_b, D)`` (e.g. real and generated
    Inception pool3 features), averaged over random subsets.

    Args:
        features_a, features_b: feature arrays, one row per image.
        cfg: subset count and size, seed and kernel (default :class:`KIDConfig`).

    Returns:
        :class:`KIDResult` with the mean and std of the per-subset estimates.

    Raises:
        MetricError: bad shapes, non-finite features, fewer than 2 rows per set, or a
            config that asks for no subsets.
    """
    cfg = KIDConfig() if cfg is None else cfg
    a = feature_matrix("KID", "features_a", features_a)
    b = feature_matrix("KID", "features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise MetricError(
            f"KID: the feature sets have {a.shape[1]} and {b.shape[1]} dimensions; compute "
            f"both with the same feature extractor"
        )
    if cfg.num_subsets < 1 or cfg.subset_size < 2:
        raise MetricError(
            f"KID needs num_subsets >= 1 and subset_size >= 2, got {cfg.num_subsets} and "
            f"{cfg.subset_size}; fix the KID settings"
        )
    size = min(cfg.subset_size, a.shape[0], b.shape[0])
    if size < 2:
        raise MetricError(
            f"KID needs at least 2 feature vectors per set, got {a.shape[0]} and "
            f"{b.shape[0]}; use more images"
        )
    rng = np.random.default_rng(cfg.seed)
    values = np.empty(cfg.num_subsets, dtype=np.float64)
    for i in range(cfg.num_subsets):
        ia = rng.choice(a.shape[0], size=size, replace=False)
        ib = rng.choice(b.shape[0], size=size, replace=False)
        values[i] = mmd2_unbiased(a[ia], b[ib], cfg.degree, cfg.coef0)
    std = float(values.std(ddof=1)) if cfg.num_subsets > 1 else 0.0
    return KIDResult(
        mean=float(values.mean()), std=std, num_subsets=cfg.num_subsets, subset_size=size
    )
