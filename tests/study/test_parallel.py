"""Runs trained at once in worker processes equal the ones trained one at a time."""
import io
import json
import os

import numpy as np
import pytest

from aelib.models import load_model
from aelib.study.parallel import default_workers
from aelib.study.study import Study

TINY = {"epochs": 2, "n_train": 200, "n_test": 100}


@pytest.mark.slow
def test_a_model_trained_in_a_worker_equals_the_one_trained_alone(tmp_path):
    alone = Study(tmp_path / "alone", workers=1, **TINY)
    together = Study(tmp_path / "together", workers=2, **TINY)
    grid = (["fcae", "vae"], [2, 3])
    first = alone.train_grid("alone", *grid)
    second = together.train_grid("together", *grid)
    assert [r.status for r in first] == [r.status for r in second] == ["complete"] * 4
    x = alone.data("test")[0][:20]
    for a, b in zip(first, second):
        assert a.config == b.config and a.path.name == b.path.name  # same runs, same keys
        assert b.metrics["rmse_mean"] == pytest.approx(a.metrics["rmse_mean"], abs=1e-4)
        assert b.metrics["epochs_run"] == a.metrics["epochs_run"]
        np.testing.assert_allclose(load_model(b.path / "model.keras").reconstruct(x),
                                   load_model(a.path / "model.keras").reconstruct(x), atol=1e-3)
    again = together.train_grid("again", *grid)  # complete runs are answered without workers
    assert [r.status for r in again] == ["skipped"] * 4
    assert json.loads((second[0].path / "metrics.json").read_text()) == again[0].metrics


@pytest.mark.slow
def test_at_the_same_thread_count_a_model_trained_beside_another_equals_the_one_trained_alone(tmp_path, monkeypatch):
    """Bit for bit: the worker's result does not depend on what trains beside it, only on its thread count."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from aelib.study import parallel
    from aelib.study.progress import Progress
    from aelib.study.store import RunStore

    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)  # two workers of one thread each, on any machine
    study = Study(tmp_path / "spec", **TINY)
    spec, other = study.spec("fcae", 3, seed=0), study.spec("vae", 2, seed=1)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=parallel._init_worker,
                             initargs=(1,)) as pool:  # alone: nothing else running, one thread
        alone = pool.submit(parallel._train_one, str(tmp_path / "alone"), spec).result()
    store = RunStore(tmp_path / "together")
    together = parallel.train_runs(store, [spec, other], progress=Progress(2, stream=io.StringIO()),
                                   describe=str, weights=[1.0, 1.0], workers=2)[0]
    assert alone.status == together.status == "complete"
    assert together.metrics["rmse_mean"] == alone.metrics["rmse_mean"]
    first, second = load_model(alone.path / "model.keras"), load_model(together.path / "model.keras")
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_study_with_worker_processes_lets_them_share_a_gpu(tmp_path, monkeypatch):
    """TensorFlow takes nearly all of a GPU's memory by default; workers must take it as they need it."""
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    Study(tmp_path / "one", workers=1, **TINY)
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in os.environ
    Study(tmp_path / "two", workers=2, **TINY)
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_workers_setting(monkeypatch):
    monkeypatch.setenv("AELIB_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("AELIB_WORKERS", "0")
    with pytest.raises(ValueError, match="AELIB_WORKERS"):
        default_workers()


def test_time_left_counts_the_weight_of_the_run_that_finished_not_the_next_in_order():
    import io

    from aelib.study.progress import Progress
    from aelib.study.store import RunResult

    progress = Progress(3, weights=[1.0, 1.0, 10.0], stream=io.StringIO())
    progress.concurrency = 2
    progress.update(RunResult("train", {}, None, "complete", seconds=20.0), weight=10.0)  # the long one first
    # 2 s per unit of weight, 2 units left, two at once: 2 s
    assert progress.eta() == "2s"
