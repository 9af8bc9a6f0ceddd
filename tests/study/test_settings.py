"""Rows of different settings are kept apart: in the tables, in seed averages,
in the summary; and the notebooks default to the quick profile."""
import ast
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from aelib.study.profiles import PROFILES, step_parameters
from aelib.study.steps import STEP_NAMES
from aelib.study.steps.summary import run as summarize_study
from aelib.study.steps.sweep import run as latent_sweep
from aelib.study.study import Study, aggregate_seeds

REPO = Path(__file__).resolve().parents[2]
TINY = {"n_train": 200, "n_test": 100}


def _table(study: Study, name: str) -> pd.DataFrame:
    return pd.read_csv(study.tables / f"{name}.csv", dtype={"setting": str})


@pytest.fixture(scope="module")
def rerun(tmp_path_factory):
    """fcae at z=2 trained into one folder with 1 epoch, then with 2 (other settings), then with 1 again."""
    out = tmp_path_factory.mktemp("rerun")
    first, other = Study(out, epochs=1, **TINY), Study(out, epochs=2, **TINY)
    latent_sweep(first, families=["fcae"], z_values=[2], seeds=[0])
    latent_sweep(other, families=["fcae"], z_values=[2], seeds=[0])
    again = Study(out, epochs=1, **TINY)
    latent_sweep(again, families=["fcae"], z_values=[2], seeds=[0])
    return first, other, again


def test_setting_is_the_training_config_without_z_and_seed(tmp_path):
    study = Study(tmp_path, epochs=1, **TINY)
    key = study.setting("fcae", data_source="src")
    assert re.fullmatch(r"[0-9a-f]{10}", key)
    for z, seed in ((2, 0), (40, 3)):  # z and seed vary within a setting
        assert study.setting_of(study.spec("fcae", z, seed).config(), "src") == key
    assert study.setting("fcae", data_source="other") != key  # the training data's source is part of it
    assert study.setting("vae", data_source="src") != key
    assert study.setting("fcae", depth=2, data_source="src") != key
    for change in ({"epochs": 2}, {"dataset": "fashion_mnist"}, {"n_train": 300}, {"learning_rate": 1e-2},
                   {"family_options": {"fcae": {"output_activation": "linear"}}}):
        assert Study(tmp_path, **{"epochs": 1, **TINY, **change}).setting("fcae", data_source="src") != key, change
    assert study.setting("fcae") == study.setting("fcae", data_source=study.data("train")[2]["source"])


def test_rerun_with_other_settings_keeps_both_and_never_averages(rerun):
    first, other, again = rerun
    key, other_key = first.setting("fcae"), other.setting("fcae")
    assert key != other_key and again.setting("fcae") == key
    runs = _table(first, "latent_sweep_runs")
    assert len(runs) == 2 and set(runs["setting"]) == {key, other_key}  # same family, z, seed, dataset, depth
    by_z = _table(first, "rmse_by_z").set_index("setting")
    assert len(by_z) == 2 and list(by_z["n_seeds"]) == [1, 1]
    for setting in (key, other_key):  # each setting's own run, not a mean of both
        assert by_z.loc[setting, "rmse_mean"] == pytest.approx(runs.set_index("setting").loc[setting, "rmse_mean"])
    assert by_z.loc[key, "rmse_mean"] != pytest.approx(by_z.loc[other_key, "rmse_mean"])
    assert [r.status for r in again.results] == ["skipped"]  # the rerun of the first settings found its run
    for setting, epochs in ((key, 1), (other_key, 2)):  # what each hash means
        record = json.loads((first.tables / "settings" / f"{setting}.json").read_text())
        assert record["epochs"] == epochs and record["family"] == "fcae" and record["n_train"] == 200
        assert "latent_dim" not in record and "seed" not in record and record["data_source"]


def test_aggregate_seeds_never_pools_settings():
    frame = pd.DataFrame({"family": ["fcae"] * 4, "latent_dim": [2] * 4, "seed": [0, 1, 0, 1],
                          "setting": ["aaa", "aaa", "bbb", "bbb"], "rmse": [0.1, 0.3, 0.5, 0.7]})
    out = aggregate_seeds(frame, ["family", "latent_dim"], ["rmse"]).set_index("setting")
    assert list(out.index) == ["aaa", "bbb"] and list(out["n_seeds"]) == [2, 2]
    assert out.loc["aaa", "rmse"] == pytest.approx(0.2) and out.loc["bbb", "rmse"] == pytest.approx(0.6)
    assert len(aggregate_seeds(frame.drop(columns="setting"), ["family", "latent_dim"], ["rmse"])) == 1


