"""Failures kept to their run, one-line causes, the failure log (aelib.study.failures); misleading errors."""
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aelib.io import atomic_write_json
from aelib.study import cli, execution, failures, planning, profiles
from aelib.study import store as store_module
from aelib.study.failures import GuardedRunStore, log_error, log_failures, read_failures
from aelib.study.store import RunResult, RunStore
from aelib.study.study import Study, StudyFailures

REPO = Path(__file__).resolve().parents[2]
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


# ------------------------------------------------------------------ item 8: one bad run folder fails that run only

def test_corrupt_metrics_fails_that_run_only_naming_its_folder(tmp_path):
    store = GuardedRunStore(tmp_path)
    bad = _complete(store, "latent", TRAIN)
    (bad / "metrics.json").write_text('{"rmse_mean": 0.1')  # cut short
    result = store.run("latent", TRAIN, lambda d: {"x": 1})
    assert result.status == "failed" and str(bad) in result.error and "Corrupt metrics" in result.error
    assert "\n" not in result.error
    other = store.run("latent", {**TRAIN, "seed": 1}, lambda d: {"x": 1})
    assert other.status == "complete"


def test_undeletable_partial_run_gives_one_line_naming_the_folder(tmp_path, monkeypatch):
    store = GuardedRunStore(tmp_path)
    path = store.path_for("train", TRAIN)
    path.mkdir(parents=True)
    (path / "history.csv").write_text("loss\n1\n")  # half-written: the store clears it first

    def rmtree(*args, **kwargs):  # as shutil.rmtree reports it: the file name alone
        raise PermissionError(errno.EPERM, "Operation not permitted", "history.csv")

    monkeypatch.setattr(store_module.shutil, "rmtree", rmtree)
    result = store.run("train", TRAIN, lambda d: {"x": 1})
    assert result.status == "failed"
    assert result.error.startswith("Operation not permitted on history.csv in run folder " + str(path))
    assert "\n" not in result.error


def test_a_full_disk_gives_one_line_and_the_log_never_raises(tmp_path, monkeypatch, capsys):
    store = GuardedRunStore(tmp_path / "runs")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/x/.config.json.abc.tmp")

    monkeypatch.setattr(store_module, "atomic_write_json", full)
    result = store.run("train", TRAIN, lambda d: {"x": 1})
    path = store.path_for("train", TRAIN)
    assert result.status == "failed"
    assert result.error == (f"Disk full: no space left to write .config.json.abc.tmp in run folder {path}. "
                            "Free disk space and run the step again.")
    (tmp_path / "provenance").mkdir()
    (tmp_path / "provenance" / "failures.jsonl").mkdir()  # cannot be opened as a file: the log falls back to print
    log_failures(tmp_path, [result], label="02 latent sweep")
    assert "could not log 1 failure(s)" in capsys.readouterr().out


def test_a_step_goes_on_past_a_bad_run_and_logs_it_for_the_screen_and_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv(failures.INVOCATION_ENV, "inv-1")
    monkeypatch.setenv(failures.STEP_ENV, "05_ood_reconstruction")
    study = Study(tmp_path, workers=1)
    bad = _complete(study.store, "ood", TRAIN)
    (bad / "metrics.json").write_text("garbage")

    def thunk(seed):
        return lambda: study.store.run("ood", {**TRAIN, "seed": seed}, lambda d: {"x": seed})

    def broken():
        raise RuntimeError("the figure could not be drawn")

    results = study.run_all("05 complementary data", [("a", thunk(0)), ("b", thunk(1)), ("c", broken)])
    assert [r.status for r in results] == ["failed", "complete", "failed"]
    logged = read_failures(tmp_path, invocation="inv-1", step="05_ood_reconstruction")
    assert [e["run_dir"] for e in logged] == [str(bad), str(tmp_path)]
    assert "c: RuntimeError: the figure could not be drawn" == logged[1]["error"]
    assert read_failures(tmp_path, invocation="another") == []

    # REPORT.md's table: this invocation's failures, without a failed.json
    from aelib.study.steps.summary_inputs import failures_table
    table = failures_table(study)
    assert len(table) == 2 and table["error"].str.contains("Corrupt metrics").iloc[0]
    monkeypatch.setenv(failures.INVOCATION_ENV, "a-later-one")
    assert failures_table(study).empty

    with pytest.raises(StudyFailures, match=rf"ood fcae z=2: .*Corrupt metrics.*\({re.escape(str(bad))}\)"):
        study.finish("05_ood_reconstruction", {})


