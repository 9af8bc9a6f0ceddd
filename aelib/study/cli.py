"""Run the study's step notebooks through papermill.

    python -m aelib.study.cli run [--profile quick] [--families fcae,vae] [--steps 02,04]
                                  [--z 2,10,40] [--dataset mnist] [--out results/quick]
                                  [--shard i/n] [--executor local|slurm] [--dry-run]

Every step writes into the same resumable run store, so a study that was
interrupted (kill -9 included) is simply started again: complete runs are
skipped, half-written ones redone. A failing step is recorded and the others
go on; the exit status is non-zero if anything failed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aelib.models import list_models
from aelib.study.profiles import PROFILES, STEPS, step_parameters
from aelib.study.progress import _fmt
from aelib.study.store import atomic_write_json

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
# Steps that are not per family: they run once (on shard 0 when sharded).
STUDY_WIDE = {"07_augmentation", "08_summary"}
# Share of each step in the wall time of the quick profile (all ten families),
# measured on two CPU cores; the estimate of the time left across steps scales
# these by the time the finished steps actually took.
STEP_COST = {
    "01_architecture": 121, "02_latent_sweep": 677, "03_reconstruction": 24, "04_latent_space": 91,
    "05_ood_reconstruction": 85, "06_generative": 60, "07_augmentation": 121, "08_summary": 10,
}


def unit_cost(unit: dict) -> float:
    """Expected relative cost of a step unit: the step's share, scaled by its number of families."""
    cost = STEP_COST.get(unit["step"], 60)
    families = unit["parameters"].get("families") or []
    if unit["step"] not in STUDY_WIDE and unit["step"] != "01_architecture" and families:
        cost *= len(families) / 10
    return cost


def time_left(units: list[dict], n_done: int, elapsed: float) -> float | None:
    """Seconds left for ``units[n_done:]``, from the time the first ``n_done`` took."""
    done_cost = sum(unit_cost(u) for u in units[:n_done])
    if n_done == 0 or done_cost <= 0 or elapsed <= 0:
        return None
    return elapsed / done_cost * sum(unit_cost(u) for u in units[n_done:])


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ValueError(f"Expected --shard as i/n with 0 <= i < n. Received: {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"Expected --shard as i/n with 0 <= i < n. Received: {text!r}")
    return i, n


def shard_families(families: list[str], shard: tuple[int, int]) -> list[str]:
    """Families of shard ``i`` of ``n``: all steps of a family stay in one shard,
    so no two shards ever train the same run."""
    i, n = shard
    return [f for k, f in enumerate(families) if k % n == i]


def resolve_steps(text: str | None) -> list[str]:
    if not text or text == "all":
        return list(STEPS)
    out = []
    for part in text.split(","):
        part = part.strip()
        match = [s for s in STEPS if s == part or s.startswith(part.zfill(2) + "_") or s.split("_", 1)[1] == part]
        if not match:
            raise ValueError(f"Unknown step {part!r}. Known steps: {', '.join(STEPS)} (or their numbers 01–08)")
        out.extend(m for m in match if m not in out)
    return out


def resolve_families(text: str | None) -> list[str]:
    known = list_models()
    if not text or text == "all":
        return known
    families = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in families if f not in known]
    if unknown:
        raise ValueError(f"Unknown families {unknown}. Known families: {', '.join(known)}")
    return families


def plan(args) -> list[dict]:
    """The (step, families, parameters) units this invocation runs."""
    steps = resolve_steps(args.steps)
    families = shard_families(resolve_families(args.families), parse_shard(args.shard))
    overrides: dict = {}
    if args.z:
        overrides["z_values"] = [int(v) for v in args.z.split(",")]
    if args.dataset:
        overrides["dataset"] = args.dataset
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.n_train:
        overrides["n_train"] = args.n_train
    if args.n_test:
        overrides["n_test"] = args.n_test
    if args.seeds:
        overrides["seeds"] = [int(v) for v in args.seeds.split(",")]
    out_dir = Path(args.out or REPO / "results" / args.profile).resolve()
    overrides["out_dir"] = str(out_dir)
    shard_index, n_shards = parse_shard(args.shard)
    units = []
    for step in steps:
        if step in STUDY_WIDE and shard_index != 0:
            continue
        params = step_parameters(args.profile, step, overrides)
        params["families"] = families if step not in STUDY_WIDE else resolve_families(args.families)
        if not params["families"]:
            continue
        units.append({"step": step, "parameters": params, "out_dir": str(out_dir)})
    return units


def execute_unit(unit: dict, *, tag: str = "") -> dict:
    """Execute one step notebook with papermill; returns a status record."""
    import papermill as pm

    step = unit["step"]
    out_dir = Path(unit["out_dir"])
    executed = out_dir / "executed" / f"{step}{tag}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(NOTEBOOKS / f"{step}.ipynb"), str(executed), parameters=unit["parameters"], log_output=True,
            stdout_file=sys.stdout, stderr_file=sys.stderr, progress_bar=False, cwd=str(REPO), kernel_name="python3",
        )
        status, error = "complete", None
    except Exception as err:  # papermill raises after writing the executed notebook
        status = "failed"
        error = str(err).strip().splitlines()[-1][:500] if str(err).strip() else type(err).__name__
    return {"step": step, "status": status, "error": error, "seconds": time.perf_counter() - start,
            "executed": str(executed), "families": unit["parameters"].get("families")}


