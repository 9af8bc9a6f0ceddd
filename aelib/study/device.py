"""What a study ran on: CPU model, GPUs and how TensorFlow was built.

Recorded in every step's provenance (``Study.record``) and by
``benchmarks/gpu_check.py``; nothing here raises, a part that cannot be read
is recorded as None.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# Keys of tf.sysconfig.get_build_info() worth keeping (the rest are library paths).
BUILD_KEYS = ("is_cuda_build", "cuda_version", "cudnn_version", "cuda_compute_capabilities", "is_rocm_build",
              "rocm_version", "is_tensorrt_build")


def cpu_model() -> str | None:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform's)."""
    cpuinfo = Path("/proc/cpuinfo")
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _plain(value: Any) -> Any:
    """JSON-able: tuples become lists, other objects their text."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def device_info() -> dict[str, Any]:
    """CPU model and count, every visible GPU (name, compute capability) and TensorFlow's build."""
    info: dict[str, Any] = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": [], "tensorflow_build": None}
    try:
        import tensorflow as tf
    except Exception:  # pragma: no cover - TensorFlow is a dependency
        return info
    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                details = tf.config.experimental.get_device_details(gpu)
            except Exception:
                details = {}
            info["gpus"].append({"device": gpu.name, "name": details.get("device_name"),
                                 "compute_capability": _plain(details.get("compute_capability"))})
    except Exception as err:  # a broken driver must not hide the study's results
        info["gpus"] = {"error": f"{type(err).__name__}: {err}"}
    try:
        build = tf.sysconfig.get_build_info()
        info["tensorflow_build"] = {key: _plain(build[key]) for key in BUILD_KEYS if key in build}
    except Exception:
        pass
    return info
