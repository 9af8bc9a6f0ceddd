"""Executing step units: each a step notebook run by papermill, one after another, with its status record.

A failing step is recorded (its error in a line, the runs it failed listed)
and the next one goes on; ``AELIB_INVOCATION_ID`` and ``AELIB_STEP`` tell the
notebooks' kernels under which invocation and step to log their failed runs.
A family notebook (unit ``models/<family>``) runs the same way.

The kernels talk to papermill over IPC (Unix domain sockets in a private
temporary folder) rather than TCP: the notebooks run on this machine only, and
ipykernel 7 prints a warning on every start over unencrypted TCP
(``Kernel is running over TCP without encryption``). Where IPC is not
available (Windows) the kernel keeps TCP.
"""
from __future__ import annotations

import contextlib
import json
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
    describe_failure,
    explain,
    failure_log_size,
    log_error,
    new_invocation_id,
    read_failures,
)
from aelib.study.planning import notebooks_dir, time_left, work_dir
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
    previous = os.environ.get(STEP_ENV)
    os.environ[STEP_ENV] = step  # the kernel inherits it: failed runs are logged under this step
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
        if previous is None:
            os.environ.pop(STEP_ENV, None)
        else:
            os.environ[STEP_ENV] = previous
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


def run_local(units: list[dict], *, tag: str = "") -> list[dict]:
    """Execute ``units`` one after another in this machine, with the time left; their status records."""
    records = []
    start = time.perf_counter()
    for i, unit in enumerate(units):
        left = time_left(units, i, time.perf_counter() - start)
        eta = f", about {format_seconds(left)} left for the study" if left is not None else ""
        params = unit["parameters"]
        fams = params.get("arch_families") or params.get("families") or [params.get("family", "?")]
        print(f"\n=== step {i + 1}/{len(units)}: {unit['step']} — families {','.join(fams)}{eta} ===", flush=True)
        record = execute_unit(unit, tag=tag)
        print(f"=== {unit['step']}: {record['status']} in {format_seconds(record['seconds'])}"
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
