"""``aelib check``: audit every run folder of a results folder, and with ``repair`` set the damage aside.

:func:`check_store` verifies every run folder (its files parse, its model
loads, its configuration hashes to its folder name, its ``metrics.json`` holds
values that can be right and agree with its saved per-sample errors), lists the
symbolic links in the store (never followed) and the runs whose keys predate
the data and code fields (never reused), and with ``repair`` moves damaged runs
to ``<out>/quarantine/`` (the next run redoes them), removes the links (never
what they point to) and the temporary files that a killed write left behind.
Nothing is written outside the results folder.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from aelib.checks import check_float
from aelib.io import atomic_write_json
from aelib.study.claims import CLAIM_SUFFIX, read_claim
from aelib.study.failures import explain
from aelib.study.store import RunStore
from aelib.study.trust import is_regular_file, link_text, read_json, run_metric_problems, stale_key

QUARANTINE = "quarantine"
STALE_TMP_SECONDS = 300.0  # a temporary file of an atomic write this old belongs to a killed process


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
    links: list[Finding] = dataclasses.field(default_factory=list)  # symbolic links in the store
    outdated: list[Finding] = dataclasses.field(default_factory=list)  # complete runs whose key is stale

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in (*self.damaged, *self.links, *self.stale) if f.action is None]

    def lines(self) -> list[str]:
        total = sum(self.counts.values())
        lines = [f"aelib check: {total} run folder(s) in {self.out_dir / 'runs'}: "
                 + ", ".join(f"{n} {state}" for state, n in self.counts.items())
                 + ("  (failed and partial runs are redone by the next `aelib run`)"
                    if self.counts.get("failed") or self.counts.get("partial") else "")]
        for label, findings in (("DAMAGED", self.damaged), ("LINK   ", self.links), ("STALE  ", self.stale)):
            lines += [f"  {label} {self._rel(f.path)}: {'; '.join(f.problems)}"
                      + (f" -> {f.action}" if f.action else "") for f in findings]
        if self.outdated:
            shown = [f"  STALE KEY {self._rel(f.path)}" for f in self.outdated[:20]]
            more = [f"  … and {len(self.outdated) - 20} more"] if len(self.outdated) > 20 else []
            lines += [f"aelib check: {len(self.outdated)} complete run(s) have stale keys (written before run keys "
                      "held the data's fingerprint, the family's implementation version and the training loop); "
                      "they are kept but never reused, and may be deleted:", *shown, *more]
        broken = len(self.damaged) + len(self.links)
        if not broken and not self.stale:
            lines.append("aelib check: no damage found.")
        elif self.unrepaired:
            lines.append(f"aelib check: {len(self.damaged)} damaged run(s), {len(self.links)} symbolic link(s), "
                         f"{len(self.stale)} stale temporary file(s). `aelib check --repair --out {self.out_dir}` "
                         f"moves damaged runs to {self.out_dir / QUARANTINE} (the next `aelib run` redoes them), "
                         "removes the links (not what they point to) and the stale files.")
        else:
            lines.append(f"aelib check: repaired {len(self.damaged)} damaged run(s), {len(self.links)} symbolic "
                         f"link(s) and {len(self.stale)} stale temporary file(s); the next `aelib run` redoes the "
                         "quarantined runs.")
        return lines

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.out_dir))
        except ValueError:
            return str(path)


# Files a complete run of a kind always has (others are checked when present).
REQUIRED = {"train": ("history.csv", "model.keras", "test_rmse.npy"), "classifier": ("classifier.keras",)}


def _check_file(path: Path, *, models: bool) -> str | None:
    """The problem of one file of a complete run, or None."""
    name = path.name
    try:
        if name.endswith(".json"):
            if not isinstance(read_json(path), dict):
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
                from aelib.models import load_model  # deferred: TensorFlow, only when models are loaded

                load_model(path)
    except Exception as err:
        text = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return f"{name} does not load ({type(err).__name__}: {text})"
    return None


def _read_config(path: Path) -> dict | None:
    try:
        config = read_json(path / "config.json")
    except (OSError, ValueError):
        return None
    return dict(config) if isinstance(config, dict) else None


def check_run(store: RunStore, path: Path, *, models: bool = True) -> tuple[str, list[str]]:
    """``(state, problems)`` of one run folder; state is complete, failed or partial. Symbolic links inside it
    are problems in any state; the other problems are those of complete runs (the next run redoes the others)."""
    kind = path.parent.name
    problems = [f"{f.name} is a symbolic link (never followed)" for f in sorted(path.iterdir()) if f.is_symlink()]
    state = "complete" if is_regular_file(path / "metrics.json") else \
        "failed" if is_regular_file(path / "failed.json") else "partial"
    if state != "complete":
        return state, problems
    if not is_regular_file(path / "config.json"):
        problems.append("config.json is missing")
    else:
        config = _read_config(path)
        if config is None:
            problems.append("config.json does not parse as a JSON object")
        else:
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
        if not is_regular_file(path / name):
            problems.append(f"{name} is missing")
    for file in sorted(path.iterdir()):
        if is_regular_file(file) and not file.name.startswith("."):
            problem = _check_file(file, models=models)
            if problem:
                problems.append(problem)
    try:
        metrics = read_json(path / "metrics.json")
    except (OSError, ValueError):
        pass  # reported by _check_file
    else:
        problems += [f"metrics.json: {p}" for p in run_metric_problems(path, metrics)]
    return state, problems


def _claimed_elsewhere(path: Path) -> bool:
    """A live claim of another process on the run."""
    try:
        info = read_claim(path.with_name(f".{path.name}{CLAIM_SUFFIX}"))
        return info is not None and not info.stale() and not info.mine()
    except Exception:
        return False


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def run_folders(runs: Path) -> Iterable[Path]:
    """Every run folder of the store ``runs`` (real folders: links are :func:`store_links`)."""
    for kind in _entries(runs):
        if kind.is_dir() and not kind.is_symlink():
            yield from (p for p in _entries(kind) if p.is_dir() and not p.is_symlink())


def store_links(runs: Path) -> list[Path]:
    """The symbolic links among the kinds and run folders of the store ``runs`` (its root may be one)."""
    found = []
    for kind in _entries(runs):
        if kind.is_symlink():
            found.append(kind)
        elif kind.is_dir():
            found += [p for p in _entries(kind) if p.is_symlink()]
    return found


def stale_temp_files(out_dir: Path, *, older_than: float = STALE_TMP_SECONDS) -> list[tuple[Path, float]]:
    """``(file, age in seconds)`` of the atomic writes' temporary files (``.<name>.*.tmp``), ``older_than`` or older."""
    now = time.time()
    found = []
    for folder, dirs, files in os.walk(out_dir):  # links to folders are not descended into
        if Path(folder) == out_dir:
            dirs[:] = [d for d in dirs if d != QUARANTINE]
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                file = Path(folder) / name
                try:
                    age = now - os.lstat(file).st_mtime
                except OSError:
                    continue
                if age >= older_than:
                    found.append((file, age))
    return sorted(found)


