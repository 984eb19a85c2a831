"""Evaluation: every metric ``evaluate.metrics`` names, each feature space computed once,
every number saved with how it was made.

* ``inception``: pytorch-fid's Inception pool3 features of the first ``evaluate.num_gen``
  samples, against ``data/reference/stats.npz`` (the first ``evaluate.num_real`` images of
  the reference split). The pass runs on ONNX Runtime or torch (``runtime.inception_engine``;
  features agree to 1e-5 relative, the engine is recorded but is not part of the protocol).
* ``domain``: the domain classifier's penultimate features and predicted classes of the
  first ``evaluate.domain_num_gen`` samples, against ``data/domain-reference/features.npz``
  and the classifier's predictions on those reference images (``predictions.npz`` beside it).

Each score's evaluation noise (a bootstrap over the generated samples, see
:mod:`ganbench.metrics.bootstrap`) is stored in its provenance as ``eval_noise``.

The result is flat (``{"fid2k": …, "kid2k": …, "kid2k_std": …}``: what ``dvc metrics`` and
``ganbench check`` read) with a ``provenance`` entry per metric value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganbench import numerics
from ganbench.config.schema import EvaluateConfig, RuntimeConfig
from ganbench.errors import DataError, WeightsError
from ganbench.metrics.coverage import load_predictions
from ganbench.metrics.extract import (
    DOMAIN_EXTRACTOR,
    DOMAIN_RESIZE,
    INCEPTION_EXTRACTOR,
    domain_features,
    inception_features,
)
from ganbench.metrics.reference import Reference, load_reference
from ganbench.published import LUCIC_2018_FASHION_MNIST
from ganbench.published import compare as compare_published
from ganbench.metrics.registry import METRICS, Features, MetricSpec, direction
from ganbench.provenance import versions
from ganbench.sampling.files import as_uint8

FIX_REFERENCE = "re-run `dvc repro reference`"
FIX_DOMAIN_REFERENCE = "re-run `dvc repro domain-reference`"


@dataclass(frozen=True)
class Sources:
    """The files evaluation reads (None where no requested metric needs them)."""

    inception_reference: Path | None = None
    inception_weights: Path | None = None
    classifier: Path | None = None
    domain_reference: Path | None = None
    domain_predictions: Path | None = None


# --------------------------------------------------------------------------- evaluation


def _check_reference(ref: Reference, path: Path, sha: str, image_shape: list[int], fix: str,
                     resize: str | None = None) -> None:
    if resize is not None and ref.meta.get("resize") not in (None, resize):
        raise DataError(f"reference {path} was made with the input path {ref.meta['resize']!r}, but "
                        f"evaluate.inception_preprocess gives {resize!r}; {fix}")
    if ref.meta.get("weights_sha256") != sha:
        raise WeightsError(f"reference {path} was made with feature-extractor weights "
                           f"{str(ref.meta.get('weights_sha256'))[:12]}…, but the current ones are "
                           f"{sha[:12]}…; {fix}")
    if ref.meta.get("image_shape") is not None and list(ref.meta["image_shape"]) != image_shape:
        raise DataError(f"generated images are {'x'.join(map(str, image_shape))} but the reference "
                        f"images in {path} are {'x'.join(map(str, ref.meta['image_shape']))}; re-run "
                        f"the sample stage with the current data settings, or {fix}")


def _first(images: np.ndarray, n: int, key: str) -> np.ndarray:
    if len(images) < n:
        raise DataError(f"{key} is {n} but the samples file holds {len(images)} images; raise "
                        "sample.num (and re-run the sample stage) or lower the evaluation N")
    return images[:n]


def score(specs: list[MetricSpec], features: dict[str, Features], cfg: EvaluateConfig,
          timing: dict[str, Any] | None = None) -> tuple[dict[str, float], dict[str, Any]]:
    """Every metric of ``specs`` on its feature space: (values, provenance per value). Each
    value's provenance holds its metric, the direction its metric declares, how its
    features were made, the metric's own knobs and (when it has one) its evaluation
    noise; ``timing`` receives each metric's seconds."""
    out: dict[str, float] = {}
    provenance: dict[str, Any] = {}
    for spec in specs:
        start = time.perf_counter()
        f = features[spec.space]
        result = spec.compute(f, cfg)
        for name, value in result.values.items():
            out[name] = float(value)
            if not name.endswith("_std"):
                provenance[name] = {"metric": spec.name, "direction": direction(name), **f.provenance,
                                    **result.provenance}
                if name in result.noise:
                    provenance[name]["eval_noise"] = result.noise[name]
        if timing is not None:
            timing.setdefault("metrics", {})[spec.name] = round(time.perf_counter() - start, 3)
    return out, provenance


