"""The `aelib` command: where it finds notebooks and puts results, `list`,
`report`; and the Colab cells of the notebooks (repository address, Drive)."""
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

from aelib.models import list_models
from aelib.study import cli
from aelib.study.profiles import PROFILES, STEPS

REPO = Path(__file__).resolve().parents[1]


def test_in_a_checkout_notebooks_and_results_are_the_checkouts(monkeypatch, tmp_path):
    assert cli.IN_CHECKOUT and cli.notebooks_dir() == REPO / "notebooks"
    monkeypatch.chdir(tmp_path)
    assert cli.default_out("thesis") == REPO / "results" / "thesis"


def test_outside_a_checkout_results_go_under_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "IN_CHECKOUT", False)
    monkeypatch.chdir(tmp_path)
    assert cli.default_out("quick") == tmp_path / "results" / "quick"
    units = cli.plan(cli.build_parser().parse_args(["run", "--steps", "02", "--families", "fcae", "--dry-run"]))
    assert units[0]["out_dir"] == str((tmp_path / "results" / "quick").resolve())


def test_list_shows_families_with_options_steps_and_profiles(capsys):
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    for name in [*list_models(), *STEPS, *PROFILES]:
        assert re.search(rf"^\s+{name}\b", text, re.M), name
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
    unit = cli.report_unit(parser.parse_args(["report", "--out", str(tmp_path), "--z", "2"]), parser)
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
    for step in STEPS:
        nb = nbformat.read(REPO / "notebooks" / f"{step}.ipynb", as_version=4)
        owner_name = url.split("github.com/")[1]
        assert f"colab.research.google.com/github/{owner_name}/blob/main/notebooks/{step}.ipynb" in nb.cells[0].source
        assert f'"git+{url}"' in _cell(nb, f"{step[:2]}-cell-2")  # the install cell


def test_the_drive_cell_does_nothing_outside_colab(capsys, monkeypatch):
    nb = nbformat.read(REPO / "notebooks" / "02_latent_sweep.ipynb", as_version=4)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    for use_drive in (False, True):
        scope = {"use_drive": use_drive, "drive_dir": "/content/drive/MyDrive/aelib", "out_dir": "results/quick"}
        exec(_cell(nb, "02-drive"), scope)
        assert scope["out_dir"] == "results/quick"
    assert "not in Colab" in capsys.readouterr().out