def _inside(out_dir: Path, folder: str) -> Path:
    """``out_dir/folder``, refusing a link there: nothing is written outside the results folder."""
    path = out_dir / folder
    if path.is_symlink():
        raise OSError(errno.ELOOP, f"{folder}/ is a symbolic link; not writing through it", str(path))
    return path


def _quarantine(out_dir: Path, path: Path, problems: list[str], stamp: str) -> str:
    target = _inside(out_dir, QUARANTINE) / stamp / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))  # a rename, or a copy that keeps links as links
    try:
        atomic_write_json(target / "quarantine.json", {"from": str(path), "problems": problems,
                                                       "when": time.strftime("%Y-%m-%d %H:%M:%S")})
    except OSError:
        pass
    return f"moved to {target.relative_to(out_dir)}"


def _remove(path: Path, done: str) -> tuple[str | None, str | None]:
    """``(action, problem)`` of removing the file or link ``path``."""
    try:
        path.unlink()
        return done, None
    except FileNotFoundError:
        return "already gone", None
    except OSError as err:
        return None, f"not removed: {explain(err)}"


def check_store(out_dir: str | Path, *, models: bool = True, repair: bool = False,
                tmp_age: float = STALE_TMP_SECONDS) -> CheckReport:
    """Verify every run folder under ``out_dir/runs``; find symbolic links, stale keys and stale temporary files.

    A complete run is damaged when its ``config.json`` is missing or does not
    parse or does not hash to its folder's name, a file it must have is
    missing (``REQUIRED``), one of its files does not parse (JSON, CSV, NumPy
    arrays; ``.keras`` archives, and with ``models`` the model loads), its
    ``metrics.json`` is empty or holds values that cannot be right
    (:func:`aelib.study.trust.run_metric_problems`), or it holds a symbolic link.
    Failed and half-written runs are counted, not reported: the next run redoes them.
    A complete run whose key lacks the data and code fields (:func:`aelib.study.trust.stale_key`) is listed
    as stale: it is never reused, and repair leaves it.

    Args:
        out_dir: the results folder (``--out``).
        models: load every saved model (the slow part); False checks the archives only.
        repair: move damaged run folders to ``out_dir/quarantine/<time>/<kind>/``, remove the links in the
            store (never what they point to) and delete the stale temporary files.
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
    outdated: list[Finding] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in run_folders(runs):
        state, problems = check_run(store, path, models=models)
        counts[state] += 1
        config = _read_config(path) if state == "complete" else None
        if config is not None and stale_key(path.parent.name, config):
            outdated.append(Finding(path, ["its key predates the data and code fields: never reused"]))
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
            import keras  # deferred: TensorFlow; imported by now when a model was loaded

            keras.backend.clear_session()  # the loaded models' graphs
        except Exception:
            pass
    links = []
    for link in store_links(runs):
        finding = Finding(link, [link_text(link)])
        if repair:
            finding.action, problem = _remove(link, "link removed (what it points to was not touched)")
            finding.problems += [problem] if problem else []
        links.append(finding)
    stale = []
    for file, age in stale_temp_files(out_dir, older_than=tmp_age):
        finding = Finding(file, [f"a temporary file {age / 60:.0f} min old, left by a write that was cut short"])
        if repair:
            finding.action, problem = _remove(file, "removed")
            finding.problems += [problem] if problem else []
        stale.append(finding)
    report = CheckReport(out_dir, counts, damaged, stale, links, outdated)
    if repair and (damaged or stale or links):
        try:
            atomic_write_json(_inside(out_dir, "provenance") / "check.json", {
                "when": time.strftime("%Y-%m-%d %H:%M:%S"), "counts": counts,
                **{name: [dataclasses.asdict(f) for f in found]
                   for name, found in (("damaged", damaged), ("links", links), ("stale", stale))}})
        except OSError as err:
            print(f"aelib check: could not write provenance/check.json: {explain(err)}", flush=True)
    return report
