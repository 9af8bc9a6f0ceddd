"""The analysis steps (03-07) on the same trained models, a baseline revision against the working tree, in one run.

Both variants start from the same study folder (by default the committed ``results/quick``) with its trained
models, judge classifier and step-01 tables, and without any analysis run (kinds ``reconstruction``, ``latent``,
``ood``, ``generative``, ``samples``, ``augmentation``, ``augmentation_fcae``, ``regulariser_activity``), so each
variant computes every analysis itself. The run store's files are hard links of the source's (the store never
writes a file in place: it writes new ones and renames them); everything else is copied, since the provenance
logs are appended to. The baseline runs from a git worktree of ``--baseline`` with
one step after another (``AELIB_LANES=1``; revisions before the lanes know no other way); the working tree runs
with its defaults. The variants run one after the other on the same machine; each is timed from the outside, and
per step from its own ``provenance/steps.jsonl``. Afterwards the two variants' tables are compared cell by cell
(``compare_tables.py``).

    .venv/bin/python benchmarks/analysis_steps.py --baseline 5346b29 [--families fcae,vae] [--steps 03,04,05,06]
        [--source results/quick]

Writes benchmarks/results/analysis_steps.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from compare_tables import compare  # noqa: E402

#: Run kinds the analysis steps make: left out of the copies, so each variant computes them.
ANALYSIS_KINDS = ("reconstruction", "latent", "ood", "generative", "samples", "augmentation", "augmentation_fcae",
                  "regulariser_activity")


def copy_study(source: Path, target: Path) -> None:
    """``source`` into ``target`` without its analysis runs, summary and executed notebooks: the run store's files
    as hard links, the rest (logs, tables) as copies."""
    if not (source / "runs" / "train").is_dir():
        raise SystemExit(f"error: {source} holds no trained models (runs/train); run the study first (./run_all.sh)")
    skip = {source / "runs" / kind for kind in ANALYSIS_KINDS} | {source / "summary", source / "executed",
                                                                  source / "REPORT.md"}

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(folder) / n in skip]

    runs = source / "runs"

    def copy(src: str, dst: str) -> None:  # the store's runs linked (never written in place), the rest copied:
        if Path(src).is_relative_to(runs):  # provenance logs are appended to, which a link would pass on
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=copy, ignore=ignore)


def run_variant(name: str, code: Path, out: Path, args: argparse.Namespace, env: dict) -> dict:
    """The analysis steps of ``out`` with the code in ``code``; its wall time and per-step times."""
    command = [sys.executable, "-m", "aelib.study.cli", "run", "--out", str(out), "--steps", args.steps,
               "--families", args.families, "--no-models"]
    print(f"=== {name}: {' '.join(command[1:])} (code in {code}) ===", flush=True)
    log = out / "provenance" / "steps.jsonl"
    before = len(log.read_text().splitlines()) if log.is_file() else 0  # the source's own executions
    start = time.perf_counter()
    done = subprocess.run(command, cwd=code, env={**os.environ, "PYTHONPATH": str(code), **env},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-40:])
        raise SystemExit(f"{tail}\nerror: the {name} run failed (exit {done.returncode}); its last lines are above")
    steps = {}
    for line in log.read_text().splitlines()[before:]:  # this run's executions only
        entry = json.loads(line)
        steps[entry["step"]] = entry["seconds"]
    return {"variant": name, "wall_seconds": wall, **{f"{step}_seconds": s for step, s in sorted(steps.items())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="git revision of the baseline code, e.g. 5346b29")
    parser.add_argument("--families", default="fcae,vae")
    parser.add_argument("--steps", default="03,04,05,06")
    parser.add_argument("--source", type=Path, default=ROOT / "results" / "quick")
    args = parser.parse_args()
    (HERE / "results").mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aelib-analysis-", dir=args.source.resolve().parent) as scratch:
        scratch = Path(scratch)  # beside the source: hard links need the same file system
        worktree = scratch / "baseline-code"
        made = subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline], cwd=ROOT,
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(f"error: no worktree of revision {args.baseline!r}: {made.stderr.strip()}")
        try:
            for name, code, env in (("baseline", worktree, {"AELIB_LANES": "1"}), ("current", ROOT, {})):
                out = scratch / name
                copy_study(args.source.resolve(), out)
                rows.append(run_variant(name, code, out, args, env))
            differences = compare(scratch / "baseline", scratch / "current")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
    table = pd.DataFrame(rows)
    table.insert(1, "revision", [args.baseline, "working tree"])
    table["families"], table["steps"] = args.families, args.steps
    table["cores"] = os.cpu_count()
    table.to_csv(HERE / "results" / "analysis_steps.csv", index=False)
    print(table.drop(columns=["families", "steps"]).to_markdown(index=False, floatfmt=".0f"))
    print(f"\ncurrent / baseline wall time: {rows[1]['wall_seconds'] / rows[0]['wall_seconds']:.2f}")
    print("\n".join(differences))
    return 0


if __name__ == "__main__":
    sys.exit(main())
