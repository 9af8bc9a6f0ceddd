"""Write the step notebooks (without outputs) from the cell texts below.

The notebooks under notebooks/ are the committed source that papermill runs;
this script keeps their shared cells (install, record) identical and takes the
defaults of their `parameters` cells from the quick profile
(`step_parameters("quick", step)`, aelib/study/profiles.py): every key of the
profile replaces the value on its line below (`...` marks those lines), a key
without a line gets one, and every parameter that is an option of `Study`
(`Study.OPTIONS`) is passed to it. So a changed or new profile key needs only a
rebuild (give it a line below to document its allowed values). Edit here or
change the profile, run `python scripts/build_notebooks.py`, commit both.

The notebooks are those of the step table (`aelib.study.steps.STEPS`: name,
title, module); the training parameters are the fields of `TrainConfig`
(`aelib.training.TRAINING_FIELDS`), each with its line from `TRAINING_LINES`.

The repository's address (the "Open in Colab" badges, the install cell, the
links to docs/methods.md) is read from pyproject.toml, [project.urls]
Repository: change it there for a fork.

Besides the step notebooks, one notebook per registered family
(``aelib.models.list_models()``) goes to notebooks/models/<family>.ipynb: the
family through the methodology (:mod:`aelib.study.family_report`), its
parameters those of ``model_notebook_parameters`` (aelib/study/planning.py).
A notebook's list parameters (``aelib.study.params.LIST_PARAMETERS``) go
through ``as_list`` right after the install cell, so papermill's ``-p`` strings
work.
"""
from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from pathlib import Path

import nbformat

from aelib.families import FAMILIES
from aelib.study import steps
from aelib.study.params import LIST_PARAMETERS
from aelib.study.planning import MODELS, model_notebook_parameters
from aelib.study.profiles import PROFILES, step_parameters
from aelib.study.study import Study
from aelib.training import TRAINING_FIELDS

DEFAULT_PROFILE = "quick"  # whose parameters the notebooks default to

