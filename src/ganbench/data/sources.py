"""Where a dataset's files may come from, and checksum-verified fetching (the ``download``
stage). The datasets themselves, their files and checksums, are the catalogue in
:mod:`ganbench.data.catalogue`.

``fetch`` looks for the four IDX files of a dataset in this order and uses the
first place that holds all four:

1. ``data.source_dir`` from params.yaml,
2. the environment variable ``GANBENCH_DATA_DIR``,
3. the dataset's Debian package folder (``apt-get install dataset-fashion-mnist``
   puts Fashion-MNIST in ``/usr/share/datasets/fashion-mnist``),
4. torchvision's download into a temporary folder, when ``data.allow_download``.

For 1 and 2 the folder itself, ``<folder>/<dataset>`` and torchvision's layout
``<folder>/<TorchvisionClass>/raw`` are all accepted.  A file may be present as
``name.gz`` or decompressed as ``name``.

Verification: a file is accepted when the sha256 of its *decompressed* bytes
matches the known one, or when it is a ``.gz`` whose md5 matches the one
torchvision lists.  Both are needed because Debian recompressed the Fashion-MNIST
archives (same content, different ``.gz`` bytes), while for MNIST no trusted
decompressed copy was available to derive a sha256 from (so only the
torchvision ``.gz`` md5 is known and its sha256 entries are ``None``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import socket
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.config import DataConfig
from ganbench.data.catalogue import DATASETS, DatasetSpec, decompressed_name
from ganbench.data.idx import GZIP_MAGIC
from ganbench.errors import DataError
from ganbench.io import write_bytes, write_json

ENV_VAR = "GANBENCH_DATA_DIR"
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- locating

#: Sentinel: use the spec's own Debian folder (tests pass a folder or None).
FROM_SPEC: Any = object()

Downloader = Callable[[DatasetSpec, Path], Path]


@dataclass(frozen=True)
class Source:
    kind: str  # "source_dir" | "env" | "debian" | "torchvision"
    path: Path
    files: dict[str, Path]  # canonical name → file to copy


def _find_in(directory: Path, spec: DatasetSpec) -> tuple[dict[str, Path], list[str]]:
    """Files of ``spec`` in ``directory`` (``.gz`` preferred) and the names missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in spec.filenames:
        for candidate in (directory / name, directory / decompressed_name(name)):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _candidate_dirs(base: Path, spec: DatasetSpec) -> Iterator[Path]:
    yield base / spec.name
    if spec.torchvision_class:
        yield base / spec.torchvision_class / "raw"
    yield base


def locate(base: Path, spec: DatasetSpec, kind: str) -> tuple[Source | None, str]:
    """The first complete copy under ``base``, or None and why not (for the error)."""
    if not base.is_dir():
        return None, "missing"
    best_missing: list[str] | None = None
    for directory in _candidate_dirs(base, spec):
        if not directory.is_dir():
            continue
        found, missing = _find_in(directory, spec)
        if not missing:
            return Source(kind, directory, found), "found"
        if best_missing is None or len(missing) < len(best_missing):
            best_missing = missing
    return None, "lacks " + ", ".join(best_missing or spec.filenames)


def torchvision_download(spec: DatasetSpec, root: Path) -> Path:
    """Download ``spec`` with torchvision into ``root``; return the folder of raw files."""
    import torchvision.datasets as tv_datasets

    cls = getattr(tv_datasets, spec.torchvision_class or "")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cls(root=str(root), train=False, download=True)
    finally:
        socket.setdefaulttimeout(previous)
    return root / spec.torchvision_class / "raw"  # type: ignore[operator]


# --------------------------------------------------------------------------- verifying


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _source_fix(spec: DatasetSpec, source: Source) -> str:
    if source.kind == "debian" and spec.debian_package:
        return f"reinstall it with `apt-get install --reinstall {spec.debian_package}`"
    if source.kind == "torchvision":
        return "re-run `ganbench download` to download it again"
    where = "data.source_dir" if source.kind == "source_dir" else ENV_VAR
    return f"replace it with an intact copy of {spec.name} or point {where} at one"


def verify_file(spec: DatasetSpec, name: str, path: Path, source: Source) -> dict[str, Any]:
    """Hash ``path`` (a copy of canonical file ``name``); DataError unless it matches."""
    raw = path.read_bytes()
    is_gz = raw[:2] == GZIP_MAGIC
    if is_gz:
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path} is a broken gzip file ({_one_line(exc)}); {_source_fix(spec, source)}"
            ) from None
    else:
        data = raw
    sha = hashlib.sha256(data).hexdigest()
    md5 = hashlib.md5(raw).hexdigest()
    want_sha = spec.checksums.get(name)
    want_md5 = spec.gz_md5.get(name)
    if not spec.checked:
        verified_by = "recorded"
    elif want_sha is not None and sha == want_sha:
        verified_by = "sha256"
    elif is_gz and want_md5 is not None and md5 == want_md5:
        verified_by = "gz_md5"
    else:
        expected = []
        if want_sha:
            expected.append(f"decompressed sha256 {want_sha}")
        if want_md5:
            expected.append(f".gz md5 {want_md5}")
        got = f"decompressed sha256 {sha}" + (f", .gz md5 {md5}" if is_gz else "")
        note = ""
        if not is_gz and want_sha is None:
            note = f" (only the original .gz files of {spec.name} can be verified)"
        raise DataError(
            f"{path} fails its checksum for {spec.name}: expected "
            f"{' or '.join(expected) or 'a known checksum'}, got {got}{note}; "
            f"{_source_fix(spec, source)}"
        )
    return {
        "stored": path.name,
        "sha256": sha,
        "size": len(data),
        "stored_size": len(raw),
        "stored_md5": md5,
        "verified_by": verified_by,
        "_raw": raw,
    }


