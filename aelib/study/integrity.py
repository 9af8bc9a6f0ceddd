"""Failures kept to their run, and the run store's integrity (``aelib check``).

A run folder that is damaged (an unparsable ``metrics.json``, an unwritable
half-written folder, a full disk) fails that run only: :func:`guarded_run`
turns the error into a failed :class:`RunResult` whose one-line cause names
the folder, and the step goes on with its other runs. Every failed run is
appended to ``provenance/failures.jsonl`` with the invocation and step it
belongs to (:func:`log_failures`), so the command line can print the causes at
the end of each step and REPORT.md can list the failures of the invocation
that wrote it.

:func:`check_store` verifies every run folder (its files parse, its model
loads, its configuration hashes to its folder name), and with ``repair``
moves damaged ones to ``<out>/quarantine/`` (the next run redoes them) and
removes temporary files that a killed write left behind.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import socket
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

from aelib.checks import check_float
from aelib.io import atomic_write_json
from aelib.study.store import RunResult, RunStore

FAILURE_LOG = Path("provenance") / "failures.jsonl"
QUARANTINE = "quarantine"
INVOCATION_ENV = "AELIB_INVOCATION_ID"  # set by `aelib run`, inherited by its step notebooks
STEP_ENV = "AELIB_STEP"  # the step notebook being executed (set by the command line)
STALE_TMP_SECONDS = 300.0  # a temporary file of an atomic write this old belongs to a killed process

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def new_invocation_id() -> str:
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

def log_failures(out_dir: str | Path, results: Iterable[RunResult], *, label: str = "") -> list[dict]:
    """Append each failed result to ``provenance/failures.jsonl``; returns the entries.

    Never raises: when the log cannot be written (the disk that failed the run is
    full), the causes are printed instead."""
    out_dir = Path(out_dir)
    entries = []
    for r in results:
        if r.status != "failed":
            continue
        config = r.config if isinstance(r.config, dict) else {}
        entries.append({
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "invocation": os.environ.get(INVOCATION_ENV),
            "step": os.environ.get(STEP_ENV) or label, "label": label, "pid": os.getpid(), "kind": r.kind,
            **{k: config.get(k) for k in ("family", "latent_dim", "seed") if k in config},
            "error": r.error, "run_dir": str(r.path),
        })
    if not entries:
        return entries
    text = "".join(json.dumps(e, default=str) + "\n" for e in entries)
    try:
        path = out_dir / FAILURE_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:  # one write per step: lines of other processes stay whole
            log.write(text)
    except OSError as err:
        print(f"[{label}] could not log {len(entries)} failure(s) in {out_dir / FAILURE_LOG}: {explain(err)}",
              flush=True)
    return entries


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


# ---------------------------------------------------------------------------------------------- check

@dataclasses.dataclass
class Finding:
    path: Path
    problems: list[str]
    action: str | None = None  # what --repair did; None: not repaired


@dataclasses.dataclass
class CheckReport:
    out_dir: Path
    counts: dict  # run folders by state: complete, failed, partial
    damaged: list[Finding]
    stale: list[Finding]  # temporary files left by killed writes

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in (*self.damaged, *self.stale) if f.action is None]

    def lines(self) -> list[str]:
        total = sum(self.counts.values())
        lines = [f"aelib check: {total} run folder(s) in {self.out_dir / 'runs'}: "
                 + ", ".join(f"{n} {state}" for state, n in self.counts.items())
                 + ("  (failed and partial runs are redone by the next `aelib run`)"
                    if self.counts.get("failed") or self.counts.get("partial") else "")]
        for f in self.damaged:
            lines.append(f"  DAMAGED {self._rel(f.path)}: {'; '.join(f.problems)}"
                         + (f" -> {f.action}" if f.action else ""))
        for f in self.stale:
            lines.append(f"  STALE   {self._rel(f.path)}: {'; '.join(f.problems)}"
                         + (f" -> {f.action}" if f.action else ""))
        if not self.damaged and not self.stale:
            lines.append("aelib check: no damage found.")
        elif self.unrepaired:
            lines.append(f"aelib check: {len(self.damaged)} damaged run(s), {len(self.stale)} stale temporary file(s). "
                         f"`aelib check --repair --out {self.out_dir}` moves damaged runs to "
                         f"{self.out_dir / QUARANTINE} (the next `aelib run` redoes them) and removes the stale files.")
        else:
            lines.append(f"aelib check: repaired {len(self.damaged)} damaged run(s) and {len(self.stale)} stale "
                         "temporary file(s); the next `aelib run` redoes the quarantined runs.")
        return lines

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.out_dir))
        except ValueError:
            return str(path)


# Files a complete run of a kind always has (others are checked when present).
REQUIRED = {"train": ("history.csv", "model.keras", "test_rmse.npy"), "classifier": ("classifier.keras",)}


def _parse_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_file(path: Path, *, models: bool) -> str | None:
    """The problem of one file of a complete run, or None."""
    import numpy as np
    import pandas as pd

    name = path.name
    try:
        if name.endswith(".json"):
            if not isinstance(_parse_json(path), dict):
                return f"{name} does not hold a JSON object"
        elif name.endswith(".csv"):
            if pd.read_csv(path).empty:
                return f"{name} has no rows"
        elif name.endswith(".npy"):
            np.load(path, mmap_mode="r", allow_pickle=False)  # header and size, without reading the data
        elif name.endswith(".npz"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad:
                return f"{name}: member {bad} is corrupt"
        elif name.endswith(".keras") and not name.endswith(".partial.keras"):
            with zipfile.ZipFile(path) as archive:  # cheap: a truncated file fails here
                bad = archive.testzip()
            if bad:
                return f"{name}: member {bad} is corrupt"
            if models:
                from aelib.models import load_model

                load_model(path)
    except Exception as err:
        text = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return f"{name} does not load ({type(err).__name__}: {text})"
    return None


def check_run(store: RunStore, path: Path, *, models: bool = True) -> tuple[str, list[str]]:
    """``(state, problems)`` of one run folder; state is complete, failed or partial (problems only for complete)."""
    kind = path.parent.name
    problems: list[str] = []
    state = "complete" if (path / "metrics.json").is_file() else "failed" if (path / "failed.json").is_file() \
        else "partial"
    if state != "complete":
        return state, problems  # redone by the next run anyway
    config_path = path / "config.json"
    if not config_path.is_file():
        problems.append("config.json is missing")
    else:
        try:
            config = _parse_json(config_path)
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            problems.append(f"config.json does not parse ({str(err).splitlines()[0][:120]})")
        else:
            config = dict(config)
            said = config.pop("kind", kind)
            if said != kind:
                problems.append(f"config.json says kind {said!r}, the folder is under {kind}/")
            try:
                expected = store.path_for(kind, config).name
            except Exception as err:
                expected = f"? ({err})"
            if expected != path.name:
                problems.append(f"the configuration hashes to {expected}, not to the folder's name")
    for name in REQUIRED.get(kind, ()):
        if not (path / name).is_file():
            problems.append(f"{name} is missing")
    for file in sorted(path.iterdir()):
        if file.is_file() and not file.name.startswith("."):
            problem = _check_file(file, models=models)
            if problem:
                problems.append(problem)
    return state, problems


def _claimed_elsewhere(path: Path) -> bool:
    """A live claim of another process on the run (when the store has claims)."""
    try:
        from aelib.study.store import CLAIM_SUFFIX, read_claim
    except ImportError:
        return False
    try:
        info = read_claim(path.with_name(f".{path.name}{CLAIM_SUFFIX}"))
        return info is not None and not info.stale() and not info.mine()
    except Exception:
        return False


def run_folders(runs: Path) -> Iterable[Path]:
    if not runs.is_dir():
        return
    for kind in sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield from sorted(p for p in kind.iterdir() if p.is_dir() and not p.name.startswith("."))


def stale_temp_files(out_dir: Path, *, older_than: float = STALE_TMP_SECONDS) -> list[tuple[Path, float]]:
    """``(file, age in seconds)`` of the atomic writes' temporary files (``.<name>.*.tmp``), ``older_than`` or older."""
    now = time.time()
    found = []
    for folder, dirs, files in os.walk(out_dir):
        if Path(folder) == out_dir:
            dirs[:] = [d for d in dirs if d != QUARANTINE]
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                file = Path(folder) / name
                try:
                    age = now - file.stat().st_mtime
                except OSError:
                    continue
                if age >= older_than:
                    found.append((file, age))
    return sorted(found)


