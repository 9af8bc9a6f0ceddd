"""Run the study's step notebooks through papermill.

    aelib run [--profile quick] [--families fcae,vae] [--steps 02,04] [--z 2,10,40]
              [--dataset mnist] [--out results/quick] [--shard i/n] [--executor local|slurm] [--dry-run]
    aelib list                      # families with their options, steps, profiles with their parameters
    aelib report [--out DIR]        # rebuild the summary (step 08: tables, figures, REPORT.md)
    aelib plan --session-hours 12   # split the training into sessions of that length (an estimate)
    aelib check [--out DIR] [--repair]   # verify every run folder; quarantine damaged ones

``aelib`` is the installed command; ``python -m aelib.study.cli`` is the same.

Every step writes into the same resumable run store, so a study that was
interrupted (kill -9 included) is simply started again: complete runs are
skipped, half-written ones redone. A failing step is recorded and the others
go on; the exit status is non-zero if anything failed.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.resources
import json
import math
import os
import re
import shlex
import sys
import time
from pathlib import Path

from aelib.io import atomic_write_json
from aelib.study.integrity import (INVOCATION_ENV, STEP_ENV, describe_failure, explain, failure_log_size,
                                   new_invocation_id, read_failures)
from aelib.study.profiles import PROFILES, STEPS, step_parameters
from aelib.study.progress import _fmt

REPO = Path(__file__).resolve().parents[2]
# Running from a checkout (the source tree or an editable install): its notebooks/
# folder is the committed source. An installed package carries them as aelib/notebooks/.
IN_CHECKOUT = (REPO / "pyproject.toml").is_file() and (REPO / "notebooks").is_dir() and (REPO / "aelib").is_dir()


def notebooks_dir() -> Path:
    """The folder of the step notebooks: the checkout's, else the installed package's."""
    if IN_CHECKOUT:
        return REPO / "notebooks"
    packaged = Path(str(importlib.resources.files("aelib") / "notebooks"))
    if not packaged.is_dir():
        raise FileNotFoundError(f"The step notebooks are missing: neither {REPO / 'notebooks'} nor {packaged} exists. "
                                "Reinstall aelib (pip install --force-reinstall aelib).")
    return packaged


def work_dir() -> Path:
    """Where relative paths start: the checkout's root, else the current directory."""
    return REPO if IN_CHECKOUT else Path.cwd()


def default_out(profile: str) -> Path:
    """``results/<profile>`` of the checkout, else under the current directory."""
    return work_dir() / "results" / profile


# Steps that are not per family: they run once (on shard 0 when sharded).
STUDY_WIDE = {"07_augmentation", "08_summary"}
# Share of each step in the wall time of the quick profile (all ten families),
# measured on two CPU cores; the estimate of the time left across steps scales
# these by the time the finished steps actually took.
STEP_COST = {
    "01_architecture": 1546, "02_latent_sweep": 4074, "03_reconstruction": 28, "04_latent_space": 94,
    "05_ood_reconstruction": 94, "06_generative": 224, "07_augmentation": 180, "08_summary": 14,
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


def parse_time(text: str) -> int:
    """Minutes for ``--time``: minutes ("90"), H:MM:SS ("12:00:00") or D-H:MM:SS ("1-12:00:00"), rounded up."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})", text.strip())
    if text.strip().isdigit():
        minutes = int(text)
    elif match and int(match[3]) < 60 and int(match[4]) < 60:
        days, hours, mins, secs = (int(g or 0) for g in match.groups())
        minutes = math.ceil(((days * 24 + hours) * 60 + mins) + secs / 60)
    else:
        raise argparse.ArgumentTypeError(f"expected minutes (90), H:MM:SS (12:00:00) or D-H:MM:SS (1-12:00:00). "
                                         f"Received: {text!r}")
    if minutes < 1:
        raise argparse.ArgumentTypeError(f"expected a time limit of at least 1 minute. Received: {text!r}")
    return minutes


def parse_mem(text: str) -> str:
    """Slurm's ``--mem`` for ``--mem``: an integer with K, M, G or T (a B after it is allowed); no unit means G."""
    match = re.fullmatch(r"(\d+)\s*(?:([KMGT])B?)?", text.strip(), re.I)
    if not match or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(f"expected memory per job as an integer with K, M, G or T, e.g. 32G or "
                                         f"500M (no unit: G). Received: {text!r}")
    return f"{int(match[1])}{(match[2] or 'G').upper()}"


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
    from aelib.models import list_models  # imports TensorFlow: not needed for --help

    known = list_models()
    if not text or text == "all":
        return known
    families = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in families if f not in known]
    if unknown:
        raise ValueError(f"Unknown families {unknown}. Known families: {', '.join(known)}")
    return families


