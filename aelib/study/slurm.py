"""Submitting step units as Slurm jobs through submitit (``--executor slurm`` or ``submitit-local``).

One job per (family, step) unit, a job array per step; each job executes its
notebook as :func:`aelib.study.execution.execute_unit` does locally, and
requeues itself when preempted or out of time.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from aelib.study import steps
from aelib.study.execution import execute_unit, print_failed_runs

# Options that only a Slurm job takes (`--executor slurm`).
SLURM_ONLY = ("account", "mem", "setup")


def make_executor(args: argparse.Namespace, folder: Path) -> Any:
    """The submitit executor of ``--executor slurm`` or ``submitit-local`` with the run's job options."""
    import submitit  # an optional dependency, for --executor slurm or submitit-local only

    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm" if args.executor == "slurm" else "local")
    executor.update_parameters(timeout_min=args.time, slurm_array_parallelism=args.array_parallelism)
    if args.executor == "slurm":  # submitit drops the options left at None
        executor.update_parameters(gpus_per_node=args.gpus, cpus_per_task=args.cpus, slurm_partition=args.partition,
                                   slurm_account=args.account, slurm_mem=args.mem, slurm_setup=args.setup)
    return executor


class UnitJob:
    """One step unit as a submitit job that requeues itself.

    On preemption or timeout submitit calls ``checkpoint`` and requeues what it
    returns: the same unit again. That is safe and loses little, because the
    rerun skips the runs already complete and redoes only the one cut short.
    (Timeouts requeue up to submitit's limit, 3 by default; preemptions always.)
    """

    def __call__(self, unit: dict, tag: str) -> dict:
        return execute_unit(unit, tag=tag)

    def checkpoint(self, unit: dict, tag: str) -> Any:
        from submitit.helpers import DelayedSubmission  # optional, as in make_executor

        return DelayedSubmission(self, unit, tag)


def run_slurm(units: list[dict], args: argparse.Namespace) -> list[dict]:
    """One Slurm job per (family, step) unit, submitted as a job array per step;
    steps run in order because later steps reuse earlier steps' models."""
    folder = Path(units[0]["out_dir"]) / "slurm_logs" if units else Path("slurm_logs")
    executor = make_executor(args, folder)
    records = []
    for unit in units:
        jobs_units = []
        families = unit["parameters"]["families"]
        per_family = steps.get(unit["step"]).scope == "family"
        for family in (families if per_family else [None]):
            u = json.loads(json.dumps(unit))
            if family is not None:
                u["parameters"]["families"] = [family]
            jobs_units.append((u, f"-{family}" if family else ""))
        print(f"=== {unit['step']}: submitting {len(jobs_units)} job(s) to {args.executor} (logs in {folder}) ===",
              flush=True)
        jobs = executor.map_array(UnitJob(), [u for u, _ in jobs_units], [t for _, t in jobs_units])
        for job in jobs:
            try:
                record = job.result()
            except Exception as err:  # noqa: BLE001 -- whatever the job raised fails that job only
                record = {"step": unit["step"], "status": "failed", "error": f"job {job.job_id}: {err}"[:500],
                          "seconds": 0.0}
            records.append(record)
            error = f" — {record['error']}" if record.get("error") else ""
            print(f"    job {job.job_id}: {record['status']}{error}", flush=True)
            print_failed_runs(record)
    return records
