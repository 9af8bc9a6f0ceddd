"""Write the step notebooks (without outputs) from the cell texts below.

The notebooks under notebooks/ are the committed source that papermill runs;
this script keeps their shared cells (install, record) identical and takes the
defaults of their `parameters` cells from the quick profile
(`step_parameters("quick", step)`, aelib/study/profiles.py): every key of the
profile replaces the value on its line below (`...` marks those lines), a key
without a line gets one, and every parameter that is a field of `Study` is
passed to it. So a changed or new profile key needs only a rebuild (give it a
line below to document its allowed values). Edit here or change the profile,
run `python scripts/build_notebooks.py`, commit both.

The repository's address (the "Open in Colab" badges, the install cell) is
read from pyproject.toml, [project.urls] Repository: change it there for a fork.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
import textwrap
from pathlib import Path

import nbformat

from aelib.study import steps
from aelib.study.profiles import PROFILES, step_parameters
from aelib.study.study import Study

DEFAULT_PROFILE = "quick"  # whose parameters the notebooks default to

ROOT = Path(__file__).resolve().parents[1]


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """[project.urls] Repository of pyproject.toml: a https://github.com/<owner>/<name> address."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M)
        url = match.group(1) if match else None
    else:
        url = tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository")
    if not url or not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url.rstrip("/")):
        raise ValueError(f"Expected [project.urls] Repository = \"https://github.com/<owner>/<name>\" in {pyproject} "
                         f"(Colab opens notebooks from GitHub). Received: {url!r}")
    return url.rstrip("/")


REPO_URL = repository_url()  # where the "Open in Colab" links point and what the install cell installs

INSTALL = '''# Colab or a fresh kernel: install aelib if it is not importable (does nothing otherwise).
import importlib.util, os, subprocess, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if importlib.util.find_spec("aelib") is None:
    source = os.environ.get("AELIB_PIP_SOURCE", "git+REPO_URL")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)
from aelib._quiet import import_tensorflow
tf = import_tensorflow()  # without its C++ start-up lines
print("GPU:", tf.config.list_physical_devices("GPU") or "none (CPU run)")'''.replace("REPO_URL", REPO_URL)

COMMON = '''profile = ...  # "quick" (offline CPU defaults) or "thesis" (the seed's grids); informational
out_dir = "results/quick"  # where runs/, tables/ and figures/ go (e.g. a Google Drive folder on Colab)
use_drive = False  # True on Colab: mount Google Drive; a relative out_dir and the tfds datasets then go under drive_dir
drive_dir = "/content/drive/MyDrive/aelib"  # the Drive folder used when use_drive is True
families = "all"  # "all", or a list of keys such as ["fcae", "vae"]
dataset = "mnist"  # "mnist", "fashion_mnist" or "emnist_letters"
seeds = ...  # list of ints; several seeds give mean and 95 % intervals
epochs = ...  # int, at least 1: maximum epochs (early stopping on a validation split)
batch_size = ...  # int, at least 1
learning_rate = ...  # positive float (Adam)
patience = ...  # int, at least 0: early-stopping patience in epochs
min_delta = ...  # float in [0, 1): smallest relative decrease of the validation loss that counts as improvement
lr_patience = ...  # int, at least 0: epochs without improvement before the learning rate is multiplied by lr_factor
lr_factor = ...  # float in (0, 1]: the reduce-on-plateau factor; 1 keeps the learning rate fixed
depth = "auto"  # hidden layers of fully connected parts (STUDY.md §2): an int, or "auto" for the depth step 01 found best (3 until it ran)
n_train = ...  # None for the whole training split, or an int (stratified subset)
n_test = ...  # None for the whole test split, or an int
family_options = {}  # per-family hyperparameters, e.g. {"vae": {"beta": 1.0}, "dae": {"corruption": "masking"}}'''

DRIVE = '''# Optional: keep results and downloaded datasets on Google Drive (use_drive = True; only inside Colab).
import os, sys
if use_drive and "google.colab" in sys.modules:
    from google.colab import drive
    drive.mount("/content/drive")
    out_dir = os.path.join(drive_dir, out_dir)  # an absolute out_dir stays as it is
    os.environ.setdefault("TFDS_DATA_DIR", os.path.join(drive_dir, "tensorflow_datasets"))
    print(f"Google Drive: results in {out_dir}, datasets in {os.environ['TFDS_DATA_DIR']}")
elif use_drive:
    print(f"use_drive: not in Colab, Google Drive is not mounted; results go to {out_dir}")'''

# STUDY_CALL becomes `study = Study(...)` with every parameter that is a field of Study (study_call).
STUDY = '''from pathlib import Path
from aelib.study.study import Study, check_families
STUDY_CALL
families = check_families(families)'''

RECORD = '''# Record parameters, versions and data sources; fail the notebook (after everything was written) if runs failed.
study.finish(STEP, {k: v for k, v in globals().items() if k in PARAMETER_NAMES})'''