def test_summary_uses_only_the_current_settings(rerun):
    first, other, _ = rerun
    for current, left_out in ((other, first), (first, other)):
        summarize_study(current, families=["fcae"], z_values=[2], chosen_z=[2], complementary=(), profile="quick")
        runs = _table(current, "latent_sweep_runs").set_index("setting")
        shown = pd.read_csv(current.out_dir / "summary" / "rmse_by_z.csv").set_index("family")
        assert shown.loc["fcae", "z=2"].startswith(f"{runs.loc[current.setting('fcae'), 'rmse_mean']:.4f}")
        report = (current.out_dir / "REPORT.md").read_text()
        # one row each in latent_sweep_runs and rmse_by_z
        assert (f"2 rows of other settings are kept in the tables and left out here: settings "
                f"{left_out.setting('fcae')} ") in report
        assert current.setting("fcae") not in report


def _parameters(notebook: Path) -> dict:
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body
            if isinstance(node, ast.Assign)}


@pytest.mark.parametrize("step", STEP_NAMES)
def test_notebook_defaults_are_the_quick_profile(step):
    defaults = _parameters(REPO / "notebooks" / f"{step}.ipynb")
    profile = step_parameters("quick", step)
    missing = sorted(set(profile) - set(defaults))
    differ = {k: (defaults[k], profile[k]) for k in set(profile) & set(defaults) if defaults[k] != profile[k]}
    assert not missing and not differ, (f"notebooks/{step}.ipynb drifted from PROFILES['quick'] (missing {missing}, "
                                        f"notebook vs profile {differ}): run python scripts/build_notebooks.py")


# Parameters a notebook has for its own cells (Drive, the profile's name), not for the code.
NOTEBOOK_ONLY = {"profile", "use_drive", "drive_dir"}
# Common parameters a step does not use, and why: its own parameter stands in for them.
NOT_USED = {"03_reconstruction": {"seeds"},  # grid_seed: one seed's models are drawn
            "07_augmentation": {"families", "seeds"},  # the feature fcae only; aug_seeds
            "08_summary": {"seeds"}}  # reads every seed the tables hold


@pytest.mark.parametrize("step", STEP_NAMES)
def test_every_notebook_parameter_reaches_the_code(step):
    import inspect

    from aelib.study import steps

    names = list(_parameters(REPO / "notebooks" / f"{step}.ipynb"))
    taken = set(inspect.signature(steps.module(step).run).parameters) - {"study"}
    fields = {"out_dir", *Study.OPTIONS}  # Study(Path(out_dir), **options)
    unused = set(names) - taken - fields - NOTEBOOK_ONLY
    assert unused == NOT_USED.get(step, set()), f"{step}: parameters no code takes: {sorted(unused)}"
    profile_keys = set(step_parameters("quick", step)) - NOTEBOOK_ONLY - NOT_USED.get(step, set())
    assert profile_keys <= taken | fields, (f"{step}: profile keys no code takes: "
                                            f"{sorted(profile_keys - taken - fields)}")


def test_committed_notebooks_are_what_the_build_script_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for step, what in build.notebooks().items():
        built = [c.source for c in build.build(step, what).cells]
        committed = [c.source for c in nbformat.read(REPO / "notebooks" / f"{step}.ipynb", as_version=4).cells]
        assert committed == built, f"notebooks/{step}.ipynb differs from scripts/build_notebooks.py: rebuild it"


@pytest.mark.parametrize("step", STEP_NAMES)
def test_what_the_profiles_set_has_no_second_default_in_the_code(step):
    import inspect

    from aelib.study import steps
    from aelib.study.profiles import MATCHED_PARAMETERS

    parameters = inspect.signature(steps.module(step).run).parameters
    for profile in PROFILES:
        # the one declared exception: without the matched-capacity parameters a sweep trains no matched runs
        # (the family notebooks run the sweep so)
        doubled = [name for name in step_parameters(profile, step)
                   if name in parameters and parameters[name].default is not inspect.Parameter.empty
                   and name not in MATCHED_PARAMETERS]
        assert not doubled, f"{step}.run gives {doubled} defaults of its own; the profiles hold them"


@pytest.mark.parametrize("step", STEP_NAMES)
def test_papermill_sees_every_parameter_of_a_notebook(step):
    """papermill infers the parameters cell line by line; one it cannot parse would be "unknown" to it."""
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    notebook = REPO / "notebooks" / f"{step}.ipynb"
    seen = {p.name for p in _infer_parameters(load_notebook_node(str(notebook)), name="python3", language="python")}
    unseen = sorted(set(_parameters(notebook)) - seen)
    assert seen == set(_parameters(notebook)), f"papermill cannot parse the lines of {unseen}"
