"""``kid``: the Kernel Inception Distance (Bińkowski et al. 2018) on pool3 features, mean
and standard deviation over ``evaluate.kid_subsets`` subsets of ``evaluate.kid_subset_size``
(:func:`ganbench.metrics.kid.kid`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ganbench.metrics.kid import KIDConfig, kid
from ganbench.metrics.registry import Features, MetricResult, MetricSpec, register_metric, with_n


def kid_values(prefix: str) -> Callable[[Features, Any], MetricResult]:
    """The compute function writing ``<prefix><N>`` and ``<prefix><N>_std``."""

    def compute(f: Features, cfg: Any) -> MetricResult:
        result = kid(f.real, f.fake, KIDConfig(num_subsets=cfg.kid_subsets, subset_size=cfg.kid_subset_size))
        name = with_n(prefix, f.num_gen)
        return MetricResult({name: result.mean, f"{name}_std": result.std},
                            {"kid_subset_size": result.subset_size, "kid_subsets": result.num_subsets,
                             "kernel": "(x·y/d + 1)^3", "estimator": "unbiased MMD², mean ± std over subsets"})

    return compute


register_metric(MetricSpec(name="kid", space="inception", compute=kid_values("kid"), better={"kid": "lower"},
                           description="Kernel Inception Distance (Bińkowski et al. 2018)"))
