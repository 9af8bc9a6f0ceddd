"""Each fact once: the step table, the profiles, the notebook generator and TrainConfig agree on the step names
and the training fields, and the command line derives its steps and costs from the table."""
import ast
import dataclasses
import importlib.util
from pathlib import Path

import nbformat
import pytest

from aelib.study import planning, sessions, steps
from aelib.study.profiles import PROFILES, SHARED_STEP, step_parameters
from aelib.training import TRAINING_FIELDS, TrainConfig

REPO = Path(__file__).resolve().parents[2]


def _build_notebooks():
    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameter_names(source: str) -> list[str]:
    return [node.targets[0].id for node in ast.parse(source).body if isinstance(node, ast.Assign)]


def test_the_training_fields_are_trainconfigs():
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    assert list(TRAINING_FIELDS) == [name for name in fields if name in TRAINING_FIELDS]  # its order
    assert set(fields) - set(TRAINING_FIELDS) == {"seed", "verbose", "steps_per_execution"}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_sets_every_training_field_and_only_known_steps(profile):
    common = PROFILES[profile]["common"]
    assert [k for k in common if k in TRAINING_FIELDS] == list(TRAINING_FIELDS)
    TrainConfig(**{k: common[k] for k in TRAINING_FIELDS})  # values TrainConfig takes
    assert set(PROFILES[profile]) - {"common"} <= set(steps.STEP_NAMES)
    assert set(SHARED_STEP) <= set(steps.STEP_NAMES)
    for step in steps.STEP_NAMES:
        params = step_parameters(profile, step)
        assert [k for k in params if k in TRAINING_FIELDS] == list(TRAINING_FIELDS), step


def test_the_notebook_generator_agrees_with_the_step_table_and_trainconfig():
    build = _build_notebooks()
    assert list(build.notebooks()) == list(steps.STEP_NAMES)
    assert list(build.TRAINING_LINES) == list(TRAINING_FIELDS)
    common = _parameter_names(build.COMMON.replace("...", "None"))
    assert [n for n in common if n in TRAINING_FIELDS] == list(TRAINING_FIELDS)
    with pytest.raises(ValueError, match=r"lines missing for \['new_field'\]"):
        build.training_lines((*TRAINING_FIELDS, "new_field"))
    built = build.build("02_latent_sweep", build.notebooks()["02_latent_sweep"])
    assert built.cells[0].source.startswith(f"# {steps.get('02_latent_sweep').title}\n")
    study_cell = next(c.source for c in built.cells if "study = Study(" in c.source)
    for name in TRAINING_FIELDS:  # every training field reaches the Study
        assert f"{name}={name}" in study_cell, name


@pytest.mark.parametrize("step", steps.STEPS, ids=lambda s: s.name)
def test_each_step_has_its_notebook_module_and_profile_entry(step):
    notebook = nbformat.read(REPO / "notebooks" / f"{step.name}.ipynb", as_version=4)
    assert notebook.cells[0].source.splitlines()[0] == f"# {step.title}"
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert set(TRAINING_FIELDS) <= set(_parameter_names(cell.source))
    assert (REPO / "aelib" / "study" / "steps" / f"{step.module}.py").is_file()
    assert step.number == step.name[:2] and step.cost > 0


def test_no_notebook_without_a_step():
    assert sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb")) == sorted(steps.STEP_NAMES)


def test_an_unknown_step_names_the_known_ones():
    with pytest.raises(ValueError, match="Known steps: 01_architecture, 02_latent_sweep"):
        steps.get("99_nope")
    with pytest.raises(ValueError, match="Received: 'x'"):
        steps.Step("09_x", "x", "x", 1.0, False, "x")


def test_scopes_decide_shards_sessions_and_costs():
    assert sessions.SESSION_STEPS == "01,02,03,04,05,06" and sessions.FINAL_STEPS == "07,08"
    assert planning.resolve_steps(None) == list(steps.STEP_NAMES)
    assert planning.resolve_steps("8,latent_sweep,01_architecture") == ["08_summary", "02_latent_sweep",
                                                                          "01_architecture"]
    for step in steps.STEPS:  # a unit of two families: the per-family costs scale, the others do not
        unit = {"step": step.name, "parameters": {"families": ["a", "b"]}}
        share = 2 / steps.COST_FAMILIES if step.per_family_cost else 1
        assert planning.unit_cost(unit) == pytest.approx(step.cost * share)
