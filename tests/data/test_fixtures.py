"""The fake dataset helper and its temporary registration."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import FIXTURE_NAME, make_fake_dataset, register_fixture_dataset
from ganbench.data.idx import read_idx
from ganbench.data.catalogue import DATASETS, decompressed_name
from ganbench.errors import ParamsError


def test_deterministic_and_seeded(tmp_path):
    a = make_fake_dataset(tmp_path / "a", seed=5)
    b = make_fake_dataset(tmp_path / "b", seed=5)
    c = make_fake_dataset(tmp_path / "c", seed=6)
    assert a == b
    assert a.checksums != c.checksums
    for name in a.filenames:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_contents(tmp_path):
    spec = make_fake_dataset(tmp_path, n_train=50, n_test=20)
    images = read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    labels = read_idx(tmp_path / "train-labels-idx1-ubyte.gz")
    assert images.shape == (50, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (50,) and set(labels.tolist()) == set(range(10))
    assert images.min() == 0 and images.max() == 255
    assert all(img.min() == 0 and img.max() == 255 for img in images)
    # Classes look different: mean images of different classes differ.
    means = np.stack([images[labels == k].mean(0) for k in range(10)])
    dists = np.abs(means[:, None] - means[None]).mean(axis=(2, 3))
    assert (dists + np.eye(10) * 1e9).min() > 5
    assert spec.num_classes == len(spec.class_names) == 10
    assert read_idx(tmp_path / "t10k-images-idx3-ubyte.gz").shape == (20, 28, 28)


def test_uncompressed_variant(tmp_path):
    spec = make_fake_dataset(tmp_path, n_train=10, n_test=10, gzip=False)
    assert spec.gz_md5 == {}
    for name in spec.filenames:
        assert (tmp_path / decompressed_name(name)).is_file()
        assert not (tmp_path / name).exists()


def test_register_is_temporary(tmp_path):
    spec = make_fake_dataset(tmp_path, n_train=10, n_test=10)
    assert FIXTURE_NAME not in DATASETS
    with register_fixture_dataset(spec):
        assert DATASETS.get(FIXTURE_NAME) is spec
        with pytest.raises(ValueError, match="registered twice"):
            with register_fixture_dataset(spec):
                pass
        assert DATASETS.get(FIXTURE_NAME) is spec  # the failed nested attempt removed nothing
    assert FIXTURE_NAME not in DATASETS
    with pytest.raises(ParamsError):
        DATASETS.get(FIXTURE_NAME)
    with pytest.raises(RuntimeError), register_fixture_dataset(spec):
        raise RuntimeError("boom")
    assert FIXTURE_NAME not in DATASETS
