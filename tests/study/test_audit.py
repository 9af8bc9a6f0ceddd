"""`aelib check` (aelib.study.audit): damaged runs, symbolic links, stale keys and stale temporary files."""
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from aelib.io import atomic_write_json
from aelib.study import cli
from aelib.study.audit import check_store
from aelib.study.store import RunStore

TRAIN = {"family": "fcae", "latent_dim": 2, "seed": 0}


def _complete(store: RunStore, kind: str, config: dict, files: dict | None = None) -> Path:
    """A complete run folder made by hand."""
    path = store.path_for(kind, config)
    path.mkdir(parents=True)
    atomic_write_json(path / "config.json", {"kind": kind, **config})
    for name, text in (files or {}).items():
        (path / name).write_text(text)
    atomic_write_json(path / "metrics.json", {"rmse_mean": 0.1})
    return path


# ------------------------------------------------------------------ item 10: store damage, `aelib check`

@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    from aelib.models import build_model

    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_model("fcae", input_shape=(28, 28, 1), latent_dim=2, depth=1).save(path)
    return path.read_bytes()


def _train_run(store: RunStore, seed: int, model: bytes) -> Path:
    path = _complete(store, "train", {**TRAIN, "seed": seed}, {"history.csv": "loss,val_loss\n0.5,0.6\n"})
    (path / "model.keras").write_bytes(model)
    np.save(path / "test_rmse.npy", np.full(5, 0.1, dtype="float32"))  # its metrics say rmse_mean 0.1
    return path


