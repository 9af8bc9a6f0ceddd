"""Provenance: what one step ran, written to ``provenance/<step>.json`` beside its results."""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from aelib.io import atomic_write_json
from aelib.study.failures import INVOCATION_ENV

#: the environment variable naming a shard's own provenance file (set by the invocation lease)
SHARD_TAG_VARIABLE = "AELIB_SHARD_TAG"


def versions() -> dict[str, str]:
    """The versions of Python and the libraries a result depends on."""
    import keras  # deferred: TensorFlow is slow to import
    import sklearn
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__}


def record_step(out_dir: Path, step: str, parameters: dict[str, Any], *, settings: dict, sources: dict,
                results: Sequence) -> Path:
    """Write ``provenance/<step>.json``: the step's parameters, the resolved study settings (depth, tuned
    options and where they came from), data sources, run counts, failures, versions, machine and device.

    Returns:
        The path written.
    """
    from aelib.study.device import device_info  # deferred: imports TensorFlow

    failed = [r for r in results if r.status == "failed"]
    info = {
        "step": step,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "invocation": os.environ.get(INVOCATION_ENV),  # aelib.study.execution pairs it with the step's duration
        "parameters": parameters,
        "settings": settings,
        "data_sources": sources,
        "runs": {s: sum(r.status == s for r in results) for s in ("complete", "skipped", "failed")},
        "failures": [{"kind": r.kind, "config": r.config, "error": r.error, "path": str(r.path)} for r in failed],
        "versions": versions(),
        "machine": platform.platform(),
        "device": device_info(),  # CPU model, GPUs, TensorFlow's CUDA/cuDNN build
    }
    tag = os.environ.get(SHARD_TAG_VARIABLE, "")  # a shard's own file (aelib.study.claims.invocation_lease)
    if tag:
        info["shard"] = tag.lstrip("-")
    path = Path(out_dir) / "provenance" / f"{step}{tag}.json"
    atomic_write_json(path, info)
    return path
