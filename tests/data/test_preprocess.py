"""IDX → tensors: value range, padding geometry, channels, meta.json, failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganbench.config import DataConfig
from ganbench.data.dataset import load_meta, load_split
from tests.fixtures import CLASS_NAMES, make_fake_dataset, register_fixture_dataset
from ganbench.data.idx import write_idx
from ganbench.data.preprocess import padding_for, preprocess
from ganbench.data.sources import fetch
from ganbench.errors import DataError, ParamsError


@pytest.fixture
def raw(tmp_path):
    """(spec, raw_dir) of a fetched fake dataset, registered for the test."""
    spec = make_fake_dataset(tmp_path / "src", n_train=40, n_test=20, seed=3)
    with register_fixture_dataset(spec):
        raw_dir = tmp_path / "raw" / spec.name
        fetch(DataConfig(dataset=spec.name, source_dir=str(tmp_path / "src")), raw_dir,
              env={}, debian_dir=None)
        yield spec, raw_dir


def cfg_for(spec, **kw) -> DataConfig:
    return DataConfig(dataset=spec.name, allow_download=False, **kw)


def test_range_exact_and_padding_geometry(raw, tmp_path):
    spec, raw_dir = raw
    out = tmp_path / "processed"
    meta = preprocess(raw_dir, out, cfg_for(spec, resolution=32))
    x, y = load_split(out, "train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape == (40, 1, 32, 32) and y.shape == (40,)
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    # 28 → 32: two rows/columns of -1 on every side, the 28×28 content in the middle.
    assert padding_for(28, 32) == (2, 2)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (x[:, :, border] == -1).all()
    # The centre equals x/127.5 - 1 of the source pixels, exactly.
    from ganbench.data.idx import read_idx

    src = torch.from_numpy(read_idx(raw_dir / "train-images-idx3-ubyte.gz")).float()
    assert torch.equal(x[:, 0, 2:30, 2:30], src / 127.5 - 1)
    assert torch.equal(y, torch.from_numpy(read_idx(raw_dir / "train-labels-idx1-ubyte.gz")).long())
    assert meta["splits"]["train"]["min"] == -1.0 and meta["splits"]["train"]["max"] == 1.0


def test_meta_json(raw, tmp_path):
    spec, raw_dir = raw
    out = tmp_path / "processed"
    meta = preprocess(raw_dir, out, cfg_for(spec))
    on_disk = json.loads((out / "meta.json").read_text())
    assert on_disk == meta == load_meta(out)
    assert meta["dataset"] == spec.name
    assert meta["num_classes"] == 10 and meta["class_names"] == list(CLASS_NAMES)
    assert meta["resolution"] == 32 and meta["channels"] == 1
    assert meta["value_range"] == [-1.0, 1.0]
    assert meta["splits"]["train"]["count"] == 40 and meta["splits"]["test"]["count"] == 20
    assert meta["splits"]["test"]["shape"] == [20, 1, 32, 32]
    assert sum(meta["splits"]["train"]["class_counts"]) == 40
    assert meta["source_checksums"] == spec.checksums
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "test.pt", "train.pt"]


def test_output_is_byte_identical_across_runs(raw, tmp_path):
    spec, raw_dir = raw
    a, b = tmp_path / "a", tmp_path / "b"
    preprocess(raw_dir, a, cfg_for(spec))
    preprocess(raw_dir, b, cfg_for(spec))
    for name in ("train.pt", "test.pt", "meta.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_three_channels_and_odd_padding(raw, tmp_path):
    spec, raw_dir = raw
    out = tmp_path / "p"
    preprocess(raw_dir, out, cfg_for(spec, resolution=31, channels=3))
    x, _ = load_split(out, "test")
    assert x.shape == (20, 3, 31, 31)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    assert padding_for(28, 31) == (1, 2)
    assert (x[:, :, 0, :] == -1).all() and (x[:, :, 29:, :] == -1).all()
    assert (x[:, :, :, 0] == -1).all() and (x[:, :, :, 29:] == -1).all()


def test_resolution_28_keeps_images(raw, tmp_path):
    spec, raw_dir = raw
    preprocess(raw_dir, tmp_path / "p", cfg_for(spec, resolution=28))
    assert load_split(tmp_path / "p", "test")[0].shape == (20, 1, 28, 28)


@pytest.mark.parametrize("kw, key", [({"resolution": 16}, "data.resolution"), ({"channels": 2}, "data.channels")])
def test_bad_geometry_is_params_error(raw, tmp_path, kw, key):
    spec, raw_dir = raw
    out = tmp_path / "p"
    preprocess(raw_dir, out, cfg_for(spec))
    with pytest.raises(ParamsError, match=key):
        preprocess(raw_dir, out, cfg_for(spec, **kw))
    assert (out / "train.pt").exists()  # failing early leaves the earlier output alone


def test_label_count_mismatch(raw, tmp_path):
    spec, raw_dir = raw
    # Rewrite the labels with one entry too few and update the manifest accordingly.
    import hashlib

    from ganbench.data.idx import encode_idx, read_idx
    from ganbench.data.sources import read_manifest, write_json

    name = "t10k-labels-idx1-ubyte.gz"
    labels = read_idx(raw_dir / name)[:-1]
    write_idx(raw_dir / name, labels, gzip=True)
    manifest = read_manifest(raw_dir)
    manifest["files"][name]["sha256"] = hashlib.sha256(encode_idx(labels)).hexdigest()
    write_json(raw_dir / "manifest.json", manifest)
    with pytest.raises(DataError, match=r"test split has 20 images .* but 19 labels"):
        preprocess(raw_dir, tmp_path / "p", cfg_for(spec))


def test_raw_file_changed_after_download(raw, tmp_path):
    spec, raw_dir = raw
    write_idx(raw_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(20, dtype=np.uint8), gzip=True)
    with pytest.raises(DataError, match="changed since it was downloaded.*ganbench download"):
        preprocess(raw_dir, tmp_path / "p", cfg_for(spec))


def test_missing_manifest(tmp_path):
    with pytest.raises(DataError, match="manifest.json not found.*ganbench download"):
        preprocess(tmp_path / "raw", tmp_path / "p", DataConfig())


def test_wrong_dataset_in_raw_dir(raw, tmp_path):
    _, raw_dir = raw
    with pytest.raises(DataError, match="holds dataset 'tiny-fixture'.*'fashion-mnist'"):
        preprocess(raw_dir, tmp_path / "p", DataConfig(dataset="fashion-mnist"))


def test_stale_outputs_removed(raw, tmp_path):
    spec, raw_dir = raw
    out = tmp_path / "p"
    out.mkdir()
    (out / ".train.pt.tmp").write_bytes(b"left over")
    (out / "meta.json").write_text('{"dataset": "mnist"}')
    preprocess(raw_dir, out, cfg_for(spec))
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "test.pt", "train.pt"]
    assert load_meta(out)["dataset"] == spec.name


def test_real_fashion_mnist_if_installed(tmp_path):
    from pathlib import Path

    from ganbench.data.catalogue import DATASETS

    spec = DATASETS.get("fashion-mnist")
    if not Path(spec.debian_dir).is_dir():
        pytest.skip(f"{spec.debian_dir} absent (apt-get install {spec.debian_package})")
    cfg = DataConfig(allow_download=False)
    fetch(cfg, tmp_path / "raw", env={})
    meta = preprocess(tmp_path / "raw", tmp_path / "p", cfg)
    assert meta["splits"]["train"]["shape"] == [60000, 1, 32, 32]
    assert meta["splits"]["test"]["class_counts"] == [1000] * 10
    assert meta["splits"]["train"]["min"] == -1.0 and meta["splits"]["train"]["max"] == 1.0
