import json
import os
import socket
import threading
import time

import numpy as np
import pytest

from aelib.io import atomic_write_json, config_hash
from aelib.study.claims import MACHINE
from aelib.study.failures import GuardedRunStore
from aelib.study.store import RunStore


def test_run_once_then_skip(tmp_path):
    store = RunStore(tmp_path)
    calls = []

    def fn(run_dir):
        calls.append(run_dir)
        (run_dir / "artifact.txt").write_text("x")
        return {"value": 1.5}

    config = {"family": "fcae", "latent_dim": 2, "seed": 0}
    first = store.run("train", config, fn)
    second = store.run("train", config, fn)
    assert first.status == "complete" and second.status == "skipped"
    assert second.metrics["value"] == 1.5 and len(calls) == 1
    assert len(store.records("train")) == 1


def test_half_written_run_is_redone(tmp_path):
    store = RunStore(tmp_path)
    config = {"family": "vae", "latent_dim": 3}
    path = store.path_for("train", config)
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.partial.keras").write_text("half")
    assert store.status("train", config) == "partial"
    result = store.run("train", config, lambda d: {"ok": True})
    assert result.status == "complete"
    assert not (path / "model.partial.keras").exists()


def test_failure_is_recorded_and_retried(tmp_path):
    store = RunStore(tmp_path)
    config = {"family": "aae", "latent_dim": 1}

    def boom(run_dir):
        raise FloatingPointError("loss is NaN")

    result = store.run("train", config, boom)
    assert result.status == "failed" and "loss is NaN" in result.error
    failures = store.failures()
    assert len(failures) == 1 and "FloatingPointError" in failures.iloc[0]["error"]
    assert store.records().empty
    assert store.run("train", config, boom, retry_failed=False).status == "failed"
    assert store.run("train", config, lambda d: {"x": 1}).status == "complete"
    assert store.failures().empty


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_config_hash_values_never_change():
    """Stored runs are found by these names: the run store's and the augmentation study's."""
    config = {"family": "vae", "latent_dim": np.int64(8), "seed": 0}
    assert config_hash(config) == "16a61ef0dc"
    assert config_hash(config, digest="sha256", length=12, default=str) == "027a8527c995"


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"x": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_corrupt_metrics_file_is_named(tmp_path):
    store = RunStore(tmp_path)
    config = {"family": "fcae"}
    store.run("train", config, lambda d: {"x": 1})
    (store.path_for("train", config) / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="Corrupt metrics file .*metrics.json"):
        store.load_metrics("train", config)


# ------------------------------------------------------------------ issue 29: nothing read is trusted unchecked

def _complete_by_hand(store, config, metrics, rmse=None):
    path = store.path_for("train", config)
    path.mkdir(parents=True)
    atomic_write_json(path / "config.json", {"kind": "train", **config})
    if rmse is not None:
        np.save(path / "test_rmse.npy", np.asarray(rmse, dtype="float32"))
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


@pytest.mark.parametrize("metrics, problem", [
    ({"rmse_mean": 1e308}, r"rmse_mean=1e\+308 is outside \[0, 1\]"),
    ({}, r"metrics.json is empty"),
    ([0.1], "not a JSON object"),
    ({"rmse_mean": 0.1, "final_val_loss": float("inf")}, "final_val_loss=inf is not finite"),
    ({"rmse_mean": float("nan")}, "rmse_mean=nan is outside"),
])
def test_a_forged_metrics_file_is_caught_and_never_reused(tmp_path, metrics, problem):
    store = GuardedRunStore(tmp_path)
    config = {"family": "fcae", "latent_dim": 2}
    path = _complete_by_hand(store, config, metrics)
    with pytest.raises(ValueError, match=f"Invalid metrics file .*{problem}"):
        store.load_metrics("train", config)
    result = store.run("train", config, lambda d: pytest.fail("a forged run is not silently redone either"))
    assert result.status == "failed" and "Invalid metrics file" in result.error and "--repair" in result.error
    assert store.records().empty and store.result_at(path) is None  # never copied into a table


