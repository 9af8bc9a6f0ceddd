"""Executing step units: each a step notebook run by papermill, with its status record.

A failing step is recorded (its error in a line, the runs it failed listed)
and the next one goes on; ``AELIB_INVOCATION_ID`` and ``AELIB_STEP`` tell the
notebooks' kernels under which invocation and step to log their failed runs.
A family notebook (unit ``models/<family>``) runs the same way.

Units run in the order given, except that consecutive units which neither
read nor write each other's results run in ``lanes`` processes at once
(:func:`phases`): the analysis steps 03-07 (each reads the sweep's models and
writes its own runs and tables) and the family notebooks (each reads the
study's results). Each lane's kernel gets ``cores // lanes`` threads
(TensorFlow, BLAS, numba), so two lanes on two cores do not fight for them;
the run store and the tables were built for several processes at once.

The kernels talk to papermill over IPC (Unix domain sockets in a private
temporary folder) rather than TCP: the notebooks run on this machine only, and
ipykernel 7 prints a warning on every start over unencrypted TCP
(``Kernel is running over TCP without encryption``). Where IPC is not
available (Windows) the kernel keeps TCP.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aelib.study.failures import (
    INVOCATION_ENV,
    STEP_ENV,
    STEP_STARTED_ENV,
    describe_failure,
    explain,
    failure_log_size,
    log_error,
    new_invocation_id,
    read_failures,
)
from aelib.study.planning import is_model_unit, notebooks_dir, phase_cost, time_left, unit_cost, work_dir
from aelib.study.progress import format_seconds


@contextlib.contextmanager
def kernel_options() -> Iterator[dict]:
    """papermill's keyword arguments that start the kernel on IPC transport, its sockets in a temporary folder
    removed afterwards; none (TCP) where there are no Unix domain sockets."""
    if os.name != "posix":
        yield {}
        return
    from traitlets.config import Config  # comes with jupyter_client, which papermill needs

    # a short path: a socket's path is limited to about 100 characters
    with tempfile.TemporaryDirectory(prefix="aelib-kernel-") as folder:
        yield {"config": Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(folder, "kernel")}})}


def execute_unit(unit: dict, *, tag: str = "") -> dict:
    """Execute one step notebook with papermill; returns a status record."""
    import papermill as pm  # slow to import (nbclient, jupyter): only when a step runs, never for --help

    step = unit["step"]
    out_dir = Path(unit["out_dir"])
    executed = out_dir / "executed" / f"{step}{tag}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    offset = failure_log_size(out_dir)
    previous = {name: os.environ.get(name) for name in (STEP_ENV, STEP_STARTED_ENV)}
    os.environ[STEP_ENV] = step  # the kernel inherits it: failed runs are logged under this step
    os.environ[STEP_STARTED_ENV] = repr(time.time())  # and the report step its own time so far
    try:
        with kernel_options() as kernel:
            pm.execute_notebook(
                str(notebooks_dir() / f"{step}.ipynb"), str(executed), parameters=unit["parameters"], log_output=True,
                stdout_file=sys.stdout, stderr_file=sys.stderr, progress_bar=False, cwd=str(work_dir()),
                kernel_name="python3", **kernel,
            )
        status, error = "complete", None
    # whatever the notebook raised fails this step only (papermill raises after writing the executed notebook)
    except Exception as err:  # noqa: BLE001
        status = "failed"
        error = step_error(err)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    failed_runs = read_failures(out_dir, invocation=os.environ.get(INVOCATION_ENV), step=step, offset=offset)
    if status == "failed" and not failed_runs:  # an error outside any run (e.g. a table not written): logged too
        log_error(out_dir, error, label=step)
    seconds = time.perf_counter() - start
    log_step_execution(out_dir, step, tag=tag, status=status, seconds=seconds)
    return {"step": step, "status": status, "error": error, "seconds": seconds,
            "executed": str(executed), "families": unit["parameters"].get("families"),
            "failed_runs": [describe_failure(e, out_dir) for e in failed_runs]}


def log_step_execution(out_dir: Path, step: str, *, tag: str, status: str, seconds: float) -> None:
    """Append the step's execution to ``provenance/steps.jsonl`` as soon as it ends: its invocation, duration
    and the run counts its own provenance recorded (empty when the notebook wrote none under this invocation).
    REPORT's "What ran" reads it (:func:`aelib.report.document.step_times`), also within the invocation that
    writes the report, which ``invocations.jsonl`` (written at the end) cannot serve."""
    invocation = os.environ.get(INVOCATION_ENV)
    runs = {}
    try:
        info = json.loads((out_dir / "provenance" / f"{step}{tag}.json").read_text(encoding="utf-8"))
        if info.get("invocation") == invocation:
            runs = info.get("runs") or {}
    except (OSError, ValueError):
        pass
    line = {"invocation": invocation, "step": step, "shard": tag.lstrip("-"), "status": status, "seconds": seconds,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": runs}
    try:
        (out_dir / "provenance").mkdir(parents=True, exist_ok=True)
        with open(out_dir / "provenance" / "steps.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
    except OSError as err:
        print(f"warning: could not log the step's time in provenance/steps.jsonl: {explain(err)}", file=sys.stderr)


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


#: Steps that read only the sweep's models (and their own runs) and write only their own runs and tables: a
#: sequence of them may run in several processes at once. 01 (its choices feed 02), 02 (it trains the models
#: the others read) and 08 (it reads every table) run alone.
CONCURRENT_STEPS = frozenset({"03_reconstruction", "04_latent_space", "05_ood_reconstruction", "06_generative",
                              "07_augmentation"})
#: Environment variables that set a process's thread pools: TensorFlow's (read when it starts), the BLAS
#: libraries' and numba's (UMAP).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def phases(units: list[dict]) -> list[list[dict]]:
    """``units`` cut into phases run one after another: consecutive analysis steps (:data:`CONCURRENT_STEPS`)
    form one phase, consecutive family notebooks another; every other unit is a phase of its own."""
    out: list[tuple[str | None, list[dict]]] = []
    for unit in units:
        group = "models" if is_model_unit(unit) else ("analysis" if unit["step"] in CONCURRENT_STEPS else None)
        if group is not None and out and out[-1][0] == group:
            out[-1][1].append(unit)
        else:
            out.append((group, [unit]))
    return [part for _, part in out]


def default_lanes() -> int:
    """Processes running a phase's units at once: ``AELIB_LANES`` if set (1: one after another), else the
    number of training workers (:func:`aelib.study.parallel.default_workers`: 2 on two cores or more)."""
    text = os.environ.get("AELIB_LANES")
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"Expected AELIB_LANES as an integer >= 1. Received: {text!r}")
        return value
    from aelib.study.parallel import default_workers

    return default_workers()


def _lane_unit(unit: dict, tag: str, threads: int, workers: int, number: tuple[int, int]) -> dict:
    """One unit in a lane process: its kernel inherits the thread limits and the training workers set here; its
    banner is printed when it starts, not when it is queued."""
    _banner(unit, *number, "")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ["AELIB_WORKERS"] = str(workers)  # the share of this lane, not the whole machine's
    return _announced(unit, tag)


def _banner(unit: dict, i: int, n: int, eta: str) -> None:
    params = unit["parameters"]
    fams = params.get("arch_families") or params.get("families") or [params.get("family", "?")]
    print(f"\n=== step {i}/{n}: {unit['step']} — families {','.join(fams)}{eta} ===", flush=True)


def _announced(unit: dict, tag: str) -> dict:
    record = execute_unit(unit, tag=tag)
    print(f"=== {unit['step']}: {record['status']} in {format_seconds(record['seconds'])}"
          + (f" — {record['error']}" if record["error"] else "") + " ===", flush=True)
    print_failed_runs(record)
    return record


def run_local(units: list[dict], *, tag: str = "", lanes: int | None = None) -> list[dict]:
    """Execute ``units`` on this machine, phase by phase (:func:`phases`), with the time left; their status
    records, in the order of ``units``.

    Args:
        units: the planned units.
        tag: the shard's suffix of the executed notebooks and provenance records.
        lanes: processes at once within a phase (default :func:`default_lanes`; 1: one after another).
    """
    lanes = default_lanes() if lanes is None else max(1, int(lanes))
    parts = phases(units)
    costs = [phase_cost(p, lanes) for p in parts]
    records: dict[int, dict] = {}
    position = {id(u): i for i, u in enumerate(units)}
    start = time.perf_counter()
    for k, phase in enumerate(parts):
        left = time_left(costs, k, time.perf_counter() - start)
        eta = f", about {format_seconds(left)} left for the study" if left is not None else ""
        if len(phase) == 1 or lanes == 1:
            for unit in phase:
                _banner(unit, position[id(unit)] + 1, len(units), eta)
                records[position[id(unit)]] = _announced(unit, tag)
            continue
        records.update(_run_phase(phase, position, len(units), tag, lanes, eta))
    return [records[i] for i in range(len(units))]


def _run_phase(phase: list[dict], position: dict, n_units: int, tag: str, lanes: int, eta: str) -> dict[int, dict]:
    """A phase's units in ``min(lanes, len(phase))`` spawned processes, costliest first; {position: record}."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    lanes = min(lanes, len(phase))
    threads = max(1, (os.cpu_count() or 1) // lanes)
    from aelib.study.parallel import default_workers

    workers = max(1, default_workers() // lanes)
    order = sorted(phase, key=lambda u: -unit_cost(u))
    print(f"\n=== {len(phase)} units at once, {lanes} at a time ({threads} thread(s) each): "
          f"{', '.join(u['step'] for u in order)}{eta} ===", flush=True)
    records: dict[int, dict] = {}
    context = multiprocessing.get_context("spawn")  # a fresh process per lane: safe from a notebook kernel
    try:
        with ProcessPoolExecutor(lanes, mp_context=context) as pool:
            futures = {}
            for unit in order:
                futures[pool.submit(_lane_unit, unit, tag, threads, workers, (position[id(unit)] + 1, n_units))] = unit
            for future, unit in futures.items():
                try:
                    records[position[id(unit)]] = future.result()
                except BrokenProcessPool:
                    raise
                except Exception as err:  # noqa: BLE001 — the lane itself failed (not the notebook): this unit only
                    records[position[id(unit)]] = {"step": unit["step"], "status": "failed",
                                                   "error": f"lane process failed: {type(err).__name__}: {err}",
                                                   "seconds": 0.0, "executed": None,
                                                   "families": unit["parameters"].get("families"), "failed_runs": []}
    except BrokenProcessPool as err:
        left = [u for u in order if position[id(u)] not in records]
        print(f"=== lane processes stopped ({err}); running the {len(left)} remaining unit(s) here, one at a time ===",
              flush=True)
        for unit in left:
            records[position[id(unit)]] = _announced(unit, tag)
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
def invocation_scope() -> Iterator[str]:
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
