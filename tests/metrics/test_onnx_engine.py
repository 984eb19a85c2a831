"""ONNX Runtime engine: availability probe, export, and agreement with torch."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from tests.fixtures import make_fake_dataset
from ganbench.data.idx import read_idx
from ganbench.data.preprocess import to_tensor
from ganbench.errors import MetricError
from ganbench.classifier import config as cconfig, inference, inputs, network, training
from ganbench.metrics import onnx_engine

pytestmark = pytest.mark.timeout(120)

needs_ort = pytest.mark.skipif(
    not onnx_engine.available(), reason=onnx_engine.available().reason or "onnxruntime"
)


@pytest.fixture(scope="module")
def classifier_and_images(tmp_path_factory):
    """A briefly trained small domain classifier and 96 uint8 fixture images."""
    root = tmp_path_factory.mktemp("onnx-data")
    make_fake_dataset(root, n_train=256, n_test=96, seed=2)
    tr = read_idx(root / "train-images-idx3-ubyte.gz")
    tr_y = torch.from_numpy(read_idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64))
    te = read_idx(root / "t10k-images-idx3-ubyte.gz")
    cfg = cconfig.ClassifierConfig(width=8, feature_dim=48, epochs=2, batch_size=32, lr=1e-2)
    x = to_tensor(tr, 32, 1)
    model, _ = training.train_classifier(x, tr_y, cfg)
    return model, np.pad(te, ((0, 0), (2, 2), (2, 2)))[:, None]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_available_explains_what_is_missing(monkeypatch):
    real = importlib.util.find_spec

    def fake_find_spec(name, *args, **kwargs):
        return None if name in ("onnxruntime", "onnxscript") else real(name, *args, **kwargs)

    monkeypatch.setattr(onnx_engine.importlib.util, "find_spec", fake_find_spec)
    probe = onnx_engine.available()
    assert not probe and "pip install onnxruntime" in probe.reason
    with pytest.raises(MetricError, match="onnxruntime is not installed"):
        onnx_engine.OnnxModule(torch.nn.Identity(), torch.zeros(1, 2))


@needs_ort
def test_domain_features_via_ort_equal_torch(classifier_and_images):
    model, images = classifier_and_images
    example = torch.zeros(4, 1, 32, 32)
    engine = onnx_engine.OnnxModule(network.inference_module(model), example)
    assert engine.threads == torch.get_num_threads()
    assert engine.exporter == "torchscript" and len(engine.model_bytes) > 10_000
    f_torch, p_torch = inference.features_and_predictions(model, images, batch_size=40)
    f_ort, p_ort = inference.features_and_predictions(model, images, batch_size=40, runner=engine)
    assert f_ort.shape == f_torch.shape and f_ort.dtype == np.float64
    assert _rel(f_ort, f_torch) < 1e-5
    np.testing.assert_array_equal(p_ort, p_torch)


@needs_ort
def test_dynamic_batch_and_numpy_input(classifier_and_images):
    model, images = classifier_and_images
    module = network.inference_module(model)
    engine = onnx_engine.OnnxModule(module, torch.zeros(2, 1, 32, 32))
    x = inputs.uint8_to_float(torch.from_numpy(images[:7]))
    with torch.inference_mode():
        f_ref, l_ref = module(x)
    for batch in (x[:1], x, x.numpy()):
        feats, logits = engine(batch)
        assert isinstance(feats, torch.Tensor) and feats.shape == (len(batch), 48)
        n = len(batch)
        assert _rel(feats.numpy(), f_ref[:n].numpy()) < 1e-5
        assert _rel(logits.numpy(), l_ref[:n].numpy()) < 1e-5


@needs_ort
def test_single_output_module_returns_a_tensor():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten()).eval()
    engine = onnx_engine.OnnxModule(net, torch.zeros(2, 1, 6, 6), onnx_engine.OnnxConfig(threads=1))
    x = torch.randn(5, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    out = engine(x)
    assert isinstance(out, torch.Tensor) and engine.threads == 1
    with torch.inference_mode():
        np.testing.assert_allclose(out.numpy(), net(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(
    not onnx_engine.available("dynamo"), reason=onnx_engine.available("dynamo").reason or "x"
)
def test_dynamo_exporter_agrees(classifier_and_images):
    model, images = classifier_and_images
    cfg = onnx_engine.OnnxConfig(exporter="dynamo")
    engine = onnx_engine.OnnxModule(network.inference_module(model), torch.zeros(4, 1, 32, 32), cfg)
    f_torch, _ = inference.features_and_predictions(model, images[:20])
    f_ort, _ = inference.features_and_predictions(model, images[:20], runner=engine)
    assert _rel(f_ort, f_torch) < 1e-5
    assert engine.exporter == "dynamo"