def test_metrics_that_disagree_with_the_saved_per_sample_errors_are_caught(tmp_path):
    store = RunStore(tmp_path)
    sound = _complete_by_hand(store, {"seed": 0}, {"rmse_mean": 0.2, "rmse_n": 3}, rmse=[0.1, 0.2, 0.3])
    forged = _complete_by_hand(store, {"seed": 1}, {"rmse_mean": 0.3325, "rmse_n": 3}, rmse=[0.1, 0.2, 0.3])
    assert store.result_at(sound) is not None and store.result_at(forged) is None
    with pytest.raises(ValueError, match=r"rmse_mean=0.3325, but the mean of test_rmse.npy is 0.2"):
        store.load_metrics("train", {"seed": 1})


def test_a_run_folder_linked_out_of_the_store_is_never_followed(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = {"family": "fcae", "latent_dim": 2}
    outside = tmp_path / "outside"
    outside.mkdir()
    atomic_write_json(outside / "config.json", {"kind": "train", **config})
    atomic_write_json(outside / "metrics.json", {"rmse_mean": 0.01})
    before = sorted(p.name for p in outside.iterdir())
    path = store.path_for("train", config)
    path.parent.mkdir(parents=True)
    path.symlink_to(outside, target_is_directory=True)
    assert store.status("train", config) == "partial" and store.records().empty
    assert store.result_at(path) is None
    result = store.run("train", config, lambda d: {"rmse_mean": 0.3})
    assert result.status == "complete" and result.metrics["rmse_mean"] == 0.3  # trained, not the linked result
    assert not path.is_symlink() and path.is_dir()
    assert sorted(p.name for p in outside.iterdir()) == before  # nothing written through the link


def test_a_kind_folder_linked_out_of_the_store_is_refused(tmp_path):
    store = RunStore(tmp_path / "runs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs" / "train").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="train is a symbolic link .*never follows links"):
        store.run("train", {"family": "fcae"}, lambda d: {"x": 1})
    assert list(outside.iterdir()) == []  # not even a claim


def test_a_metrics_file_that_is_a_link_is_not_read(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = {"family": "fcae"}
    path = _complete_by_hand(store, config, {"rmse_mean": 0.1})
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"rmse_mean": 0.01}))
    (path / "metrics.json").unlink()
    (path / "metrics.json").symlink_to(forged)
    assert store.status("train", config) == "partial" and store.result_at(path) is None
    assert store.run("train", config, lambda d: {"rmse_mean": 0.2}).metrics["rmse_mean"] == 0.2
    assert json.loads(forged.read_text()) == {"rmse_mean": 0.01}


def test_a_table_list_naming_a_folder_outside_the_store_is_not_read(tmp_path):
    store = RunStore(tmp_path / "runs")
    outside = _complete_by_hand(RunStore(tmp_path / "elsewhere"), {"family": "fcae"}, {"rmse_mean": 0.1})
    assert store.result_at(store.root / ".." / "elsewhere" / "train" / outside.name) is None


def test_discard_waits_for_the_run_s_claim(tmp_path):
    store = RunStore(tmp_path)
    config = {"family": "fcae"}
    path = _complete_by_hand(store, config, {"rmse_mean": 0.1})
    claim = store.claim_path("train", config)
    claim.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "machine": MACHINE,
                                 "started": time.time(), "token": "other", "label": "test"}))  # a live process
    done = []
    worker = threading.Thread(target=lambda: done.append(store.discard("train", config, poll=0.05)))
    worker.start()
    time.sleep(0.3)
    assert done == [] and (path / "metrics.json").is_file()  # another process holds the run: nothing deleted
    claim.unlink()
    worker.join(5)
    assert done == [True] and store.status("train", config) == "partial"
