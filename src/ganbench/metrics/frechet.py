"""Exact Fréchet distance between two Gaussians, from symmetric eigenproblems in float64.

For ``N(mu1, S1)`` and ``N(mu2, S2)``::

    FD = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1^1/2 S2 S1^1/2)^1/2

The trace term is the sum of the square roots of the eigenvalues of ``S1 S2``.  Write
``S1 = B B^T`` with any factor ``B``; then ``B^T S2 B`` is symmetric positive
semi-definite and has the same nonzero eigenvalues as ``S1 S2``, so the term is
``sum(sqrt(eigvalsh(B^T S2 B)))``: a symmetric eigenproblem, never a general matrix
square root (no ``scipy.linalg.sqrtm``, no complex part to discard, no ``eps * I``
retry).  ``B`` is

* the Cholesky factor of ``S1`` when ``S1`` is positive definite (fast: the usual FID
  case, N > D samples), or
* ``V_+ diag(sqrt(w_+))`` from ``np.linalg.eigh(S1)``, keeping the ``k`` eigenvalues
  above rounding, when ``S1`` is singular (fewer samples than feature dimensions).
  Then ``B^T S2 B`` is only ``k x k`` and the zero eigenvalues contribute exactly 0.

Rounding makes eigenvalues of a PSD matrix come out as tiny negatives (or tiny
positives where the exact value is 0): those within ``D * eps`` of the largest are
treated as 0.  An eigenvalue below ``-psd_rtol * max|eigenvalue|`` means the matrix is
not a covariance, and :class:`~ganbench.errors.MetricError` says so; ``psd_rtol``
defaults to ``10 * D * eps`` of the least precise input dtype, so float32 statistics
are judged by float32 rounding.

At D = 2048 on a 2-core AVX2 CPU this takes about 1 s for full-rank covariances and
about 2 s for singular ones, against ~12 s for the ``sqrtm`` route (see
``benchmarks/bench_engines.py``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ganbench.errors import MetricError

_FIX = "recompute the statistics with ganbench.metrics.reference.feature_stats"
_EPS64 = float(np.finfo(np.float64).eps)

Method = Literal["auto", "eigh"]


# --------------------------------------------------------------------------- checks


def _as_float64(name: str, value: object) -> np.ndarray:
    """``value`` as a float64 array; MetricError when it is not real-valued numbers."""
    if np.iscomplexobj(value):
        raise MetricError(
            f"Fréchet distance: {name} is complex; statistics must be real, {_FIX}"
        )
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricError(
            f"Fréchet distance: {name} is not a real-valued array ({type(value).__name__}); "
            f"{_FIX}"
        ) from None


def _check_inputs(
    mu1: object, sigma1: object, mu2: object, sigma2: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """float64 versions of the four statistics after shape and finiteness checks.

    ``mu1``/``mu2`` must be ``(D,)`` means and ``sigma1``/``sigma2`` ``(D, D)``."""
    m1, s1, m2, s2 = (
        _as_float64(n, v)
        for n, v in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2))
    )
    if m1.ndim != 1 or m2.ndim != 1 or m1.shape != m2.shape or m1.size == 0:
        raise MetricError(
            f"Fréchet distance needs two means of one length D, got mu1 {m1.shape} and "
            f"mu2 {m2.shape}; pass statistics of the same feature extractor"
        )
    d = m1.shape[0]
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (d, d):
            raise MetricError(
                f"Fréchet distance: {name} has shape {s.shape}, expected ({d}, {d}) to "
                f"match the means; pass the covariance that belongs to each mean"
            )
    for name, arr in (("mu1", m1), ("sigma1", s1), ("mu2", m2), ("sigma2", s2)):
        finite = np.isfinite(arr)
        if not finite.all():
            raise MetricError(
                f"Fréchet distance: {name} has {arr.size - int(finite.sum())} NaN/inf "
                f"entries (overflowing features or non-finite generated images); fix the "
                f"images and {_FIX}"
            )
    return m1, s1, m2, s2


def default_psd_rtol(d: int, *inputs: object) -> float:
    """``10 * d * eps`` for the least precise floating dtype among ``inputs`` (float64
    when none is a lower-precision float): how negative an eigenvalue of a ``d x d``
    covariance may be, relative to the largest, and still count as rounding."""
    eps = _EPS64
    for value in inputs:
        dtype = getattr(value, "dtype", None)
        if dtype is not None and np.issubdtype(dtype, np.floating):
            eps = max(eps, float(np.finfo(dtype).eps))
    return 10.0 * d * eps


def _symmetrised(s: np.ndarray, name: str, rtol: float) -> np.ndarray:
    """``(S + S^T) / 2`` of a ``(D, D)`` matrix; MetricError when ``S`` is not symmetric
    to within ``rtol`` of its largest entry."""
    scale = float(np.abs(s).max())
    asym = float(np.abs(s - s.T).max())
    if asym > rtol * scale:
        raise MetricError(
            f"Fréchet distance: {name} is not symmetric (max |S - S^T| = {asym:.3g}, "
            f"max |S| = {scale:.3g}), so it is not a covariance; {_FIX}"
        )
    return 0.5 * (s + s.T)


def _check_psd(w: np.ndarray, name: str, rtol: float) -> None:
    """MetricError unless the eigenvalues ``w`` are finite and >= ``-rtol * max|w|``."""
    if not np.all(np.isfinite(w)):
        raise MetricError(
            f"Fréchet distance: the eigenvalues of {name} are not finite (entries too large "
            f"for float64); rescale the features and {_FIX}"
        )
    if w.size == 0:
        return
    top, lowest = float(np.abs(w).max()), float(w.min())
    if lowest < -rtol * top:
        raise MetricError(
            f"Fréchet distance: {name} has eigenvalue {lowest:.4g} (largest {top:.4g}), "
            f"more negative than rounding allows ({rtol:.2g} relative), so it is not "
            f"positive semi-definite and not a covariance; {_FIX}"
        )


def _require_psd(s: np.ndarray, name: str, rtol: float) -> None:
    """Check a symmetric ``(D, D)`` matrix for PSD: a shifted Cholesky (cheap) proves it;
    only when that fails are the eigenvalues computed to decide and to explain."""
    shift = rtol * max(float(np.abs(np.diag(s)).max()), np.finfo(np.float64).tiny)
    try:
        np.linalg.cholesky(s + shift * np.eye(s.shape[0]))
        return
    except np.linalg.LinAlgError:
        pass
    _check_psd(np.linalg.eigvalsh(s), name, rtol)


# --------------------------------------------------------------------------- core


def _factor(s1: np.ndarray, rtol: float, method: Method) -> np.ndarray:
    """A ``(D, k)`` matrix ``B`` with ``B B^T = S1`` up to rounding (``S1`` symmetric).

    Cholesky when ``S1`` is positive definite (and ``method`` is ``auto``); otherwise
    from ``eigh``, dropping eigenvalues within ``D * eps`` of zero (k = numerical rank),
    after checking that none is negative beyond ``rtol``."""
    if method == "auto":
        try:
            return np.linalg.cholesky(s1)
        except np.linalg.LinAlgError:
            pass
    w, v = np.linalg.eigh(s1)
    _check_psd(w, "sigma1", rtol)
    keep = w > s1.shape[0] * _EPS64 * float(np.abs(w).max())
    return v[:, keep] * np.sqrt(w[keep])


def trace_sqrt_product(
    sigma1: np.ndarray,
    sigma2: np.ndarray,
    *,
    psd_rtol: float | None = None,
    method: Method = "auto",
) -> float:
    """``tr (S1^1/2 S2 S1^1/2)^1/2``, the sum of the square roots of the eigenvalues of
    ``S1 S2``, for two ``(D, D)`` symmetric PSD matrices (singular allowed), in float64.

    Args:
        sigma1, sigma2: the ``(D, D)`` covariances.
        psd_rtol: tolerance for rounding-level negative eigenvalues, relative to the
            largest (default :func:`default_psd_rtol`).
        method: ``auto`` factors ``S1`` by Cholesky when it is positive definite and by
            ``eigh`` otherwise; ``eigh`` always uses the eigendecomposition.

    Raises:
        MetricError: a matrix is not symmetric or not PSD beyond rounding.
    """
    if method not in ("auto", "eigh"):
        raise ValueError(f"method must be 'auto' or 'eigh', got {method!r}")
    raw1, raw2 = sigma1, sigma2
    s1 = _as_float64("sigma1", sigma1)
    s2 = _as_float64("sigma2", sigma2)
    d = s1.shape[0]
    rtol = default_psd_rtol(d, raw1, raw2) if psd_rtol is None else float(psd_rtol)
    s1 = _symmetrised(s1, "sigma1", rtol)
    s2 = _symmetrised(s2, "sigma2", rtol)
    _require_psd(s2, "sigma2", rtol)
    b = _factor(s1, rtol, method)
    if b.shape[1] == 0:
        return 0.0
    m = b.T @ (s2 @ b)  # (k, k): same nonzero eigenvalues as S1 S2
    ev = np.linalg.eigvalsh(0.5 * (m + m.T))
    _check_psd(ev, "sigma1^1/2 sigma2 sigma1^1/2", rtol)
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    psd_rtol: float | None = None,
    method: Method = "auto",
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Args:
        mu1, mu2: ``(D,)`` means.
        sigma1, sigma2: ``(D, D)`` covariances (symmetric PSD; singular is fine).
        psd_rtol: how negative an eigenvalue may be, relative to the largest, and still
            count as rounding (default ``10 * D * eps`` of the least precise input dtype,
            ~4.5e-12 for float64 at D = 2048).
        method: see :func:`trace_sqrt_product`.

    Returns:
        The distance, a Python float >= 0.

    Raises:
        MetricError: mismatched shapes, NaN/inf or complex input, a non-symmetric or
            non-PSD covariance, or a non-finite result; the message says which and what
            to do.
    """
    m1, s1, m2, s2 = _check_inputs(mu1, sigma1, mu2, sigma2)
    d = m1.shape[0]
    rtol = default_psd_rtol(d, mu1, sigma1, mu2, sigma2) if psd_rtol is None else psd_rtol
    diff = m1 - m2
    mean_term = float(diff @ diff)
    tr1, tr2 = float(np.trace(s1)), float(np.trace(s2))
    value = mean_term + tr1 + tr2 - 2.0 * trace_sqrt_product(s1, s2, psd_rtol=rtol, method=method)
    if not np.isfinite(value):
        raise MetricError(
            f"Fréchet distance is not finite ({value}); the statistics are too large for "
            f"float64: rescale the features and {_FIX}"
        )
    scale = mean_term + tr1 + tr2
    if value < 0.0:  # FD >= 0 exactly; a tiny negative is cancellation in the traces
        if value < -max(rtol, 1e-9) * scale:
            raise MetricError(
                f"Fréchet distance came out negative ({value:.6g} at scale {scale:.6g}) "
                f"beyond rounding, so the covariances are inconsistent; {_FIX}"
            )
        value = 0.0
    return float(value)