ROOT = Path(__file__).resolve().parents[1]


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """[project.urls] Repository of pyproject.toml: a https://github.com/<owner>/<name> address."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.MULTILINE)
        url = match.group(1) if match else None
    else:
        url = tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository")
    if not url or not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url.rstrip("/")):
        raise ValueError(f"Expected [project.urls] Repository = \"https://github.com/<owner>/<name>\" in {pyproject} "
                         f"(Colab opens notebooks from GitHub). Received: {url!r}")
    return url.rstrip("/")


REPO_URL = repository_url()  # where the "Open in Colab" links point and what the install cell installs
METHODS_URL = f"{REPO_URL}/blob/main/docs/methods.md"  # the methods document, as a reader on Colab reaches it


def colab_badge(path: str) -> str:
    """The "Open in Colab" badge of the notebook at ``path`` (relative to the repository's root)."""
    return ("[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/main/{path})")


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
TRAINING
DEPTH
n_train = ...  # None for the whole training split, or an int (stratified subset)
n_test = ...  # None for the whole test split, or an int
family_options = {}  # per-family hyperparameters, e.g. {"vae": {"beta": 1.0}, "dae": {"corruption": "masking"}}'''

# The line of each training field (TRAINING_FIELDS, in their order) in the parameters cell: its allowed values.
TRAINING_LINES = {
    "epochs": "int, at least 1: maximum epochs (early stopping on a validation split)",
    "batch_size": "int, at least 1",
    "learning_rate": "positive float (Adam)",
    "validation_fraction": "float in [0, 1): share of the training split held out for early stopping",
    "patience": "int, at least 0: early-stopping patience in epochs",
    "min_delta": "float in [0, 1): smallest relative decrease of the validation loss that counts as improvement",
    "lr_patience": "int, at least 0: epochs without improvement before the learning rate is multiplied by lr_factor",
    "lr_factor": "float in (0, 1]: the reduce-on-plateau factor; 1 keeps the learning rate fixed",
}


def training_lines(fields: tuple[str, ...] = TRAINING_FIELDS) -> str:
    """The parameters cell's lines of the training ``fields`` (values from the profile), in their order."""
    missing = [name for name in fields if name not in TRAINING_LINES]
    extra = sorted(set(TRAINING_LINES) - set(fields))
    if missing or extra:
        raise ValueError(f"Expected a line in TRAINING_LINES for each training field {fields}. Received: "
                         f"lines missing for {missing}, lines for fields TrainConfig does not have {extra}")
    return "\n".join(f"{name} = ...  # {TRAINING_LINES[name]}" for name in fields)


COMMON = COMMON.replace("TRAINING", training_lines()).replace(
    "DEPTH", 'depth = "auto"  # hidden layers of fully connected parts (docs/methods.md §2): an int, or "auto" for '
             "the depth step 01 found best (3 until it ran)")

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

# STUDY_CALL becomes `study = Study(...)` with every parameter that is an option of Study (study_call).
STUDY = '''from pathlib import Path
from aelib.study.settings import check_families
from aelib.study.study import Study
STUDY_CALL
print(study.settings.describe())  # the depth and tuned options the models have, and where each came from
families = check_families(families)'''

LISTS = ("# Parameters passed as text (papermill's -p gives '[\"fcae\"]' or 'fcae,vae' as a string) become lists; "
         "what is not a list\n# is refused, showing papermill's -y 'name: [...]' form.\n"
         "from aelib.study.params import as_list")


def lists_cell(text: str) -> str:
    """The cell after the install cell: every list parameter of the parameters cell ``text`` through ``as_list``.

    Raises:
        ValueError: a parameter holding a list that ``LIST_PARAMETERS`` does not declare (with its item type).
    """
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(text).body
              if isinstance(node, ast.Assign)}
    undeclared = sorted(name for name, value in values.items()
                        if isinstance(value, (list, tuple)) and name not in LIST_PARAMETERS)
    if undeclared:
        raise ValueError(f"Expected every list parameter in aelib.study.params.LIST_PARAMETERS (with its item type). "
                         f"Received lists without an entry: {undeclared}")
    lines = [f"{name} = as_list(\"{name}\", {name}, {LIST_PARAMETERS[name].__name__})"
             for name in values if name in LIST_PARAMETERS]
    return "\n".join([LISTS, *lines])


RECORD = ("# Record parameters, versions and data sources; fail the notebook (after everything was written) if "
          "runs failed.\n"
          "provenance = study.finish(STEP, {k: v for k, v in globals().items() if k in PARAMETER_NAMES})")

