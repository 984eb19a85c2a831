"""Writing files so that nothing half-written ever sits under a final name.

Every writer in ganbench goes through :func:`atomic_path`: the bytes go to a temporary
file beside the target, are flushed and fsync'ed, and the file is renamed over the
target only when the writer finished without an exception.  A crash (or ``kill -9``)
leaves the previous file intact.  Writers whose output is a DVC output are also
byte-stable: equal content gives equal bytes (no timestamps, no file names inside).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Fixed timestamp for zip members (np.savez would stamp the current time).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file is fsync'ed before the rename, and the folder after it, so the
    rename is durable.  On an exception the temporary file is removed and ``path`` is
    left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual mode
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], data: Any, sort_keys: bool = False) -> None:
    """Indented JSON with a trailing newline (numpy scalars and paths are converted)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys, default=_json_default) + "\n")


def read_json_object(path: str | os.PathLike[str], stage: str) -> dict[str, Any]:
    """A JSON object a DVC stage wrote; a missing, unreadable or non-object file is a
    :class:`~ganbench.errors.DataError` naming the stage (``dvc repro STAGE``) that
    makes it."""
    from ganbench.errors import DataError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        raise DataError(f"{path} is missing or unreadable; run `dvc repro {stage}` first") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object; run `dvc repro {stage}` again")
    return data


#: The columns of a long series CSV (:func:`read_series_csv`).
SERIES_COLUMNS = ("step", "name", "value")


@contextlib.contextmanager
def series_errors(path: str | os.PathLike[str], fix: str) -> Iterator[None]:
    """Turn a series CSV that cannot be read, or a value of its rows that does not parse,
    into a :class:`~ganbench.errors.DataError` naming the file and ``fix``."""
    from ganbench.errors import DataError

    try:
        yield
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        raise DataError(f"{path} is unreadable ({exc}); {fix}") from None


def read_series_csv(path: str | os.PathLike[str], fix: str, exact: bool = False) -> list[dict[str, str]]:
    """The rows of a long ``step,name,value`` CSV (the training history, the loss and
    curve plots) as dicts; ``[]`` when the file is absent.  ``exact``: the header must be
    those three columns and nothing else.  A file that cannot be read, or whose header
    lacks them, is a :class:`~ganbench.errors.DataError` naming it and ``fix``; the caller
    parses the values inside :func:`series_errors`, which turns a bad value into the same."""
    path = Path(path)
    if not path.is_file():
        return []
    with series_errors(path, fix), path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = tuple(reader.fieldnames or ())
        if (columns != SERIES_COLUMNS) if exact else not set(SERIES_COLUMNS) <= set(columns):
            raise ValueError(f"columns {list(columns)}, expected {','.join(SERIES_COLUMNS)}")
        return list(reader)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def torch_save(obj: Any, path: str | os.PathLike[str]) -> str:
    """``torch.save`` into memory (so the archive's inner name does not depend on the file
    name: identical objects give identical bytes), then written atomically. Returns the
    file's sha256, hashed from the bytes written (the file is not read back)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez``'s layout (readable by ``np.load(..., allow_pickle=False)``), written
    with a fixed member timestamp so that equal arrays give byte-identical files."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
