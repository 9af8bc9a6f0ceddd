"""What the run store trusts when it reads: folders reached without symbolic links, and sound metrics.

A results folder may live for months on a shared drive and be edited by hand, so
nothing read back from it is believed unchecked. A run folder reached through a
symbolic link is never read or written (:func:`link_below`); ``metrics.json`` is
opened without following a link (:func:`read_json`) and its values are checked
(:func:`metric_problems`): a JSON object with at least one value, no infinite
numbers, the RMSEs of images in [0, 1] within their range, and, where a run
saved its per-sample errors (``test_rmse.npy``), equal to their summary
(:func:`array_problems`). A run that fails these checks is not reused.
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

#: Fields that a training run's key holds since stored runs record the data and code behind them
#: (``aelib.study.runs.TrainSpec.config``); a key without them names a run that is never reused.
KEY_FIELDS = ("data", "implementation")

UNIT = (0.0, 1.0)
#: Allowed range of a metric, by name: the RMSE of images with pixels in [0, 1] lies in [0, 1] (its normal
#: interval a little beyond); times and counts are not negative. Other numbers need only be finite or NaN.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **{name: UNIT for name in ("rmse_mean", "rmse_std", "rmse_median", "rmse_p10", "rmse_p90", "val_rmse",
                               "mean_image_rmse")},
    "rmse_ci95_low": (-1.0, 2.0), "rmse_ci95_high": (-1.0, 2.0),
    **{name: (0.0, math.inf) for name in ("seconds", "train_seconds", "seconds_per_epoch", "rmse_n", "n_params",
                                          "epochs_trained", "n_train_used", "n_test_used", "n_eval")},
}
#: Relative tolerance of a summary against the per-sample array it was computed from (saved as float32).
ARRAY_TOLERANCE = 1e-4


def link_below(root: str | Path, path: str | Path) -> Path | None:
    """The first symbolic link on the way from ``root`` (itself not checked) down to ``path``, or None.

    Raises:
        ValueError: ``path`` is not below ``root`` (compared by name, ``..`` included, without resolving links).
    """
    root, path = Path(os.path.normpath(root)), Path(os.path.normpath(path))
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ValueError(f"Expected a path inside the run store {root}. Received: {path}") from None
    if relative.parts[:1] == ("..",):
        raise ValueError(f"Expected a path inside the run store {root}. Received: {path}")
    current = root
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def link_text(path: str | Path) -> str:
    """``a symbolic link (to /elsewhere); the run store never follows links``."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return f"a symbolic link (to {target}); the run store never follows links"


def describe_link(path: str | Path) -> str:
    """``runs/train/x is a symbolic link (to /elsewhere); …``: one phrase for a link found in the store."""
    return f"{path} is {link_text(path)}"


def is_regular_file(path: str | Path) -> bool:
    """Whether ``path`` is a regular file itself (a symbolic link to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``, opened without following a symbolic link.

    Raises:
        FileNotFoundError: there is no such file.
        OSError: ``path`` is a symbolic link (``ELOOP``) or cannot be read.
        ValueError: it does not hold JSON.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    return json.loads(data.decode("utf-8"))


def _non_finite(value: Any, where: str) -> list[str]:
    if isinstance(value, float) and math.isinf(value):
        return [f"{where}={value} is not finite"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{where}[{i}]")]
    return []


def metric_problems(metrics: Any) -> list[str]:
    """What is wrong with the contents of a ``metrics.json`` (empty when it can be trusted)."""
    if not isinstance(metrics, dict):
        return [f"metrics.json holds {type(metrics).__name__}, not a JSON object"]
    if not metrics:
        return ["metrics.json is empty ({})"]
    problems = []
    for name, value in metrics.items():
        bounds = METRIC_RANGES.get(name)
        if bounds is None:
            problems += _non_finite(value, name)
        elif value is not None:
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if number is None or not bounds[0] <= number <= bounds[1]:  # NaN fails too
                problems.append(f"{name}={value!r} is outside [{bounds[0]:g}, {bounds[1]:g}]")
    return problems


def array_problems(run_dir: str | Path, metrics: dict) -> list[str]:
    """Where ``metrics`` disagree with the per-sample errors the run saved (``test_rmse.npy``), if it saved them."""
    path = Path(run_dir) / "test_rmse.npy"
    if "rmse_mean" not in metrics or not is_regular_file(path):
        return []
    try:
        errors = np.load(path, allow_pickle=False).astype(np.float64)
    except (OSError, ValueError) as err:
        return [f"test_rmse.npy does not load ({type(err).__name__})"]
    problems = []
    if "rmse_n" in metrics and metrics["rmse_n"] != errors.size:
        problems.append(f"rmse_n={metrics['rmse_n']!r}, but test_rmse.npy holds {errors.size} errors")
    mean = float(errors.mean()) if errors.size else math.nan
    value = metrics["rmse_mean"]
    if not (isinstance(value, (int, float)) and math.isclose(value, mean, rel_tol=ARRAY_TOLERANCE, abs_tol=1e-7)):
        problems.append(f"rmse_mean={value!r}, but the mean of test_rmse.npy is {mean:.6g}")
    return problems


def run_metric_problems(run_dir: str | Path, metrics: Any) -> list[str]:
    """:func:`metric_problems`, then (when those pass) :func:`array_problems`."""
    return metric_problems(metrics) or array_problems(run_dir, metrics)


def stale_key(kind: str, config: dict) -> bool:
    """Whether a run's key names a training run without :data:`KEY_FIELDS` (its own, or the ``train`` it analyses)."""
    train = config if kind == "train" else config.get("train")
    return isinstance(train, dict) and "family" in train and not all(k in train for k in KEY_FIELDS)