def run_local(units: list[dict], *, tag: str = "") -> list[dict]:
    records = []
    start = time.perf_counter()
    for i, unit in enumerate(units):
        left = time_left(units, i, time.perf_counter() - start)
        eta = f", about {_fmt(left)} left for the study" if left is not None else ""
        fams = unit["parameters"].get("arch_families") or unit["parameters"].get("families")
        print(f"\n=== step {i + 1}/{len(units)}: {unit['step']} — families {','.join(fams)}{eta} ===", flush=True)
        record = execute_unit(unit, tag=tag)
        print(f"=== {unit['step']}: {record['status']} in {_fmt(record['seconds'])}"
              + (f" — {record['error']}" if record["error"] else "") + " ===", flush=True)
        records.append(record)
    return records


def run_slurm(units: list[dict], args) -> list[dict]:
    """One Slurm job per (family, step) unit, submitted as a job array per step;
    steps run in order because later steps reuse earlier steps' models."""
    import submitit

    folder = Path(units[0]["out_dir"]) / "slurm_logs" if units else Path("slurm_logs")
    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm" if args.executor == "slurm" else "local")
    executor.update_parameters(timeout_min=args.timeout_min, slurm_array_parallelism=args.array_parallelism)
    if args.executor == "slurm":
        extra = {"slurm_partition": args.partition} if args.partition else {}
        executor.update_parameters(gpus_per_node=args.gpus, cpus_per_task=args.cpus, **extra)
    records = []
    for unit in units:
        jobs_units = []
        families = unit["parameters"]["families"]
        per_family = unit["step"] not in STUDY_WIDE
        for family in (families if per_family else [None]):
            u = json.loads(json.dumps(unit))
            if family is not None:
                u["parameters"]["families"] = [family]
            jobs_units.append((u, f"-{family}" if family else ""))
        print(f"=== {unit['step']}: submitting {len(jobs_units)} job(s) to {args.executor} (logs in {folder}) ===", flush=True)
        jobs = executor.map_array(execute_unit_tagged, [u for u, _ in jobs_units], [t for _, t in jobs_units])
        for job in jobs:
            try:
                record = job.result()
            except Exception as err:
                record = {"step": unit["step"], "status": "failed", "error": f"job {job.job_id}: {err}"[:500], "seconds": 0.0}
            records.append(record)
            print(f"    job {job.job_id}: {record['status']}" + (f" — {record['error']}" if record.get("error") else ""), flush=True)
    return records


def execute_unit_tagged(unit: dict, tag: str) -> dict:
    return execute_unit(unit, tag=tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aelib.study.cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run step notebooks")
    run.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    run.add_argument("--families", help="comma-separated family keys, or 'all' (default)")
    run.add_argument("--steps", help="comma-separated steps (numbers or names), or 'all' (default)")
    run.add_argument("--z", help="comma-separated latent sizes, replacing the profile's grid")
    run.add_argument("--dataset", help="training dataset: mnist (default), fashion_mnist, emnist_letters")
    run.add_argument("--epochs", type=int, help="maximum epochs, replacing the profile's")
    run.add_argument("--n-train", type=int, help="training samples (stratified subset; default: the whole split)")
    run.add_argument("--n-test", type=int, help="test samples (stratified subset; default: the whole split)")
    run.add_argument("--seeds", help="comma-separated seeds, replacing the profile's")
    run.add_argument("--out", help="results folder (default results/<profile>); e.g. a Google Drive folder")
    run.add_argument("--shard", help="i/n: run only shard i of n (families split round-robin)")
    run.add_argument("--executor", default="local", choices=["local", "slurm", "submitit-local"],  # submitit-local: jobs as local processes
                     help="where the step units run (default: here, one after another)")
    run.add_argument("--partition", help="Slurm partition")
    run.add_argument("--gpus", type=int, default=1, help="GPUs per Slurm job")
    run.add_argument("--cpus", type=int, default=4, help="CPUs per Slurm job")
    run.add_argument("--timeout-min", type=int, default=240, help="time limit per Slurm job (minutes)")
    run.add_argument("--array-parallelism", type=int, default=16, help="Slurm jobs of one array running at once")
    run.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    try:
        units = plan(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        for unit in units:
            print(unit["step"], json.dumps(unit["parameters"]))
        return 0
    start = time.perf_counter()
    print(f"aelib study: profile {args.profile}, {len(units)} step(s), results in {units[0]['out_dir'] if units else '-'}", flush=True)
    tag = f"-shard{args.shard.replace('/', 'of')}" if args.shard else ""
    if args.executor == "local":
        records = run_local(units, tag=tag)
    else:
        records = run_slurm(units, args)
    failed = [r for r in records if r["status"] != "complete"]
    total = time.perf_counter() - start
    print(f"\nStudy finished in {_fmt(total)}: {len(records) - len(failed)} step run(s) complete, {len(failed)} failed.")
    for r in failed:
        print(f"  FAILED {r['step']}: {r.get('error')} (see {r.get('executed')})")
    if units:
        provenance = Path(units[0]["out_dir"]) / "provenance"
        record = {"profile": args.profile, "argv": sys.argv[1:] if argv is None else argv,
                  "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": total, "steps": records}
        atomic_write_json(provenance / f"study{tag}.json", record)  # the latest invocation
        with open(provenance / "invocations.jsonl", "a", encoding="utf-8") as log:  # every invocation, one line each
            log.write(json.dumps({**record, "steps": [{k: r.get(k) for k in ("step", "status", "seconds")} for r in records]}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
