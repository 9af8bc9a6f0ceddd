"""Each step's time, from the study's provenance, so that a regression is visible (issue 31).

Reads ``<out>/provenance/steps.jsonl`` (one line per step execution, written as the step ends by
``aelib.study.execution.log_step_execution``) and the run store ``<out>/runs/<kind>/<run>/metrics.json``;
runs nothing.

Per step (01..08 in the study's order, then the family notebooks ``models/<family>`` summed as one row):

  * ``wall_s``: the wall seconds of the executions that built the step's current results, as REPORT's "What
    ran" counts them (:func:`aelib.report.document.step_times`): the newest execution, plus the earlier
    ones whose runs it reused. ``unlogged``: some of the step's runs were made by an execution that logged no
    time (interrupted, or from before ``steps.jsonl``); the step's wall time is then a lower bound;
  * ``invocations``: the invocations those executions belong to;
  * ``runs``, ``run_s``, ``run_s_by_kind``: the store's complete runs whose ``metrics.json`` was written
    while one of the step's logged executions was running (the file's modification time inside the
    execution's [finished - seconds, finished] interval), with their summed ``seconds`` (else
    ``train_seconds``), by run kind. This is process time: with two workers training at once it exceeds
    the wall time. Runs written outside every logged execution are one row of their own; a copy of the
    store that did not keep the files' times (a fresh git checkout) puts every run there.

The total wall time is the time the counted executions cover, each second once (steps that ran at once
overlap; shards on other machines too); the steps' own times are also summed. It is a lower bound when any
step is unlogged.

``--baseline`` takes a git revision (its ``steps.jsonl`` at the same path is read with ``git show``) or a
folder (its ``provenance/steps.jsonl``), and adds its wall seconds per step and the ratio new / baseline.

    .venv/bin/python benchmarks/step_times.py [--out results/quick] [--baseline REV_OR_FOLDER]

Writes benchmarks/results/step_times.csv and step_times.md (``--results`` elsewhere) and prints the
markdown. Exit status 2, with a message, for a folder without ``provenance/steps.jsonl`` or an unknown
baseline.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aelib.report.document import counted_executions, step_times
from aelib.study.steps import STEP_NAMES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
LOG = Path("provenance") / "steps.jsonl"
#: the step name prefix of the family notebooks (``models/<family>``)
FAMILY_PREFIX = "models/"
#: step_times's marker for runs made by executions that logged no time
UNLOGGED = "earlier, unlogged"
#: the label of the runs whose metrics.json was written outside every logged execution
OUTSIDE = "runs outside any logged execution"
TOTAL = "total"
#: the step that makes each kind of analysis run (the analysis steps run at once, so time alone cannot tell);
#: training runs come from steps 01, 02 and any step that trains what it lacks, and go by time
KIND_STEPS = {"reconstruction": "03_reconstruction", "latent": "04_latent_space", "ood": "05_ood_reconstruction",
              "generative": "06_generative", "samples": "06_generative", "classifier": "06_generative",
              "augmentation": "07_augmentation", "augmentation_fcae": "07_augmentation"}
#: seconds of slack at the end of an execution's interval: ``finished`` is written to the whole second
SLACK = 1.0
COLUMNS = ["step", "wall_s", "unlogged", "invocations", "baseline_wall_s", "ratio", "runs", "run_s",
           "run_s_by_kind"]


class ProvenanceError(Exception):
    """A folder or revision without the step log; its message says what to run."""


# ----- reading ---------------------------------------------------------------------------------------------
def log_path(out_dir: Path) -> Path:
    """``out_dir``'s step log, or a ProvenanceError naming the path and what writes it."""
    path = Path(out_dir) / LOG
    if not path.is_file():
        raise ProvenanceError(
            f"No step log at {path}: {Path(out_dir)} is not a study folder with provenance. Run the study "
            f"first (./run_all.sh, or aelib run --out {Path(out_dir)}); it writes "
            f"provenance/steps.jsonl as each step ends.")
    return path


