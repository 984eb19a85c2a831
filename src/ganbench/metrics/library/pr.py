"""``pr``: improved precision (fidelity) and recall (diversity) of Kynkäänniemi et al. 2019
on pool3 features, k-th neighbour balls with k = ``evaluate.pr_k``
(:func:`ganbench.metrics.precision_recall.precision_recall`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ganbench.metrics.bootstrap import bootstrap
from ganbench.metrics.precision_recall import PRConfig, precision_recall
from ganbench.metrics.registry import Features, MetricResult, MetricSpec, register_metric, with_n


def _compute(f: Features, cfg: Any) -> MetricResult:
    result = precision_recall(f.real, f.fake, PRConfig(k=cfg.pr_k))
    precision = with_n("precision", f.num_gen)
    noise = {}
    if cfg.bootstrap_resamples:  # recall has none: its fake balls would shrink on repeated samples
        flags = result.fake_in_real.astype(np.float64)
        noise[precision] = bootstrap(result.precision, f.num_gen, lambda c: float(c @ flags) / f.num_gen,
                                     cfg.bootstrap_resamples).as_dict()
    return MetricResult({precision: result.precision, with_n("recall", f.num_gen): result.recall},
                        {"pr_k": result.k, "method": "k-NN manifolds (Kynkäänniemi et al. 2019)"}, noise)


register_metric(MetricSpec(name="pr", space="inception", compute=_compute,
                           better={"precision": "higher", "recall": "higher"},
                           attainable={"precision": (0.0, 1.0), "recall": (0.0, 1.0)},
                           description="improved precision (fidelity) and recall (diversity)"))