def evaluate_samples(images: np.ndarray, sample_meta: dict[str, Any], cfg: EvaluateConfig,
                     rt: RuntimeConfig, sources: Sources, progress: bool = True) -> dict[str, Any]:
    """Every metric in ``cfg.metrics`` for samples ``(N, C, H, W)``: uint8, or float32 in
    [0, 1] (``sample.dtype: float32``), which Inception takes unrounded and the domain
    classifier rounded to uint8 as an image's pixels.

    Returns ``{name: value, …, "provenance": {name: {...}}, "timing": {...}}``."""
    specs = [METRICS.get(name) for name in cfg.metrics]
    spaces = {s.space for s in specs}
    image_shape = [int(s) for s in images.shape[1:]]
    common = {"samples": sample_meta, "image_shape": image_shape, "versions": versions(),
              "numerics": numerics.describe()}
    features: dict[str, Features] = {}
    timing: dict[str, Any] = {}

    if "inception" in spaces:
        assert sources.inception_reference and sources.inception_weights
        fake = _first(images, cfg.num_gen, "evaluate.num_gen")
        feats, info = inception_features(fake, sources.inception_weights, rt, cfg.inception_preprocess, progress)
        ref = load_reference(sources.inception_reference, FIX_REFERENCE)
        _check_reference(ref, sources.inception_reference, info["weights_sha256"], image_shape,
                         FIX_REFERENCE, info["resize"])
        timing["inception"] = {k: info[k] for k in ("engine", "seconds", "images_per_s")}
        features["inception"] = Features(
            space="inception", fake=feats, real=ref.features.astype(np.float64), real_mu=ref.mu,
            real_sigma=ref.sigma, provenance={
                **common, "feature_extractor": INCEPTION_EXTRACTOR, "feature_dim": int(feats.shape[1]),
                "weights_sha256": info["weights_sha256"], "weights_source": info["weights_source"],
                "engine": info["engine"], "resize": info["resize"], "num_gen": len(fake),
                "num_real": int(ref.features.shape[0]), "reference_split": ref.meta.get("reference_split"),
                "dataset": ref.meta.get("dataset")})

    if "domain" in spaces:
        assert sources.classifier and sources.domain_reference
        # The classifier reads image pixels: float samples are rounded first.
        fake = as_uint8(_first(images, cfg.domain_num_gen, "evaluate.domain_num_gen"))
        feats, preds, info = domain_features(fake, sources.classifier, rt)
        ref = load_reference(sources.domain_reference, FIX_DOMAIN_REFERENCE)
        _check_reference(ref, sources.domain_reference, info["weights_sha256"], image_shape,
                         FIX_DOMAIN_REFERENCE)
        real_pred = None
        if "coverage" in cfg.metrics:
            real_pred = load_predictions(sources.domain_predictions or sources.domain_reference.with_name(
                "predictions.npz"), len(ref.features), info["weights_sha256"], FIX_DOMAIN_REFERENCE)
        num_classes = int(info["num_classes"])
        requested = None
        if sample_meta.get("conditional"):
            requested = np.arange(len(fake)) % num_classes  # the sample stage's balanced labels
        timing["domain"] = {k: info[k] for k in ("seconds", "images_per_s")}
        features["domain"] = Features(
            space="domain", fake=feats, real=ref.features.astype(np.float64), real_mu=ref.mu,
            real_sigma=ref.sigma, fake_pred=preds, real_labels=ref.labels, real_pred=real_pred,
            requested=requested,
            num_classes=num_classes, provenance={
                **common, "feature_extractor": f"{DOMAIN_EXTRACTOR} {info['feature_dim']}-d",
                "feature_dim": int(info["feature_dim"]), "weights_sha256": info["weights_sha256"],
                "classifier_accuracy": ref.meta.get("accuracy_on_reference"), "resize": DOMAIN_RESIZE,
                "num_gen": len(fake), "num_real": int(ref.features.shape[0]),
                "reference_split": ref.meta.get("reference_split"), "dataset": ref.meta.get("dataset")})

    out, provenance = score(specs, features, cfg, timing)
    for prov in provenance.values():  # can this score sit beside a published one?
        if prov.get("metric") in LUCIC_2018_FASHION_MNIST.metrics:
            prov["published"] = compare_published(prov, LUCIC_2018_FASHION_MNIST)
    return {**out, "provenance": provenance, "timing": timing}
