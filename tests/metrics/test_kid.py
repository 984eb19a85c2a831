"""KID: the unbiased MMD² estimator with the cubic polynomial kernel, over subsets."""

from __future__ import annotations

import numpy as np
import pytest

from ganbench.errors import MetricError
from ganbench.metrics.kid import KIDConfig, KIDResult, kid, mmd2_unbiased, polynomial_kernel

pytestmark = pytest.mark.timeout(60)


def _naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The estimator written out with Python loops, straight from the definition."""
    d = len(x[0])

    def k(a, b):
        return (sum(float(ai) * float(bi) for ai, bi in zip(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_a_naive_loop_computation():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    y = rng.standard_normal((7, 3)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(_naive_mmd2(x, y), rel=1e-12, abs=1e-14)
    # Over subsets covering everything, KID is that same number (permutation invariant).
    res = kid(x, y[:5], KIDConfig(num_subsets=1, subset_size=100, seed=3))
    assert res.subset_size == 5 and res.num_subsets == 1 and res.std == 0.0
    assert res.mean == pytest.approx(_naive_mmd2(x, y[:5]), rel=1e-12)


def test_polynomial_kernel_is_cubic_in_the_scaled_dot_product():
    x = np.array([[1.0, 2.0]])
    y = np.array([[3.0, -1.0], [0.0, 0.0]])
    np.testing.assert_allclose(polynomial_kernel(x, y), [[(1 / 2 + 1) ** 3, 1.0]])


def test_two_samples_of_one_distribution_are_within_noise():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((400, 16))
    b = rng.standard_normal((400, 16))
    res = kid(a, b, KIDConfig(num_subsets=20, subset_size=200, seed=0))
    assert res.std > 0
    assert abs(res.mean) < 3 * res.std


def test_different_distributions_give_a_clearly_positive_value():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((400, 16))
    b = rng.standard_normal((400, 16)) * 1.3 + 0.4
    res = kid(a, b, KIDConfig(num_subsets=20, subset_size=200, seed=0))
    same = kid(a, rng.standard_normal((400, 16)), KIDConfig(num_subsets=20, subset_size=200))
    assert res.mean > 5 * res.std
    assert res.mean > 20 * abs(same.mean)


def test_deterministic_for_a_fixed_seed():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((250, 8)) + 0.1
    cfg = KIDConfig(num_subsets=10, subset_size=100, seed=7)
    first, second = kid(a, b, cfg), kid(a, b, cfg)
    assert first == second
    assert isinstance(first, KIDResult) and first.as_dict()["subset_size"] == 100
    assert kid(a, b, KIDConfig(num_subsets=10, subset_size=100, seed=8)).mean != first.mean


def test_bad_input_raises_metric_error():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((10, 4))
    bad = a.copy()
    bad[3, 1] = np.nan
    with pytest.raises(MetricError, match="NaN/inf"):
        kid(a, bad, KIDConfig(num_subsets=2, subset_size=5))
    with pytest.raises(MetricError, match="4 and 5 dimensions"):
        kid(a, rng.standard_normal((10, 5)))
    with pytest.raises(MetricError, match="at least 2 feature vectors"):
        kid(a, a[:1])
    with pytest.raises(MetricError, match="num_subsets >= 1"):
        kid(a, a, KIDConfig(num_subsets=0))
