"""``fid``: the Fréchet Inception Distance (Heusel et al. 2017) on pytorch-fid's pool3
features: the distance between the Gaussians fitted to generated and real features,
exact in float64 (:mod:`ganbench.metrics.frechet`), with its evaluation-noise interval
from :mod:`ganbench.metrics.bootstrap` (``evaluate.bootstrap_resamples``)."""

from __future__ import annotations

from typing import Any

from ganbench.metrics.bootstrap import frechet_noise
from ganbench.metrics.frechet import frechet_distance
from ganbench.metrics.reference import feature_stats
from ganbench.metrics.registry import Features, MetricResult, MetricSpec, register_metric, with_n

#: Below this many generated images an Inception FID is not comparable with published ones.
PUBLISHED_MIN_N = 2048


def frechet_result(prefix: str, f: Features, cfg: Any) -> MetricResult:
    """The Fréchet distance of ``f``'s generated and real features as value ``<prefix><N>``."""
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
    name="fid", space="inception", compute=lambda f, cfg: frechet_result("fid", f, cfg), better={"fid": "lower"},
    attainable={"fid": (0.0, None)},
    description="Fréchet Inception Distance (pytorch-fid pool3 features)"))