# Each step's notebook: what it does (cell 1, under the step's title), its own parameters, the figures it shows.
NOTEBOOKS = {
    "01_architecture": {
        "what": ("Trains the fully connected families over depths 1–6 × latent sizes and picks the depth with the "
                 "best test RMSE (docs/methods.md §2); then tunes each family's key setting (and the learning rate, if "
                 "several are given) on validation data at one z. Later steps use the depth and the tuned "
                 "settings."),
        "params": (
            "depths = ...  # hidden layers to compare (ints, at least 1)",
            "z_values = ...  # latent sizes; the seed used [10, 20, 40, 80, 160, 320]",
            ("arch_families = ...  # families with fully connected depth (fcae; vae, sae… also follow the depth "
             "rule)"),
            "tune_z = ...  # latent size at which each family's key setting is tuned",
            ("tune_grids = ...  # None for the declared grids (aelib.study.tuning.DEFAULT_GRIDS), or {family: "
             "[option, [values]]}"),
            "tune_learning_rates = ...  # [] keeps learning_rate; several values tune it per family too",
        ),
        "show": ["architecture_fcae.png"],
    },
    "02_latent_sweep": {
        "what": ("Trains every family at every latent size z and seed, and reports test RMSE against z "
                 "(docs/methods.md §3)."),
        "params": (
            "z_values = ...  # latent sizes; the seed's grid is 1–10, 20–100 by 10, 200–700 by 100",
            "matched = ...  # architectures also trained at fcae's parameter count (architectures_matched.csv)",
            "matched_z = ...  # the latent sizes of those matched runs",
            "matched_seeds = ...  # their seeds",
        ),
        "show": ["rmse_vs_z.png"],
    },
    "03_reconstruction": {
        "what": ("Shows originals beside their reconstructions for several z and the spread of per-sample RMSE "
                 "(docs/methods.md §4, step 4)."),
        "params": (
            "z_values = ...  # latent sizes whose trained models are shown (trained by step 2, or now if missing)",
            "grid_seed = ...  # which seed's models to show",
        ),
        "show": ["reconstructions_{family}.png"],
    },
    "04_latent_space": {
        "what": ("Measures the encoder as a dimensionality reduction (trustworthiness, continuity, stress, "
                 "neighbourhood hit, Shepard goodness), probes the class information in the codes, and draws UMAP "
                 "views (docs/methods.md §4, step 5)."),
        "params": (
            "z_values = ...  # latent sizes to analyse",
            ("umap_z = ...  # latent sizes drawn with UMAP (codes with z up to 2 are plotted directly); the seed "
             "showed 2, 40, 100"),
            "k = ...  # neighbours for the measures: at least 1 and below n_points / 2",
            "n_points = ...  # test points used for the measures and the plots",
            ("analysis_seed = ...  # training seed whose models UMAP draws (None: the first of seeds); every seed "
             "is measured"),
        ),
        "show": ["latent_measures_vs_z.png"],
    },
    "05_ood_reconstruction": {
        "what": ("Models trained on MNIST reconstruct EMNIST letters and Fashion-MNIST; RMSE and how well it "
                 "separates them from MNIST, against z (docs/methods.md §4, step 6)."),
        "params": (
            "z_values = ...  # latent sizes",
            "complementary = ...  # datasets unlike the training data",
            "n_ood = ...  # test images per complementary set",
        ),
        "show": ["ood_rmse_vs_z.png"],
    },
    "06_generative": {
        "what": ("Generation judged on samples: every family decodes draws from a Gaussian mixture fitted to its "
                 "training codes (vae and aae also from their prior), scored against real test images in a judge "
                 "classifier's features (Fréchet distance, precision and recall, density and coverage, class spread; "
                 "the judge's accuracy and the real-versus-real floors in tables/judge.csv). Then smoothness and "
                 "robustness, not ranked as generation: codes perturbed by up to p (0–100 %) and decoded, with RMSE "
                 "to the originals, label consistency and Fréchet distance against p (docs/methods.md §4, step 7)."),
        "params": (
            "z_values = ...  # latent sizes (2 and 40 at least)",
            "levels = ...  # maximum perturbation p, fractions in [0, 1]",
            ('modes = ...  # "relative" (z·(1+u), the seed\'s reading) and/or "additive" (z + u·σ_j, '
             "scale-matched)"),
            "n_samples = ...  # test codes perturbed per level",
        ),
        "show": ["generative_samples_{family}_gmm.png", "generative_samples_{family}_prior.png",
                 "generative_rmse_vs_p.png", "generative_rmse_vs_p_additive.png"],
    },
    "07_augmentation": {
        "what": ("Same-artist verification with and without autoencoder-made synthetic features (docs/methods.md §6), "
                 "against a no-augmentation baseline and a control that tops up with duplicated originals; every "
                 "condition gets the same pair-model updates, no synthetic sample is paired with its own source, "
                 "and effects are paired differences to the baseline with intervals over seeds. Offline, an image "
                 "set with a long-tailed class distribution stands in for Painter by Numbers."),
        "params": (
            "source = ...  # \"standin\" (offline) or \"painter_by_numbers\" (needs image_dir and csv_path)",
            "image_dir = ...  # Painter by Numbers image folder (Kaggle layout)",
            "csv_path = ...  # its train_info.csv",
            ("aug_latent_dim = ...  # list of ints, each at least 1: the z values of the feature autoencoder (2048 "
             "→ 1536 → 1024 → 512 → z); experiments 1-3 run for each"),
            ("aug_seeds = ...  # list of distinct ints, each at least 0 (at least 5 for useful intervals): one run "
             "per seed (autoencoder, pairs, pair model); intervals are over seeds"),
            "perturbations = ...  # list of floats in [0, 1]: maximum perturbation p for experiments 1 and 3",
            ("thresholds = ...  # list of ints, each at least 1: works per class below which classes are topped up "
             "(experiment 2 and the duplicate control, which also runs at 20)"),
        ),
        "show": [],
    },
    "08_summary": {
        "what": ("Consolidates every step into ranked comparison tables (CSV, LaTeX, Markdown), fits RMSE(z) per "
                 "family, adds a PCA baseline, and writes REPORT.md (docs/methods.md §5)."),
        "params": (
            "z_values = ...  # latent sizes of the PCA baseline and the tables",
            "chosen_z = ...  # latent sizes at which the latent measures are compared",
            "complementary = ...  # the complementary data sets of step 05 (for the PCA baseline on them)",
        ),
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


def opening_cells(nb, text: str) -> tuple[list[str], object]:
    """The cells every notebook opens with after its title: the parameters (tagged for papermill), the
    install cell, list parameters made lists, Google Drive. Returns the parameters' names and the Drive cell
    (its id is fixed apart from the numbered cells)."""
    params = nbformat.v4.new_code_cell(text)
    params.metadata["tags"] = ["parameters"]
    drive = nbformat.v4.new_code_cell(DRIVE)
    nb.cells.extend([params, nbformat.v4.new_code_cell(INSTALL), nbformat.v4.new_code_cell(lists_cell(text)), drive])
    return [line.split("=")[0].strip() for line in text.splitlines() if "=" in line], drive


def parameters_cell(step: str, common: str, own: str, profile: str = DEFAULT_PROFILE,
                    params: dict | None = None) -> str:
    """The ``common`` and the step's ``own`` lines with ``profile``'s value on the
    line of each of its keys; a key of the profile without a line gets one, after
    the common lines if the profile shares it between steps, else at the end.
    ``params``: the values, when not ``step``'s under ``profile`` (a family notebook's)."""
    params = step_parameters(profile, step) if params is None else params
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
    name = steps.get(step).module
    head = f"table = {name}.run("
    call = textwrap.fill(", ".join(["study", *(f"{n}={n}" for n in passed)]) + ")", width=100, initial_indent=head,
                         subsequent_indent=" " * len(head), break_long_words=False, break_on_hyphens=False)
    return f"from aelib.study.steps import {name}\n{call}\ntable"


def study_call(names: list[str]) -> str:
    """``study = Study(...)`` passing every parameter that is an option of :class:`Study` (``Study.OPTIONS``)."""
    fields = [name for name in Study.OPTIONS if name in names]
    head = "study = Study("
    return textwrap.fill(", ".join(["Path(out_dir)", *(f"{n}={n}" for n in fields)]) + ")", width=100,
                         initial_indent=head, subsequent_indent=" " * len(head), break_long_words=False,
                         break_on_hyphens=False)


def notebooks() -> dict[str, dict]:
    """The texts of each step's notebook, in the order of the step table; a ValueError when they disagree."""
    missing = [name for name in steps.STEP_NAMES if name not in NOTEBOOKS]
    extra = sorted(set(NOTEBOOKS) - set(steps.STEP_NAMES))
    if missing or extra:
        raise ValueError(f"Expected a notebook in NOTEBOOKS for each step of aelib.study.steps.STEPS. Received: "
                         f"none for {missing}, notebooks of steps the table does not have {extra}")
    return {name: NOTEBOOKS[name] for name in steps.STEP_NAMES}


def build(name: str, spec: dict) -> nbformat.NotebookNode:
    """The notebook of step ``name`` from its texts ``spec`` (of :data:`NOTEBOOKS`)."""
    nb = nbformat.v4.new_notebook()
    badge = colab_badge(f"notebooks/{name}.ipynb")
    methods = f"What each step computes, and why: [docs/methods.md]({METHODS_URL})."
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {steps.get(name).title}\n\n{spec['what']}\n\n{methods}\n\n"
                                                  f"{badge}"))
    text = parameters_cell(name, COMMON, "\n".join(spec["params"]))
    names, drive = opening_cells(nb, text)
    study = STUDY.replace("STUDY_CALL", study_call(names))
    nb.cells.append(nbformat.v4.new_code_cell(study + f"\nSTEP = {name!r}\nPARAMETER_NAMES = {names!r}"))
    nb.cells.append(nbformat.v4.new_code_cell(step_call(name, names)))
    if spec["show"]:
        show = "from IPython.display import Image, display\n"
        for figure in spec["show"]:
            if "{family}" in figure:
                show += (f"for family in families:\n    path = study.figures / f\"{figure}\"\n"
                         "    if path.exists():\n        display(Image(filename=str(path)))\n")
            else:
                show += (f"path = study.figures / \"{figure}\"\n"
                         "if path.exists():\n    display(Image(filename=str(path)))\n")
        nb.cells.append(nbformat.v4.new_code_cell(show.rstrip()))
    nb.cells.append(nbformat.v4.new_code_cell(RECORD))
    # fixed ids, so rebuilding changes only what the texts change
    numbered = [cell for cell in nb.cells if cell is not drive]
    for i, cell in enumerate(numbered):
        cell.id = f"{name[:2]}-cell-{i}"
    drive.id = f"{name[:2]}-drive"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


