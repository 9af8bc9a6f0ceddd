"""Independent training runs at once, in worker processes.

Models this small leave much of a machine idle when trained one at a time:
a step's time goes into per-step overhead and sequential loops (the recurrent
family) rather than arithmetic. ``train_runs`` trains the runs of a step in
``workers`` spawned processes, each with ``cores // workers`` TensorFlow
threads, longest expected run first, and returns the results in the order of
the specs. Every run still goes through the run store (its folder, atomic
``metrics.json``), so a result is the same as from one-at-a-time training up
to float round-off (thread count changes the order of additions; tested), and
an interrupted step resumes the same way. Runs already complete are answered
in the calling process without starting workers.

Several processes may train into one store at once (shards, two sessions on
one folder): a run another process has claimed is put back at the end of the
queue and the other runs go first; when only such runs are left, they are
waited for (the store returns the other process's result), never redone.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from aelib.study.progress import Progress
from aelib.study.runs import TrainSpec, ensure_trained
from aelib.study.store import RunResult, RunStore


def default_workers() -> int:
    """Worker processes for training: ``AELIB_WORKERS`` if set, else 2 when the machine has 2 cores or more."""
    text = os.environ.get("AELIB_WORKERS")
    if text:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"Expected AELIB_WORKERS as an integer >= 1. Received: {text!r}") from None
        if value < 1:
            raise ValueError(f"Expected AELIB_WORKERS as an integer >= 1. Received: {text!r}")
        return value
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def share_gpus() -> None:
    """Let several processes train on one GPU: each takes GPU memory as it needs it rather than, as
    TensorFlow does by default, nearly all of it when it first touches the device (the second worker
    would then fail for want of memory). Effective only before this process uses a GPU; harmless on a CPU.
    :class:`~aelib.study.study.Study` calls it when it may use workers; the workers inherit the setting."""
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # read when TensorFlow first sets up a GPU
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already set up: the environment variable above did it, or nothing can
            pass


def _init_worker(threads: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    share_gpus()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _train_one(root: str, spec: TrainSpec, wait: bool = True) -> RunResult:
    return ensure_trained(RunStore(root), spec, wait=wait)


def train_runs(store: RunStore, specs: Sequence[TrainSpec], *, progress: Progress, describe: Callable[[TrainSpec], str],
               weights: Sequence[float], workers: int = 1) -> list[RunResult]:
    """Train each spec unless its run is complete; at most ``workers`` at once."""
    results: list[RunResult | None] = [None] * len(specs)
    announced: set[int] = set()

    def here(i: int, wait: bool = True) -> bool:  # here: complete runs, one worker's worth, or after workers died
        if i not in announced:
            announced.add(i)
            progress.starting(describe(specs[i]))
        result = ensure_trained(store, specs[i], wait=wait)
        if result.status == "busy":  # another process trains it: the others first, then wait for it
            return False
        results[i] = result
        progress.update(result, weight=weights[i])
        return True

    pending = []
    for i, spec in enumerate(specs):
        if store.status("train", spec.config()) == "complete":
            here(i)
        else:
            pending.append(i)
    if workers <= 1 or len(pending) <= 1:
        busy = [i for i in pending if not here(i, wait=False)]
        for i in busy:
            here(i)
        return results  # type: ignore[return-value]
    pending.sort(key=lambda i: -weights[i])  # longest first: the step ends when its last run does
    workers = min(workers, len(pending))
    threads = max(1, (os.cpu_count() or 1) // workers)
    progress.concurrency = workers
    context = multiprocessing.get_context("spawn")  # a fresh TensorFlow per worker, safe from a notebook kernel
    queue = [(i, False) for i in pending]  # (spec, wait for another process's claim)
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
            running: dict = {}
            while queue or running:
                while queue and len(running) < workers:
                    i, patient = queue.pop(0)
                    if i not in announced:
                        announced.add(i)
                        progress.starting(describe(specs[i]))
                    running[pool.submit(_train_one, str(store.root), specs[i], patient)] = i
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    i = running.pop(future)
                    try:
                        results[i] = future.result()
                        if results[i].status == "busy":  # claimed elsewhere: after the others, waiting this time
                            results[i] = None
                            queue.append((i, True))
                            continue
                    except BrokenProcessPool:  # not the run's fault: it is trained again below
                        raise
                    except Exception as err:  # an error outside the run store's own handling
                        spec = specs[i]
                        results[i] = RunResult("train", spec.config(), store.path_for("train", spec.config()), "failed",
                                               error=f"worker process failed: {type(err).__name__}: {err}")
                    progress.update(results[i], weight=weights[i])
    except BrokenProcessPool as err:
        left = [i for i in pending if results[i] is None]
        print(f"[{progress.label}] worker processes stopped ({err}); training the {len(left)} remaining run(s) here, "
              "one at a time", flush=True)
        progress.concurrency = 1
        for i in left:
            here(i)
    progress.concurrency = 1
    return results  # type: ignore[return-value]
