"""The run store: one folder per run, keyed by its configuration.

Layout: ``<root>/<kind>/<slug>-<hash>/`` with ``config.json`` (written first),
whatever the run writes, and ``metrics.json`` (written last, atomically) as the
completion marker. A folder without ``metrics.json`` is half-written and is
cleared and redone; a failed run leaves ``failed.json`` with its error and is
retried on the next start. Consolidated tables are rebuilt from complete runs,
so they never hold duplicated rows.

A process works on a run only while it holds the run's claim
(:mod:`aelib.study.claims`), ``<root>/<kind>/.<run folder>.claim``; a run
claimed by a live process is waited for (or skipped, ``wait=False``), never
cleared. What the store reads back is checked (:mod:`aelib.study.trust`): a run
folder or file reached through a symbolic link is never read nor written
through, and a ``metrics.json`` whose values are impossible is not reused.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from aelib.io import atomic_write_json, config_hash
from aelib.study import claims
from aelib.study.claims import CLAIM_SUFFIX, Claim, ClaimInfo, read_claim
from aelib.study.trust import describe_link, is_regular_file, link_below, read_json, run_metric_problems


def _slug(config: dict) -> str:
    parts = []
    for key in ("family", "dataset", "latent_dim", "depth", "seed"):
        if key in config:
            short = {"latent_dim": "z", "depth": "d", "seed": "s"}.get(key, "")
            parts.append(f"{short}{config[key]}")
    return "-".join(str(p).replace("/", "_") for p in parts) or "run"


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _clear_failed(path: Path) -> None:
    """Remove a ``failed.json`` that a complete run (``metrics.json``) makes stale."""
    failed = path / "failed.json"
    if failed.is_file():
        try:
            failed.unlink()
        except OSError:  # a read-only copy of the results: status() already puts metrics.json first
            pass


def _failed_error(path: Path) -> str | None:
    try:
        return read_json(path / "failed.json").get("error")
    except (OSError, ValueError, AttributeError):
        return "failed (failed.json unreadable)"


@dataclasses.dataclass
class RunResult:
    kind: str
    config: dict
    path: Path
    status: str  # "complete", "skipped" (already complete), "failed", "busy" (claimed by another process; wait=False)
    metrics: dict | None = None
    error: str | None = None
    seconds: float = 0.0
    context: dict | None = None  # what a table's row needs besides the run (Study.evaluate_grid)


class RunStore:
    """Resumable store of runs under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, kind: str, config: dict) -> Path:
        return self.root / kind / f"{_slug(config)}-{config_hash(config)}"

    def claim_path(self, kind: str, config: dict) -> Path:
        """The claim file of a run: beside its folder, so clearing the folder leaves the claim in place."""
        path = self.path_for(kind, config)
        return path.with_name(f".{path.name}{CLAIM_SUFFIX}")

    def holder(self, kind: str, config: dict) -> ClaimInfo | None:
        """The live claim on a run held by another process, or None."""
        info = read_claim(self.claim_path(kind, config))
        return None if info is None or info.stale() or info.mine() else info

    def status(self, kind: str, config: dict) -> str:
        """``"complete"``, ``"failed"``, ``"partial"`` (half-written, or reached through a symbolic link: redone)
        or ``"missing"``."""
        path = self.path_for(kind, config)
        if link_below(self.root, path) is not None:
            return "partial"
        if is_regular_file(path / "metrics.json"):
            return "complete"
        if is_regular_file(path / "failed.json"):
            return "failed"
        return "partial" if os.path.lexists(path) else "missing"

    def load_metrics(self, kind: str, config: dict) -> dict:
        """The metrics of a complete run, checked (:func:`aelib.study.trust.run_metric_problems`).

        Raises:
            FileNotFoundError: the run is not complete.
            ValueError: its ``metrics.json`` does not parse, or holds values that cannot be right.
        """
        path = self.path_for(kind, config)
        return self._checked_metrics(path)

    def _checked_metrics(self, path: Path) -> dict:
        link = link_below(self.root, path / "metrics.json")
        if link is not None:
            raise ValueError(f"Not reading metrics through a link: {describe_link(link)}. "
                             "Run `aelib check --repair` to remove it.")
        file = path / "metrics.json"
        try:
            metrics = read_json(file)
        except FileNotFoundError:
            raise FileNotFoundError(f"Run not complete: {file} is missing. Run the study step again.") from None
        except ValueError as err:
            raise ValueError(f"Corrupt metrics file {file}: {err}. Delete its folder and run the step again.") from err
        problems = run_metric_problems(path, metrics)
        if problems:
            raise ValueError(f"Invalid metrics file {file}: {'; '.join(problems)}. `aelib check --repair` moves the "
                             "run aside and the next run redoes it.")
        return metrics

    def _guard(self, kind: str, path: Path) -> None:
        """Refuse a run whose kind folder is a symbolic link: its claim and files would land outside the store."""
        link = link_below(self.root, path.parent)
        if link is not None:
            raise ValueError(f"Not running {kind}/{path.name}: {describe_link(link)}. Replace the link with a "
                             "folder (`aelib check` lists the links in the store).")

    def run(self, kind: str, config: dict, fn: Callable[[Path], dict], *, retry_failed: bool = True,
            wait: bool = True, poll: float = 1.0) -> RunResult:
        """Run ``fn(run_dir) -> metrics`` unless the run is already complete.

        The run is claimed first (see :mod:`aelib.study.claims`). When another live
        process holds the claim, ``wait=True`` waits until that process finishes
        the run (its result is returned: ``"skipped"`` or its ``"failed"``) or its
        claim goes stale (the run is then taken over); ``wait=False`` returns a
        ``"busy"`` result at once. A failure is recorded in ``failed.json`` and
        returned, not raised, so a study goes on with its other runs.

        Raises:
            ValueError: the kind's folder is a symbolic link, or a complete run's ``metrics.json`` is corrupt
                or invalid (:meth:`load_metrics`).
        """
        path = self.path_for(kind, config)
        self._guard(kind, path)
        waiting_since = None
        failed_seen = None  # failed.json's mtime when waiting began: a newer one is the other process's result
        while True:
            state = self.status(kind, config)
            if state == "complete":
                _clear_failed(path)  # left beside a good result (by an older version)
                return RunResult(kind, config, path, "skipped", metrics=self.load_metrics(kind, config))
            if state == "failed":
                fresh = waiting_since is not None and _mtime_ns(path / "failed.json") != failed_seen
                if fresh or not retry_failed:
                    return RunResult(kind, config, path, "failed", error=_failed_error(path))
            claim, holder = Claim.acquire(self.claim_path(kind, config), label=f"{kind}/{path.name}")
            if claim is not None:
                break
            if not wait:
                return RunResult(kind, config, path, "busy",
                                 error=f"claimed by another process ({holder.describe() if holder else '?'})")
            if waiting_since is None:
                waiting_since = time.monotonic()
                failed_seen = _mtime_ns(path / "failed.json")
                print(f"waiting for {kind} run {path.name}, claimed by another process "
                      f"({holder.describe() if holder else '?'})", flush=True)
            time.sleep(poll)
        try:
            return self._run_claimed(kind, config, path, fn, claim, retry_failed=retry_failed)
        finally:
            claim.release()

    def _run_claimed(self, kind: str, config: dict, path: Path, fn: Callable[[Path], dict], claim: Claim, *,
                     retry_failed: bool) -> RunResult:
        state = self.status(kind, config)  # again: another process may have finished it before we claimed it
        if state == "complete":
            _clear_failed(path)
            return RunResult(kind, config, path, "skipped", metrics=self.load_metrics(kind, config))
        if state == "failed" and not retry_failed:
            return RunResult(kind, config, path, "failed", error=_failed_error(path))
        if path.is_symlink():  # the link goes, never what it points to
            path.unlink()
        elif path.exists():  # half-written or failed before, and nobody else works on it: start clean
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
            if claim.owned():  # else the folder is another process's now
                atomic_write_json(
                    path / "failed.json",
                    {"error": error, "traceback": traceback.format_exc(), "seconds": seconds,
                     "when": time.strftime("%Y-%m-%d %H:%M:%S")},
                )
            return RunResult(kind, config, path, "failed", error=error, seconds=seconds)
        seconds = time.perf_counter() - start
        if not claim.owned():  # our heartbeat stopped long enough for another process to take the run over
            return RunResult(kind, config, path, "failed", seconds=seconds,
                             error=f"the run was taken over by another process while it ran (no heartbeat for "
                                   f"{claim.timeout:.0f}s); its result was discarded")
        metrics.setdefault("seconds", seconds)
        atomic_write_json(path / "metrics.json", metrics)
        _clear_failed(path)
        return RunResult(kind, config, path, "complete", metrics=metrics, seconds=seconds)

    def discard(self, kind: str, config: dict, *, poll: float = 1.0) -> bool:
        """Mark a complete run as not complete (its ``metrics.json`` goes), so the next :meth:`run` redoes it.

        Done only while holding the run's claim (waiting for another process that holds it), and only to the
        ``metrics.json`` seen before waiting: one that another process wrote meanwhile is kept. Returns
        whether it removed one.
        """
        path = self.path_for(kind, config)
        self._guard(kind, path)
        if link_below(self.root, path) is not None:
            return False
        try:
            seen = os.lstat(path / "metrics.json").st_ino
        except OSError:
            return False
        while True:
            claim, _ = Claim.acquire(self.claim_path(kind, config), label=f"{kind}/{path.name} (discard)")
            if claim is not None:
                break
            time.sleep(poll)
        try:
            if os.lstat(path / "metrics.json").st_ino != seen:
                return False
            (path / "metrics.json").unlink()
            return True
        except OSError:
            return False
        finally:
            claim.release()

    def activity(self) -> list[ClaimInfo]:
        """Live claims of other processes on this store (:func:`aelib.study.claims.activity`)."""
        return claims.activity(self.root)

    def wait_for_others(self, **kwargs) -> list[ClaimInfo]:
        """Wait while other processes work on this store (:func:`aelib.study.claims.wait_for_others`)."""
        return claims.wait_for_others(self.root, **kwargs)

    def result_at(self, path: str | Path) -> RunResult | None:
        """The complete run in folder ``path`` (status ``"skipped"``), or None when it is not complete, unreadable,
        invalid, outside the store or reached through a symbolic link."""
        path = Path(path)
        try:
            if link_below(self.root, path) is not None:
                return None
            config = read_json(path / "config.json")
            metrics = self._checked_metrics(path)
        except (OSError, ValueError):
            return None
        if not isinstance(config, dict):
            return None
        return RunResult(config.pop("kind", path.parent.name), config, path, "skipped", metrics=metrics)

    def _iter(self, kind: str | None) -> Iterable[Path]:
        """Run folders (real folders, never links) of ``kind``, or of every kind."""
        def folders(parent: Path) -> list[Path]:
            return sorted(p for p in parent.iterdir() if not p.name.startswith(".") and not p.is_symlink()
                          and p.is_dir())

        for folder in [self.root / kind] if kind else folders(self.root):
            if folder.is_dir() and not folder.is_symlink():
                yield from folders(folder)

    def records(self, kind: str | None = None) -> pd.DataFrame:
        """One row per complete run whose metrics can be trusted: its configuration and scalar metrics."""
        rows = []
        for path in self._iter(kind):
            result = self.result_at(path)
            if result is None:
                continue
            row = {k: v for k, v in {"kind": result.kind, **result.config, **result.metrics}.items()
                   if not isinstance(v, (dict, list))}
            row["run_dir"] = str(path)
            rows.append(row)
        return pd.DataFrame(rows)

    def failures(self, kind: str | None = None) -> pd.DataFrame:
        rows = []
        for path in self._iter(kind):
            if not is_regular_file(path / "failed.json") or is_regular_file(path / "metrics.json"):
                continue
            try:
                config, info = read_json(path / "config.json"), read_json(path / "failed.json")
            except (OSError, ValueError):
                continue
            if isinstance(config, dict) and isinstance(info, dict):
                rows.append({**{k: v for k, v in config.items() if not isinstance(v, (dict, list))},
                             "error": info.get("error"), "run_dir": str(path)})
        return pd.DataFrame(rows)
