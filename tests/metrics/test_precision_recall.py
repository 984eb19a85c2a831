"""Improved precision and recall: k-NN balls, exact ties, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.errors import MetricError
from ganbench.metrics.precision_recall import (
    PRConfig,
    PRResult,
    kth_neighbour_sq_radii,
    precision_recall,
)

pytestmark = pytest.mark.timeout(60)


def _brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Definition with full distance matrices from direct differences (float64)."""

    def sq(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)

    def radii(x):
        d = sq(x, x)
        np.fill_diagonal(d, np.inf)  # self excluded by index
        return np.sort(d, axis=1)[:, k - 1]

    r_real, r_fake = radii(real), radii(fake)
    d = sq(fake, real)  # (fake, real)
    precision = float((d <= r_real[None, :]).any(axis=1).mean())
    recall = float((d <= r_fake[:, None]).any(axis=0).mean())
    return precision, recall


def _clusters(rng, n, centres, spread=0.05):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + spread * rng.standard_normal((n, centres.shape[1]))


def test_identical_sets_give_precision_and_recall_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 32))
    res = precision_recall(x, x.copy())
    assert isinstance(res, PRResult)
    assert (res.precision, res.recall) == (1.0, 1.0)
    assert res.as_dict() == {"precision": 1.0, "recall": 1.0, "k": 3, "num_real": 200, "num_fake": 200}


@pytest.mark.parametrize(
    "cfg",
    [PRConfig(k=3), PRConfig(k=1, batch_size=7), PRConfig(k=5, batch_size=4, candidates=0),
     PRConfig(k=3, batch_size=9, compute_dtype="float32")],
    ids=["default", "k1-batched", "k5-no-candidates", "float32"],
)
def test_matches_brute_force_on_a_tiny_case(cfg):
    rng = np.random.default_rng(1)
    real = rng.standard_normal((30, 5))
    fake = rng.standard_normal((25, 5)) * 1.2 + 0.3
    res = precision_recall(real, fake, cfg)
    assert (res.precision, res.recall) == _brute_force(real, fake, cfg.k)
    assert 0 < res.precision < 1  # a case with something to decide


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ties_and_duplicates_are_exact_under_a_large_offset(dtype):
    """Grid points give exact ties (fakes on ball boundaries, duplicated reals, radii
    of 0); a common offset of 1e6 makes the |a|²+|b|²-2a.b expansion lose all digits of
    the distances.  The answer must still be the definition's, and offset-free."""
    rng = np.random.default_rng(2)
    real = rng.integers(0, 4, (60, 3)).astype(np.float64)
    fake = rng.integers(0, 5, (50, 3)).astype(np.float64)
    cfg = PRConfig(k=3, batch_size=16, compute_dtype=dtype)
    expected = _brute_force(real, fake, 3)
    offset = 1e6 + 0.1
    shifted = _brute_force(real + offset, fake + offset, 3)
    assert precision_recall(real, fake, cfg).precision == expected[0]
    res = precision_recall(real + offset, fake + offset, cfg)
    assert (res.precision, res.recall) == shifted
    assert shifted == expected  # the shift was exact for these values, so no change


def test_self_is_excluded_by_index_and_duplicates_count():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    radii = kth_neighbour_sq_radii(x, k=2).numpy()
    # point 0 has two duplicates: its 2nd neighbour is at distance 0, not 3; point 4's
    # neighbours are at 4, 7, 7, 7
    np.testing.assert_array_equal(radii, [0.0, 0.0, 0.0, 9.0, 49.0])


def test_moving_fakes_off_the_real_manifold_drops_precision():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((300, 16))
    on = rng.standard_normal((300, 16))
    off = on + 3.0
    near = precision_recall(real, on)
    far = precision_recall(real, off)
    assert near.precision > 0.6
    assert far.precision < 0.1
    assert far.precision < near.precision - 0.5


def test_mode_collapse_keeps_precision_but_loses_recall():
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((6, 8)) * 5
    real = _clusters(rng, 300, centres)
    collapsed = centres[2] + 0.02 * rng.standard_normal((300, 8))  # one mode only
    res = precision_recall(real, collapsed)
    assert res.precision > 0.9
    assert res.recall < 0.3
    full = precision_recall(real, _clusters(rng, 300, centres))
    assert full.recall > 0.8 > 0.3 > res.recall


def test_accepts_torch_tensors_and_checks_input():
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x.clone()).precision == 1.0
    with pytest.raises(MetricError, match="more than 3 feature vectors"):
        precision_recall(x[:3], x)
    with pytest.raises(MetricError, match="4 and 5 dimensions"):
        precision_recall(x, torch.randn(20, 5))
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(MetricError, match="NaN/inf"):
        precision_recall(x, bad)