STEPS = {
    "01_architecture": {
        "title": "Step 1 — architecture search and tuning",
        "what": "Trains the fully connected families over depths 1–6 × latent sizes and picks the depth with the best test RMSE (STUDY.md §2); then tunes each family's key setting (and the learning rate, if several are given) on validation data at one z. Later steps use the depth and the tuned settings.",
        "params": '''depths = ...  # hidden layers to compare (ints, at least 1)
z_values = ...  # latent sizes; the seed used [10, 20, 40, 80, 160, 320]
arch_families = ...  # families with fully connected depth (fcae; vae, sae… also follow the depth rule)
tune_z = ...  # latent size at which each family's key setting is tuned
tune_grids = ...  # None for the declared grids (aelib.study.tuning.DEFAULT_GRIDS), or {family: [option, [values]]}
tune_learning_rates = ...  # [] keeps learning_rate; several values tune it per family too''',
        "show": ["architecture_fcae.png"],
    },
    "02_latent_sweep": {
        "title": "Step 2 — latent sweep",
        "what": "Trains every family at every latent size z and seed, and reports test RMSE against z (STUDY.md §3).",
        "params": '''z_values = ...  # latent sizes; the seed's grid is 1–10, 20–100 by 10, 200–700 by 100''',
        "show": ["rmse_vs_z.png"],
    },
    "03_reconstruction": {
        "title": "Step 3 — reconstruction",
        "what": "Shows originals beside their reconstructions for several z and the spread of per-sample RMSE (STUDY.md §4, step 4).",
        "params": '''z_values = ...  # latent sizes whose trained models are shown (trained by step 2, or now if missing)
grid_seed = ...  # which seed's models to show''',
        "show": ["reconstructions_{family}.png"],
    },
    "04_latent_space": {
        "title": "Step 4 — latent space",
        "what": "Measures the encoder as a dimensionality reduction (trustworthiness, continuity, stress, neighbourhood hit, Shepard goodness), probes the class information in the codes, and draws UMAP views (STUDY.md §4, step 5).",
        "params": '''z_values = ...  # latent sizes to analyse
umap_z = ...  # latent sizes drawn with UMAP (codes with z up to 2 are plotted directly); the seed showed 2, 40, 100
k = ...  # neighbours for the measures: at least 1 and below n_points / 2
n_points = ...  # test points used for the measures and the plots
analysis_seed = ...  # training seed whose models UMAP draws (None: the first of seeds); every seed is measured''',
        "show": ["latent_measures_vs_z.png"],
    },
    "05_ood_reconstruction": {
        "title": "Step 5 — complementary data",
        "what": "Models trained on MNIST reconstruct EMNIST letters and Fashion-MNIST; RMSE and how well it separates them from MNIST, against z (STUDY.md §4, step 6).",
        "params": '''z_values = ...  # latent sizes
complementary = ...  # datasets unlike the training data
n_ood = ...  # test images per complementary set''',
        "show": ["ood_rmse_vs_z.png"],
    },
    "06_generative": {
        "title": "Step 6 — generative capacity",
        "what": "Perturbs codes by up to p (0–100 %), decodes them and scores what comes out: RMSE to the originals, label consistency and Fréchet distance under a small classifier (STUDY.md §4, step 7).",
        "params": '''z_values = ...  # latent sizes (2 and 40 at least)
levels = ...  # maximum perturbation p, fractions in [0, 1]
modes = ...  # "relative" (z·(1+u), the seed's reading) and/or "additive" (z + u·σ_j, scale-matched)
n_samples = ...  # test codes perturbed per level''',
        "show": ["generative_rmse_vs_p.png", "generative_rmse_vs_p_additive.png"],
    },
    "07_augmentation": {
        "title": "Step 7 — data augmentation on artwork features",
        "what": "Same-artist verification with and without autoencoder-made synthetic features (STUDY.md §6), against a no-augmentation baseline and a control that tops up with duplicated originals; every condition gets the same pair-model updates, no synthetic sample is paired with its own source, and effects are paired differences to the baseline with intervals over seeds. Offline, an image set with a long-tailed class distribution stands in for Painter by Numbers.",
        "params": '''source = ...  # "standin" (offline) or "painter_by_numbers" (needs image_dir and csv_path)
image_dir = ...  # Painter by Numbers image folder (Kaggle layout)
csv_path = ...  # its train_info.csv
aug_latent_dim = ...  # list of ints, each at least 1: the z values of the feature autoencoder (2048 → 1536 → 1024 → 512 → z); experiments 1-3 run for each
aug_seeds = ...  # list of distinct ints, each at least 0 (at least 5 for useful intervals): one run per seed (autoencoder, pairs, pair model); intervals are over seeds
perturbations = ...  # list of floats in [0, 1]: maximum perturbation p for experiments 1 and 3
thresholds = ...  # list of ints, each at least 1: works per class below which classes are topped up (experiment 2 and the duplicate control, which also runs at 20)''',
        "show": [],
    },
    "08_summary": {
        "title": "Step 8 — summary and comparison",
        "what": "Consolidates every step into ranked comparison tables (CSV, LaTeX, Markdown), fits RMSE(z) per family, adds a PCA baseline, and writes REPORT.md (STUDY.md §5).",
        "params": '''z_values = ...  # latent sizes of the PCA baseline and the tables
chosen_z = ...  # latent sizes at which the latent measures are compared
complementary = ...  # the complementary data sets of step 05 (for the PCA baseline on them)''',
        "show": [],
    },
}