def _interval(entry: dict) -> tuple[float, float]:
    """(start, end) of an execution in epoch seconds (``finished`` is the writing machine's local time)."""
    end = time.mktime(time.strptime(entry["finished"], "%Y-%m-%d %H:%M:%S"))
    return end - float(entry["seconds"]), end


def elapsed(log: Path) -> float | None:
    """Seconds covered by the executions that built the results (:func:`counted_executions`), each interval
    counted once: steps run at once (the analysis steps, the family notebooks) overlap. None when an execution
    has no readable end time."""
    try:
        spans = sorted(_interval(e) for entries, _ in counted_executions(log).values() for e in entries)
    except (KeyError, ValueError, TypeError):
        return None
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total


def executions(log: Path) -> list[dict]:
    """The log's entries with a duration and an end time, each with ``start`` and ``end`` (epoch seconds;
    ``finished`` is the local time of the machine that wrote it). Lines cut short by a kill are skipped."""
    entries = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            start, end = _interval(entry)
        except (ValueError, KeyError, TypeError):
            continue
        entries.append({**entry, "start": start, "end": end + SLACK})
    return entries


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


def baseline_log(baseline: str, out_dir: Path, scratch: Path) -> tuple[Path, str]:
    """The baseline's step log and how to name it: ``baseline`` is a folder (its ``provenance/steps.jsonl``)
    or a git revision of the repository holding ``out_dir`` (the log at the same path, via ``git show``,
    written into ``scratch``)."""
    if Path(baseline).is_dir():
        return log_path(Path(baseline)), f"folder {baseline}"
    out_dir = Path(out_dir).resolve()
    top = _git(out_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ProvenanceError(f"Unknown baseline {baseline!r}: no folder of that name, and {out_dir} is not in a "
                              f"git repository whose revisions could be read.")
    repo = Path(top.stdout.strip())
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{baseline}^{{commit}}").returncode != 0:
        raise ProvenanceError(f"Unknown git revision {baseline!r} in {repo} (and no folder of that name). "
                              f"List the revisions that have the log: git log --format=%h -- "
                              f"{(out_dir / LOG).relative_to(repo)}")
    relative = (out_dir / LOG).relative_to(repo).as_posix()
    shown = _git(repo, "show", f"{baseline}:{relative}")
    if shown.returncode != 0:
        raise ProvenanceError(f"Revision {baseline!r} has no {relative} (the step log began with a later "
                              f"commit). List the revisions that have it: git log --format=%h -- {relative}")
    path = Path(scratch) / "baseline_steps.jsonl"
    path.write_text(shown.stdout, encoding="utf-8")
    return path, f"git revision {baseline}"


def run_costs(out_dir: Path, entries: list[dict]) -> dict[tuple[str, str], dict[str, list[float]]]:
    """(step, shard) → kind → [run seconds, runs]: each complete run of the store under the logged execution
    that was running when its ``metrics.json`` was written (where several were: the one of the step that makes
    that kind, :data:`KIND_STEPS`, else the narrowest), or under (:data:`OUTSIDE`, "") when none was."""
    costs: dict[tuple[str, str], dict[str, list[float]]] = {}
    runs = Path(out_dir) / "runs"
    for metrics_path in sorted(runs.glob("*/*/metrics.json")) if runs.is_dir() else []:
        kind = metrics_path.parent.parent.name
        if kind.startswith(".") or metrics_path.parent.name.startswith("."):
            continue
        try:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            written = metrics_path.stat().st_mtime
        except (OSError, ValueError):
            continue
        seconds = metrics.get("seconds", metrics.get("train_seconds")) if isinstance(metrics, dict) else None
        if not isinstance(seconds, (int, float)):
            continue
        during = [e for e in entries if e["start"] <= written <= e["end"]]
        own = [e for e in during if e.get("step") == KIND_STEPS.get(kind)]  # steps at once: the kind's own step
        if during:
            entry = min(own or during, key=lambda e: e["end"] - e["start"])
            key = (str(entry.get("step")), str(entry.get("shard") or ""))
        else:
            key = (OUTSIDE, "")
        cell = costs.setdefault(key, {}).setdefault(kind, [0.0, 0])
        cell[0] += float(seconds)
        cell[1] += 1
    return costs


# ----- the table ------------------------------------------------------------------------------------------
def _label(step: str, shard: str) -> str:
    return f"{step} (shard {shard})" if shard else step


def _order(key: tuple[str, str]) -> tuple:
    step, shard = key
    position = STEP_NAMES.index(step) if step in STEP_NAMES else len(STEP_NAMES)
    return position, step, shard


def _kinds_text(kinds: dict[str, list[float]]) -> str:
    ordered = sorted(kinds.items(), key=lambda item: -item[1][0])
    return "; ".join(f"{kind} {seconds:,.0f} s ({int(n)})" for kind, (seconds, n) in ordered)


def _row(label: str, wall: float | None, invocations: list[str], kinds: dict[str, list[float]]) -> dict:
    merged: dict[str, list[float]] = {}
    for kind, (seconds, n) in kinds.items():
        cell = merged.setdefault(kind, [0.0, 0])
        cell[0] += seconds
        cell[1] += n
    return {"step": label, "wall_s": wall, "unlogged": UNLOGGED in invocations,
            "invocations": "; ".join(i for i in invocations if i != UNLOGGED),
            "runs": int(sum(n for _, n in merged.values())), "run_s": sum(s for s, _ in merged.values()),
            "run_s_by_kind": _kinds_text(merged)}


def step_rows(times: dict[tuple[str, str], tuple[float, list[str]]],
              costs: dict[tuple[str, str], dict[str, list[float]]] | None = None,
              covered: float | None = None) -> list[dict]:
    """One row per step (01..08, then any other logged step), the family notebooks summed as one row
    ``family notebooks (N)``, the runs outside every logged execution, and the total."""
    costs = costs or {}
    rows, family_wall, family_invocations, family_kinds = [], 0.0, [], {}
    family_count = 0
    for key in sorted(times, key=_order):
        seconds, invocations = times[key]
        if key[0].startswith(FAMILY_PREFIX):
            family_count += 1
            family_wall += seconds
            family_invocations += [i for i in invocations if i not in family_invocations]
            for kind, (s, n) in costs.get(key, {}).items():
                cell = family_kinds.setdefault(kind, [0.0, 0])
                cell[0] += s
                cell[1] += n
            continue
        rows.append(_row(_label(*key), seconds, invocations, costs.get(key, {})))
    if family_count:
        rows.append(_row(f"family notebooks ({family_count})", family_wall, family_invocations, family_kinds))
    if (OUTSIDE, "") in costs:
        rows.append(_row(OUTSIDE, None, [], costs[(OUTSIDE, "")]))
    walls = [r["wall_s"] for r in rows if r["wall_s"] is not None]
    # the study's wall time: the executions' intervals counted once (steps at once overlap), else their sum
    rows.append({"step": TOTAL, "wall_s": sum(walls) if covered is None else covered, "steps_s": sum(walls),
                 "unlogged": any(r["unlogged"] for r in rows), "invocations": "",
                 "runs": sum(r["runs"] for r in rows), "run_s": sum(r["run_s"] for r in rows), "run_s_by_kind": ""})
    return rows


def add_baseline(rows: list[dict], baseline: list[dict]) -> list[dict]:
    """``rows`` with ``baseline_wall_s`` (the same step's wall seconds in ``baseline``) and ``ratio`` (new /
    baseline); empty where the baseline lacks the step. Baseline steps missing from ``rows`` are appended
    (their new wall time empty)."""
    base = {r["step"]: r["wall_s"] for r in baseline}
    merged = []
    for row in rows:
        old = base.get(row["step"])
        ratio = row["wall_s"] / old if old and row["wall_s"] is not None else None
        merged.append({**row, "baseline_wall_s": old, "ratio": ratio})
    ours = {r["step"] for r in rows}
    extra = [{"step": r["step"], "wall_s": None, "unlogged": False, "invocations": "", "runs": 0, "run_s": 0.0,
              "run_s_by_kind": "", "baseline_wall_s": r["wall_s"], "ratio": None}
             for r in baseline if r["step"] not in ours]
    return merged[:-1] + extra + merged[-1:]


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def markdown(rows: list[dict], *, source: str, baseline: str | None = None) -> str:
    """The table with the notes that say what its columns are."""
    with_baseline = baseline is not None
    total = rows[-1]
    head = ["step", "wall s", "invocations", "runs", "run s", "run s by kind (runs)"]
    if with_baseline:
        head[2:2] = ["baseline wall s", "new / baseline"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h in ("wall s", "baseline wall s",
                                                                            "new / baseline", "runs", "run s")
                                                         else "---" for h in head) + "|"]
    for row in rows:
        wall = "–" if row["wall_s"] is None else f"{row['wall_s']:,.0f}" + (" + unlogged" if row["unlogged"] else "")
        cells = [row["step"] if row["step"] != TOTAL else "**total**", wall, f"`{row['invocations']}`"
                 if row["invocations"] else "", f"{row['runs']:,}" if row["runs"] else "",
                 f"{row['run_s']:,.0f}" if row["runs"] else "", row["run_s_by_kind"]]
        if with_baseline:
            old, ratio = row.get("baseline_wall_s"), row.get("ratio")
            cells[2:2] = ["–" if old is None else f"{old:,.0f}", "–" if ratio is None else f"{ratio:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    bound = ("a lower bound: some steps' runs were made by executions that logged no time (+ unlogged)"
             if total["unlogged"] else "every step's runs were made by logged executions")
    notes = [
        f"Each step's time, from {source}.",
        "",
        "wall s: the wall seconds of the step executions that built its current results "
        "(`aelib.report.document.step_times`: the newest execution and the earlier ones whose runs it reused); "
        "\"+ unlogged\": some of its runs came from an execution that logged no time (interrupted), so its wall "
        "time is a lower bound. run s: the summed `seconds` (else `train_seconds`) of the store's runs whose "
        "metrics.json was written during one of the step's logged executions, by run kind: process time, "
        "which exceeds wall time when two workers train at once. The runs written outside every logged "
        "execution are a row of their own.",
        "",
        f"Total wall time of the study: {total['wall_s']:,.0f} s ({_minutes(total['wall_s'])}), {bound}; the "
        "executions' intervals, each second counted once (the analysis steps and the family notebooks run two "
        f"at a time); the steps' own times add up to {total.get('steps_s', total['wall_s']):,.0f} s.",
    ]
    if with_baseline:
        notes += ["", f"Baseline: {baseline}. new / baseline above 1 is slower."]
    return "\n".join(notes + [""] + lines) + "\n"