def test_a_bad_trained_run_fails_alone_in_the_latent_sweep(tmp_path):
    from aelib.study.steps.sweep import run as latent_sweep

    study = Study(tmp_path, epochs=1, n_train=200, n_test=50, workers=1)
    bad = study.store.path_for("train", study.spec("fcae", 2).config())
    bad.mkdir(parents=True)
    (bad / "config.json").write_text("{}")
    (bad / "metrics.json").write_text("{not json")
    table = latent_sweep(study, families=["fcae"], z_values=[2, 3], seeds=[0])
    assert list(table["latent_dim"]) == [3]
    assert [r.status for r in study.results] == ["failed", "complete"]
    assert str(bad) in study.results[0].error


def test_the_cli_prints_each_failed_run_at_the_end_of_its_step(tmp_path, monkeypatch, capsys):
    import papermill

    out = tmp_path / "out"
    (out / "provenance").mkdir(parents=True)
    log_failures(out, [RunResult("train", TRAIN, out / "runs" / "old", "failed", error="old")])  # before

    def kernel(source, executed, **kwargs):  # what a step notebook does: fail a run, log it, then fail the step
        assert os.environ[failures.STEP_ENV] == "02_latent_sweep"
        result = RunResult("train", TRAIN, out / "runs" / "train" / "fcae-x", "failed",
                                     error="ValueError: bad input")
        log_failures(out, [result], label="02 latent sweep")
        raise papermill.PapermillExecutionError(0, 1, "source", "StudyFailures",
                                                "Every run of 02 latent sweep failed\n…", [])

    monkeypatch.setattr(papermill, "execute_notebook", kernel)
    unit = {"step": "02_latent_sweep", "out_dir": str(out), "parameters": {"families": ["fcae"]}}
    with execution.invocation_scope():
        records = execution.run_local([unit])
    text = capsys.readouterr().out
    assert records[0]["error"] == "StudyFailures: Every run of 02 latent sweep failed"
    assert "1 run(s) failed in 02_latent_sweep" in text
    assert "- train fcae z=2 seed=0 (runs/train/fcae-x): ValueError: bad input" in text
    assert "old" not in text
    assert failures.STEP_ENV not in os.environ and failures.INVOCATION_ENV not in os.environ


@pytest.mark.parametrize("ename, evalue, line", [
    ("OSError", "[Errno 28] No space left on device: '/r/tables/.a.csv.k2.tmp'",
     "Disk full: no space left to write .a.csv.k2.tmp in /r/tables. Free disk space and run the step again."),
    ("PermissionError", "[Errno 1] Operation not permitted: 'history.csv'",
     "Operation not permitted on history.csv. Make it writable and run the step again."),
    ("KeyError", "\x1b[0;31m\"['n_seeds'] not in index\"\nmore", "KeyError: \"['n_seeds'] not in index\""),
])
def test_a_failed_step_is_one_line(ename, evalue, line):
    import papermill

    assert execution.step_error(papermill.PapermillExecutionError(0, 1, "source", ename, evalue, [])) == line


# ------------------------------------------------------------------ item 9: misleading errors

