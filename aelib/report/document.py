"""REPORT.md as a document: its opening (what ran, when and on which data, whether the study is complete), the
overall ranking, the sections in order, failures and a link to every file the study wrote."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from aelib.report.ranking import ranking_overview
from aelib.report.tables import markdown

# Step tables checked for completeness, with the columns that (with family) identify a run's rows.
COMPLETENESS_KEYS: dict[str, tuple[str, ...]] = {"latent_sweep_runs": ("latent_dim", "seed"),
                                                 "ood_rmse": ("latent_dim", "seed", "dataset"),
                                                 "latent_quality": ("latent_dim", "seed"),
                                                 "generative": ("latent_dim", "seed", "mode")}


def missing_rows(tables: Mapping[str, pd.DataFrame], families: Sequence[str], chosen_z: Sequence[int]) -> pd.DataFrame:
    """Rows a family lacks in a step table that other families of ``families`` have.

    Args:
        tables: step table name → its rows of the study's settings, for the names of :data:`COMPLETENESS_KEYS`
            (a name absent, or an empty table, is a step that did not run: nothing is missing).
        families: the families summarised; chosen_z: the z of step 04's table.

    Returns:
        ``family``, ``table``, ``missing`` (count), ``of`` (rows any family has) and ``cells`` (which),
        one row per family and table with something missing; empty when the tables are complete.
    """
    rows = []
    for name, keys in COMPLETENESS_KEYS.items():
        frame = tables.get(name, pd.DataFrame())
        if frame.empty or "family" not in frame:
            continue
        frame = frame[frame["family"].isin(families)]
        if name == "latent_quality":
            frame = frame[frame["latent_dim"].isin(chosen_z)]
        if name == "generative" and "source" in frame:  # prior samples: only families that sample have them
            frame = frame[frame["source"] == "perturbed"]
        keys = [k for k in keys if k in frame]
        if frame.empty or not keys:
            continue
        cells = set(frame[keys].astype(str).itertuples(index=False, name=None))
        for family in families:
            lack = sorted(cells - set(frame.loc[frame["family"] == family, keys].astype(str)
                                          .itertuples(index=False, name=None)))
            if lack:
                shown = ", ".join(" ".join(f"{'z' if k == 'latent_dim' else k}={v}" for k, v in zip(keys, cell))
                                  for cell in lack[:4]) + (f", … ({len(lack) - 4} more)" if len(lack) > 4 else "")
                rows.append({"family": family, "table": name, "missing": len(lack), "of": len(cells),
                             "cells": "all (no rows)" if len(lack) == len(cells) else shown})
    return pd.DataFrame(rows, columns=["family", "table", "missing", "of", "cells"])


def incomplete_note(missing: pd.DataFrame, active: Sequence) -> str:
    """The report's (and the screen's) statement that the summary covers a partial set; "" when complete.
    ``missing``: :func:`missing_rows`; ``active``: other processes still working on the folder (each with a
    ``describe()``)."""
    if missing.empty and not active:
        return ""
    text = "## Incomplete study\n\n"
    if not missing.empty:
        families = list(dict.fromkeys(missing["family"]))
        lack = "family lacks" if len(families) == 1 else "families lack"
        text += (f"**This summary covers a partial set**: {len(families)} {lack} "
                 f"rows that other families have ({', '.join(families)}): runs of another shard or session not "
                 "finished yet, failed runs (see *Failures*), or runs not made under these settings. Families missing "
                 "a criterion are ranked after every family that has it (`criteria_missing` in "
                 "`summary/ranking.csv`); comparisons use the cells every family has.\n\n" + markdown(missing) + "\n")
    if active:
        text += ("Still working on this folder when the summary was written (it waited, `AELIB_SUMMARY_WAIT`): "
                 + "; ".join(a.describe() for a in active)
                 + ". Run `aelib report --out <folder>` when they are done.\n\n")
    return text


def other_settings_note(left_out: pd.Series) -> str:
    """One report line on the rows of other settings that the tables keep and the summary leaves out;
    ``left_out`` holds the setting of each such row (NaN: unrecorded). "" when there is none."""
    if left_out.empty:
        return ""
    settings = ", ".join(sorted(left_out.fillna("unrecorded").astype(str).unique()))
    rows = f"{len(left_out)} rows of other settings are" if len(left_out) != 1 else "1 row of another setting is"
    return (f"{rows} kept in the tables and left out here: settings {settings} "
            "(`tables/settings/<setting>.json` says what each means).\n")


def _step_label(step: str) -> str:
    """A step's two digits (``02_latent_sweep`` → ``02``), a family notebook's family (``models/vae`` → ``vae``)."""
    return step[:2] if step[:2].isdigit() else step.removeprefix("models/")


def invocation_lines(path: Path, last: int = 10) -> list[str]:
    """Report lines for the study's command-line invocations (the latest ``last``)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    if not records:
        return []
    rows = [{"invocation": f"`{rec['invocation']}`" if rec.get("invocation") else "–",
             "finished": rec.get("finished", "?"), "command": " ".join(rec.get("argv", [])),
             "wall time": f"{round(rec.get('seconds', 0)) // 60} min {round(rec.get('seconds', 0)) % 60:02d} s",
             "steps (status)": ", ".join(f"{_step_label(s.get('step', '?'))} ({s.get('status')})"
                                         for s in rec.get("steps", []))}
            for rec in records[-last:]]
    return [("Invocations of the study (`provenance/invocations.jsonl`; wall time includes runs already complete "
             "being skipped):"), "", markdown(pd.DataFrame(rows))]


