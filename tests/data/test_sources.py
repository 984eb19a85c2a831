"""Dataset registry, source order, checksum verification and the manifest."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path

import pytest

from ganbench.config import DataConfig
from tests.fixtures import make_fake_dataset, register_fixture_dataset
from ganbench.data.idx import read_idx
from ganbench.data.catalogue import DATASETS, decompressed_name
from ganbench.data.sources import ENV_VAR, MANIFEST, fetch
from ganbench.errors import DataError, ParamsError


@pytest.fixture
def fixture_src(tmp_path):
    """A registered fake dataset written to ``tmp_path/a``; yields (spec, tmp_path)."""
    spec = make_fake_dataset(tmp_path / "a", n_train=20, n_test=10, seed=1)
    with register_fixture_dataset(spec):
        yield spec, tmp_path


def _cfg(spec, **kw):
    return DataConfig(dataset=spec.name, allow_download=False, **kw)


def _no_download(*_args):
    raise AssertionError("download must not be attempted")


def test_registered_datasets():
    assert {"fashion-mnist", "mnist"} <= set(DATASETS.names())
    fm = DATASETS.get("fashion-mnist")
    assert fm.debian_package == "dataset-fashion-mnist"
    assert fm.debian_dir == "/usr/share/datasets/fashion-mnist"
    assert fm.num_classes == len(fm.class_names) == 10
    assert all(v for v in fm.checksums.values())
    assert DATASETS.get("mnist").debian_dir is None
    for spec in (fm, DATASETS.get("mnist")):
        assert set(spec.checksums) == set(spec.gz_md5) == set(spec.filenames)
        assert len(spec.filenames) == 4


def test_gz_md5_match_torchvision_lists():
    """The .gz md5 values equal the ones torchvision ships (``resources``)."""
    import torchvision.datasets as tvd

    for name in ("fashion-mnist", "mnist"):
        spec = DATASETS.get(name)
        tv = dict(getattr(tvd, spec.torchvision_class).resources)
        assert spec.gz_md5 == tv


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS.get("mnist").name = "x"  # type: ignore[misc]


def test_unknown_dataset_is_params_error(tmp_path):
    with pytest.raises(ParamsError, match="unknown dataset 'nope'.*fashion-mnist"):
        fetch(DataConfig(dataset="nope"), tmp_path / "x", env={})


def test_fetch_from_source_dir_writes_manifest(fixture_src):
    spec, tmp = fixture_src
    dest = tmp / "raw" / spec.name
    manifest = fetch(_cfg(spec, source_dir=str(tmp / "a")), dest, env={}, debian_dir=None)
    assert manifest["dataset"] == spec.name
    assert manifest["source"] == {"kind": "source_dir", "from": "data.source_dir"}
    assert str(tmp) not in (dest / MANIFEST).read_text()  # no machine paths in a DVC output
    on_disk = json.loads((dest / MANIFEST).read_text())
    assert on_disk == manifest
    for name in spec.filenames:
        entry = manifest["files"][name]
        stored = dest / entry["stored"]
        assert stored.read_bytes() == (tmp / "a" / name).read_bytes()
        data = gzip.decompress(stored.read_bytes())
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() == spec.checksums[name]
        assert entry["size"] == len(data)
        assert entry["verified_by"] == "sha256"
    assert not list(dest.glob(".*tmp"))


def test_source_order(fixture_src):
    spec, tmp = fixture_src
    # Same valid files in three places; each fetch must report the highest-priority one.
    for d in ("params", "env", "debian"):
        make_fake_dataset(tmp / d, n_train=20, n_test=10, seed=1)
    dest = tmp / "raw"
    env = {ENV_VAR: str(tmp / "env")}

    m = fetch(_cfg(spec, source_dir=str(tmp / "params")), dest, env=env, debian_dir=tmp / "debian")
    assert m["source"] == {"kind": "source_dir", "from": "data.source_dir"}
    m = fetch(_cfg(spec), dest, env=env, debian_dir=tmp / "debian")
    assert m["source"] == {"kind": "env", "from": f"${ENV_VAR}"}
    m = fetch(_cfg(spec), dest, env={}, debian_dir=tmp / "debian")
    assert m["source"] == {"kind": "debian", "from": "Debian dataset folder"}
    # An incomplete higher-priority folder does not count: the next one is used.
    (tmp / "params" / spec.filenames[-1]).unlink()
    m = fetch(_cfg(spec, source_dir=str(tmp / "params")), dest, env=env, debian_dir=tmp / "debian")
    assert m["source"]["kind"] == "env"


def test_env_defaults_to_os_environ(fixture_src, monkeypatch):
    spec, tmp = fixture_src
    monkeypatch.setenv(ENV_VAR, str(tmp / "a"))
    m = fetch(_cfg(spec), tmp / "raw", debian_dir=None)
    assert m["source"]["kind"] == "env"


def test_dataset_subfolder_and_decompressed_files(fixture_src):
    spec, tmp = fixture_src
    # GANBENCH_DATA_DIR=<root> with <root>/<dataset>/ holding decompressed files.
    sub = tmp / "root" / spec.name
    sub.mkdir(parents=True)
    for name in spec.filenames:
        (sub / decompressed_name(name)).write_bytes(gzip.decompress((tmp / "a" / name).read_bytes()))
    dest = tmp / "raw"
    m = fetch(_cfg(spec), dest, env={ENV_VAR: str(tmp / "root")}, debian_dir=None)
    assert m["source"]["kind"] == "env"
    for name in spec.filenames:
        assert m["files"][name]["stored"] == decompressed_name(name)
        assert m["files"][name]["verified_by"] == "sha256"
    # Fetching the .gz form later replaces the decompressed files (no stale copies).
    fetch(_cfg(spec, source_dir=str(tmp / "a")), dest, env={}, debian_dir=None)
    assert sorted(p.name for p in dest.iterdir()) == sorted([*spec.filenames, MANIFEST])


def test_checksum_mismatch_message(fixture_src):
    spec, tmp = fixture_src
    make_fake_dataset(tmp / "other", n_train=20, n_test=10, seed=2)  # same names, other pixels
    dest = tmp / "raw"
    with pytest.raises(DataError) as err:
        fetch(_cfg(spec, source_dir=str(tmp / "other")), dest, env={}, debian_dir=None)
    msg = str(err.value)
    bad = tmp / "other" / "train-images-idx3-ubyte.gz"
    got = hashlib.sha256(gzip.decompress(bad.read_bytes())).hexdigest()
    assert str(bad) in msg
    assert spec.checksums["train-images-idx3-ubyte.gz"] in msg  # expected
    assert got in msg  # got
    assert "data.source_dir" in msg  # the fix
    assert "\n" not in msg
    assert not dest.exists() or not list(dest.iterdir())  # nothing half-installed


def test_failed_verification_keeps_previous_copy(fixture_src):
    spec, tmp = fixture_src
    dest = tmp / "raw"
    fetch(_cfg(spec, source_dir=str(tmp / "a")), dest, env={}, debian_dir=None)
    before = {p.name: p.read_bytes() for p in dest.iterdir() if p.name != MANIFEST}
    make_fake_dataset(tmp / "other", n_train=20, n_test=10, seed=2)
    (tmp / "other" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        (tmp / "a" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    )
    with pytest.raises(DataError):
        fetch(_cfg(spec, source_dir=str(tmp / "other")), dest, env={}, debian_dir=None)
    after = {p.name: p.read_bytes() for p in dest.iterdir() if p.name != MANIFEST}
    assert after == before
    assert not list(dest.glob(".*tmp"))


def test_gz_md5_alone_verifies(tmp_path):
    """A file with unknown sha256 (as for MNIST) verifies through torchvision's .gz md5."""
    spec = make_fake_dataset(tmp_path / "src", n_train=10, n_test=10)
    unknown_sha = dataclasses.replace(spec, checksums={k: None for k in spec.checksums})
    with register_fixture_dataset(unknown_sha):
        m = fetch(_cfg(spec, source_dir=str(tmp_path / "src")), tmp_path / "raw", env={}, debian_dir=None)
    assert {e["verified_by"] for e in m["files"].values()} == {"gz_md5"}
    # The manifest still records the decompressed sha256.
    assert {k: e["sha256"] for k, e in m["files"].items()} == spec.checksums