def _quarantine(out_dir: Path, path: Path, problems: list[str], stamp: str) -> str:
    target = out_dir / QUARANTINE / stamp / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    try:
        atomic_write_json(target / "quarantine.json", {"from": str(path), "problems": problems,
                                                       "when": time.strftime("%Y-%m-%d %H:%M:%S")})
    except OSError:
        pass
    return f"moved to {target.relative_to(out_dir)}"


def check_store(out_dir: str | Path, *, models: bool = True, repair: bool = False,
                tmp_age: float = STALE_TMP_SECONDS) -> CheckReport:
    """Verify every run folder under ``out_dir/runs`` and find stale temporary files.

    A complete run is damaged when its ``config.json`` is missing or does not
    parse or does not hash to its folder's name, a file it must have is
    missing (``REQUIRED``), or one of its files does not parse (JSON, CSV,
    NumPy arrays; ``.keras`` archives, and with ``models`` the model loads).
    Failed and half-written runs are counted, not reported: the next run redoes them.

    Args:
        out_dir: the results folder (``--out``).
        models: load every saved model (the slow part); False checks the archives only.
        repair: move damaged run folders to ``out_dir/quarantine/<time>/<kind>/`` and delete the stale files.
        tmp_age: seconds after which a ``.<name>.*.tmp`` file counts as left behind by a killed write.

    Raises:
        ValueError: ``out_dir`` has no ``runs`` folder, or ``tmp_age`` is negative.
    """
    out_dir = Path(out_dir)
    runs = out_dir / "runs"
    if not runs.is_dir():
        raise ValueError(f"No run store in {out_dir} (no runs/ folder). Pass the results folder of a study with --out.")
    check_float("tmp_age", tmp_age, minimum=0, note="seconds")
    store = RunStore(runs)
    counts = {"complete": 0, "failed": 0, "partial": 0}
    damaged: list[Finding] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in run_folders(runs):
        state, problems = check_run(store, path, models=models)
        counts[state] += 1
        if not problems:
            continue
        finding = Finding(path, problems)
        if repair:
            if _claimed_elsewhere(path):
                finding.problems.append("not moved: another process holds its claim")
            else:
                try:
                    finding.action = _quarantine(out_dir, path, problems, stamp)
                except OSError as err:
                    finding.problems.append(f"not moved: {explain(err)}")
        damaged.append(finding)
    if models:
        try:
            import keras

            keras.backend.clear_session()  # the loaded models' graphs
        except Exception:
            pass
    stale = []
    for file, age in stale_temp_files(out_dir, older_than=tmp_age):
        finding = Finding(file, [f"a temporary file {age / 60:.0f} min old, left by a write that was cut short"])
        if repair:
            try:
                file.unlink()
                finding.action = "removed"
            except FileNotFoundError:
                finding.action = "already gone"
            except OSError as err:
                finding.problems.append(f"not removed: {explain(err)}")
        stale.append(finding)
    report = CheckReport(out_dir, counts, damaged, stale)
    if repair and (damaged or stale):
        try:
            atomic_write_json(out_dir / "provenance" / "check.json", {
                "when": time.strftime("%Y-%m-%d %H:%M:%S"), "counts": counts,
                "damaged": [dataclasses.asdict(f) for f in damaged], "stale": [dataclasses.asdict(f) for f in stale]})
        except OSError as err:
            print(f"aelib check: could not write provenance/check.json: {explain(err)}", flush=True)
    return report
