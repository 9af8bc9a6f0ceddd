"""The study end to end: papermill notebooks, resume after kill -9, failures, shards."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from aelib.study import cli, planning, steps
from aelib.study.steps.reconstruction import run as reconstruction_grids
from aelib.study.steps.sweep import run as latent_sweep
from aelib.study.study import Study, StudyFailures

REPO = Path(__file__).resolve().parents[2]
TINY = ["--n-train", "300", "--n-test", "100", "--epochs", "2", "--seeds", "0"]


def _cli(out, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "aelib.study.cli", "run", "--out", str(out), *TINY, *args],
                          cwd=REPO, capture_output=True, text=True, **kwargs)


def test_failed_run_does_not_stop_the_others(tmp_path):
    study = Study(tmp_path, epochs=1, n_train=200, n_test=50,
                  family_options={"vanilla": {"output_activation": "bogus"}})
    table = latent_sweep(study, families=["vanilla", "fcae"], z_values=[2], seeds=[0])
    assert list(table["family"]) == ["fcae"]
    assert [r.status for r in study.results] == ["failed", "complete"]
    with pytest.raises(StudyFailures, match="vanilla z=2.*output_activation"):
        study.finish("02_latent_sweep", {})
    assert (tmp_path / "provenance" / "02_latent_sweep.json").is_file()


def test_reconstruction_units_are_runs_and_a_rerun_skips_them(tmp_path):
    study = Study(tmp_path, epochs=1, n_train=200, n_test=50)
    # trains the two models first
    first = reconstruction_grids(study, families=["vanilla"], z_values=[1, 2], grid_seed=0)
    assert (tmp_path / "figures" / "reconstructions_vanilla.png").is_file()
    assert [r.status for r in study.results if r.kind == "reconstruction"] == ["complete", "complete"]
    again = Study(tmp_path, epochs=1, n_train=200, n_test=50)
    pd.testing.assert_frame_equal(reconstruction_grids(again, families=["vanilla"], z_values=[1, 2], grid_seed=0),
                                  first)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    other = Study(tmp_path, epochs=1, n_train=200, n_test=50)  # a subset of the z: the same runs, the same rows
    reconstruction_grids(other, families=["vanilla"], z_values=[2], grid_seed=0)
    assert [r.status for r in other.results] == ["skipped"]
    assert len(pd.read_csv(tmp_path / "tables" / "reconstruction_spread.csv")) == 2


def test_bad_study_parameters_fail_before_any_run(tmp_path):
    study = Study(tmp_path)
    with pytest.raises(ValueError, match="Could not interpret family identifier: 'vanila'"):
        latent_sweep(study, families=["vanila"], z_values=[2], seeds=[0])
    with pytest.raises(ValueError, match=r"Received: z_values=\[0\]"):
        latent_sweep(study, families=["fcae"], z_values=[0], seeds=[0])
    with pytest.raises(ValueError, match="unknown families"):
        Study(tmp_path, family_options={"nope": {}})


@pytest.mark.slow
def test_notebooks_end_to_end_and_resume_after_kill(tmp_path):
    out = tmp_path / "study"
    args = ["--steps", "02,03", "--families", "vanilla,fcae", "--z", "1,2"]
    proc = subprocess.Popen([sys.executable, "-m", "aelib.study.cli", "run", "--out", str(out), *TINY, *args],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = out / "runs" / "train"
    deadline = time.time() + 240
    while time.time() < deadline and not list(runs.glob("*/metrics.json")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 mid-study, kernel included
    proc.wait()
    first = {p: p.stat().st_mtime_ns for p in runs.glob("*/metrics.json")}
    assert first, "no run finished before the deadline"

    done = _cli(out, *args, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for path, mtime in first.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    table = pd.read_csv(out / "tables" / "latent_sweep_runs.csv")
    assert len(table) == 4 and not table.duplicated(["family", "latent_dim", "seed"]).any()
    assert {"rmse_mean", "data_source", "n_train_used"} <= set(table.columns)
    assert set(table["n_train_used"]) == {300}
    for name in ("rmse_vs_z.png", "rmse_vs_z.pdf", "reconstructions_fcae.png"):
        assert (out / "figures" / name).is_file()
    assert (out / "executed" / "02_latent_sweep.ipynb").is_file()
    assert "already complete" in done.stdout

    again = _cli(out, *args, timeout=600)  # nothing left to do: every run skipped, same table
    assert again.returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / "latent_sweep_runs.csv"), table)
    # the killed invocation wrote no record; both finished ones are logged, the latest also in study.json
    import json

    lines = (out / "provenance" / "invocations.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert [s["step"] for s in json.loads(lines[-1])["steps"]] == ["02_latent_sweep", "03_reconstruction"]
    assert json.loads((out / "provenance" / "study.json").read_text())["finished"] == json.loads(lines[-1])["finished"]


def test_cli_rejects_bad_arguments(tmp_path):
    assert cli.main(["run", "--families", "nope", "--out", str(tmp_path), "--dry-run"]) == 2
    assert cli.main(["run", "--steps", "42", "--out", str(tmp_path), "--dry-run"]) == 2
    assert cli.main(["run", "--shard", "3/2", "--out", str(tmp_path), "--dry-run"]) == 2


def test_shards_cover_every_family_exactly_once():
    families = [f"f{i}" for i in range(10)]
    for n in (1, 2, 3, 4, 10, 12):
        seen = [f for i in range(n) for f in planning.shard_families(families, (i, n))]
        assert sorted(seen) == sorted(families)


def test_progress_estimates_time_left_from_run_weights():
    import io
    from types import SimpleNamespace

    from aelib.study.progress import Progress

    stream = io.StringIO()
    progress = Progress(4, label="t", stream=stream, weights=[1, 1, 8, 10])
    assert progress.eta() == "?"
    progress.update(SimpleNamespace(status="skipped", seconds=0.0, error=None))  # costs no time: no estimate yet
    assert progress.eta() == "?"
    progress.update(SimpleNamespace(status="complete", seconds=2.0, error=None))  # 2 s per unit of weight
    assert progress.eta() == "36s"  # (8 + 10) × 2 s
    progress.update(SimpleNamespace(status="failed", seconds=6.0, error="nan"))  # 8 s for weight 9 so far
    assert progress.eta() == "9s"  # 10 × 8/9 s
    progress.update(SimpleNamespace(status="complete", seconds=1.0, error=None))
    assert progress.eta() == "0s"
    assert "done 2, skipped 1, failed 1 of 4" in stream.getvalue()
    with pytest.raises(ValueError, match="Expected 4 weights"):
        Progress(4, weights=[1])


def test_time_left_scales_step_costs_by_the_time_taken():
    cost = {step.name: step.cost for step in steps.STEPS}
    units = [{"step": step, "parameters": {"families": [f"f{i}" for i in range(10)]}} for step in cost]
    costs = [planning.unit_cost(u) for u in units]
    assert planning.time_left(costs, 0, 0.0) is None
    total = sum(cost.values())
    # the first step took twice its share: the rest is expected to take twice theirs
    left = planning.time_left(costs, 1, 2 * cost["01_architecture"])
    assert left == pytest.approx(2 * (total - cost["01_architecture"]))
    # fewer families make a per-family step cheaper, not a study-wide one
    few = [{"step": u["step"], "parameters": {"families": ["f0", "f1"]}} for u in units]
    assert planning.unit_cost(few[1]) == pytest.approx(cost["02_latent_sweep"] / 5)
    assert planning.unit_cost(few[6]) == cost["07_augmentation"]
    assert planning.time_left(costs, len(costs), 100.0) == 0


def test_plan_applies_profile_and_overrides(tmp_path):
    parser_args = ["run", "--profile", "thesis", "--steps", "02", "--families", "fcae", "--z", "3,5", "--out",
                   str(tmp_path)]
    import argparse

    ns = argparse.Namespace(profile="thesis", steps="02,06", families="fcae", z="3,5", dataset=None, epochs=None,
                            seeds=None, n_train=None, n_test=None, out=str(tmp_path), shard=None)
    units = planning.plan(ns)
    assert [u["step"] for u in units] == ["02_latent_sweep", "06_generative"]
    assert units[0]["parameters"]["z_values"] == [3, 5] and units[0]["parameters"]["seeds"] == [0, 1, 2, 3, 4]
    assert units[0]["parameters"]["families"] == ["fcae"]
    # the same options given on the command line plan the same step 02
    assert planning.plan(cli.build_parser().parse_args(parser_args)) == units[:1]
    assert cli.main(parser_args + ["--dry-run"]) == 0


@pytest.mark.slow
def test_submitit_executor_runs_units_as_jobs(tmp_path):
    """The Slurm path, through submitit's local executor (no Slurm needed): one job per (family, step)."""
    out = tmp_path / "study"
    code = cli.main(["run", "--executor", "submitit-local", "--steps", "02", "--families", "vanilla,fcae", "--z", "1",
                     "--out", str(out), *TINY])
    assert code == 0
    table = pd.read_csv(out / "tables" / "latent_sweep_runs.csv")
    # each family ran in its own job, and each job rebuilt the table from the shared store
    assert set(table["family"]) <= {"vanilla", "fcae"} and len(list((out / "runs" / "train").iterdir())) == 2
    assert len(list((out / "executed").glob("02_latent_sweep-*.ipynb"))) == 2
    assert list((out / "slurm_logs").glob("*_log.out"))