@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope"], "Unknown --dataset 'nope'. Known data sets: mnist, fashion_mnist, emnist_letters"),
    (["--n-train", "1"], "Expected --n-train >= 2"),
    (["--n-train", "5"], "Expected --n-train >= 100 for mnist: its validation split"),
    (["--epochs=-1"], "Expected --epochs >= 1. Received: -1"),
    (["--z", "2,1000"], "Expected --z values <= 784 for family fcae"),
    (["--z", "abc"], "Expected --z as comma-separated integers"),
])
def test_bad_run_options_give_one_line_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert cli.main(["run", "--families", "fcae", "--steps", "02", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not out.exists()


def test_a_dataset_is_taken_as_aelib_data_spells_it():
    args = cli.build_parser().parse_args(["run", "--steps", "02", "--families", "fcae", "--dataset", "Fashion-MNIST",
                                          "--dry-run"])
    assert planning.plan(args)[0]["parameters"]["dataset"] == "fashion_mnist"


def test_a_step_whose_every_run_failed_names_the_cause_not_a_key_error(tmp_path):
    from aelib.study.steps.sweep import run as latent_sweep

    study = Study(tmp_path, epochs=1, n_train=200, n_test=50, workers=1,
                  family_options={"vanilla": {"output_activation": "bogus"}})
    with pytest.raises(StudyFailures, match=r"Every run of 02 latent sweep failed \(2 run\(s\)\).*"
                                            "output_activation"):
        latent_sweep(study, families=["vanilla"], z_values=[2, 3], seeds=[0])
    assert len(read_failures(tmp_path)) == 2


def test_a_bad_training_setting_is_refused_when_the_study_is_made_before_any_run(tmp_path):
    with pytest.raises(ValueError, match=r"Expected epochs >= 1 \(an integer\)\. Received: epochs=-1"):
        Study(tmp_path, epochs=-1)
    assert not (tmp_path / "runs").exists()


def test_neighborhood_hit_refuses_missing_labels():
    from aelib.metrics.projection import neighborhood_hit

    labels = (np.arange(30) // 10).astype(float)  # three clusters of ten, far apart: every neighbour shares its label
    points = np.random.default_rng(0).normal(size=(30, 2)) + 100 * labels[:, None]
    assert neighborhood_hit(points, labels, k=3) == 1.0
    labels[7] = np.nan
    with pytest.raises(ValueError, match="1 missing .NaN or None. of 30, the first at index 7"):
        neighborhood_hit(points, labels, k=3)
    with pytest.raises(ValueError, match="missing"):
        neighborhood_hit(points, np.array(["a", None] * 15, dtype=object), k=3)


@pytest.mark.parametrize("p", [None, "0.1", True, [0.1]])
def test_perturb_refuses_a_fraction_that_is_not_a_number(p):
    from aelib.perturbation import perturb

    with pytest.raises(ValueError, match=rf"0 <= max_fraction <= 1 .*Received: max_fraction={re.escape(repr(p))}$"):
        perturb(np.ones((3, 2)), p)


# ------------------------------------------------------------------ end to end

@pytest.mark.slow
def test_a_rerun_with_a_corrupt_run_goes_on_says_why_and_reports_it(tmp_path):
    """`aelib run` over a folder with a corrupt metrics.json: the other run is trained, the cause is on screen
    with the folder, and REPORT.md of that same invocation lists the failure."""
    out = tmp_path / "study"
    params = profiles.step_parameters("quick", "02_latent_sweep", {"epochs": 1, "n_train": 200, "n_test": 50})
    study = Study(out, **{k: params[k] for k in ("epochs", "batch_size", "learning_rate", "patience", "min_delta",
                                                 "lr_patience", "lr_factor", "n_train", "n_test")})
    bad = study.store.path_for("train", study.spec("fcae", 2, 0).config())
    bad.mkdir(parents=True)
    (bad / "config.json").write_text("{}")
    (bad / "metrics.json").write_text("{cut")
    done = subprocess.run([sys.executable, "-m", "aelib.study.cli", "run", "--out", str(out), "--steps", "02,08",
                           "--families", "fcae", "--z", "2,3", "--seeds", "0", "--epochs", "1", "--n-train", "200",
                           "--n-test", "50"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "AELIB_WORKERS": "1"})
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"(runs/train/{bad.name}): ValueError: Corrupt metrics file" in done.stdout
    assert "08_summary: complete" in done.stdout
    assert list(pd.read_csv(out / "tables" / "latent_sweep_runs.csv")["latent_dim"]) == [3]
    report = (out / "REPORT.md").read_text()
    failures = report.split("## Failures", 1)[1]
    assert "Corrupt metrics file" in failures and "None." not in failures


# ------------------------------------------------------------------ issue 29: errors outside runs are logged too

def test_an_error_outside_any_run_goes_to_the_failure_log(tmp_path, monkeypatch):
    monkeypatch.setenv(failures.INVOCATION_ENV, "inv-2")
    monkeypatch.setenv(failures.STEP_ENV, "08_summary")
    err = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "tables" / ".a.csv.x.tmp"))
    entry = log_error(tmp_path, err, label="write table a", folder=tmp_path / "tables")
    assert entry["error"].startswith("write table a: Disk full: no space left to write .a.csv.x.tmp in ")
    assert read_failures(tmp_path, invocation="inv-2", step="08_summary") == [entry]


def test_the_failure_log_is_never_written_through_a_link(tmp_path, capsys):
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (tmp_path / "provenance").mkdir()
    (tmp_path / "provenance" / "failures.jsonl").symlink_to(outside)
    log_error(tmp_path, "RuntimeError: boom", label="08 summary")
    assert outside.read_text() == "" and "could not log 1 failure(s)" in capsys.readouterr().out