# ---------------------------------------------------------------- the family notebooks (notebooks/models/)

# The family notebooks' parameters: the step notebooks' common lines with `family` in place of `families`, and
# the profile's role spelled out (its step parameters decide the runs' keys).
MODEL_COMMON = COMMON.replace(
    'profile = ...  # "quick" (offline CPU defaults) or "thesis" (the seed\'s grids); informational',
    'profile = ...  # "quick" or "thesis": the steps run for this family with that profile\'s parameters (k, '
    "n_points, levels…), so its runs are the study's own").replace(
    'families = "all"  # "all", or a list of keys such as ["fcae", "vae"]',
    'family = "FAMILY"  # this notebook\'s family (each family has its own notebook)')
MODEL_OWN = (
    ("z_values = ...  # latent sizes; steps with a narrower grid in the profile (UMAP at 2, 40, 100; generation at 2 "
     "and 40) show its part within these"),
    ('step_options = {}  # per step, parameters other than the profile\'s, e.g. {"06_generative": {"n_samples": '
     "200}}; they change the runs' keys (the study's runs are not reused)"),
)
MODEL_STUDY = '''from pathlib import Path
from aelib.study.family_report import FamilyReport
from aelib.study.study import Study
STUDY_CALL
print(study.settings.describe())  # the depth and tuned options the models have, and where each came from
report = FamilyReport(study, family, profile=profile, z_values=z_values, seeds=seeds, step_options=step_options)'''

