"""Reader and writer for the IDX format used by (Fashion-)MNIST, raw or gzip-compressed.

An IDX file is::

    0x00 0x00 <dtype code> <ndim>        4-byte magic
    ndim × uint32 big-endian             the dimensions
    prod(dims) × itemsize bytes          the payload, big-endian, C order

Compression is detected from the gzip magic bytes (``1f 8b``), never from the
file name.  Every structural problem becomes a one-line :class:`DataError`
naming the file and the fix.
"""

from __future__ import annotations

import gzip as _gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from ganbench.errors import DataError
from ganbench.io import write_bytes

GZIP_MAGIC = b"\x1f\x8b"

#: IDX dtype code → big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_BY_KIND: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()
}

FIX = "delete the file and re-run `ganbench download` (or `dvc repro download`)"


def _corrupt(path: Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}; {FIX}")


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's (decompressed, when gzip) bytes; DataError when missing or broken."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; run `ganbench download` (or `dvc repro download`)") from None
    except OSError as exc:
        raise _corrupt(path, f"cannot be read ({exc.strerror or exc})") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return _gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # BadGzipFile is an OSError; a truncated stream raises EOFError.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _corrupt(path, f"is a broken gzip file ({reason})") from None


def parse_idx(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Decode IDX ``data`` (already decompressed) to a writable native-endian array."""
    path = Path(path)
    if len(data) < 4:
        raise _corrupt(path, f"is too short for an IDX header ({len(data)} bytes)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES or ndim == 0:
        raise _corrupt(path, f"is not an IDX file (magic bytes {data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _corrupt(path, f"is truncated inside its header ({len(data)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise _corrupt(
            path, f"is {what}: dims {list(dims)} need {expected} payload bytes, found {got}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (detected by magic bytes)."""
    return parse_idx(read_bytes(path), path)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (uncompressed) of ``array``."""
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_BY_KIND or array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"cannot write a {array.ndim}-d {array.dtype} array as IDX")
    code = _CODE_BY_KIND[key]
    head = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return head + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no file name, mtime 0) so fixture checksums are stable."""
    buf = io.BytesIO()
    with _gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gzip: bool = False) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``gzip``), atomically."""
    path = Path(path)
    data = encode_idx(array)
    if gzip:
        data = gzip_bytes(data)
    write_bytes(path, data)
    return path
