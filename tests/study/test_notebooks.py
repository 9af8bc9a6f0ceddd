"""The family notebooks (notebooks/models/<family>.ipynb): one per registered family, generated like the step
notebooks and held to the same checks; ``aelib run --models`` runs them; papermill's ``-p`` strings work; a
family notebook trains what is missing on an empty folder and nothing when the runs exist."""
import argparse
import ast
import importlib.util
import inspect
import json
import os
from pathlib import Path

import nbformat
import pytest

from aelib.models import list_models
from aelib.study import commands, execution, planning
from aelib.study.family_report import FamilyReport
from aelib.study.params import LIST_PARAMETERS
from aelib.study.profiles import step_parameters
from aelib.study.steps import STEP_NAMES
from aelib.study.study import Study

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "notebooks" / "models"
ALL_NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted(MODELS.glob("*.ipynb"))


def _build():
    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameters(notebook: Path) -> dict:
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body
            if isinstance(node, ast.Assign)}


def _cell(notebook: Path, text: str) -> str:
    return next(c.source for c in nbformat.read(notebook, as_version=4).cells if text in c.source)


def test_a_notebook_for_every_registered_family_and_no_other():
    assert sorted(p.stem for p in MODELS.glob("*.ipynb")) == sorted(list_models())


def test_family_notebooks_are_what_the_build_script_writes():
    build = _build()
    for family in list_models():
        built = [c.source for c in build.build_model_notebook(family).cells]
        committed = [c.source for c in nbformat.read(MODELS / f"{family}.ipynb", as_version=4).cells]
        assert committed == built, f"notebooks/models/{family}.ipynb differs from the build script: rebuild it"


@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO / "notebooks")))
def test_notebooks_are_committed_without_outputs(notebook):
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{notebook.name}: a cell has outputs"


@pytest.mark.parametrize("family", list_models())
def test_family_notebook_defaults_are_the_quick_profile(family):
    defaults = _parameters(MODELS / f"{family}.ipynb")
    profile = planning.model_notebook_parameters("quick")
    assert defaults["family"] == family and defaults["profile"] == "quick"
    differ = {k: (defaults.get(k), v) for k, v in profile.items() if defaults.get(k, object()) != v}
    assert not differ, f"models/{family}.ipynb drifted from the quick profile (notebook, profile): {differ}"
    assert profile["z_values"] == step_parameters("quick", "02_latent_sweep")["z_values"]


@pytest.mark.parametrize("family", list_models())
def test_papermill_sees_every_parameter_of_a_family_notebook(family):
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    notebook = MODELS / f"{family}.ipynb"
    seen = {p.name for p in _infer_parameters(load_notebook_node(str(notebook)), name="python3", language="python")}
    assert seen == set(_parameters(notebook))


def test_every_family_notebook_parameter_reaches_the_code():
    names = set(_parameters(MODELS / "fcae.ipynb"))
    taken = set(inspect.signature(FamilyReport).parameters) - {"study"}
    notebook_only = {"use_drive", "drive_dir"}
    assert names - taken - {"out_dir", *Study.OPTIONS} - notebook_only == set()
    assert {"out_dir", "family", "z_values", "seeds", "n_train", "n_test", "epochs", "use_drive"} <= names


def test_family_notebooks_show_every_part_and_take_their_address_from_pyproject():
    build = _build()
    owner_name = build.repository_url().split("github.com/")[1]
    for family in list_models():
        nb = nbformat.read(MODELS / f"{family}.ipynb", as_version=4)
        source = "\n".join(c.source for c in nb.cells)
        for part in ("architecture", "rmse_against_z", "reconstructions", "umap", "latent_measures", "complementary",
                     "perturbation", "samples", "standing"):
            assert f"report.{part}()" in source, (family, part)
        assert f"colab.research.google.com/github/{owner_name}/blob/main/notebooks/models/{family}.ipynb" in source
        assert f'"git+{build.repository_url()}"' in source  # the install cell
        assert f"{build.repository_url()}/blob/main/docs/methods.md" in source
        assert f"STEP = 'models/{family}'" in source


@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO / "notebooks")))
def test_every_list_parameter_goes_through_as_list_after_the_install_cell(notebook):
    params = _parameters(notebook)
    cells = [c.source for c in nbformat.read(notebook, as_version=4).cells]
    lists = next(i for i, c in enumerate(cells) if "from aelib.study.params import as_list" in c)
    assert "pip" in cells[lists - 1]  # aelib is importable by then, on Colab too
    for name, value in params.items():
        if isinstance(value, list) or name in LIST_PARAMETERS:
            assert f'{name} = as_list("{name}", {name}, {LIST_PARAMETERS[name].__name__})' in cells[lists], name


def test_the_lists_cell_turns_papermill_strings_into_lists():
    scope = {"families": '["fcae"]', "seeds": "0", "z_values": "2,40", "levels": "[0, 0.5, 1]", "modes": "relative"}
    exec(_cell(REPO / "notebooks" / "06_generative.ipynb", "import as_list"), scope)  # noqa: S102
    assert (scope["families"], scope["seeds"], scope["z_values"]) == (["fcae"], [0], [2, 40])
    assert scope["levels"] == [0.0, 0.5, 1.0] and scope["modes"] == ["relative"]
    with pytest.raises(ValueError, match=r"-y 'seeds: \[\.\.\.\]'.*Received: seeds='zero'"):
        exec(_cell(REPO / "notebooks" / "02_latent_sweep.ipynb", "import as_list"),  # noqa: S102
             {"families": "all", "seeds": "zero", "z_values": [2]})