def counted_executions(log: Path) -> dict[tuple[str, str], tuple[list[dict], bool]]:
    """(step, shard) → (the executions that built the step's current results, newest first; whether some of its
    runs came from executions that logged nothing), from ``provenance/steps.jsonl`` (one line per step
    execution: invocation, step, shard, seconds, run counts).

    The newest execution counts; when it reused runs already complete (``skipped``), the earlier executions
    that ran some (``complete`` > 0) count too, newest first, until their runs add up to the newest's total.
    A step without model runs counts its newest execution only. Lines cut short by a kill are skipped.
    """
    executions: dict[tuple[str, str], list[dict]] = {}
    for line in log.read_text(encoding="utf-8").splitlines() if log.is_file() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float)):
            executions.setdefault((str(entry.get("step")), str(entry.get("shard") or "")), []).append(entry)
    counted = {}
    for key, entries in executions.items():
        newest = entries[-1]
        runs = newest.get("runs") or {}
        needed = sum(int(runs.get(k, 0)) for k in ("complete", "skipped"))
        chosen, found = [newest], int(runs.get("complete", 0))
        for entry in reversed(entries[:-1]):
            if found >= needed:
                break
            done = int((entry.get("runs") or {}).get("complete", 0))
            if done > 0:
                chosen.append(entry)
                found += done
        counted[key] = (chosen, found < needed)  # short: some runs from executions that logged no time
    return counted