def _int_list(name: str, text: str, *, minimum: int) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"Expected --{name} as comma-separated integers. Received: {text!r}") from None
    if not values or min(values) < minimum:
        raise ValueError(f"Expected --{name} as comma-separated integers >= {minimum}. Received: {text!r}")
    return values


# Smallest values of the numeric options (and why, where it is not obvious).
MINIMUM = {"epochs": 1, "n_train": 2, "n_test": 1}
MINIMUM_WHY = {"n_train": " (training holds out a validation split and trains on the rest)"}
IMAGE_VALUES = 28 * 28  # every data set of aelib.data is 28 × 28 grayscale


def resolve_dataset(text: str) -> str:
    """The data set key of ``--dataset`` (case and - or _ as in aelib.data), or a ValueError listing the known ones."""
    from aelib.data import list_datasets

    key = text.strip().lower().replace("-", "_")
    if key not in list_datasets():
        raise ValueError(f"Unknown --dataset {text!r}. Known data sets: {', '.join(list_datasets())}")
    return key


def check_z_fits(z_values: list[int], families: list[str]) -> list[int]:
    """``z_values`` if every family can have a code that large for a 28 × 28 image (see ``max_latent_ratio``)."""
    from aelib.models import get_model_class

    for family in families:
        largest = int(IMAGE_VALUES * get_model_class(family).max_latent_ratio)
        too_big = [z for z in z_values if z > largest]
        if too_big:
            raise ValueError(f"Expected --z values <= {largest} for family {family} (28 × 28 = {IMAGE_VALUES} pixel "
                             f"values). Received: {','.join(map(str, too_big))}")
    return z_values


