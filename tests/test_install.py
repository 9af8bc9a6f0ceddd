"""What Colab does, offline: build the package, install the wheel (not editable)
into a new environment that cannot see this checkout, and run a step notebook
from the installed package with papermill's own command line, then the
``aelib`` command (help, list, report) from an unrelated folder.

The new environment borrows the dependencies of the one running the tests
through a ``.pth`` line naming its site-packages (a plain path: that folder's
own ``.pth`` files, among them an editable install of aelib, are not run), so
nothing is downloaded; the test checks that ``aelib`` is the wheel's.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

REPO = Path(__file__).resolve().parents[1]
SOURCE = ("pyproject.toml", "README.md", "aelib", "notebooks")  # what a build needs; the rest stays behind


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(AELIB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONNOUSERSITE="1")
    return env


def _run(args, *, cwd, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_every_subpackage_ships():
    """pyproject.toml lists packages by hand (for the notebooks' mapping): none may be missing."""
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "aelib").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert config["tool"]["setuptools"]["package-dir"]["aelib.notebooks"] == "notebooks"
    assert config["project"]["scripts"]["aelib"] == "aelib.study.cli:main"


@pytest.mark.slow
def test_wheel_installs_and_runs_a_notebook_outside_the_checkout(tmp_path):
    # 1. build a wheel from a copy of the sources (the checkout gets no build/ folder)
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", dist, src], cwd=tmp_path)
    (wheel,) = dist.glob("aelib-*.whl")

    # 2. a new environment: the wheel, and this environment's dependencies by a plain path
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         cwd=tmp_path)

    work = tmp_path / "work"  # an unrelated folder, as on Colab
    work.mkdir()
    probe = ("import json, aelib, aelib.study.planning as c; "
             "print(json.dumps([aelib.__file__, str(c.notebooks_dir()), c.IN_CHECKOUT]))")
    where = json.loads(_run([python, "-c", probe], cwd=work).stdout)
    assert Path(where[0]).is_relative_to(venv) and Path(where[1]).is_relative_to(venv) and where[2] is False, where
    assert Path(where[1], "02_latent_sweep.ipynb").is_file()

    # 3. one step notebook from the installed package, through papermill's command line
    out = tmp_path / "results"
    params = {"families": ["fcae"], "z_values": [2], "seeds": [0], "epochs": 1, "n_train": 200, "n_test": 100,
              "out_dir": str(out)}
    _run([python, "-m", "papermill", Path(where[1], "02_latent_sweep.ipynb"), work / "executed.ipynb",
          "-y", json.dumps(params), "-k", "python3", "--no-progress-bar"], cwd=work)
    table = pd.read_csv(out / "tables" / "latent_sweep_runs.csv")
    assert list(table["family"]) == ["fcae"] and list(table["latent_dim"]) == [2]
    provenance = json.loads((out / "provenance" / "02_latent_sweep.json").read_text())
    assert provenance["device"]["cpu_count"] >= 1 and "gpus" in provenance["device"]

    # 4. the console command, outside the checkout
    aelib = venv / "bin" / "aelib"
    assert "aelib report" in _run([aelib, "--help"], cwd=work).stdout
    listing = _run([aelib, "list"], cwd=work).stdout
    assert "mae" in listing and "mask_ratio=0.75" in listing and "08_summary" in listing and "thesis" in listing
    plan = _run([aelib, "run", "--dry-run", "--steps", "02", "--families", "fcae"], cwd=work).stdout
    assert json.loads(plan.split(" ", 1)[1])["out_dir"] == str((work / "results" / "quick").resolve())
    report = _run([aelib, "report", "--out", out, "--families", "fcae", "--z", "2", "--epochs", "1",
                   "--n-train", "200", "--n-test", "100"], cwd=work)
    assert "wrote" in report.stdout and (out / "REPORT.md").is_file()