# The family notebook's parts: heading, what it shows (with the methods document's sections), the cell.
MODEL_SECTIONS = (
    ("Architecture and size", "The models of this family at each z as the study builds them (depth, tuned options, "
     "widths rule): parameter count and layers (docs/methods.md §1, §2).", "report.architecture()"),
    ("Reconstruction error against z", "Mean test RMSE per image against z on a log axis, with PCA at the same z "
     "and the mean image as references; the band is the 95 % interval over training seeds (docs/methods.md §3, "
     "§4.4).", "report.rmse_against_z()"),
    ("Originals and reconstructions", "The same test images, one per class, reconstructed at each z, and the "
     "spread of per-image RMSE (docs/methods.md §4.4).", "report.reconstructions()"),
    ("Latent space: UMAP views", "Test codes coloured by class at z = 2 (as they are), 40 and 100 (UMAP to 2-D), "
     "as the seed study showed them (docs/methods.md §4.5).", "report.umap()"),
    ("Latent space: the five measures", "Trustworthiness, continuity, scale-normalised stress, neighbourhood hit "
     "and Shepard goodness of the encoder as a projection of the images, against z; the other families in grey "
     "(docs/methods.md §4.5).", "report.latent_measures()"),
    ("Complementary data", "The MNIST-trained models reconstruct EMNIST letters and Fashion-MNIST: RMSE against z "
     "beside the in-distribution curve, and their images (docs/methods.md §4.6).", "report.complementary()"),
    ("Perturbed codes", "Test codes perturbed by up to p (0–100 %), relatively z·(1+u) (this project's reading of "
     "the seed's sweep) and additively z + u·σ, then decoded: RMSE to the originals against p. These curves "
     "describe smoothness and robustness, not generation (docs/methods.md §4.7).", "report.perturbation()"),
    ("Samples", "Decoded draws from a density fitted to the training codes and, where the family has one, from its "
     "prior, scored against real test images in a judge classifier's features (docs/methods.md §4.7).",
     "report.samples()"),
    ("Place among the families", "The family's rank on each criterion of the summary, with its 95 % bootstrap "
     "interval, and one generated line on its strengths and weaknesses (docs/methods.md §5).", "report.standing()"),
)


