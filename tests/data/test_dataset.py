"""load_split / load_meta: happy path and one-line errors pointing at `preprocess`."""

from __future__ import annotations

import json

import pytest
import torch

from ganbench.config import DataConfig
from ganbench.data.dataset import load_meta, load_split
from tests.fixtures import make_fake_dataset, register_fixture_dataset
from ganbench.data.preprocess import preprocess
from ganbench.io import torch_save
from ganbench.data.sources import fetch
from ganbench.errors import DataError, ParamsError


@pytest.fixture
def processed(tmp_path):
    spec = make_fake_dataset(tmp_path / "src", n_train=30, n_test=10)
    with register_fixture_dataset(spec):
        cfg = DataConfig(dataset=spec.name, source_dir=str(tmp_path / "src"), allow_download=False)
        fetch(cfg, tmp_path / "raw", env={}, debian_dir=None)
        preprocess(tmp_path / "raw", tmp_path / "processed", cfg)
    return tmp_path / "processed"


def test_load_split(processed):
    for split, n in (("train", 30), ("test", 10)):
        x, y = load_split(processed, split)
        assert x.shape == (n, 1, 32, 32) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64
        assert int(y.min()) >= 0 and int(y.max()) < 10


def test_unknown_split(processed):
    with pytest.raises(ParamsError, match="unknown data split 'val'"):
        load_split(processed, "val")


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match=r"train.pt not found; run `dvc repro preprocess` \(or `ganbench preprocess`\)"):
        load_split(tmp_path, "train")
    with pytest.raises(DataError, match="meta.json not found; run `dvc repro preprocess`"):
        load_meta(tmp_path)


def test_unreadable_files(processed):
    path = processed / "train.pt"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="train.pt is unreadable") as err:
        load_split(processed, "train")
    assert "\n" not in str(err.value) and "preprocess" in str(err.value)
    (processed / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match="meta.json is unreadable"):
        load_meta(processed)


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"images": torch.zeros(3, 1, 32, 32)}, "expected keys"),
        ({"images": torch.zeros(3, 1, 32, 32, dtype=torch.float64), "labels": torch.zeros(3, dtype=torch.long)}, "float32"),
        ({"images": torch.zeros(3, 32, 32), "labels": torch.zeros(3, dtype=torch.long)}, "float32"),
        ({"images": torch.zeros(3, 1, 32, 32), "labels": torch.zeros(3, dtype=torch.int32)}, "int64"),
        ({"images": torch.zeros(3, 1, 32, 32), "labels": torch.zeros(2, dtype=torch.long)}, "3 images but 2 labels"),
        ({"images": torch.full((3, 1, 32, 32), 2.0), "labels": torch.zeros(3, dtype=torch.long)}, r"outside \[-1, 1\]"),
    ],
)
def test_invalid_contents(tmp_path, obj, match):
    torch_save(obj, tmp_path / "test.pt")
    with pytest.raises(DataError, match=match):
        load_split(tmp_path, "test")


def test_shape_disagrees_with_meta(processed):
    meta = json.loads((processed / "meta.json").read_text())
    meta["splits"]["test"]["shape"] = [10, 3, 32, 32]
    (processed / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="says"):
        load_split(processed, "test")
