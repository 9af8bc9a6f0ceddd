"""Files that readers never see half-written, and the hashes that name stored runs."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable: {obj!r}")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so a
    reader never sees half a file, even after ``kill -9``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


def config_hash(config: dict, *, digest: str = "sha1", length: int = 10,
                default: Callable[[Any], Any] | None = _json_default) -> str:
    """The first ``length`` hex digits of the ``digest`` of ``config`` as key-sorted JSON.

    Stored runs are found by these names, so a caller keeps its arguments for good: the run
    store uses the defaults; the augmentation study ``digest="sha256", length=12, default=str``.

    Args:
        config: a JSON-serialisable dict (NumPy scalars, arrays, paths, sets and tuples too
            with the default ``default``).
        digest: a :func:`hashlib.new` algorithm name.
        length: how many hex digits to keep.
        default: ``json.dumps``' ``default`` for values JSON cannot write; None: none (TypeError).
    """
    text = json.dumps(config, sort_keys=True, default=default)
    return hashlib.new(digest, text.encode("utf-8")).hexdigest()[:length]