def family_text(family: str) -> str:
    """The first paragraph of the family module's docstring: what the family is and where it comes from."""
    path = ROOT / "aelib" / "models" / f"{family}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("docs/methods.md", "docs/methods.md")


def build_model_notebook(family: str, profile: str = DEFAULT_PROFILE) -> nbformat.NotebookNode:
    """The notebook of ``family``: the family through the methodology (:data:`MODEL_SECTIONS`)."""
    nb = nbformat.v4.new_notebook()
    title = f"# {FAMILIES[family].display_name} (`{family}`) through the methodology"
    what = ("Each part reads what the study computed for this family (its tables, runs and summary in `out_dir`); "
            "a part whose runs are missing runs that step for this family first, through the study's own "
            "machinery, so the notebook also works on its own (on Colab, say).")
    methods = f"The methods, with their formulas: [docs/methods.md]({METHODS_URL})."
    nb.cells.append(nbformat.v4.new_markdown_cell(
        f"{title}\n\n{family_text(family)}\n\n{what} {methods}\n\n{colab_badge(f'notebooks/{MODELS}/{family}.ipynb')}"))
    text = parameters_cell(MODELS, MODEL_COMMON.replace("FAMILY", family), "\n".join(MODEL_OWN), profile,
                           params=model_notebook_parameters(profile))
    names, drive = opening_cells(nb, text)
    study = MODEL_STUDY.replace("STUDY_CALL", study_call(names))
    step = f"{MODELS}/{family}"
    nb.cells.append(nbformat.v4.new_code_cell(study + f"\nSTEP = {step!r}\nPARAMETER_NAMES = {names!r}"))
    for heading, shows, call in MODEL_SECTIONS:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## {heading}\n\n{shows}"))
        nb.cells.append(nbformat.v4.new_code_cell(call))
    nb.cells.append(nbformat.v4.new_code_cell(RECORD))
    numbered = [cell for cell in nb.cells if cell is not drive]
    for i, cell in enumerate(numbered):
        cell.id = f"{family}-cell-{i}"
    drive.id = f"{family}-drive"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def model_notebooks() -> dict[str, nbformat.NotebookNode]:
    """Every registered family's notebook, in the registry's order."""
    from aelib.models import list_models  # imports TensorFlow

    return {family: build_model_notebook(family) for family in list_models()}


def main() -> None:
    folder = ROOT / "notebooks"
    folder.mkdir(exist_ok=True)
    for name, spec in notebooks().items():
        nbformat.write(build(name, spec), folder / f"{name}.ipynb")
        print("wrote", folder / f"{name}.ipynb")
    models = folder / MODELS
    models.mkdir(exist_ok=True)
    built = model_notebooks()
    for stale in sorted(set(p.stem for p in models.glob("*.ipynb")) - set(built)):  # a family no longer registered
        (models / f"{stale}.ipynb").unlink()
        print("removed", models / f"{stale}.ipynb")
    for family, nb in built.items():
        nbformat.write(nb, models / f"{family}.ipynb")
        print("wrote", models / f"{family}.ipynb")


if __name__ == "__main__":
    main()
