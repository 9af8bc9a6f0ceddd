"""The run store: one folder per run, keyed by its configuration.

Layout: ``<root>/<kind>/<slug>-<hash>/`` with ``config.json`` (written first),
whatever the run writes, and ``metrics.json`` (written last, atomically) as the
completion marker. A folder without ``metrics.json`` is half-written and is
cleared and redone; a failed run leaves ``failed.json`` with its error and is
retried on the next start. Consolidated tables are rebuilt from complete runs,
so they never hold duplicated rows.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

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


def config_hash(config: dict) -> str:
    text = json.dumps(config, sort_keys=True, default=_json_default)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def _slug(config: dict) -> str:
    parts = []
    for key in ("family", "dataset", "latent_dim", "depth", "seed"):
        if key in config:
            short = {"latent_dim": "z", "depth": "d", "seed": "s"}.get(key, "")
            parts.append(f"{short}{config[key]}")
    return "-".join(str(p).replace("/", "_") for p in parts) or "run"


@dataclasses.dataclass
class RunResult:
    kind: str
    config: dict
    path: Path
    status: str  # "complete", "skipped" (already complete), "failed"
    metrics: dict | None = None
    error: str | None = None
    seconds: float = 0.0


class RunStore:
    """Resumable store of runs under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, kind: str, config: dict) -> Path:
        return self.root / kind / f"{_slug(config)}-{config_hash(config)}"

    def status(self, kind: str, config: dict) -> str:
        path = self.path_for(kind, config)
        if (path / "metrics.json").is_file():
            return "complete"
        if (path / "failed.json").is_file():
            return "failed"
        return "partial" if path.exists() else "missing"

    def load_metrics(self, kind: str, config: dict) -> dict:
        path = self.path_for(kind, config) / "metrics.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"Run not complete: {path} is missing. Run the study step again.") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"Corrupt metrics file {path}: {err}. Delete its folder and run the step again.") from err

    def run(self, kind: str, config: dict, fn: Callable[[Path], dict], *, retry_failed: bool = True) -> RunResult:
        """Run ``fn(run_dir) -> metrics`` unless the run is already complete.

        A failure is recorded in ``failed.json`` and returned, not raised, so a
        study goes on with its other runs.
        """
        path = self.path_for(kind, config)
        state = self.status(kind, config)
        if state == "complete":
            return RunResult(kind, config, path, "skipped", metrics=self.load_metrics(kind, config))
        if state == "failed" and not retry_failed:
            error = json.loads((path / "failed.json").read_text()).get("error")
            return RunResult(kind, config, path, "failed", error=error)
        if path.exists():  # half-written or failed before: start clean
            shutil.rmtree(path)
        path.mkdir(parents=True)
        atomic_write_json(path / "config.json", {"kind": kind, **config})
        start = time.perf_counter()
        try:
            metrics = dict(fn(path))
        except KeyboardInterrupt:
            raise
        except Exception as err:  # recorded, not raised: the study goes on
            seconds = time.perf_counter() - start
            error = f"{type(err).__name__}: {err}"
            atomic_write_json(
                path / "failed.json",
                {"error": error, "traceback": traceback.format_exc(), "seconds": seconds, "when": time.strftime("%Y-%m-%d %H:%M:%S")},
            )
            return RunResult(kind, config, path, "failed", error=error, seconds=seconds)
        seconds = time.perf_counter() - start
        metrics.setdefault("seconds", seconds)
        atomic_write_json(path / "metrics.json", metrics)
        return RunResult(kind, config, path, "complete", metrics=metrics, seconds=seconds)

    def _iter(self, kind: str | None) -> Iterable[Path]:
        kinds = [self.root / kind] if kind else sorted(p for p in self.root.iterdir() if p.is_dir())
        for folder in kinds:
            if folder.is_dir():
                yield from sorted(p for p in folder.iterdir() if p.is_dir())

    def records(self, kind: str | None = None) -> pd.DataFrame:
        """One row per complete run: its configuration and scalar metrics."""
        rows = []
        for path in self._iter(kind):
            metrics_path = path / "metrics.json"
            if not metrics_path.is_file():
                continue
            config = json.loads((path / "config.json").read_text())
            metrics = json.loads(metrics_path.read_text())
            row = {k: v for k, v in {**config, **metrics}.items() if not isinstance(v, (dict, list))}
            row["run_dir"] = str(path)
            rows.append(row)
        return pd.DataFrame(rows)

    def failures(self, kind: str | None = None) -> pd.DataFrame:
        rows = []
        for path in self._iter(kind):
            failed = path / "failed.json"
            if failed.is_file() and not (path / "metrics.json").is_file():
                config = json.loads((path / "config.json").read_text())
                info = json.loads(failed.read_text())
                rows.append({**{k: v for k, v in config.items() if not isinstance(v, (dict, list))},
                             "error": info.get("error"), "run_dir": str(path)})
        return pd.DataFrame(rows)