def _toy_evaluate(study, unit, run_dir):
    (run_dir / "value.txt").write_text(str(unit.params["value"]))
    return {"rmse": unit.params["value"]}


def _toy_rows(study, results):
    return pd.DataFrame([{"family": r.config["family"], "latent_dim": r.config["latent_dim"], "rmse": r.metrics["rmse"],
                          "note": (r.context or {}).get("note")} for r in results])


def test_tables_are_built_from_the_store_and_merge_what_shards_and_jobs_evaluated(tmp_path):
    from aelib.study.study import Unit

    def units(*cells):
        return [Unit(f"{f} z={z}", {"family": f, "latent_dim": z}, {"value": v}) for f, z, v in cells]

    shard_a, shard_b = Study(tmp_path), Study(tmp_path)  # two invocations on one results folder
    shard_a.evaluate_grid("toy", "toy", units(("fcae", 2, 0.3), ("fcae", 10, 0.2)), _toy_evaluate, table="t",
                          rows=_toy_rows)
    merged, results = shard_b.evaluate_grid("toy", "toy", units(("vae", 2, 0.25)), _toy_evaluate, table="t",
                                            rows=_toy_rows, context=[{"note": "b"}])
    assert [r.status for r in results] == ["complete"]
    assert list(zip(merged["family"], merged["latent_dim"])) == [("fcae", 2), ("fcae", 10), ("vae", 2)]
    assert merged.set_index("family").loc["vae", "note"] == "b"  # a unit's context travels with its run
    # a rerun of one cell: the store skips it (its value stays the stored one) and the table keeps every row once
    again = Study(tmp_path).evaluate_grid("toy", "toy", units(("fcae", 2, 9.9)), _toy_evaluate, table="t",
                                          rows=_toy_rows)[0]
    on_disk = pd.read_csv(tmp_path / "tables" / "t.csv")
    assert len(on_disk) == 3 and not on_disk.duplicated(["family", "latent_dim"]).any()
    assert on_disk.set_index(["family", "latent_dim"]).loc[("fcae", 2), "rmse"] == 0.3
    pd.testing.assert_frame_equal(again.reset_index(drop=True), on_disk, check_dtype=False)
    # the table is the store's: a lost CSV comes back from the runs, without running any unit again
    (tmp_path / "tables" / "t.csv").unlink()
    rebuilt, results = Study(tmp_path).evaluate_grid("toy", "toy", [], _toy_evaluate, table="t", rows=_toy_rows)
    assert results == [] and len(rebuilt) == 3
    # a run whose folder is gone is left out of the table, not an error
    shutil.rmtree(next((tmp_path / "runs" / "toy").glob("vae-*")))
    assert set(Study(tmp_path).evaluate_grid("toy", "toy", [], _toy_evaluate, table="t", rows=_toy_rows)[0]["family"]) \
        == {"fcae"}