def check_out_dir(out_dir: Path) -> None:
    """A results folder that can be created and written, before anything runs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out must be a folder. Received: {out_dir} (a file). Choose another path.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"Cannot write results to --out {out_dir}: {err.strerror or err}. "
                         "Choose a writable folder (and free disk space).") from None


def plan(args) -> list[dict]:
    """The (step, families, parameters) units this invocation runs."""
    for name in ("families", "steps", "z", "seeds", "dataset", "out"):  # given but empty: never "everything"
        value = getattr(args, name, None)
        if value is not None and not value.strip(" ,"):
            raise ValueError(f"Expected a value for --{name.replace('_', '-')}. Received: {value!r} "
                             "(leave the option out for the profile's default)")
    steps = resolve_steps(args.steps)
    families = shard_families(resolve_families(args.families), parse_shard(args.shard))
    overrides: dict = {}
    if args.z is not None:
        overrides["z_values"] = check_z_fits(_int_list("z", args.z, minimum=1), resolve_families(args.families))
    if args.dataset is not None:
        overrides["dataset"] = resolve_dataset(args.dataset)
    for name in ("epochs", "n_train", "n_test"):
        value = getattr(args, name)
        if value is not None:
            if value < MINIMUM[name]:
                raise ValueError(f"Expected --{name.replace('_', '-')} >= {MINIMUM[name]}{MINIMUM_WHY.get(name, '')}. "
                                 f"Received: {value}")
            overrides[name] = value
    if args.seeds is not None:
        overrides["seeds"] = _int_list("seeds", args.seeds, minimum=0)
    out_dir = Path(args.out or default_out(args.profile)).resolve()
    if not getattr(args, "dry_run", False):
        check_out_dir(out_dir)
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
    offset = failure_log_size(out_dir)
    previous = os.environ.get(STEP_ENV)
    os.environ[STEP_ENV] = step  # the kernel inherits it: failed runs are logged under this step
    try:
        pm.execute_notebook(
            str(notebooks_dir() / f"{step}.ipynb"), str(executed), parameters=unit["parameters"], log_output=True,
            stdout_file=sys.stdout, stderr_file=sys.stderr, progress_bar=False, cwd=str(work_dir()),
            kernel_name="python3",
        )
        status, error = "complete", None
    except Exception as err:  # papermill raises after writing the executed notebook
        status = "failed"
        error = step_error(err)
    finally:
        if previous is None:
            os.environ.pop(STEP_ENV, None)
        else:
            os.environ[STEP_ENV] = previous
    failed_runs = read_failures(out_dir, invocation=os.environ.get(INVOCATION_ENV), step=step, offset=offset)
    return {"step": step, "status": status, "error": error, "seconds": time.perf_counter() - start,
            "executed": str(executed), "families": unit["parameters"].get("families"),
            "failed_runs": [describe_failure(e, out_dir) for e in failed_runs]}


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def step_error(err: Exception) -> str:
    """One line for a failed step notebook: the exception the notebook raised (papermill's ename and evalue), a
    disk-full or permission error said plainly."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        text = ANSI.sub("", str(evalue or "")).strip()
        if ename in ("OSError", "PermissionError") and re.search(r"\[Errno (28|13|1|30|122)\]", text):
            errno_, path = re.search(r"\[Errno (\d+)\]", text)[1], re.search(r"'([^']+)'\s*$", text)
            folder = Path(path[1]).parent if path and os.path.isabs(path[1]) else None
            error = OSError(int(errno_), os.strerror(int(errno_)), path[1] if path else None)
            return explain(error, folder=folder)[:500]
        return f"{ename}: {text.splitlines()[0] if text else ''}"[:500]
    text = ANSI.sub("", str(err)).strip()
    return text.splitlines()[-1][:500] if text else type(err).__name__


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
        print_failed_runs(record)
        records.append(record)
    return records


def print_failed_runs(record: dict, limit: int = 10) -> None:
    """The failed runs of a step, one line each (run, folder, cause), at the end of the step."""
    runs = record.get("failed_runs") or []
    if not runs:
        return
    print(f"    {len(runs)} run(s) failed in {record['step']} (all of them in provenance/failures.jsonl):", flush=True)
    for line in runs[:limit]:
        print(f"      - {line}", flush=True)
    if len(runs) > limit:
        print(f"      … and {len(runs) - limit} more", flush=True)


@contextlib.contextmanager
def invocation_scope():
    """An id for this invocation in ``AELIB_INVOCATION_ID``, which its step notebooks inherit: the runs they fail
    are logged under it, and REPORT.md lists the failures of the invocation that wrote it."""
    previous = os.environ.get(INVOCATION_ENV)
    os.environ[INVOCATION_ENV] = new_invocation_id()
    try:
        yield os.environ[INVOCATION_ENV]
    finally:
        if previous is None:
            os.environ.pop(INVOCATION_ENV, None)
        else:
            os.environ[INVOCATION_ENV] = previous


# Options that only a Slurm job takes (`--executor slurm`).
SLURM_ONLY = ("account", "mem", "setup")


def make_executor(args: argparse.Namespace, folder: Path):
    """The submitit executor of ``--executor slurm`` or ``submitit-local`` with the run's job options."""
    import submitit

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

    def checkpoint(self, unit: dict, tag: str):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, unit, tag)


def run_slurm(units: list[dict], args) -> list[dict]:
    """One Slurm job per (family, step) unit, submitted as a job array per step;
    steps run in order because later steps reuse earlier steps' models."""
    folder = Path(units[0]["out_dir"]) / "slurm_logs" if units else Path("slurm_logs")
    executor = make_executor(args, folder)
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
        jobs = executor.map_array(UnitJob(), [u for u, _ in jobs_units], [t for _, t in jobs_units])
        for job in jobs:
            try:
                record = job.result()
            except Exception as err:
                record = {"step": unit["step"], "status": "failed", "error": f"job {job.job_id}: {err}"[:500], "seconds": 0.0}
            records.append(record)
            print(f"    job {job.job_id}: {record['status']}" + (f" — {record['error']}" if record.get("error") else ""), flush=True)
            print_failed_runs(record)
    return records


