"""``fd_domain``: the Fréchet distance on the domain classifier's penultimate features
(named so that nobody mistakes it for an FID), computed as ``fid`` is."""

from __future__ import annotations

from ganbench.metrics.library.fid import frechet_result
from ganbench.metrics.registry import MetricSpec, register_metric

register_metric(MetricSpec(
    name="fd_domain", space="domain", compute=lambda f, cfg: frechet_result("fd_domain", f, cfg),
    better={"fd_domain": "lower"}, attainable={"fd_domain": (0.0, None)},
    description="Fréchet distance on the domain classifier's penultimate features"))
