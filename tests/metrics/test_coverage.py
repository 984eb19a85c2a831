"""Class coverage (histograms, KL, covered classes) and conditional accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.errors import DataError, MetricError
from ganbench.metrics.coverage import (
    CoverageConfig,
    class_coverage,
    class_histogram,
    conditional_accuracy,
    kl_divergence,
    load_predictions,
    save_predictions,
)

pytestmark = pytest.mark.timeout(30)

REF = np.repeat(np.arange(10), 100)  # balanced reference split, 100 per class


def test_single_class_generator_is_flagged():
    res = class_coverage(np.full(500, 4), REF)
    assert res.covered == 1
    assert res.uncovered == tuple(c for c in range(10) if c != 4)
    # nine missing 10 % classes at eps = 1e-6, plus log(0.1) for the one present
    expected = 0.9 * math.log(0.1 / (1e-6 / (1 + 10e-6))) + 0.1 * math.log(0.1 / ((1 + 1e-6) / (1 + 10e-6)))
    assert res.kl == pytest.approx(expected, rel=1e-9)
    assert res.kl > 10


def test_balanced_histogram_gives_zero_kl_and_all_classes():
    rng = np.random.default_rng(0)
    gen = rng.permutation(np.repeat(np.arange(10), 30))
    res = class_coverage(gen, REF)
    assert res.kl == pytest.approx(0.0, abs=1e-9)
    assert res.covered == 10 and res.num_reference_classes == 10 and res.uncovered == ()
    np.testing.assert_allclose(res.gen_hist, 0.1)
    assert res.as_dict()["covered"] == 10


def test_half_share_threshold_and_absent_reference_classes():
    ref = np.repeat([0, 1, 2], [50, 30, 20])  # classes 3..9 absent from the reference
    gen = np.repeat([0, 1, 2, 5], [70, 15, 9, 6])  # class 2 gets 9 % < half of 20 %
    res = class_coverage(gen, ref)
    assert res.num_reference_classes == 3
    assert res.covered == 2 and res.uncovered == (2,)
    # class 1 gets exactly half of its share: covered (>=)
    assert class_coverage(np.repeat([0, 1, 2], [55, 15, 30]), ref).covered == 3
    assert class_coverage(gen, ref, CoverageConfig(min_share=0.4)).covered == 3


def test_kl_smoothing_is_documented_formula():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([1.0, 0.0, 0.0])
    eps = 1e-3
    qs = (q + eps) / (1 + 3 * eps)
    assert kl_divergence(p, q, eps) == pytest.approx(0.5 * math.log(0.5 / qs[0]) + 0.5 * math.log(0.5 / qs[1]))


def test_conditional_accuracy_on_a_hand_built_case():
    requested = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = torch.tensor([0, 0, 1, 0, 1, 0, 2, 2, 2, 2])
    acc = conditional_accuracy(requested, predicted, num_classes=4)
    np.testing.assert_allclose(acc.per_class[:3], [0.75, 0.5, 1.0])
    assert math.isnan(acc.per_class[3])  # class 3 never requested
    assert acc.mean == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    np.testing.assert_array_equal(acc.counts, [4, 2, 4, 0])
    assert acc.as_dict()["per_class"][3] is None


def test_bad_labels_raise_metric_error():
    with pytest.raises(MetricError, match=r"outside 0\.\.9"):
        class_coverage(np.array([0, 10]), REF)
    with pytest.raises(MetricError, match="integer class labels"):
        class_coverage(np.array([0.5, 1.0]), REF)
    with pytest.raises(MetricError, match="generated and reference labels"):
        class_coverage(np.array([], dtype=np.int64), REF)
    with pytest.raises(MetricError, match="one prediction per requested label"):
        conditional_accuracy([0, 1], [0])
    np.testing.assert_array_equal(class_histogram([1, 1, 3], 4), [0, 2, 0, 1])


def test_the_test_split_as_a_generator_scores_zero_against_the_classifiers_own_predictions():
    """A 93 %-accurate classifier whose errors are one-sided (shirts read as T-shirts,
    pullovers as coats): the registered metric compares the samples' predictions with the
    classifier's predictions on the reference images, so the reference itself scores 0."""
    from ganbench.config.schema import EvaluateConfig
    from ganbench.metrics.registry import METRICS, Features

    labels = np.repeat(np.arange(10), 1000)                   # the test split's true labels
    preds = labels.copy()
    preds[np.flatnonzero(labels == 6)[:400]] = 0
    preds[np.flatnonzero(labels == 2)[:300]] = 4
    assert (preds == labels).mean() == pytest.approx(0.93)
    feats = np.zeros((len(labels), 2))
    f = Features("domain", feats, feats, {}, fake_pred=preds, real_labels=labels, real_pred=preds, num_classes=10)
    res = METRICS.get("coverage").compute(f, EvaluateConfig(bootstrap_resamples=0))
    assert res.values["class_kl10k"] < 0.01 and res.values["classes_covered10k"] == 10
    assert "predictions" in res.provenance["class_reference"]
    # against the true labels (the definition before issue 16) the same images score 0.027
    assert class_coverage(preds, labels).kl > 0.02
    missing = Features("domain", feats, feats, {}, fake_pred=preds, real_labels=labels, num_classes=10)
    with pytest.raises(DataError, match="dvc repro domain-reference"):
        METRICS.get("coverage").compute(missing, EvaluateConfig())


def test_reference_predictions_round_trip_and_refuse_another_classifier(tmp_path):
    save_predictions(tmp_path / "p.npz", [3, 1, 2], {"weights_sha256": "ab", "num_real": 3})
    save_predictions(tmp_path / "q.npz", [3, 1, 2], {"weights_sha256": "ab", "num_real": 3})
    assert (tmp_path / "p.npz").read_bytes() == (tmp_path / "q.npz").read_bytes()
    assert load_predictions(tmp_path / "p.npz", 3, "ab", "fix").tolist() == [3, 1, 2]
    with pytest.raises(DataError, match="another classifier.*; fix"):
        load_predictions(tmp_path / "p.npz", 3, "cd", "fix")
    with pytest.raises(DataError, match="3 predictions for 4 images"):
        load_predictions(tmp_path / "p.npz", 4, "ab", "fix")
    with pytest.raises(DataError, match="missing or unreadable; fix"):
        load_predictions(tmp_path / "none.npz", 3, "ab", "fix")
