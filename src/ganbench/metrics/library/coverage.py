"""``coverage``: class coverage of the samples, from the domain classifier's predicted
classes against its predictions on the reference split (:func:`ganbench.metrics.coverage.
class_coverage`): ``class_kl`` (KL of the reference histogram to the samples'),
``classes_covered``, and for conditional generators ``class_accuracy``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ganbench.errors import DataError
from ganbench.metrics.bootstrap import bootstrap
from ganbench.metrics.coverage import (
    CLASS_REFERENCE,
    CoverageConfig,
    CoverageResult,
    class_coverage,
    class_histogram,
    conditional_accuracy,
    coverage_of_counts,
    label_array,
    recorded_coverage,
    worst_kl,
)
from ganbench.metrics.registry import Features, MetricResult, MetricSpec, register_metric, with_n


def _compute(f: Features, cfg: Any) -> MetricResult:
    if f.real_pred is None:
        raise DataError("class coverage needs the classifier's predictions on the reference images "
                        "(data/domain-reference/predictions.npz); re-run `dvc repro domain-reference`")
    n = f.num_gen
    cov = CoverageConfig(num_classes=f.num_classes)
    result = class_coverage(f.fake_pred, f.real_pred, cov)
    kl, covered = with_n("class_kl", n), with_n("classes_covered", n)
    values = {kl: result.kl, covered: float(result.covered)}
    prov: dict[str, Any] = {"coverage": result.as_dict(), "class_reference": CLASS_REFERENCE,
                            "covered_rule": "a class is covered when it receives ≥ half its reference share"}
    noise: dict[str, dict[str, Any]] = {}
    if cfg.bootstrap_resamples:
        preds = label_array("gen_predictions", f.fake_pred, f.num_classes)
        ref = class_histogram(f.real_pred, f.num_classes)

        def resampled(counts: np.ndarray) -> CoverageResult:
            return coverage_of_counts(np.bincount(preds, weights=counts, minlength=f.num_classes), ref, cov)

        noise[kl] = bootstrap(result.kl, n, lambda c: resampled(c).kl, cfg.bootstrap_resamples).as_dict()
        noise[covered] = bootstrap(float(result.covered), n, lambda c: float(resampled(c).covered),
                                   cfg.bootstrap_resamples).as_dict()
    if f.requested is not None:
        acc = conditional_accuracy(f.requested, f.fake_pred, f.num_classes)
        values[with_n("class_accuracy", n)] = acc.mean
        prov["conditional_accuracy"] = acc.as_dict()
    return MetricResult(values, prov, noise)


register_metric(MetricSpec(
    name="coverage", space="domain", compute=_compute,
    better={"class_kl": "lower", "classes_covered": "higher", "class_accuracy": "higher"},
    attainable={"class_kl": lambda prov: (0.0, worst_kl(prov)),
                "classes_covered": lambda prov: (0.0, float(len(recorded_coverage(prov)["ref_hist"]))),
                "class_accuracy": (0.0, 1.0)},
    description="predicted-class histogram of the samples against the classifier's predictions on "
                "the reference split"))