def test_decompressed_copy_cannot_verify_without_sha(tmp_path):
    spec = make_fake_dataset(tmp_path / "src", n_train=10, n_test=10, gzip=False)
    unknown_sha = dataclasses.replace(spec, checksums={k: None for k in spec.checksums})
    with register_fixture_dataset(unknown_sha), pytest.raises(DataError, match="only the original .gz"):
        fetch(_cfg(spec, source_dir=str(tmp_path / "src")), tmp_path / "raw", env={}, debian_dir=None)


def test_broken_gzip_in_source(fixture_src):
    spec, tmp = fixture_src
    bad = tmp / "a" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:20])
    with pytest.raises(DataError, match="broken gzip") as err:
        fetch(_cfg(spec, source_dir=str(tmp / "a")), tmp / "raw", env={}, debian_dir=None)
    assert str(bad) in str(err.value)


def test_nothing_found_message(tmp_path):
    cfg = DataConfig(dataset="fashion-mnist", allow_download=False)
    with pytest.raises(DataError) as err:
        fetch(cfg, tmp_path / "raw", env={}, debian_dir=tmp_path / "no-such-dir", downloader=_no_download)
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "data.source_dir" in msg
    assert "GANBENCH_DATA_DIR" in msg
    assert "\n" not in msg


def test_nothing_found_names_incomplete_folder(tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    cfg = DataConfig(dataset="mnist", source_dir=str(partial), allow_download=False)
    with pytest.raises(DataError) as err:
        fetch(cfg, tmp_path / "raw", env={}, downloader=_no_download)
    msg = str(err.value)
    assert str(partial) in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert "apt-get" not in msg  # MNIST has no Debian package
    assert "GANBENCH_DATA_DIR" in msg and "data.allow_download" in msg


def test_download_failure_is_caught(tmp_path):
    def offline(spec, root):
        raise RuntimeError("Error downloading x:\n<urlopen error [Errno -2] Name or service not known>")

    cfg = DataConfig(dataset="fashion-mnist", allow_download=True)
    with pytest.raises(DataError) as err:
        fetch(cfg, tmp_path / "raw" / "fashion-mnist", env={}, debian_dir=None, downloader=offline)
    msg = str(err.value)
    assert "download failed" in msg and "Name or service not known" in msg
    assert "\n" not in msg
    assert [p.name for p in (tmp_path / "raw").iterdir()] == []  # temp folder removed


def test_download_is_last_resort(tmp_path):
    src = tmp_path / "src"
    spec = dataclasses.replace(make_fake_dataset(src, n_train=10, n_test=10), torchvision_class="Fake")

    def fake_download(spec_, root):  # torchvision's layout: <root>/<Class>/raw
        raw = root / "Fake" / "raw"
        raw.mkdir(parents=True)
        for name in spec_.filenames:
            (raw / name).write_bytes((src / name).read_bytes())
        return raw

    with register_fixture_dataset(spec):
        dest = tmp_path / "raw" / spec.name
        m = fetch(DataConfig(dataset=spec.name), dest, env={}, debian_dir=None, downloader=fake_download)
        assert m["source"] == {"kind": "torchvision", "from": "torchvision.datasets.Fake"}
        assert read_idx(dest / "t10k-labels-idx1-ubyte.gz").shape == (10,)
        # Disabled download → not attempted.
        with pytest.raises(DataError, match="download disabled"):
            fetch(_cfg(spec), dest, env={}, debian_dir=None, downloader=_no_download)


def test_real_debian_copy(tmp_path):
    spec = DATASETS.get("fashion-mnist")
    if not Path(spec.debian_dir).is_dir():
        pytest.skip(f"{spec.debian_dir} absent (apt-get install {spec.debian_package})")
    m = fetch(DataConfig(allow_download=False), tmp_path / "fm", env={})
    assert m["source"]["kind"] == "debian"
    assert {k: e["sha256"] for k, e in m["files"].items()} == spec.checksums
    assert read_idx(tmp_path / "fm" / "t10k-images-idx3-ubyte.gz").shape == (10000, 28, 28)
    assert read_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").shape == (10000,)
