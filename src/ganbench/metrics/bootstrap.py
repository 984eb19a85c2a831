"""Evaluation noise: how much a score moves with other samples from the same model.

A score is computed from N generated samples; another N from the same trained model
would give another number.  The bootstrap (Efron & Tibshirani 1993) estimates that
spread: resample the generated features with replacement (the reference stays fixed),
recompute the metric, repeat ``resamples`` times.  Every score gets

* ``se``: the standard deviation of the resampled scores (the bootstrap standard error;
  50–200 resamples suffice for it, Efron & Tibshirani 1993, §6.4),
* ``bias``: their mean minus the score.  Resampling repeats samples, which makes a
  Fréchet distance larger (fewer distinct samples), so the resampled scores are not
  centred on the score; the interval below is therefore centred on the score itself,
* ``low``/``high``: the normal interval ``score ± z · se`` at ``confidence`` (95 %).

This is *evaluation* noise only: it says nothing of how a model trained with another
seed would score (that needs several training seeds).

The Fréchet distance is recomputed exactly, but without a new ``D × D`` eigenproblem per
resample.  With ``S_r = B B^T`` factored once (:func:`ganbench.metrics.frechet`'s factor),
the trace term is ``sum sqrt(eig(B^T S_b B))``.  For resample counts ``c_i`` of the
generated rows ``x_i`` (``sum c = n``), with ``a_i = (x_i - x̄) B``::

    (n - 1) B^T S_b B = A_u^T (diag(c) - c c^T / n) A_u = (P C A_u)^T (P C A_u)

(``u``: the rows drawn at least once, ``C = diag(sqrt(c))``, ``P = I - s s^T / n`` with
``s = sqrt(c)``, a projection since ``s^T s = n``).  Its nonzero eigenvalues are those of
the ``u × u`` matrix ``P C K_u C P`` with the Gram matrix ``K = A A^T`` computed once, so a
resample costs one ``u × u`` symmetric eigenproblem (``u ≈ 0.632 n`` distinct rows) when
``u`` is below the factor's width, else one of the ``d × d`` matrix ``A_u^T diag(c) A_u - n m m^T``.
The means and traces come from weighted sums.  Equal to :func:`frechet_distance` of the
resampled statistics to rounding (a test checks 1e-9 relative).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ganbench.errors import MetricError
from ganbench.metrics.frechet import _check_inputs, _factor, _symmetrised, default_psd_rtol

#: The resamples are drawn from this seed: the same features give the same interval.
BOOTSTRAP_SEED = 0
METHOD = "bootstrap over the generated samples (reference fixed), normal interval around the score"


@dataclass(frozen=True)
class EvalNoise:
    """The bootstrap spread of one score (see the module docstring)."""

    resamples: int
    se: float
    bias: float
    low: float
    high: float
    confidence: float
    seed: int = BOOTSTRAP_SEED
    method: str = METHOD

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def resample_counts(n: int, resamples: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``(resamples, n)`` int64: how often each of ``n`` rows is drawn in each resample
    (n draws with replacement each)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.int64)


def summarise(value: float, resampled: np.ndarray, confidence: float = 0.95,
              seed: int = BOOTSTRAP_SEED) -> EvalNoise:
    """:class:`EvalNoise` of ``value`` from its resampled values."""
    resampled = np.asarray(resampled, dtype=np.float64)
    if resampled.size < 2 or not np.all(np.isfinite(resampled)):
        raise MetricError(f"bootstrap needs at least 2 finite resampled values, got {resampled.size}; "
                          "raise evaluate.bootstrap_resamples")
    se = float(resampled.std(ddof=1))
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * se
    return EvalNoise(resamples=int(resampled.size), se=se, bias=float(resampled.mean() - value),
                     low=value - half, high=value + half, confidence=confidence, seed=seed)


def bootstrap(value: float, n: int, statistic: Callable[[np.ndarray], float], resamples: int,
              confidence: float = 0.95, seed: int = BOOTSTRAP_SEED) -> EvalNoise:
    """``statistic(counts)`` for every resample of ``n`` rows (``counts[i]``: how often row
    ``i`` is drawn), summarised around ``value``."""
    counts = resample_counts(n, resamples, seed)
    return summarise(value, np.array([statistic(c) for c in counts]), confidence, seed)


class FrechetResampler:
    """Fréchet distances of resampled generated features against one fixed reference
    ``N(mu_r, sigma_r)``: the reference is factored once, and each resample costs one
    small symmetric eigenproblem (see the module docstring).

    Args:
        fake: ``(n, D)`` generated features (rows are samples).
        mu_r, sigma_r: the reference mean ``(D,)`` and covariance ``(D, D)``.
    """

    def __init__(self, fake: np.ndarray, mu_r: np.ndarray, sigma_r: np.ndarray) -> None:
        x = np.asarray(fake, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise MetricError(f"bootstrap needs at least 2 generated feature rows (n, D), got {x.shape}; "
                              "raise evaluate.num_gen")
        if not np.isfinite(x).all():
            raise MetricError("bootstrap: the generated features hold NaN/inf; fix the images and re-run evaluate")
        m_r, s_r, _, _ = _check_inputs(mu_r, sigma_r, mu_r, sigma_r)
        if m_r.shape[0] != x.shape[1]:
            raise MetricError(f"bootstrap: {x.shape[1]}-d generated features against a {m_r.shape[0]}-d reference; "
                              "use the same feature extractor")
        rtol = default_psd_rtol(m_r.shape[0], mu_r, sigma_r)
        b = _factor(_symmetrised(s_r, "sigma_ref", rtol), rtol, "auto")  # (D, k), B B^T = S_r
        self.n = x.shape[0]
        self.mu_r = m_r
        self.tr_r = float(np.trace(s_r))
        self.centre = x.mean(axis=0)
        self.xc = x - self.centre             # shift invariance: centring keeps the Gram sums small
        self.xc_sq = np.einsum("ij,ij->i", self.xc, self.xc)
        self.a = self.xc @ b                  # (n, k)
        self.width = b.shape[1]
        # about 0.632 n rows are drawn at least once: the Gram route wins while that is below k
        self.gram = self.a @ self.a.T if self.n <= 2 * self.width else None

    def distance(self, counts: np.ndarray) -> float:
        """The Fréchet distance of the resample that draws row ``i`` ``counts[i]`` times."""
        counts = np.asarray(counts)
        if counts.shape != (self.n,) or int(counts.sum()) != self.n or counts.min() < 0:
            raise MetricError(f"resample counts must be {self.n} non-negative counts summing to {self.n}")
        n = self.n
        u = np.flatnonzero(counts)
        c = counts[u].astype(np.float64)
        shift = (c @ self.xc[u]) / n                         # resample mean − full mean
        mean_term = float(np.sum((self.centre + shift - self.mu_r) ** 2))
        tr_b = (float(c @ self.xc_sq[u]) - n * float(shift @ shift)) / (n - 1)
        if self.gram is not None and u.size <= self.width:
            s = np.sqrt(c)
            m = self.gram[np.ix_(u, u)] * np.outer(s, s)
            v = m @ s
            m = m - (np.outer(v, s) + np.outer(s, v)) / n + (float(s @ v) / n**2) * np.outer(s, s)
        else:
            au = self.a[u]
            ma = (c @ au) / n
            m = au.T @ (au * c[:, None]) - n * np.outer(ma, ma)
        ev = np.linalg.eigvalsh(0.5 * (m + m.T)) / (n - 1)
        value = mean_term + tr_b + self.tr_r - 2.0 * float(np.sqrt(np.clip(ev, 0.0, None)).sum())
        return max(value, 0.0)


def frechet_noise(value: float, fake: np.ndarray, mu_r: np.ndarray, sigma_r: np.ndarray, resamples: int,
                  confidence: float = 0.95, seed: int = BOOTSTRAP_SEED) -> EvalNoise:
    """The evaluation noise of the Fréchet distance ``value`` of ``fake`` against the reference."""
    resampler = FrechetResampler(fake, mu_r, sigma_r)
    return bootstrap(value, resampler.n, resampler.distance, resamples, confidence, seed)
