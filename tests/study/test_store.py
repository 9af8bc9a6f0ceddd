import json

import numpy as np
import pytest

from aelib.io import atomic_write_json, config_hash
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
