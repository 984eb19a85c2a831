"""What the evaluation-noise bootstrap adds to one evaluation, at the default protocol's shapes.

For each Fréchet metric (Inception: 2,000 generated against 2,000 real 2048-d features,
the reference covariance singular; domain: 10,000 against 10,000 256-d features):

* ``score``: one :func:`ganbench.metrics.frechet.frechet_distance` (what the score costs),
* ``bootstrap``: :func:`ganbench.metrics.bootstrap.frechet_noise` with ``--resamples``
  (the reference factored once, one small eigenproblem per resample),
* ``direct``: the same resamples through ``feature_stats`` + ``frechet_distance`` (the
  straightforward route), timed on ``--direct`` resamples and scaled to ``--resamples``,

and the largest relative difference between the two routes on those resamples.  Then the
class-coverage and precision bootstraps (counts over per-sample labels/flags).  Timing
depends on the shapes only, so the features are synthetic (ReLU of correlated Gaussians,
like pool3 activations); the exactness check is on the same features.

    .venv/bin/python benchmarks/bench_bootstrap.py                # the direct route dominates: --direct small
    .venv/bin/python benchmarks/bench_bootstrap.py --resamples 50 --direct 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from ganbench.metrics.bootstrap import FrechetResampler, bootstrap, resample_counts
from ganbench.metrics.coverage import CoverageConfig, coverage_of_counts
from ganbench.metrics.frechet import frechet_distance
from ganbench.metrics.reference import feature_stats

SPACES = {"inception (fid2k)": (2000, 2000, 2048), "domain (fd_domain10k)": (10000, 10000, 256)}


def features(rng: np.random.Generator, n: int, d: int, mix: np.ndarray, shift: float) -> np.ndarray:
    return np.maximum(rng.standard_normal((n, d)) @ mix + shift, 0.0)


def frechet_row(name: str, n_gen: int, n_real: int, d: int, resamples: int, direct: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((d, d)) / np.sqrt(d) * np.exp(-np.arange(d) / (d / 8))[:, None]
    fake, real = features(rng, n_gen, d, mix, 0.1), features(rng, n_real, d, mix, 0.0)
    mu_r, sigma_r = feature_stats(real)
    start = time.perf_counter()
    value = frechet_distance(*feature_stats(fake), mu_r, sigma_r)
    score_s = time.perf_counter() - start
    counts = resample_counts(n_gen, resamples)
    start, cpu = time.perf_counter(), time.process_time()
    resampler = FrechetResampler(fake, mu_r, sigma_r)
    setup_s = time.perf_counter() - start
    fast = [resampler.distance(c) for c in counts]
    boot_s, boot_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    slow = [frechet_distance(mu_r, sigma_r, *feature_stats(np.repeat(fake, c, axis=0))) for c in counts[:direct]]
    direct_s = (time.perf_counter() - start) / direct * resamples
    worst = max(abs(a - b) / b for a, b in zip(fast, slow))
    print(f"{name:<22} score {score_s:6.2f} s | bootstrap {boot_s:6.1f} s, {boot_cpu:.1f} CPU-s (factor "
          f"{setup_s:.1f} s + {(boot_s - setup_s) / resamples:.3f} s × {resamples}; {boot_s / score_s:.0f} scores) "
          f"| direct ≈ {direct_s:7.1f} s ({direct_s / boot_s:.1f}×) | max rel diff {worst:.1e} | value {value:.4g}")
    return {"bootstrap": boot_s, "direct": direct_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--direct", type=int, default=3, help="resamples timed through the direct route")
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"{args.resamples} resamples, load average {os.getloadavg()[0]:.1f}")
    total = sum(frechet_row(name, *shape, args.resamples, args.direct)["bootstrap"]
                for name, shape in SPACES.items())
    rng = np.random.default_rng(1)
    preds, ref = rng.integers(0, 10, 10000), np.bincount(rng.integers(0, 10, 10000), minlength=10)
    flags = (rng.random(2000) < 0.3).astype(np.float64)
    start = time.perf_counter()
    for stat in ("kl", "covered"):
        bootstrap(0.0, 10000, lambda c: float(getattr(coverage_of_counts(
            np.bincount(preds, weights=c, minlength=10), ref, CoverageConfig()), stat)), args.resamples)
    bootstrap(0.3, 2000, lambda c: float(c @ flags) / 2000, args.resamples)
    small_s = time.perf_counter() - start
    print(f"class coverage (2 values) + precision: {small_s:.1f} s")
    print(f"added to one evaluation: {total + small_s:.1f} s")


if __name__ == "__main__":
    main()
