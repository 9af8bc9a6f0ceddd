"""The IDX file format (the original MNIST-family files), read with every check a damaged file needs."""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from aelib.data.catalog import DataError

_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed), checking magic number, dims and size.

    Raises:
        DataError: naming ``path`` when the file cannot be read or is truncated or corrupt.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read IDX file {path}: {exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"IDX file {path} is a truncated or corrupt gzip file ({exc}).") from exc
    if len(raw) < 4:
        raise DataError(f"IDX file {path} is truncated: {len(raw)} bytes, shorter than the 4-byte magic number.")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DataError(f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()}.")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated inside its header ({len(raw)} of {header} bytes).")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    expected, actual = count * dtype.itemsize, len(raw) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "longer than its header says"
        raise DataError(
            f"IDX file {path} is {kind}: dims {list(dims)} need {expected} data bytes, found {actual}."
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
