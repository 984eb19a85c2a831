"""Evaluation noise: the bootstrap over generated features, and its fast exact Fréchet distance."""

from __future__ import annotations

import numpy as np
import pytest

from ganbench.config.schema import EvaluateConfig
from ganbench.errors import MetricError
from ganbench.metrics.bootstrap import FrechetResampler, frechet_noise, resample_counts, summarise
from ganbench.metrics.frechet import frechet_distance
from ganbench.metrics.reference import feature_stats
from ganbench.metrics.registry import METRICS, Features

pytestmark = pytest.mark.timeout(60)


def gaussian(rng, n, d, shift=0.0):
    w = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ w + shift


@pytest.mark.parametrize("n,n_real,d", [
    (60, 200, 16),    # n ≤ 2k: the Gram route, full-rank reference
    (60, 30, 48),     # singular reference (30 < 48): k = 29, Gram route
    (400, 300, 24),   # n > 2k: the k × k route
])
def test_each_resample_equals_the_direct_distance_of_the_repeated_rows(n, n_real, d):
    rng = np.random.default_rng(n + d)
    fake, real = gaussian(rng, n, d, 0.3), gaussian(rng, n_real, d)
    mu_r, sigma_r = feature_stats(real)
    resampler = FrechetResampler(fake, mu_r, sigma_r)
    for counts in resample_counts(n, 4, seed=1):
        # the reference first: frechet_distance factors its first covariance, as the resampler
        # does (with both singular, factoring the other one loses ~1e-8 to truncation)
        direct = frechet_distance(mu_r, sigma_r, *feature_stats(np.repeat(fake, counts, axis=0)))
        assert resampler.distance(counts) == pytest.approx(direct, rel=1e-9)
    ones = np.ones(n, dtype=np.int64)                       # the identity resample is the score itself
    assert resampler.distance(ones) == pytest.approx(frechet_distance(mu_r, sigma_r, *feature_stats(fake)),
                                                     rel=1e-9)


def test_counts_are_n_draws_with_replacement_and_seeded():
    counts = resample_counts(50, 7, seed=3)
    assert counts.shape == (7, 50) and (counts.sum(axis=1) == 50).all() and (counts >= 0).all()
    assert (counts == resample_counts(50, 7, seed=3)).all()
    assert (counts.max(axis=1) > 1).all()                   # rows repeat: it is with replacement


def test_noise_shrinks_with_more_samples_and_the_interval_is_centred_on_the_score():
    rng = np.random.default_rng(0)
    real = gaussian(rng, 2000, 8)
    mu_r, sigma_r = feature_stats(real)
    se = {}
    for n in (100, 1600):
        fake = gaussian(np.random.default_rng(n), n, 8, 0.2)
        value = frechet_distance(*feature_stats(fake), mu_r, sigma_r)
        noise = frechet_noise(value, fake, mu_r, sigma_r, resamples=100)
        assert noise.resamples == 100 and noise.low < value < noise.high
        assert noise.high - value == pytest.approx(value - noise.low) == pytest.approx(1.959964 * noise.se, rel=1e-6)
        assert noise.bias > 0                                # repeated samples inflate a Fréchet distance
        se[n] = noise.se
    assert se[1600] < se[100] / 2.5                          # ≈ 1/√n: 4× fewer at 16× the samples


def test_summarise_refuses_too_few_resamples():
    with pytest.raises(MetricError, match="evaluate.bootstrap_resamples"):
        summarise(1.0, np.array([1.0]))


def test_registered_metrics_store_the_interval_and_0_turns_it_off():
    rng = np.random.default_rng(5)
    fake, real = gaussian(rng, 300, 6, 0.5), gaussian(rng, 500, 6)
    preds, ref_pred = rng.integers(0, 4, 300), rng.integers(0, 4, 500)
    f = Features("domain", fake, real, {}, fake_pred=preds, real_pred=ref_pred, num_classes=4)
    fd = METRICS.get("fd_domain").compute(f, EvaluateConfig(bootstrap_resamples=50))
    noise = fd.noise["fd_domain300"]
    assert noise["resamples"] == 50 and noise["low"] < fd.values["fd_domain300"] < noise["high"]
    cov = METRICS.get("coverage").compute(f, EvaluateConfig(bootstrap_resamples=50))
    assert set(cov.noise) == {"class_kl300", "classes_covered300"} and cov.noise["class_kl300"]["se"] > 0
    assert METRICS.get("fd_domain").compute(f, EvaluateConfig(bootstrap_resamples=0)).noise == {}
    pr = METRICS.get("pr").compute(Features("inception", fake, real, {}), EvaluateConfig(bootstrap_resamples=50))
    assert set(pr.noise) == {"precision300"}                 # recall: its fake balls depend on the resample
    assert pr.noise["precision300"]["low"] < pr.values["precision300"] < pr.noise["precision300"]["high"]
