"""Failures kept to their run, and the log of every failure (``provenance/failures.jsonl``).

A run folder that is damaged (an unparsable ``metrics.json``, an unwritable
half-written folder, a full disk) fails that run only: :func:`guarded_run`
turns the error into a failed :class:`RunResult` whose one-line cause names
the folder (:func:`explain`), and the step goes on with its other runs. Every
failed run is appended to ``provenance/failures.jsonl`` with the invocation and
step it belongs to (:func:`log_failures`), and so is an error outside any run,
such as a full disk while a table is written (:func:`log_error`), so the
command line can print the causes at the end of each step and REPORT.md can
list the failures of the invocation that wrote it.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from aelib.study.store import RunResult, RunStore

FAILURE_LOG = Path("provenance") / "failures.jsonl"
INVOCATION_ENV = "AELIB_INVOCATION_ID"  # set by `aelib run`, inherited by its step notebooks
STEP_ENV = "AELIB_STEP"  # the step notebook being executed (set by the command line)
STEP_STARTED_ENV = "AELIB_STEP_STARTED"  # when it started (seconds since the epoch), for the report's own row

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def new_invocation_id() -> str:
    """An id for one invocation: host, pid and start time."""
    return f"{socket.gethostname()}-{os.getpid()}-{time.strftime('%Y%m%dT%H%M%S')}"


def explain(err: BaseException, run_dir: str | Path | None = None, *, folder: str | Path | None = None) -> str:
    """One line for ``err``: what happened and where (``run_dir``, a run's folder; else ``folder``).

    Disk-full and permission errors say what to do; other errors keep their
    type and the first line of their message.
    """
    where = f" in run folder {run_dir}" if run_dir is not None else f" in {folder}" if folder is not None else ""
    if isinstance(err, OSError) and err.errno in _DISK_FULL | _NO_PERMISSION:
        name = Path(str(err.filename)).name if err.filename else "a file"
        if err.errno in _DISK_FULL:
            return f"Disk full: no space left to write {name}{where}. Free disk space and run the step again."
        aside = ", or move it aside (aelib check --repair)," if run_dir is not None else ""
        what = err.strerror or "Permission denied"
        return f"{what} on {name}{where}. Make it writable{aside} and run the step again."
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    if run_dir is not None and str(run_dir) not in line:
        line += f" (run folder {run_dir})"
    return line


def guarded_run(store: RunStore, kind: str, config: dict, fn: Callable[[Path], dict], **kwargs: Any) -> RunResult:
    """:meth:`RunStore.run`, with any error of the store itself (an unreadable or undeletable run folder, a full
    disk while recording a failure) returned as a failed run of that folder instead of raised."""
    try:
        path = store.path_for(kind, config)
    except Exception:  # an unserialisable config: let run() raise its own error below
        path = None
    try:
        return RunStore.run(store, kind, config, fn, **kwargs)
    except KeyboardInterrupt:
        raise
    except Exception as err:
        return RunResult(kind, config, path if path is not None else store.root / kind, "failed",
                         error=explain(err, path))


class GuardedRunStore(RunStore):
    """A :class:`RunStore` whose ``run`` never raises for one bad run folder (see :func:`guarded_run`)."""

    def run(self, kind: str, config: dict, fn: Callable[[Path], dict], **kwargs: Any) -> RunResult:
        return guarded_run(self, kind, config, fn, **kwargs)


# ---------------------------------------------------------------------------------------------- failure log

def _entry(kind: str, config: dict, error: str | None, where: str | Path, label: str) -> dict:
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "invocation": os.environ.get(INVOCATION_ENV),
            "step": os.environ.get(STEP_ENV) or label, "label": label, "pid": os.getpid(), "kind": kind,
            **{k: config.get(k) for k in ("family", "latent_dim", "seed") if k in config},
            "error": error, "run_dir": str(where)}


def _append(out_dir: Path, entries: list[dict], label: str) -> None:
    """Append ``entries`` to the log in one write (lines of other processes stay whole), never through a
    symbolic link; never raises: when the log cannot be written (the disk that failed the run is full), the
    causes are printed instead."""
    text = "".join(json.dumps(e, default=str) + "\n" for e in entries)
    path = out_dir / FAILURE_LOG
    try:
        if path.parent.is_symlink():
            raise OSError(errno.ELOOP, "Not writing through a symbolic link", str(path.parent))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(text)
    except OSError as err:
        print(f"[{label}] could not log {len(entries)} failure(s) in {path}: {explain(err)}", flush=True)
        for entry in entries:
            print(f"[{label}]   {describe_failure(entry, out_dir)}", flush=True)


def log_failures(out_dir: str | Path, results: Iterable[RunResult], *, label: str = "") -> list[dict]:
    """Append each failed result to ``provenance/failures.jsonl``; returns the entries. Never raises."""
    entries = [_entry(r.kind, r.config if isinstance(r.config, dict) else {}, r.error, r.path, label)
               for r in results if r.status == "failed"]
    if entries:
        _append(Path(out_dir), entries, label)
    return entries


def log_error(out_dir: str | Path, err: BaseException | str, *, label: str = "", kind: str = "step",
              folder: str | Path | None = None) -> dict:
    """Append an error outside any run (a step that stopped, a table that could not be written) to
    ``provenance/failures.jsonl``, as one line (:func:`explain`); returns the entry. Never raises.

    Args:
        out_dir: the results folder.
        err: the exception, or its one-line description.
        label: the step or the action it happened in (the entry's ``step`` when ``AELIB_STEP`` is unset).
        kind: what failed (``"step"``, ``"report"`` …), the entry's ``kind``.
        folder: where it happened (default ``out_dir``).
    """
    where = Path(folder) if folder is not None else Path(out_dir)
    error = err if isinstance(err, str) else explain(err, folder=folder)
    entry = _entry(kind, {}, f"{label}: {error}" if label else error, where, label)
    _append(Path(out_dir), [entry], label)
    return entry


def failure_log_size(out_dir: str | Path) -> int:
    try:
        return (Path(out_dir) / FAILURE_LOG).stat().st_size
    except OSError:
        return 0


def read_failures(out_dir: str | Path, *, invocation: str | None = None, step: str | None = None,
                  offset: int = 0) -> list[dict]:
    """Entries of ``provenance/failures.jsonl`` from byte ``offset`` on, of ``invocation`` and ``step`` where given."""
    path = Path(out_dir) / FAILURE_LOG
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if not isinstance(entry, dict):
            continue
        if invocation is not None and entry.get("invocation") != invocation:
            continue
        if step is not None and entry.get("step") != step:
            continue
        out.append(entry)
    return out


def describe_failure(entry: dict, out_dir: str | Path | None = None) -> str:
    """``train fcae z=2 seed=0 (runs/train/…): cause`` for a failure-log entry."""
    what = " ".join(str(p) for p in (
        entry.get("kind"), entry.get("family"),
        f"z={entry['latent_dim']}" if entry.get("latent_dim") is not None else None,
        f"seed={entry['seed']}" if entry.get("seed") is not None else None) if p)
    folder = entry.get("run_dir") or ""
    if out_dir is not None and folder:
        try:
            folder = str(Path(folder).relative_to(Path(out_dir)))
        except ValueError:
            pass
    return f"{what or 'run'} ({folder}): {entry.get('error')}"