EXAMPLES = """examples:
  aelib run                                  # quick profile: every family and step, offline on CPUs
  aelib run --families fcae,vae --steps 02,04 --z 2,40
  aelib run --profile thesis --out /content/drive/MyDrive/aelib   # the seed's grids (GPU), results on Drive
  aelib run --shard 0/3                      # this machine's third of the families
  aelib run --executor slurm --partition gpu --account proj --mem 32G --time 12:00:00 \\
            --setup "module load cuda"       # one Slurm job per (family, step), requeued when preempted
  aelib plan --session-hours 12 --gpu-speedup 20   # the thesis profile in 12-hour sessions (an estimate)
  aelib run --dry-run                        # print the plan
  aelib list                                 # families and their options, steps, profiles
  aelib report --out results/quick           # rebuild tables, figures and REPORT.md (step 08)

Results go to results/<profile> of the checkout when aelib runs from one,
else to ./results/<profile> under the current directory."""


def _study_options(parser: argparse.ArgumentParser, *, profile_default: str | None) -> None:
    """Options that say what the study is: shared by ``run`` and ``report``."""
    parser.add_argument("--profile", default=profile_default, choices=sorted(PROFILES),
                        help="grids and training settings: quick (offline, CPU) or thesis (the seed's grids, GPU) "
                             f"(default: {profile_default or 'that of the last run, else quick'})")
    parser.add_argument("--families", help="comma-separated family keys (see `aelib list`) (default: all)")
    parser.add_argument("--z", help="comma-separated latent sizes (default: the profile's grid)")
    parser.add_argument("--dataset", help="training dataset: mnist, fashion_mnist, emnist_letters (default: mnist)")
    parser.add_argument("--epochs", type=int,
                        help="maximum epochs; training stops at convergence (default: the profile's)")
    parser.add_argument("--n-train", type=int, help="training samples, a stratified subset (default: the whole split)")
    parser.add_argument("--n-test", type=int, help="test samples, a stratified subset (default: the whole split)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    parser.add_argument("--out", help="results folder, e.g. a Google Drive folder (default: results/<profile>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aelib", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,list,report,plan,check}")
    run = sub.add_parser("run", help="run the step notebooks (resumable)", epilog=EXAMPLES,
                         description="Run the study's step notebooks through papermill; complete runs are skipped.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _study_options(run, profile_default="quick")
    run.add_argument("--steps", help="comma-separated steps, names or numbers 01-08 (default: all)")
    run.add_argument("--shard", help="i/n: run only shard i of n, families split round-robin (default: 0/1)")
    run.add_argument("--executor", default="local", choices=["local", "slurm", "submitit-local"],  # submitit-local: jobs as local processes
                     help="where the step units run (default: local, one after another)")
    run.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    run.add_argument("--gpus", type=int, default=1, help="GPUs per Slurm job (default: 1)")
    run.add_argument("--cpus", type=int, default=4, help="CPUs per Slurm job (default: 4)")
    run.add_argument("--time", "--timeout-min", type=parse_time, default=240, metavar="TIME",
                     help="time limit per job: minutes, H:MM:SS or D-H:MM:SS; a job that reaches it is requeued (up "
                          "to 3 times) and resumes (default: 240)")
    run.add_argument("--account", help="Slurm account to charge (default: yours)")
    run.add_argument("--mem", type=parse_mem, help="memory per Slurm job, e.g. 32G or 500M (default: the cluster's)")
    run.add_argument("--setup", action="append", metavar="COMMAND",
                     help="shell line run before each Slurm job, e.g. 'module load cuda/12.2'; repeat it for "
                          "several, or join them with ';'")
    run.add_argument("--array-parallelism", type=int, default=16,
                     help="Slurm jobs of one array running at once (default: 16)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    sub.add_parser("list", help="families with their options and defaults, steps, profiles with their parameters",
                   description="List the families (with their options and defaults), the steps and the profiles.")
    report = sub.add_parser(
        "report", help="rebuild the summary (step 08) from the runs in a results folder",
        description="Rebuild the consolidated tables, figures and REPORT.md (step 08) from the complete runs in "
                    "--out, without training. Options not given are those of the folder's last `run` (from "
                    "provenance/invocations.jsonl), so the summary picks the same settings' rows.",
        epilog="examples:\n  aelib report                          # results/quick\n"
               "  aelib report --out /content/drive/MyDrive/aelib",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _study_options(report, profile_default=None)
    check = sub.add_parser(
        "check", help="verify every run folder of a results folder; --repair quarantines the damaged ones",
        description="Verify every run folder under --out/runs: config.json, metrics.json, history and the other "
                    "files parse, the saved models load, and the configuration hashes to the folder's name. "
                    "Report damaged runs and temporary files left by killed writes; with --repair move the "
                    "damaged runs to --out/quarantine/ (the next `aelib run` redoes them) and delete those files. "
                    "Exit status 1 when damage was found and not repaired.",
        epilog="examples:\n  aelib check --out results/quick\n  aelib check --out results/quick --repair --no-models",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--out", help="results folder (default: results/<profile>)")
    check.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                       help="whose default results folder to check when --out is not given (default: quick)")
    check.add_argument("--repair", action="store_true",
                       help="move damaged runs to <out>/quarantine/ and delete stale temporary files")
    check.add_argument("--no-models", dest="models", action="store_false",
                       help="check that the saved models are whole archives without loading them (faster)")
    check.add_argument("--tmp-age", type=float, default=5.0, metavar="MINUTES",
                       help="a temporary file (.<name>.*.tmp) older than this was left by a killed write "
                            "(default: 5)")
    session = sub.add_parser(
        "plan", help="split the profile's training into sessions of a given length (an estimate)",
        description="Estimate the training time of each family (FAMILY_COST × models × a measured scale) and pack "
                    "the families into the fewest sessions that fit; print one `aelib run` command per session.",
        epilog="examples:\n  aelib plan --session-hours 12                         # thesis profile, measured scale\n"
               "  aelib plan --session-hours 12 --gpu-speedup 20        # sessions on a GPU\n"
               "  aelib plan --session-hours 4 --seconds-per-unit 30    # 30 s per fcae model on that machine",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    session.add_argument("--session-hours", type=float, required=True, help="length of one session in hours")
    session.add_argument("--profile", default="thesis", choices=sorted(PROFILES), help="(default: thesis)")
    session.add_argument("--families", help="comma-separated family keys (default: all)")
    session.add_argument("--z", help="comma-separated latent sizes (default: the profile's grid)")
    session.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    session.add_argument("--out", help="the results folder the sessions share, passed on to their commands")
    session.add_argument("--gpu-speedup", type=float, default=1.0,
                         help="how many times faster the sessions' machine trains than the measured one (default: 1)")
    session.add_argument("--seconds-per-unit", type=float,
                         help="seconds one fcae model takes to converge (cost 1); replaces the measured scale")
    session.add_argument("--from", dest="measured",
                         help="results folder whose tables/latent_sweep_runs.csv gives the scale "
                              "(default: results/<profile> if it has that table, else results/quick)")
    session.add_argument("--fill", type=float, default=0.8,
                         help="share of a session the estimated training may fill; the rest is for the analysis "
                              "steps, start-up and the estimate's error (default: 0.8)")
    return parser


def last_run_options(out_dir: Path, parser: argparse.ArgumentParser) -> argparse.Namespace | None:
    """The options of the last ``run`` logged in ``out_dir/provenance/invocations.jsonl``, or None."""
    log = out_dir / "provenance" / "invocations.jsonl"
    if not log.is_file():
        return None
    for line in reversed(log.read_text(encoding="utf-8").splitlines()):
        try:
            argv = json.loads(line).get("argv") or []
        except ValueError:
            continue
        if argv[:1] == ["run"]:
            try:
                return parser.parse_args(argv)
            except SystemExit:  # options of an older version
                return None
    return None


def report_unit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """The step-08 unit for ``aelib report``: given options, else the last run's, else the profile's."""
    out_dir = Path(args.out or default_out(args.profile or "quick")).resolve()
    if not (out_dir / "tables").is_dir():
        raise ValueError(f"No study results in {out_dir} (no tables/ folder). Run `aelib run --out {out_dir}` first, "
                         "or pass the results folder with --out.")
    last = last_run_options(out_dir, parser)
    names = ("profile", "families", "z", "dataset", "epochs", "n_train", "n_test", "seeds")
    merged = {name: getattr(args, name) if getattr(args, name) is not None else getattr(last, name, None)
              for name in names}
    merged["profile"] = merged["profile"] or "quick"
    inherited = [name for name in names if getattr(args, name) is None and getattr(last, name, None) is not None]
    if inherited:
        print("aelib report: options of the last run: "
              + " ".join(f"--{n.replace('_', '-')} {merged[n]}" for n in inherited), flush=True)
    ns = argparse.Namespace(**merged, steps="08", out=str(out_dir), shard=None, dry_run=False)
    return plan(ns)[0]


def summarize(unit: dict) -> Path:
    """Step 08 in this process, as its notebook runs it; returns the REPORT.md path."""
    from aelib.study.steps.summary import run as summarize_study
    from aelib.study.study import Study, check_families

    params = unit["parameters"]
    fields = {f.name for f in dataclasses.fields(Study) if f.init and f.name != "out_dir"}
    study = Study(Path(unit["out_dir"]), **{k: v for k, v in params.items() if k in fields})
    summarize_study(study, families=check_families(params["families"]), z_values=params["z_values"],
                    chosen_z=params["chosen_z"], profile=params["profile"], complementary=params["complementary"])
    study.record(unit["step"], params)
    return study.out_dir / "REPORT.md"


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def session_plan(args: argparse.Namespace) -> tuple[str, int]:
    """What ``aelib plan`` prints, and its exit status (2 when there is no absolute scale)."""
    from aelib.study.sessions import (FINAL_STEPS, RUNS_TABLE, SESSION_STEPS, Scale, family_cost, pack_sessions,
                                      scale_from_runs, tuning_runs)
    from aelib.study.tuning import DEFAULT_GRIDS, check_grids

    for name in ("session_hours", "gpu_speedup", "seconds_per_unit"):
        value = getattr(args, name)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ValueError(f"Expected --{name.replace('_', '-')} > 0. Received: {value}")
    if not 0 < args.fill <= 1:
        raise ValueError(f"Expected --fill in (0, 1]. Received: {args.fill}")
    ns = argparse.Namespace(profile=args.profile, families=args.families, z=args.z, seeds=args.seeds, steps="01,02",
                            dataset=None, epochs=None, n_train=None, n_test=None, out=args.out, shard=None,
                            dry_run=True)
    p01, p02 = (unit["parameters"] for unit in plan(ns))
    families = p02["families"]
    sweep = len(p02["z_values"]) * len(p02["seeds"])
    grids = check_grids(DEFAULT_GRIDS if p01["tune_grids"] is None else p01["tune_grids"])
    rates = p01["tune_learning_rates"] or [p01["learning_rate"]]
    models = {f: sweep + tuning_runs(f, grids=grids, learning_rates=rates) for f in families}
    units = {f: family_cost(f) * models[f] for f in families}
    depth_models = len(p01["depths"]) * len(p01["z_values"]) * len(p01["seeds"])
    depth_units = sum(family_cost(f) for f in p01["arch_families"]) * depth_models

    if args.seconds_per_unit is not None:
        scale = Scale(args.seconds_per_unit, "--seconds-per-unit")
    else:
        folder = Path(args.measured) if args.measured else default_out(args.profile)
        if not args.measured and not (folder / RUNS_TABLE).is_file():
            folder = default_out("quick")
        scale = scale_from_runs(folder / RUNS_TABLE)
    basis = (f"FAMILY_COST (relative seconds to a converged model, fcae = 1; aelib.study.study) × models (step 02: "
             f"{len(p02['z_values'])} z × {len(p02['seeds'])} seed(s) = {sweep}, plus step 01's tuning candidates)")
    lines = [f"aelib plan: profile {args.profile}, {len(families)} families, sessions of {args.session_hours:g} h."]
    if scale is None:
        rows = [[f, f"{family_cost(f):g}", str(models[f]), f"{units[f]:.0f}"] for f in families]
        lines += ["", f"A RELATIVE estimate only: no measured scale ({folder / RUNS_TABLE} not found). "
                  f"Cost = {basis}; step 01's depth search adds {depth_units:.0f}.", "",
                  *_text_table(["family", "cost", "models", "cost × models"], rows), "",
                  "Give --seconds-per-unit (seconds one fcae model takes to converge on the sessions' machine) or "
                  "--from a results folder with that table to pack the families into sessions."]
        return "\n".join(lines), 2
    caveats = []
    if scale.converged is False:
        caveats.append("the measured runs did not train to convergence, so these hours are too low (FAMILY_COST is "
                       "for converged models): run the study into that folder first, or give --seconds-per-unit.")
    if scale.converged is not None:
        own = {default_out(args.profile).resolve(), *([Path(args.out).resolve()] if args.out else [])}
        target = p02["n_train"]
        mismatch = folder.resolve() not in own if target is None else str(target) not in scale.n_train
        if mismatch:
            caveats.append(f"the scale was measured with n_train {', '.join(scale.n_train)}; profile {args.profile} "
                           f"trains on {target or 'the whole training split (60,000 MNIST images when downloaded)'}: "
                           "training time grows about in proportion. Give --seconds-per-unit, or --from a folder "
                           "of this profile after its first session.")
    to_hours = scale.seconds_per_unit / args.gpu_speedup / 3600
    hours = {f: units[f] * to_hours for f in families}
    capacity = args.session_hours * args.fill
    sessions = pack_sessions(hours, capacity, first=depth_units * to_hours)
    common = ["aelib", "run", "--profile", args.profile]
    for name in ("z", "seeds", "out"):
        if getattr(args, name) is not None:
            common += [f"--{name}", getattr(args, name)]
    rows = []
    for i, session in enumerate(sessions, 1):
        command = shlex.join([*common, "--families", ",".join(session.families), "--steps", SESSION_STEPS])
        rows.append([str(i), ",".join(session.families) + (" + depth search" if session.depth_search else ""),
                     f"{session.hours:.2f}" + (f" (×{session.repeats})" if session.repeats > 1 else ""), command])
    family_rows = [[f, f"{family_cost(f):g}", str(models[f]), f"{hours[f]:.2f}"] for f in families]
    lines += [
        "",
        f"AN ESTIMATE, not a measurement. Training hours = {basis} × {scale.seconds_per_unit:.3g} s per unit "
        f"(from {scale.source}) ÷ {args.gpu_speedup:g} (--gpu-speedup). Session 1 also carries step 01's depth "
        f"search ({'+'.join(p01['arch_families'])}: {len(p01['depths'])} depths × {len(p01['z_values'])} z × "
        f"{len(p01['seeds'])} seed(s) = {depth_models} models, {depth_units * to_hours:.1f} h). Not in the hours: the "
        f"analysis steps 03-06, notebook start-up, steps {FINAL_STEPS} (once, at the end); hence sessions are "
        f"filled to {capacity:.1f} h (--fill {args.fill:g}). Hours add up the models' training times; a machine "
        "training several at once (AELIB_WORKERS) finishes sooner.",
        *(["", "Check the scale:", *(f"  - {c}" for c in caveats)] if caveats else []),
        "",
        *_text_table(["family", "cost", "models", "est. hours"], family_rows),
        "",
        *_text_table(["session", "families", "est. hours", "command"], rows),
        "",
        f"After the last session: {shlex.join([*common, '--steps', FINAL_STEPS])}",
        "",
        "Run session 1 first: its step 01 picks the depth every family uses. The others may then run one after "
        "another or in parallel, into the same results folder. A session cut short is simply run again: complete "
        "runs are skipped.",
    ]
    if any(s.repeats > 1 for s in sessions):
        lines.append("(×k): longer than one session; run the same command k times, each resumes where the last "
                     "stopped.")
    lines.append("Families are listed per session (--families) rather than --shard i/n, which splits them "
                 "round-robin without regard to their cost.")
    return "\n".join(lines), 0


def run_check(args: argparse.Namespace) -> int:
    """``aelib check``: 0 when the store is sound (or was repaired), 1 when damage is left, 2 for bad input."""
    from aelib.study.integrity import check_store

    if args.out is not None and not args.out.strip():
        print(f"error: Expected a value for --out. Received: {args.out!r}", file=sys.stderr)
        return 2
    out_dir = Path(args.out or default_out(args.profile)).resolve()
    if not (args.tmp_age >= 0 and math.isfinite(args.tmp_age)):
        print(f"error: Expected --tmp-age >= 0 (minutes). Received: {args.tmp_age}", file=sys.stderr)
        return 2
    try:
        report = check_store(out_dir, models=args.models, repair=args.repair, tmp_age=args.tmp_age * 60)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 1 if report.unrepaired else 0


def _short(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else repr(value)


def describe() -> str:
    """What ``aelib list`` prints: families and options, steps, profiles and parameters."""
    from aelib.models import list_models, model_options

    lines = ["Families (--families; their options go into family_options, defaults shown):"]
    for family in list_models():
        options = ", ".join(f"{k}={_short(v)}" for k, v in model_options(family).items())
        lines.append(f"  {family:<8} {options}")
    lines += ["", "Steps (--steps takes names or numbers):"]
    for step in STEPS:
        try:  # cell 1 of each notebook says what the step does
            cell = json.loads((notebooks_dir() / f"{step}.ipynb").read_text(encoding="utf-8"))["cells"][0]
            title = "".join(cell["source"]).splitlines()[0].lstrip("# ")
        except (OSError, ValueError, KeyError, IndexError):
            title = ""
        lines.append(f"  {step:<22} {title}")
    lines += ["", "Profiles (--profile; --z, --epochs, --seeds, --n-train, --n-test replace their values):"]
    for profile, steps in PROFILES.items():
        lines.append(f"  {profile}")
        for part, params in steps.items():
            lines.append(f"    {part}: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        print(describe())
        return 0
    if args.command == "plan":
        try:
            text, code = session_plan(args)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(text)
        return code
    if args.command == "check":
        return run_check(args)
    if args.command == "report":
        try:
            unit = report_unit(args, parser)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"aelib report: rebuilding the summary of {unit['out_dir']} (profile {unit['parameters']['profile']})",
              flush=True)
        print(f"aelib report: wrote {summarize(unit)}")
        return 0
    try:
        given = [f"--{name}" for name in SLURM_ONLY if getattr(args, name) is not None]
        if given and args.executor != "slurm":
            raise ValueError(f"{', '.join(given)} apply to --executor slurm only. Received: --executor {args.executor}")
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
    from contextlib import nullcontext

    from aelib.study.store import invocation_lease

    # the lease: other shards' summaries wait for it; the scope: failed runs are logged under this invocation
    with invocation_lease(units[0]["out_dir"], tag) if units else nullcontext(), invocation_scope():
        if args.executor == "local":
            records = run_local(units, tag=tag)
        else:
            records = run_slurm(units, args)
    failed = [r for r in records if r["status"] != "complete"]
    total = time.perf_counter() - start
    print(f"\nStudy finished in {_fmt(total)}: {len(records) - len(failed)} step run(s) complete, {len(failed)} failed.")
    for r in failed:
        print(f"  FAILED {r['step']}: {r.get('error')} (see {r.get('executed')})")
    n_failed_runs = sum(len(r.get("failed_runs") or []) for r in records)
    if n_failed_runs:
        print(f"  {n_failed_runs} run(s) failed; their causes are listed at the end of each step above and in "
              "provenance/failures.jsonl")
    if units:
        provenance = Path(units[0]["out_dir"]) / "provenance"
        record = {"profile": args.profile, "argv": sys.argv[1:] if argv is None else argv,
                  "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": total, "steps": records}
        try:
            atomic_write_json(provenance / f"study{tag}.json", record)  # the latest invocation
            with open(provenance / "invocations.jsonl", "a", encoding="utf-8") as log:  # every invocation, a line each
                steps = [{k: r.get(k) for k in ("step", "status", "seconds")} for r in records]
                log.write(json.dumps({**record, "steps": steps}) + "\n")
        except OSError as err:
            print(f"error: could not record the invocation: {explain(err)}", file=sys.stderr)
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
