"""Stress test of the run store: kill -9, shards, two processes on one folder, changed settings (issue 17).

Every trial runs the real command line (``python -m aelib.study.cli run``, offline, the tiniest settings:
``--n-test 200 --z 2 --epochs 1 --n-train 500``, the quick profile's two seeds) into a fresh temporary folder:

- **kill**: a run killed with SIGKILL at a random moment (stratified over the length of a whole run, so the
  trials cover start-up, training and table writing), alternately the whole process tree (a machine that
  dies) and the main process only (its kernel and workers left to finish or die), then the same command again;
- **shards**: ``--shard 0/2`` and ``--shard 1/2`` on fcae and cae, steps 02, 06 (the shared classifier) and
  08 (the summary, on shard 0, which must wait for shard 1 or say what is missing); in even trials shard 1
  starts 30 s later (so the summary has to wait), in odd ones both start at once (both reach the classifier);
- **pair**: the same unsharded command twice at once on one folder (steps 02 and 08);
- **rerun**: a run with ``--epochs 1``, then the same folder with ``--epochs 2`` (steps 02 and 08).

After each trial it checks: every invocation that was not killed exits 0; **lost runs** (an expected
(family, z, seed) of the invocation's settings without its table row or its complete run folder);
**duplicated rows** (two rows of ``latent_sweep_runs.csv`` for one (family, z, seed, setting)); **mixed rows**
(a table row whose values are not those of the run folder its setting names, an ``rmse_by_z`` row that is not
the mean of exactly its setting's seeds, a folder whose config does not hash to its name, a ``failed.json``
beside a ``metrics.json``); runs trained twice (pair: the two logs' "N ran" add up to the number of runs);
for shards: one classifier, both shards' provenance files, generative rows of both families; and a summary
that is complete or says which families are missing (``## Incomplete study`` naming them).

    .venv/bin/python benchmarks/stress_store.py [--kill 10] [--shards 3] [--pair 3] [--rerun 1] [--keep]

Writes benchmarks/results/stress_store.csv and prints a Markdown table; exits 1 if any check failed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "results"
SEEDS = (0, 1)  # the quick profile's seeds in step 02
Z = 2
STAGGER = 30.0  # seconds between the starts of the two shards
ENV = {**os.environ, "AELIB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def command(out: Path, families: str, steps: str, *extra: str, epochs: int = 1) -> list[str]:
    return [sys.executable, "-m", "aelib.study.cli", "run", "--n-test", "200", "--z", str(Z), "--epochs", str(epochs),
            "--n-train", "500", "--families", families, "--steps", steps, "--out", str(out), *extra]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "w")
    return subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 900) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return -9


def run(cmd: list[str], log: Path) -> int:
    return finish(start(cmd, log))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the notebook kernel runs in a session of its own, its workers under it)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------------ checks

def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_store(out: Path, families: list[str], expect: dict) -> dict:
    """Lost runs, duplicated rows and mixed rows of ``out`` for the invocation whose settings are ``expect``."""
    from aelib.io import config_hash
    from aelib.study.store import _slug

    problems: list[str] = []
    lost = duplicated = mixed = 0
    runs = out / "runs" / "train"
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []:
        metrics, failed = (folder / "metrics.json").is_file(), (folder / "failed.json").is_file()
        if metrics and failed:
            mixed += 1
            problems.append(f"{folder.name}: failed.json beside metrics.json")
        if metrics:
            config = _json(folder / "config.json") or {}
            config.pop("kind", None)
            if f"{_slug(config)}-{config_hash(config)}" != folder.name:
                mixed += 1
                problems.append(f"{folder.name}: config.json does not hash to the folder's name")
            missing = [n for n in ("model.keras", "history.csv", "test_rmse.npy") if not (folder / n).is_file()]
            if missing:
                mixed += 1
                problems.append(f"{folder.name}: complete without {', '.join(missing)}")
    table_path = out / "tables" / "latent_sweep_runs.csv"
    table = pd.read_csv(table_path, dtype={"setting": str}) if table_path.is_file() else pd.DataFrame()
    if not table.empty:
        keys = ["family", "latent_dim", "seed", "setting"]
        dup = table.duplicated(keys, keep=False)
        duplicated = int(table.duplicated(keys).sum())
        if duplicated:
            problems.append(f"duplicated rows: {table[dup][keys].values.tolist()}")
    found = set()
    for row in table.itertuples():
        record = _json(out / "tables" / "settings" / f"{row.setting}.json")
        if record is None:
            mixed += 1
            problems.append(f"row {row.family} z={row.latent_dim} seed={row.seed}: setting {row.setting} unrecorded")
            continue
        source = record.pop("data_source", None)
        config = {**record, "latent_dim": int(row.latent_dim), "seed": int(row.seed)}
        if "depth" not in config:
            config["depth"] = int(row.depth)
        metrics = _json(runs / f"{_slug(config)}-{config_hash(config)}" / "metrics.json")
        if metrics is None:
            mixed += 1
            problems.append(f"row {row.family} z={row.latent_dim} seed={row.seed}: its run folder is not complete")
            continue
        if not math.isclose(metrics["rmse_mean"], row.rmse_mean, rel_tol=1e-9) or metrics.get("data_source") != source:
            mixed += 1
            problems.append(f"row {row.family} z={row.latent_dim} seed={row.seed}: values are not its run's")
        if all(record.get(k) == v for k, v in expect.items()):
            found.add((row.family, int(row.latent_dim), int(row.seed)))
    wanted = {(f, Z, s) for f in families for s in SEEDS}
    lost = len(wanted - found)
    if lost:
        problems.append(f"lost runs: {sorted(wanted - found)}")
    by_z_path = out / "tables" / "rmse_by_z.csv"
    by_z = pd.read_csv(by_z_path, dtype={"setting": str}) if by_z_path.is_file() else pd.DataFrame()
    for row in by_z.itertuples():
        own = table[(table["family"] == row.family) & (table["latent_dim"] == row.latent_dim)
                    & (table["setting"] == row.setting)]
        if len(own) != row.n_seeds or not math.isclose(own["rmse_mean"].mean(), row.rmse_mean, rel_tol=1e-9):
            mixed += 1
            problems.append(f"rmse_by_z {row.family} z={row.latent_dim} setting {row.setting}: n_seeds={row.n_seeds}, "
                            f"mean {row.rmse_mean:.4f}; its setting's runs: {len(own)}, "
                            f"mean {own['rmse_mean'].mean():.4f}")
    if table.empty and not wanted <= found:
        problems.append("no latent_sweep_runs.csv")
    return {"lost": lost, "duplicated": duplicated, "mixed": mixed, "problems": problems}


def check_summary(out: Path, families: list[str]) -> tuple[str, list[str]]:
    """"complete", "says what is missing", or a problem."""
    report = out / "REPORT.md"
    if not report.is_file():
        return "no REPORT.md", ["no REPORT.md"]
    text = report.read_text()
    summary = out / "summary" / "rmse_by_z.csv"
    shown = set(pd.read_csv(summary)["family"]) if summary.is_file() else set()
    absent = [f for f in families if f not in shown]
    if "## Incomplete study" in text:
        named = text.split("## Incomplete study", 1)[1].split("\n## ", 1)[0]
        unnamed = [f for f in absent if f not in named]
        return ("says what is missing", []) if not unnamed else ("partial", [f"missing {unnamed} not named"])
    if absent:
        return "partial", [f"summary ranks a partial set as complete: {absent} absent"]
    return "complete", []


def ran_count(log: Path) -> int:
    """Runs an invocation trained (the step's "finished in …: N ran" line)."""
    return sum(int(n) for n in re.findall(r"finished in [^:]*: (\d+) ran", log.read_text(errors="replace")))


# ------------------------------------------------------------------ trials

def trial_kill(folder: Path, k: int, n: int, state: dict, rng: random.Random) -> dict:
    out = folder / "out"
    cmd = command(out, "fcae", "02")
    moment = state["window"] * (k + rng.random()) / n  # stratified: the n trials spread over the whole run
    group = k % 2 == 0
    proc = start(cmd, folder / "killed.log")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < moment and proc.poll() is None:
        time.sleep(0.1)
    finished_first = proc.poll() is not None
    if finished_first:  # the window was longer than a whole run now: later trials use this run's length
        state["window"] = min(state["window"], time.perf_counter() - t0)
    tree = process_tree(proc.pid)
    if not finished_first:
        kill(tree if group else [proc.pid])  # a machine that dies, or the main process only
    proc.wait()
    t0 = time.perf_counter()
    code = run(cmd, folder / "rerun.log")
    seconds = time.perf_counter() - t0
    kill([pid for pid in tree if pid != proc.pid])  # whatever the main process left behind
    result = check_store(out, ["fcae"], {"epochs": 1})
    note = f"kill -9 {'tree' if group else 'main pid'} at {moment:.1f}s" + (" (had finished)" if finished_first else "")
    return {"exit_codes": str(code), "ok_exit": code == 0, "seconds": seconds, "note": note, **result}


def trial_shards(folder: Path, k: int) -> dict:
    out = folder / "out"
    families = ["fcae", "cae"]
    t0 = time.perf_counter()
    stagger = STAGGER if k % 2 == 0 else 0.0
    procs = []
    for i in range(2):  # even trials: shard 1 starts later (its summary must wait); odd: both at once (classifier race)
        procs.append(start(command(out, ",".join(families), "02,06,08", "--shard", f"{i}/2"), folder / f"shard{i}.log"))
        time.sleep(stagger if i == 0 else 0)
    codes = [finish(p) for p in procs]
    seconds = time.perf_counter() - t0
    result = check_store(out, families, {"epochs": 1})
    problems = result["problems"]
    classifiers = [p for p in (out / "runs" / "classifier").glob("*") if p.is_dir()]
    if len(classifiers) != 1 or not (classifiers[0] / "metrics.json").is_file():
        problems.append(f"classifier runs: {[p.name for p in classifiers]} (want one, complete)")
    for i in range(2):
        if not (out / "provenance" / f"02_latent_sweep-shard{i}of2.json").is_file():
            problems.append(f"no provenance/02_latent_sweep-shard{i}of2.json")
    gen = out / "tables" / "generative.csv"
    gen_families = set(pd.read_csv(gen)["family"]) if gen.is_file() else set()
    if gen_families != set(families):
        problems.append(f"generative.csv families {sorted(gen_families)}")
    failed = [p.parent.name for p in (out / "runs").glob("*/*/failed.json")]
    if failed:
        problems.append(f"failed runs: {failed}")
    summary, issues = check_summary(out, families)
    problems += issues
    waited = re.search(r"\[summary\] the other processes finished after (\d+)s", (folder / "shard0.log").read_text())
    note = f"steps 02,06,08, shard 1 {stagger:.0f}s later; summary " + (f"waited {waited[1]}s for shard 1" if waited
                                                                         else "did not need to wait")
    return {"exit_codes": ",".join(map(str, codes)), "ok_exit": codes == [0, 0], "seconds": seconds,
            "summary": summary, "note": note, **result}


def trial_pair(folder: Path) -> dict:
    out = folder / "out"
    families = ["fcae", "vanilla"]
    cmd = command(out, ",".join(families), "02,08")
    t0 = time.perf_counter()
    procs = [start(cmd, folder / f"process{i}.log") for i in range(2)]
    codes = [finish(p) for p in procs]
    seconds = time.perf_counter() - t0
    result = check_store(out, families, {"epochs": 1})
    ran = sum(ran_count(folder / f"process{i}.log") for i in range(2))
    if ran != len(families) * len(SEEDS):
        result["problems"].append(f"{ran} trainings for {len(families) * len(SEEDS)} runs (a run trained twice?)")
    failed = [p.parent.name for p in (out / "runs").glob("*/*/failed.json")]
    if failed:
        result["problems"].append(f"failed runs: {failed}")
    summary, issues = check_summary(out, families)
    result["problems"] += issues
    return {"exit_codes": ",".join(map(str, codes)), "ok_exit": codes == [0, 0], "seconds": seconds,
            "summary": summary, "note": f"steps 02,08; {ran} trainings", **result}


def trial_rerun(folder: Path) -> tuple[dict, float]:
    out = folder / "out"
    t0 = time.perf_counter()
    first = run(command(out, "fcae", "02"), folder / "epochs1.log")
    whole = time.perf_counter() - t0
    second = run(command(out, "fcae", "02,08", epochs=2), folder / "epochs2.log")
    seconds = time.perf_counter() - t0
    result = check_store(out, ["fcae"], {"epochs": 2})
    before = check_store(out, ["fcae"], {"epochs": 1})  # the first settings' runs are still there, unmixed
    result["lost"] += before["lost"]
    by_z = pd.read_csv(out / "tables" / "rmse_by_z.csv", dtype={"setting": str})
    if len(by_z) != 2 or set(by_z["n_seeds"]) != {len(SEEDS)}:
        result["problems"].append(f"rmse_by_z: {len(by_z)} rows, n_seeds {sorted(set(by_z['n_seeds']))} "
                                  "(want 2 rows, one per setting, each over 2 seeds)")
    summary, issues = check_summary(out, ["fcae"])
    result["problems"] += issues
    row = {"exit_codes": f"{first},{second}", "ok_exit": [first, second] == [0, 0], "seconds": seconds,
           "summary": summary, "note": "--epochs 1 then --epochs 2", **result}
    return row, whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kill", type=int, default=10, help="kill -9 trials (default 10)")
    parser.add_argument("--shards", type=int, default=3, help="trials of two sharded processes (default 3)")
    parser.add_argument("--pair", type=int, default=3, help="trials of two unsharded processes on one folder (3)")
    parser.add_argument("--rerun", type=int, default=1, help="reruns with changed settings (default 1)")
    parser.add_argument("--window", type=float, help="seconds over which the kills are spread (default: the "
                                                     "length of the first rerun trial's first run, else 90)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--keep", action="store_true", help="keep every trial's folder (failed ones are kept anyway)")
    args = parser.parse_args()
    for name in ("kill", "shards", "pair", "rerun"):
        if getattr(args, name) < 0:
            parser.error(f"expected --{name} >= 0. Received: {getattr(args, name)}")
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="aelib-stress-"))
    rows, window = [], args.window
    start_all = time.perf_counter()

    def record(scenario: str, k: int, fn, *fn_args) -> None:
        folder = root / f"{scenario}{k}"
        folder.mkdir()
        out = fn(folder, *fn_args)
        row = {"scenario": scenario, "trial": k, "summary": "–", **out}
        row["ok"] = row["ok_exit"] and not row["problems"] and not (row["lost"] or row["duplicated"] or row["mixed"])
        row["problems"] = "; ".join(row["problems"])
        rows.append(row)
        print(f"{scenario} {k}: {'ok' if row['ok'] else 'FAILED'} in {row['seconds']:.0f}s ({row['note']}; exit "
              f"{row['exit_codes']}; lost {row['lost']}, duplicated {row['duplicated']}, mixed {row['mixed']}; "
              f"summary {row['summary']})" + (f" — {row['problems']} (kept in {folder})" if not row["ok"] else ""),
              flush=True)
        if row["ok"] and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    for k in range(args.rerun):
        def rerun(folder):
            nonlocal window
            row, whole = trial_rerun(folder)
            window = window or whole
            return row
        record("rerun", k, rerun)
    state = {"window": window or 90.0}
    for k in range(args.kill):
        record("kill", k, trial_kill, k, args.kill, state, rng)
    for k in range(args.shards):
        record("shards", k, trial_shards, k)
    for k in range(args.pair):
        record("pair", k, trial_pair)

    if not rows:
        shutil.rmtree(root, ignore_errors=True)
        parser.error("expected at least one trial (all of --kill, --shards, --pair and --rerun are 0)")
    frame = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    frame.to_csv(OUT / "stress_store.csv", index=False)
    total = time.perf_counter() - start_all
    shown = frame[["scenario", "trial", "ok", "exit_codes", "lost", "duplicated", "mixed", "summary", "seconds",
                   "note"]]
    print(f"\n{len(frame)} trials in {total / 60:.1f} min, {int(frame['ok'].sum())} passed "
          f"(kill window {window or 90:.0f}s, last {state['window']:.0f}s); folders under {root}\n")
    print(shown.to_markdown(index=False, floatfmt=".0f"))
    if frame["ok"].all() and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if frame["ok"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
