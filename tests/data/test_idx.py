"""IDX reader/writer: round trips and one-line errors naming the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ganbench.data.idx import encode_idx, is_gzip, read_idx, write_idx
from ganbench.errors import DataError


@pytest.mark.parametrize("use_gzip", [False, True])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([0, 9, 3, 255], dtype=np.uint8),
        np.array([[-5, 7], [300, -32768]], dtype=np.int16),
        np.array([1.5, -2.25], dtype=np.float32),
        np.array([[1 << 30, -1]], dtype=np.int32),
        np.array([3.141592653589793], dtype=np.float64),
    ],
    ids=["u8-3d", "u8-1d", "i16", "f32", "i32", "f64"],
)
def test_round_trip(tmp_path, array, use_gzip):
    path = write_idx(tmp_path / "x-idx", array, gzip=use_gzip)
    assert is_gzip(path) is use_gzip
    back = read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_header_layout(tmp_path):
    data = encode_idx(np.zeros((2, 28, 28), dtype=np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data) == 16 + 2 * 28 * 28


def test_gzip_detected_by_magic_not_extension(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    plain_named_gz = tmp_path / "plain.gz"
    plain_named_gz.write_bytes(encode_idx(arr))
    gz_named_plain = tmp_path / "packed-ubyte"
    gz_named_plain.write_bytes(gzip.compress(encode_idx(arr)))
    np.testing.assert_array_equal(read_idx(plain_named_gz), arr)
    np.testing.assert_array_equal(read_idx(gz_named_plain), arr)


@pytest.mark.parametrize("use_gzip", [False, True])
def test_truncated_payload(tmp_path, use_gzip):
    data = encode_idx(np.ones((4, 5, 5), dtype=np.uint8))[:-3]
    path = tmp_path / "trunc-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if use_gzip else data)
    with pytest.raises(DataError) as err:
        read_idx(path)
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg and "ganbench download" in msg
    assert "\n" not in msg


def test_extra_bytes(tmp_path):
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(encode_idx(np.ones(4, dtype=np.uint8)) + b"\x00")
    with pytest.raises(DataError, match="longer than its header"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "hdr-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match="header") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "head", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"PK\x03\x04", b"ab"]
)
def test_wrong_magic(tmp_path, head):
    path = tmp_path / "bad-magic-ubyte"
    path.write_bytes(head + b"\x00\x00\x00\x01\x07" if len(head) == 4 else head)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)
    assert "ganbench download" in str(err.value)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(encode_idx(np.arange(1000, dtype=np.int32)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    flipped = tmp_path / "flipped.gz"
    flipped.write_bytes(good[:12] + bytes(b ^ 0xFF for b in good[12:40]) + good[40:])
    for path in (cut, flipped):
        with pytest.raises(DataError, match="gzip") as err:
            read_idx(path)
        assert str(path) in str(err.value)
        assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist.*ganbench download"):
        read_idx(tmp_path / "nope.gz")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