def test_table_keys_may_be_missing(tmp_path):
    study = Study(tmp_path)
    frame = pd.DataFrame({"family": ["vae", "vae"], "latent_dim": [2, 2], "level": [0.1, float("nan")], "x": [1, 2]})
    assert len(study.write_table("g", frame)) == 2


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--n-train", "0"], ["--n-test", "-3"], ["--z="], ["--families="],
                                 ["--steps="], ["--seeds", ","], ["--z", "2,x"], ["--z", "0"]])
def test_zero_or_empty_options_are_refused_not_replaced_by_defaults(tmp_path, bad, capsys):
    assert cli.main(["run", "--out", str(tmp_path), "--dry-run", *bad]) == 2
    assert "Expected" in capsys.readouterr().err


def test_an_unusable_out_folder_gets_one_clear_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli.main(["run", "--out", str(a_file), "--steps", "02", "--families", "fcae"]) == 2
    assert "must be a folder" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root ignores permissions: then only the file case is checked
            assert cli.main(["run", "--out", str(locked / "sub"), "--steps", "02", "--families", "fcae"]) == 2
            assert "Cannot write results" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_a_fully_failing_rerun_keeps_the_table(tmp_path):
    good = Study(tmp_path, epochs=1, n_train=200, n_test=50)
    latent_sweep(good, families=["fcae"], z_values=[2], seeds=[0])
    before = (tmp_path / "tables" / "latent_sweep_runs.csv").read_text()
    bad = Study(tmp_path, epochs=1, n_train=200, n_test=50, family_options={"fcae": {"output_activation": "bogus"}})
    from aelib.study.study import StudyFailures

    with pytest.raises(StudyFailures, match="Every run of 02 latent sweep failed"):  # the cause, not a KeyError
        latent_sweep(bad, families=["fcae"], z_values=[2], seeds=[0])
    assert [r.status for r in bad.results] == ["failed"]
    assert (tmp_path / "tables" / "latent_sweep_runs.csv").read_text() == before
