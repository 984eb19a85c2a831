"""``kid_domain``: KID on the domain classifier's penultimate features, computed as ``kid`` is."""

from __future__ import annotations

from ganbench.metrics.library.kid import kid_values
from ganbench.metrics.registry import MetricSpec, register_metric

register_metric(MetricSpec(name="kid_domain", space="domain", compute=kid_values("kid_domain"),
                           better={"kid_domain": "lower"}, description="KID on the domain classifier's features"))
