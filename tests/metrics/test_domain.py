"""Domain classifier: training path, features/predictions, checkpoints, determinism.

Everything runs on the tiny shape fixture (10 classes of white-on-black shapes) with a
narrow network, so the whole file takes a few seconds; the full-size accuracy on the
real Fashion-MNIST is measured outside the test suite.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from tests.fixtures import make_fake_dataset
from ganbench.data.idx import read_idx
from ganbench.data.preprocess import to_tensor
from ganbench.errors import CheckpointError, MetricError
from ganbench.classifier import config as cconfig, inference, inputs, io as cio, training

pytestmark = pytest.mark.timeout(60)

SMALL = cconfig.ClassifierConfig(
    width=8, feature_dim=32, epochs=6, batch_size=32, lr=1e-2, seed=5
)


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    """(train_x, train_y, test_x, test_y, test uint8 N×1×32×32) of the tiny fixture."""
    root = tmp_path_factory.mktemp("domain-data")
    make_fake_dataset(root, n_train=256, n_test=128, seed=1)
    tr_img = read_idx(root / "train-images-idx3-ubyte.gz")
    te_img = read_idx(root / "t10k-images-idx3-ubyte.gz")
    tr_y = torch.from_numpy(read_idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64))
    te_y = torch.from_numpy(read_idx(root / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    te_uint8 = np.pad(te_img, ((0, 0), (2, 2), (2, 2)))[:, None]
    return to_tensor(tr_img, 32, 1), tr_y, to_tensor(te_img, 32, 1), te_y, te_uint8


@pytest.fixture(scope="module")
def trained(fixture_data):
    train_x, train_y, *_ = fixture_data
    return training.train_classifier(train_x, train_y, SMALL)


def test_training_improves_over_chance_and_reports_metrics(trained):
    model, metrics = trained
    assert isinstance(metrics, cconfig.TrainMetrics)
    assert metrics.train_accuracy > 0.5  # chance is 0.1
    assert metrics.num_parameters == sum(p.numel() for p in model.parameters() if p.requires_grad) > 0
    assert metrics.train_seconds > 0 and metrics.epochs == SMALL.epochs
    assert np.isfinite(metrics.final_loss)
    assert not model.training


def test_progress_callback_and_max_steps(fixture_data):
    train_x, train_y, *_ = fixture_data
    seen = []
    cfg = dataclasses.replace(SMALL, epochs=3)
    _, metrics = training.train_classifier(train_x, train_y, cfg, progress=seen.append, max_steps=2)
    assert len(seen) == 1 and seen[0]["epoch"] == 1 and metrics.epochs == 1
    assert set(seen[0]) == {"epoch", "epochs", "loss", "train_accuracy", "seconds"}


def test_same_seed_gives_identical_weights_and_leaves_global_rng_alone(fixture_data):
    train_x, train_y, *_ = fixture_data
    cfg = dataclasses.replace(SMALL, epochs=1)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a, ma = training.train_classifier(train_x, train_y, cfg)
    assert torch.equal(torch.rand(3), expected_next)  # caller's RNG untouched
    b, mb = training.train_classifier(train_x, train_y, cfg)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ma.train_accuracy == mb.train_accuracy
    c, _ = training.train_classifier(train_x, train_y, dataclasses.replace(cfg, seed=6))
    assert not torch.equal(c.state_dict()["head.1.weight"], sa["head.1.weight"])


def test_features_and_predictions_shapes_dtypes_and_agreement(trained, fixture_data):
    model, metrics = trained
    _, _, test_x, test_y, te_uint8 = fixture_data
    feats, preds = inference.features_and_predictions(model, te_uint8, batch_size=50)
    assert feats.dtype == np.float64 and feats.shape == (128, SMALL.feature_dim)
    assert preds.dtype == np.int64 and preds.shape == (128,)
    assert preds.min() >= 0 and preds.max() < 10
    assert np.isfinite(feats).all() and (feats >= 0).all()  # after ReLU
    # the uint8 path converts exactly like preprocessing: the predictions on floats
    with torch.inference_mode():
        float_preds = model(test_x.contiguous(memory_format=torch.channels_last)).argmax(1).numpy()
    np.testing.assert_array_equal(preds, float_preds)
    assert (preds == test_y.numpy()).mean() > 0.5  # it generalises (chance is 0.1)
    # grayscale repeated to 3 channels is accepted and gives the same answer
    feats3, preds3 = inference.features_and_predictions(
        model, torch.from_numpy(np.repeat(te_uint8, 3, axis=1)), batch_size=128
    )
    np.testing.assert_array_equal(preds3, preds)
    np.testing.assert_allclose(feats3, feats, rtol=1e-5, atol=1e-6)


def test_uint8_conversion_is_exactly_preprocessing():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    padded = np.pad(img, ((0, 0), (2, 2), (2, 2)))[:, None]
    assert torch.equal(inputs.uint8_to_float(torch.from_numpy(padded)), to_tensor(img, 32, 1))


def test_random_translate_shifts_with_background_fill():
    x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4).repeat(50, 1, 1, 1)
    out = inputs.random_translate(x, 1, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for img in out[:, 0]:
        found = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ref = torch.full((6, 6), -1.0)
                ref[1:5, 1:5] = x[0, 0]
                if torch.equal(img, ref[1 + dy : 5 + dy, 1 + dx : 5 + dx]):
                    found = True
        assert found


def test_bad_images_raise_metric_error(trained):
    model, _ = trained
    with pytest.raises(MetricError, match="uint8"):
        inference.features_and_predictions(model, np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(MetricError, match="32x32"):
        inference.features_and_predictions(model, np.zeros((2, 1, 28, 28), np.uint8))
    rgb = np.zeros((2, 3, 32, 32), np.uint8)
    rgb[:, 1] = 7
    with pytest.raises(MetricError, match="1-channel"):
        inference.features_and_predictions(model, rgb)


def test_save_load_round_trip_gives_identical_outputs(trained, fixture_data, tmp_path):
    model, metrics = trained
    te_uint8 = fixture_data[4]
    path = tmp_path / "clf" / "domain.pt"
    digest = cio.save_classifier(model, SMALL, metrics, path)
    assert digest == cio.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == ["domain.pt"]  # no temp left
    loaded, cfg, saved_metrics = cio.load_classifier(path)
    assert cfg == SMALL
    timing = ("train_seconds", "train_images_per_second")  # how long, not what: not in the file
    assert saved_metrics == {k: v for k, v in dataclasses.asdict(metrics).items() if k not in timing}
    f1, p1 = inference.features_and_predictions(model, te_uint8)
    f2, p2 = inference.features_and_predictions(loaded, te_uint8)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(p1, p2)
    # same content → same bytes, whatever the file name
    other = tmp_path / "other-name.pt"
    assert cio.save_classifier(model, SMALL, metrics, other) == digest


def test_unreadable_files_give_one_checkpoint_error(trained, tmp_path):
    model, metrics = trained
    good = tmp_path / "good.pt"
    cio.save_classifier(model, SMALL, metrics, good)
    data = good.read_bytes()
    cases = {
        "truncated.pt": data[: len(data) // 2],
        "empty.pt": b"",
        "text.pt": b"not a checkpoint at all\n",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    wrong_shape = tmp_path / "wrong.pt"
    payload = torch.load(good, weights_only=True)
    payload["config"]["width"] = 16
    torch.save(payload, wrong_shape)
    for path in [tmp_path / n for n in cases] + [foreign, wrong_shape, tmp_path / "missing.pt"]:
        with pytest.raises(CheckpointError) as err:
            cio.load_classifier(path)
        message = str(err.value)
        assert str(path) in message and "\n" not in message
        assert "dvc repro classifier" in message


def test_training_reads_no_test_split_and_the_bar_is_checked_on_the_reference():
    """train_classifier takes training data only; the accuracy bar is applied where the
    reference split is read (the domain-reference stage)."""
    import inspect

    assert [n for n in inspect.signature(training.train_classifier).parameters if "test" in n] == []
    assert cconfig.accuracy_check("fashion-mnist", 0.9334) == {"accuracy_bar": 0.93, "meets_bar": True}
    assert cconfig.accuracy_check("fashion-mnist", 0.92) == {"accuracy_bar": 0.93, "meets_bar": False}
    assert cconfig.accuracy_check("mnist", 0.985) == {"accuracy_bar": 0.99, "meets_bar": False}
    assert cconfig.accuracy_check("idx-folder", 0.5) == {"accuracy_bar": None, "meets_bar": None}