def test_check_reports_damage_and_repair_quarantines_it(tmp_path, model_bytes, capsys):
    store = RunStore(tmp_path / "runs")
    sound = _train_run(store, 0, model_bytes)
    truncated = _train_run(store, 1, model_bytes)
    (truncated / "model.keras").write_bytes(model_bytes[: len(model_bytes) // 2])
    garbage = _train_run(store, 2, model_bytes)
    (garbage / "config.json").write_text("\x00\x01 not json")
    no_history = _train_run(store, 3, model_bytes)
    (no_history / "history.csv").unlink()
    moved = _train_run(store, 4, model_bytes)
    moved = moved.rename(moved.with_name(moved.name[:-10] + "0123456789"))  # another config's folder name
    partial = store.path_for("train", {**TRAIN, "seed": 5})
    partial.mkdir()  # in progress (or killed): the next run redoes it, not damage
    stale = tmp_path / "tables" / ".latent_sweep_runs.csv.k2j3.tmp"
    stale.parent.mkdir()
    stale.write_text("half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / "tables" / ".rmse_by_z.csv.x8a1.tmp"  # a write in progress: kept
    fresh.write_text("half")

    report = check_store(tmp_path)
    assert report.counts == {"complete": 5, "failed": 0, "partial": 1}
    problems = {f.path: " ".join(f.problems) for f in report.damaged}
    assert set(problems) == {truncated, garbage, no_history, moved}
    assert "model.keras" in problems[truncated] and "config.json does not parse" in problems[garbage]
    assert "history.csv is missing" in problems[no_history] and "hashes to" in problems[moved]
    assert [f.path for f in report.stale] == [stale]

    assert cli.main(["check", "--out", str(tmp_path), "--no-models"]) == 1  # reported, not repaired
    text = capsys.readouterr().out
    assert text.count("DAMAGED") == 4 and "STALE" in text and "--repair" in text
    assert truncated.is_dir() and stale.is_file()

    assert cli.main(["check", "--out", str(tmp_path), "--repair"]) == 0
    assert sound.is_dir() and partial.is_dir() and fresh.is_file() and not stale.exists()
    for path in (truncated, garbage, no_history, moved):
        assert not path.exists()
        assert len(list((tmp_path / "quarantine").glob(f"*/train/{path.name}/quarantine.json"))) == 1
    assert store.status("train", {**TRAIN, "seed": 1}) == "missing"  # so the next run trains it again
    assert json.loads((tmp_path / "provenance" / "check.json").read_text())["counts"]["complete"] == 5
    capsys.readouterr()
    assert cli.main(["check", "--out", str(tmp_path)]) == 0
    assert "no damage found" in capsys.readouterr().out


def test_check_needs_a_run_store(tmp_path, capsys):
    assert cli.main(["check", "--out", str(tmp_path)]) == 2
    assert "No run store" in capsys.readouterr().err


def test_a_model_that_does_not_load_is_found_only_when_models_are_loaded(tmp_path, model_bytes):
    import zipfile

    store = RunStore(tmp_path / "runs")
    path = _train_run(store, 0, model_bytes)
    with zipfile.ZipFile(path / "model.keras", "w") as archive:  # a whole archive, but not a model
        archive.writestr("config.json", "{}")
    assert check_store(tmp_path, models=False).damaged == []
    assert "model.keras does not load" in check_store(tmp_path).damaged[0].problems[0]




# ------------------------------------------------------------------ issue 29: forged metrics, links, stale keys

def test_check_flags_forged_empty_and_inconsistent_metrics(tmp_path, model_bytes):
    store = RunStore(tmp_path / "runs")
    huge, empty, other = (_train_run(store, seed, model_bytes) for seed in (0, 1, 2))
    (huge / "metrics.json").write_text('{"rmse_mean": 1e308}')
    (empty / "metrics.json").write_text("{}")
    (other / "metrics.json").write_text('{"rmse_mean": 0.3325}')  # test_rmse.npy says 0.1
    problems = {f.path: " ".join(f.problems) for f in check_store(tmp_path, models=False).damaged}
    assert set(problems) == {huge, empty, other}
    assert "rmse_mean=1e+308 is outside [0, 1]" in problems[huge]
    assert "metrics.json is empty" in problems[empty]
    assert "but the mean of test_rmse.npy is 0.1" in problems[other]


def test_check_reports_links_and_repair_never_writes_through_them(tmp_path, model_bytes, capsys):
    store = RunStore(tmp_path / "out" / "runs")
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "metrics.json").write_text("{}")  # damage, were it a run of the store
    (outside / "config.json").write_text("{}")
    linked = store.path_for("train", {**TRAIN, "seed": 9})
    linked.parent.mkdir(parents=True)
    linked.symlink_to(outside, target_is_directory=True)
    (store.root / "ood").symlink_to(outside, target_is_directory=True)
    run = _train_run(store, 0, model_bytes)
    (run / "history.csv").unlink()
    (run / "history.csv").symlink_to(outside / "config.json")
    before = sorted(p.name for p in outside.iterdir())

    report = check_store(out, models=False)
    assert report.counts == {"complete": 1, "failed": 0, "partial": 0}  # the linked folders are not audited
    assert sorted(f.path for f in report.links) == sorted([linked, store.root / "ood"])
    assert "history.csv is a symbolic link" in " ".join(report.damaged[0].problems)
    assert cli.main(["check", "--out", str(out), "--no-models"]) == 1
    assert capsys.readouterr().out.count("LINK") == 2

    assert cli.main(["check", "--out", str(out), "--no-models", "--repair"]) == 0
    assert not linked.is_symlink() and not (store.root / "ood").exists() and not run.exists()
    assert sorted(p.name for p in outside.iterdir()) == before  # no quarantine.json written through a link
    assert json.loads((outside / "config.json").read_text()) == {}


def test_repair_refuses_a_quarantine_folder_that_links_out(tmp_path, model_bytes):
    store = RunStore(tmp_path / "out" / "runs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out" / "quarantine").symlink_to(outside, target_is_directory=True)
    run = _train_run(store, 0, model_bytes)
    (run / "metrics.json").write_text("{}")
    finding = check_store(tmp_path / "out", models=False, repair=True).damaged[0]
    assert finding.action is None and "not moved" in finding.problems[-1] and "symbolic link" in finding.problems[-1]
    assert run.is_dir() and list(outside.iterdir()) == []


def test_runs_whose_key_predates_the_data_and_code_fields_are_listed_as_stale(tmp_path, model_bytes, capsys):
    store = RunStore(tmp_path / "runs")
    _train_run(store, 0, model_bytes)  # an old key: no "data", no "implementation"
    current = {**TRAIN, "seed": 1, "data": {"source": "s", "train_sha256": "a", "test_sha256": "b"},
               "implementation": {"family_version": "1.1", "training_loop": "aelib"}}
    path = _complete(store, "train", current, {"history.csv": "loss\n0.5\n"})
    (path / "model.keras").write_bytes(model_bytes)
    np.save(path / "test_rmse.npy", np.full(5, 0.1, dtype="float32"))
    _complete(store, "latent", {"train": TRAIN, "k": 5})  # analyses an old key
    report = check_store(tmp_path, models=False)
    assert report.damaged == [] and len(report.outdated) == 2
    assert {f.path.parent.name for f in report.outdated} == {"train", "latent"}
    assert cli.main(["check", "--out", str(tmp_path), "--no-models"]) == 0  # kept, never reused: not damage
    text = capsys.readouterr().out
    assert "2 complete run(s) have stale keys" in text and text.count("STALE KEY") == 2
