"""Fréchet distances: ``fid`` on Inception pool3 features (Heusel et al. 2017) and
``fd_domain`` on the domain classifier's features (named so that nobody mistakes it for
an FID). Both compare the Gaussians fitted to generated and real features with the exact
float64 distance of :mod:`ganbench.metrics.frechet`; each gets its evaluation-noise interval
from :mod:`ganbench.metrics.bootstrap` (``evaluate.bootstrap_resamples``)."""

from __future__ import annotations

from typing import Any

from ganbench.metrics.bootstrap import frechet_noise
from ganbench.metrics.frechet import frechet_distance
from ganbench.metrics.reference import feature_stats
from ganbench.metrics.registry import Features, MetricResult, MetricSpec, register_metric, with_n

#: Below this many generated images an Inception FID is not comparable with published ones.
PUBLISHED_MIN_N = 2048


def _fd(prefix: str, f: Features, cfg: Any) -> MetricResult:
    mu, sigma = feature_stats(f.fake)
    if f.real_mu is not None and f.real_sigma is not None:
        mu_r, sigma_r = f.real_mu, f.real_sigma
    else:
        mu_r, sigma_r = feature_stats(f.real)
    value = frechet_distance(mu, sigma, mu_r, sigma_r)
    prov: dict[str, Any] = {"distance": "Fréchet distance of fitted Gaussians (exact, float64 eigen)"}
    if f.space == "inception":
        prov["comparable_with_published"] = f.num_gen >= PUBLISHED_MIN_N
    name = with_n(prefix, f.num_gen)
    noise = {}
    if cfg.bootstrap_resamples:
        noise[name] = frechet_noise(value, f.fake, mu_r, sigma_r, cfg.bootstrap_resamples).as_dict()
    return MetricResult({name: value}, prov, noise)


register_metric(MetricSpec(
    name="fid", space="inception", compute=lambda f, cfg: _fd("fid", f, cfg), better={"fid": "lower"},
    attainable={"fid": (0.0, None)},
    description="Fréchet Inception Distance (pytorch-fid pool3 features)"))
register_metric(MetricSpec(
    name="fd_domain", space="domain", compute=lambda f, cfg: _fd("fd_domain", f, cfg),
    better={"fd_domain": "lower"}, attainable={"fd_domain": (0.0, None)},
    description="Fréchet distance on the domain classifier's penultimate features"))