# --------------------------------------------------------------------------- installing


def _install(
    spec: DatasetSpec, source: Source, dest: Path, label: str | None = None
) -> dict[str, Any]:
    """Verify every file of ``source``, then move them into ``dest`` with a manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MANIFEST).unlink(missing_ok=True)  # no manifest while dest is half-written
    entries: dict[str, dict[str, Any]] = {}
    verified: list[tuple[Path, bytes]] = []
    for name, path in source.files.items():  # verify all before writing any
        entry = verify_file(spec, name, path, source)
        verified.append((dest / entry["stored"], entry.pop("_raw")))
        entries[name] = entry
    for target, raw in verified:
        write_bytes(target, raw)
    for name, entry in entries.items():  # drop the other form left by an earlier fetch
        for other in (dest / name, dest / decompressed_name(name)):
            if other.name != entry["stored"]:
                other.unlink(missing_ok=True)
    manifest = {
        "dataset": spec.name,
        # Where the files came from, without machine paths (this is a DVC output).
        "source": {"kind": source.kind, "from": label or _source_label(spec, source.kind)},
        "files": entries,
    }
    write_json(dest / MANIFEST, manifest, sort_keys=True)
    return manifest


def _source_label(spec: DatasetSpec, kind: str) -> str:
    if kind == "debian":
        return f"Debian package {spec.debian_package}" if spec.debian_package else "Debian dataset folder"
    return {"source_dir": "data.source_dir", "env": f"${ENV_VAR}"}.get(kind, kind)


def read_manifest(raw_dir: Path) -> dict[str, Any]:
    """The manifest ``fetch`` wrote in ``raw_dir``; DataError when missing or broken."""
    path = Path(raw_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise ValueError("not a manifest")
    except FileNotFoundError:
        raise DataError(
            f"{path} not found; run `ganbench download` (or `dvc repro download`) first"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path} is unreadable ({_one_line(exc)}); re-run `ganbench download` (or `dvc repro download`)"
        ) from None
    return manifest


def fetch(
    cfg: DataConfig,
    dest: Path,
    env: Mapping[str, str] = os.environ,
    *,
    debian_dir: str | os.PathLike[str] | None = FROM_SPEC,
    downloader: Downloader | None = None,
) -> dict[str, Any]:
    """Copy a verified copy of ``cfg.dataset`` into ``dest``; return its manifest.

    ``debian_dir`` overrides the spec's Debian folder (None: skip it) and
    ``downloader`` replaces torchvision's download; both exist for tests.
    """
    spec = DATASETS.get(cfg.dataset)  # unknown name → ParamsError listing known ones
    dest = Path(dest)
    if debian_dir is FROM_SPEC:
        debian_dir = spec.debian_dir
    places: list[tuple[str, str, str | os.PathLike[str] | None]] = [
        ("source_dir", "data.source_dir", cfg.source_dir),
        ("env", f"${ENV_VAR}", env.get(ENV_VAR) or None),
        ("debian", "Debian folder", debian_dir),
    ]
    report: list[str] = []
    for kind, label, base in places:
        if base is None or str(base) == "":
            if kind != "debian":
                report.append(f"{label} unset")
            continue
        source, why = locate(Path(base).expanduser(), spec, kind)
        if source is not None:
            return _install(spec, source, dest)
        report.append(f"{label} {base} {why}")

    if not spec.torchvision_class:
        pass
    elif not cfg.allow_download:
        report.append("download disabled (data.allow_download: false)")
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=dest.parent) as tmp:
            try:
                (downloader or torchvision_download)(spec, Path(tmp))
            except Exception as exc:  # offline: URLError/RuntimeError, fails fast
                report.append(f"torchvision download failed ({_one_line(exc)})")
            else:
                source, why = locate(Path(tmp), spec, "torchvision")
                if source is not None:
                    return _install(
                        spec, source, dest, label=f"torchvision.datasets.{spec.torchvision_class}"
                    )
                report.append(f"torchvision download {why}")

    fixes = []
    if spec.debian_package:
        fixes.append(f"`apt-get install {spec.debian_package}`")
    fixes.append(
        f"set params key data.source_dir or env var {ENV_VAR} to a folder holding "
        f"{', '.join(spec.filenames)} (each as .gz or decompressed)"
    )
    if spec.torchvision_class and not cfg.allow_download:
        fixes.append("set data.allow_download: true with internet access")
    raise DataError(
        f"no complete copy of dataset {spec.name!r} found ({'; '.join(report)}); fix: "
        + ", or ".join(fixes)
    )