def step_times(log: Path) -> dict[tuple[str, str], tuple[float, list[str]]]:
    """(step, shard) → (seconds, invocations) of the executions that built the step's current results
    (:func:`counted_executions`); the invocations end with ``"earlier, unlogged"`` when some of its runs came
    from executions that logged no time (killed, or before steps.jsonl)."""
    times = {}
    for key, (entries, partial) in counted_executions(log).items():
        built_by = list(dict.fromkeys(str(e.get("invocation")) for e in entries))
        times[key] = (sum(float(e["seconds"]) for e in entries), built_by + (["earlier, unlogged"] if partial else []))
    return times


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (so a
    committed report does not name one machine's folders), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _files_section(out_dir: Path) -> str:
    """A link to every figure and table the study wrote."""
    figures = sorted((out_dir / "figures").glob("*.png")) + sorted((out_dir / "augmentation").glob("*.png"))
    groups = [("Figures", figures),
              ("Summary tables (also .tex and .md)", sorted((out_dir / "summary").glob("*.csv"))),
              ("Per-step tables", sorted((out_dir / "tables").glob("*.csv")))]
    lines = ["## Files", ""]
    for title, paths in groups:
        if paths:
            links = ", ".join(f"[{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in paths)
            lines += [f"**{title}** ({len(paths)}): {links}", ""]
    return "\n".join(lines)


def report_text(out_dir: Path, profile: str, ranking: pd.DataFrame, sections: list[str], failures: pd.DataFrame,
                *, opening: str = "", invocation: str | None = None,
                running: tuple[str, float | None] | None = None) -> str:
    """REPORT.md of the study in ``out_dir``: the opening (``opening`` first), what ran (from ``provenance/``),
    the overall ranking, ``sections`` (their figure links made relative to the report), ``failures`` and
    the files. ``invocation``: the id of the invocation writing the report. ``running``: the step writing it
    and when it started (seconds since the epoch, or None): its row is this invocation's, with the time so
    far, whatever an earlier execution of that step left in ``provenance/``."""
    out_dir = Path(out_dir)
    prov_dir = out_dir / "provenance"
    times = step_times(prov_dir / "steps.jsonl")

    def duration(seconds: float | None) -> str:
        if seconds is None:
            return "–"
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min {secs:02d} s"

    ran = []
    sources = set()
    for path in sorted(prov_dir.glob("*.json")) if prov_dir.is_dir() else []:
        info = json.loads(path.read_text())
        if "runs" in info and running is not None and info.get("step") == running[0]:
            pass  # an earlier execution's: this invocation's row is added below
        elif "runs" in info:
            counts = [info["runs"].get(k, 0) for k in ("complete", "skipped", "failed")]
            cells = " | ".join(map(str, counts)) if any(counts) else "– | – | – (no model runs; see its own outputs)"
            step = info["step"] + (f" (shard {info['shard']})" if info.get("shard") else "")
            seconds, built_by = times.get((info["step"], info.get("shard", "")), (None, []))
            partial = "earlier, unlogged" in built_by
            if seconds is None and info.get("invocation") and info["invocation"] == invocation:
                built = "this invocation (running)"
            else:
                built = ", ".join(i if i == "earlier, unlogged" else f"`{i}`" for i in built_by) or "–"
            shown = duration(seconds) + (" + unlogged" if partial else "")
            ran.append(f"| {step} | {info['when']} | {shown} | {built} | {cells} |")
        for split, src in (info.get("data_sources") or {}).items():
            if isinstance(src, dict) and "source" in src:
                sources.add(f"{src.get('name')} {split}: {src['source']} ({src.get('n')} samples)"
                            + (" — STAND-IN" if src.get("stand_in") else ""))
    if running is not None:
        so_far = duration(time.time() - running[1]) + " so far" if running[1] is not None else "–"
        ran.append(f"| {running[0]} | {time.strftime('%Y-%m-%d %H:%M:%S')} | {so_far} | this invocation (running) "
                   "| – | – | – (no model runs; see its own outputs) |")
    head = [
        f"# Autoencoder comparison — profile `{profile}`",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} from `{_shown_path(out_dir)}`.",
        "",
        opening,
        "## What ran",
        "",
        "| step | when | time | built by (invocations) | ran | already complete | failed |",
        "|---|---|---|---|---|---|---|",
        *ran,
        "",
        ("time: the duration of the step's executions that built these results (`provenance/steps.jsonl`, "
         "written as each step ends): the newest execution, and the earlier ones whose runs it reused, newest "
         "first, until they account for every run it counted; executions that only found their runs complete, "
         "and those whose runs were replaced, are not counted; \"+ unlogged\": some runs were made by an execution "
         "that logged no time (interrupted). Shards add up (compute time, not wall time). "
         "– where no execution of the step was logged."),
        "",
        "Data sources: " + ("; ".join(sorted(sources)) if sources else "see provenance/*.json") + ".",
        "",
        *invocation_lines(prov_dir / "invocations.jsonl"),
        "## Overall ranking",
        "",
        ranking_overview(ranking),
        "![ranks](figures/ranking.png)" if (out_dir / "figures" / "ranking.png").is_file() else "",
        "",
    ]
    body = [s.replace("](../figures/", "](figures/").replace("](../augmentation/", "](augmentation/") for s in sections]
    tail = ["## Failures", "", markdown(failures) if not failures.empty else "None.", "", _files_section(out_dir)]
    return "\n".join(head) + "\n" + "\n".join(body) + "\n" + "\n".join(tail)
