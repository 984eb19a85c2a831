"""Feature extraction for evaluation and references: each feature space's features of
uint8 images, with a description of how they were made.

* ``inception``: pytorch-fid's Inception pool3 (2048-d), on ONNX Runtime or torch
  (``runtime.inception_engine``; features agree to 1e-5 relative, so the engine is
  recorded but is not part of a metric's protocol), after pytorch-fid's or TF1's
  preprocessing (``evaluate.inception_preprocess``, which is part of it: ``resize``).
* ``domain``: the domain classifier's penultimate features and predicted classes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.config.schema import RuntimeConfig
from ganbench.errors import WeightsError
from ganbench.runtime import resolve_device

INCEPTION_EXTRACTOR = "pytorch-fid InceptionV3 pool3 2048-d"
DOMAIN_EXTRACTOR = "ganbench domain classifier, penultimate layer"
DOMAIN_RESIZE = "none (native resolution, the classifier's central crop)"


def inception_engine(rt: RuntimeConfig) -> str:
    """The engine the Inception pass runs on: ONNX Runtime on CPU when installed
    (``auto``), torch on CUDA or when asked."""
    from ganbench.metrics import onnx_engine

    device = resolve_device(rt.device)
    if rt.inception_engine == "torch" or device.type != "cpu":
        return "torch"
    ok = onnx_engine.available()
    if rt.inception_engine == "onnx" and not ok:
        raise WeightsError(f"runtime.inception_engine is 'onnx' but {ok.reason}; install onnxruntime "
                           "or set runtime.inception_engine: torch")
    return "onnx" if ok else "torch"


def inception_features(images: np.ndarray, weights: Path, rt: RuntimeConfig, preprocess: str = "pytorch-fid",
                       progress: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Pool3 features ``(N, 2048)`` float64 of uint8 images, made with ``preprocess``
    (``evaluate.inception_preprocess``), and their description: engine, weights, and
    ``resize``, the preprocessing's protocol text."""
    from ganbench.metrics import onnx_engine
    from ganbench.metrics.inception_features import extract_features, fast_inception
    from ganbench.metrics.inception_weights import load_inception
    from ganbench.protocol import INCEPTION_PREPROCESS

    model = load_inception(weights, rt.device)
    engine = inception_engine(rt)
    start = time.perf_counter()
    runner = None
    if engine == "onnx":
        example = torch.zeros(2, 3, *images.shape[2:])
        runner = onnx_engine.OnnxModule(fast_inception(model, "cpu", preprocess), example)
    feats = extract_features(images, model, batch_size=rt.eval_batch_size, device=rt.device,
                             progress=progress, runner=runner, preprocess=preprocess)
    seconds = time.perf_counter() - start
    info = {"engine": engine, "weights_sha256": model.weights_sha256,
            "weights_source": model.weights_source, "resize": INCEPTION_PREPROCESS[preprocess],
            "seconds": round(seconds, 3), "images_per_s": round(len(images) / max(seconds, 1e-9), 2)}
    return feats, info


def domain_features(images: np.ndarray, classifier: Path, rt: RuntimeConfig
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Domain classifier features ``(N, D)`` float64, predicted classes ``(N,)`` and the
    classifier's description (sha256, feature dimension, class count, speed)."""
    from ganbench.io import sha256_file
    from ganbench.classifier.inference import features_and_predictions
    from ganbench.classifier.io import load_classifier

    model, cfg, _ = load_classifier(classifier)
    start = time.perf_counter()
    feats, preds = features_and_predictions(model, images)
    seconds = time.perf_counter() - start
    info = {"weights_sha256": sha256_file(classifier), "feature_dim": cfg.feature_dim,
            "num_classes": cfg.num_classes,
            "seconds": round(seconds, 3), "images_per_s": round(len(images) / max(seconds, 1e-9), 2)}
    return feats, preds, info