def literal(value) -> str:
    """``value`` as Python source for a parameters cell (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    text = repr(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise ValueError(f"Expected a value a parameters cell can hold as a literal. Received: {value!r}")
    return text


def parameters_cell(step: str, common: str, own: str, profile: str = DEFAULT_PROFILE) -> str:
    """The ``common`` and the step's ``own`` lines with ``profile``'s value on the
    line of each of its keys; a key of the profile without a line gets one, after
    the common lines if the profile shares it between steps, else at the end."""
    params = step_parameters(profile, step)
    shared = set(PROFILES[profile]["common"])
    names = {line.partition(" = ")[0] for line in f"{common}\n{own}".splitlines()}
    blocks = []
    for template, extra in ((common, [n for n in params if n not in names and n in shared]),
                            (own, [n for n in params if n not in names and n not in shared])):
        lines = []
        for line in template.splitlines():
            name, assign, rest = line.partition(" = ")
            if assign and name in params:
                _, has_comment, comment = rest.partition("  # ")
                line = f"{name} = {literal(params[name])}" + (f"  # {comment}" if has_comment else "")
            elif assign and rest.startswith("..."):
                raise ValueError(f"{step}: {name!r} takes its value from profile {profile!r}, which has none")
            lines.append(line)
        lines += [f'{name} = {literal(params[name])}  # from PROFILES["{profile}"] (aelib/study/profiles.py)'
                  for name in extra]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def step_call(step: str, names: list[str]) -> str:
    """The step's cell: its module's ``run`` with every notebook parameter that ``run`` takes, by name."""
    module = steps.module(step)
    taken = [n for n in inspect.signature(module.run).parameters if n != "study"]
    passed = [n for n in taken if n in names]
    head = f"table = {steps.MODULES[step]}.run("
    call = textwrap.fill(", ".join(["study", *(f"{n}={n}" for n in passed)]) + ")", width=100, initial_indent=head,
                         subsequent_indent=" " * len(head), break_long_words=False, break_on_hyphens=False)
    return f"from aelib.study.steps import {steps.MODULES[step]}\n{call}\ntable"


def study_call(names: list[str]) -> str:
    """``study = Study(...)`` passing every parameter that is a field of :class:`Study`."""
    fields = [f.name for f in dataclasses.fields(Study) if f.init and f.name != "out_dir" and f.name in names]
    head = "study = Study("
    return textwrap.fill(", ".join(["Path(out_dir)", *(f"{n}={n}" for n in fields)]) + ")", width=100,
                         initial_indent=head, subsequent_indent=" " * len(head), break_long_words=False,
                         break_on_hyphens=False)


def build(name: str, spec: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    badge = f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/main/notebooks/{name}.ipynb)"
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {spec['title']}\n\n{spec['what']}\n\n{badge}"))
    text = parameters_cell(name, COMMON, spec["params"])
    params = nbformat.v4.new_code_cell(text)
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells.append(nbformat.v4.new_code_cell(INSTALL))
    drive = nbformat.v4.new_code_cell(DRIVE)
    nb.cells.append(drive)
    names = [line.split("=")[0].strip() for line in text.splitlines() if "=" in line]
    study = STUDY.replace("STUDY_CALL", study_call(names))
    nb.cells.append(nbformat.v4.new_code_cell(study + f"\nSTEP = {name!r}\nPARAMETER_NAMES = {names!r}"))
    nb.cells.append(nbformat.v4.new_code_cell(step_call(name, names)))
    if spec["show"]:
        show = "from IPython.display import Image, display\n"
        for figure in spec["show"]:
            if "{family}" in figure:
                show += f"for family in families:\n    path = study.figures / f\"{figure}\"\n    if path.exists():\n        display(Image(filename=str(path)))\n"
            else:
                show += f"path = study.figures / \"{figure}\"\nif path.exists():\n    display(Image(filename=str(path)))\n"
        nb.cells.append(nbformat.v4.new_code_cell(show.rstrip()))
    nb.cells.append(nbformat.v4.new_code_cell(RECORD))
    numbered = [cell for cell in nb.cells if cell is not drive]  # fixed ids, so rebuilding changes only what the texts change
    for i, cell in enumerate(numbered):
        cell.id = f"{name[:2]}-cell-{i}"
    drive.id = f"{name[:2]}-drive"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    folder = ROOT / "notebooks"
    folder.mkdir(exist_ok=True)
    for name, spec in STEPS.items():
        nbformat.write(build(name, spec), folder / f"{name}.ipynb")
        print("wrote", folder / f"{name}.ipynb")


if __name__ == "__main__":
    main()