def _csv(rows: list[dict], path: Path) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else round(row[c], 3) if isinstance(row.get(c), float)
                                 else row.get(c, "")) for c in COLUMNS})


def report(out_dir: Path, *, baseline: str | None = None) -> tuple[list[dict], str]:
    """The rows and the markdown for ``out_dir``, with ``baseline``'s wall times beside them."""
    out_dir = Path(out_dir)
    log = log_path(out_dir)
    rows = step_rows(step_times(log), run_costs(out_dir, executions(log)), elapsed(log))
    named = None
    if baseline is not None:
        with tempfile.TemporaryDirectory() as scratch:
            base_log, named = baseline_log(baseline, out_dir, Path(scratch))
            rows = add_baseline(rows, step_rows(step_times(base_log), covered=elapsed(base_log)))
    return rows, markdown(rows, source=f"`{log}`", baseline=named)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/quick"), help="the study folder")
    parser.add_argument("--baseline", default=None, help="a git revision or a study folder to compare with")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where step_times.csv and .md go")
    args = parser.parse_args(argv)
    try:
        rows, text = report(args.out, baseline=args.baseline)
    except ProvenanceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.results.mkdir(parents=True, exist_ok=True)
    _csv(rows, args.results / "step_times.csv")
    (args.results / "step_times.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