def test_a_list_parameter_without_a_declared_item_type_is_refused():
    with pytest.raises(ValueError, match=r"without an entry: \['new_list'\]"):
        _build().lists_cell("new_list = [1, 2]  # ints\nseeds = [0]")


# --- aelib run --models ---

def _args(tmp_path, *flags: str, **options: str) -> argparse.Namespace:
    from aelib.study import cli

    given = [x for k, v in options.items() for x in (f"--{k}", v)]
    return cli.build_parser().parse_args(["run", "--out", str(tmp_path), "--dry-run", *flags, *given])


def test_models_run_after_the_steps_with_the_runs_options(tmp_path):
    units = planning.plan(_args(tmp_path, "--models", families="fcae,vae", steps="02,08", z="2,40", seeds="0"))
    assert [u["step"] for u in units] == ["02_latent_sweep", "08_summary", "models/fcae", "models/vae"]
    params = units[-1]["parameters"]
    assert params["family"] == "vae" and params["z_values"] == [2, 40] and params["seeds"] == [0]
    assert params["out_dir"] == str(tmp_path.resolve())
    assert set(params) <= set(_parameters(MODELS / "vae.ipynb")), "a parameter the notebook does not have"
    only = planning.plan(_args(tmp_path, steps="models", families="cae"))
    assert [u["step"] for u in only] == ["models/cae"]
    assert planning.unit_cost(only[0]) == planning.MODEL_NOTEBOOK_COST
    assert [u["step"] for u in planning.plan(_args(tmp_path, steps="02"))] == ["02_latent_sweep"]  # not by default
    with pytest.raises(ValueError, match="'models' for the family notebooks"):
        planning.resolve_steps("02,nope")


def test_slurm_leaves_the_family_notebooks_to_a_local_run(tmp_path, capsys):
    from aelib.study import cli

    code = cli.main(["run", "--out", str(tmp_path), "--executor", "slurm", "--models", "--steps", "02",
                     "--families", "fcae", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "models/fcae" not in out.split("do not run")[-1].split("\n", 1)[1]
    assert "aelib run --steps models --out" in out


def test_list_names_the_family_notebooks():
    assert "notebooks/models/<family>.ipynb" in commands.describe()


def test_the_kernel_runs_over_ipc_where_it_can():
    with execution.kernel_options() as options:
        if os.name == "posix":
            manager = options["config"]["KernelManager"]
            assert manager["transport"] == "ipc" and Path(manager["ip"]).parent.is_dir()
            folder = Path(manager["ip"]).parent
        else:
            assert options == {}
    if os.name == "posix":
        assert not folder.exists()  # removed with its sockets


# --- a family notebook end to end ---

TINY = {"z_values": "2", "seeds": "[0]", "n_train": 300, "n_test": 100, "epochs": 1, "profile": "quick",
        "step_options": {"04_latent_space": {"n_points": 60}, "05_ood_reconstruction": {"n_ood": 40},
                         "06_generative": {"n_samples": 40, "levels": [0.0, 1.0], "modes": ["relative"],
                                           "classifier_epochs": 1}}}


@pytest.mark.slow
def test_fcae_notebook_trains_what_is_missing_then_nothing(tmp_path, capfd, monkeypatch):
    """On an empty folder the notebook runs the steps for fcae (training its model through the study's
    machinery); on the same folder again it finds every run and trains and computes nothing. The -p style
    strings ("2", "[0]") are taken as lists; the kernel prints no transport warning."""
    monkeypatch.setenv("AELIB_WORKERS", "1")  # no worker processes to start for one tiny model
    unit = {"step": "models/fcae", "out_dir": str(tmp_path), "parameters": {**TINY, "out_dir": str(tmp_path)}}
    first = execution.execute_unit(unit)
    assert first["status"] == "complete", first["error"]
    printed = capfd.readouterr()
    assert "without encryption" not in printed.out + printed.err
    trained = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("metrics.json")}
    assert any("/train/" in str(p) for p in trained) and len(trained) >= 5  # model, 03, 04, 05 (×3), 06 …
    record = json.loads((tmp_path / "provenance" / "models" / "fcae.json").read_text())
    assert record["runs"]["complete"] == len(trained) and record["parameters"]["z_values"] == [2]
    for name in ("rmse_vs_z", "reconstructions", "latent_measures_vs_z", "ood_rmse_vs_z", "perturbation_rmse_vs_p"):
        assert (tmp_path / "figures" / "models" / "fcae" / f"{name}.png").is_file(), name
    assert not (tmp_path / "figures" / "rmse_vs_z.png").exists()  # the study's own figures are left alone

    again = execution.execute_unit(unit)
    assert again["status"] == "complete", again["error"]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("metrics.json")} == trained
    record = json.loads((tmp_path / "provenance" / "models" / "fcae.json").read_text())
    assert record["runs"] == {"complete": 0, "skipped": 0, "failed": 0}
    executed = nbformat.read(tmp_path / "executed" / "models" / "fcae.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "running the step" not in printed
    assert "Fully connected AE" in printed  # the architecture part ran and said what it built


def test_every_step_the_family_notebook_reads_is_a_step():
    from aelib.study.family_report import STEP_TABLES

    assert set(STEP_TABLES) <= set(STEP_NAMES)
