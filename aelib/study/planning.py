"""Which step units an ``aelib run`` runs, and where: its options resolved, its shard, its time left.

A unit is ``{"step": name, "parameters": {...}, "out_dir": path}``: one step
notebook with the parameters of the profile, the options given on the command
line applied. Every option is checked here, before anything runs or is written.
With ``--models`` (or ``models`` in ``--steps``) each family's notebook follows
the steps as a unit named ``models/<family>`` (``notebooks/models/<family>.ipynb``).
"""
from __future__ import annotations

import argparse
import importlib.resources
import os
from pathlib import Path

from aelib.data import list_datasets
from aelib.data.catalog import DEFAULT_DATASET, min_training_size
from aelib.study import steps
from aelib.study.profiles import MATCHED_PARAMETERS, step_parameters
from aelib.study.steps import STEP_NAMES

REPO = Path(__file__).resolve().parents[2]
# Running from a checkout (the source tree or an editable install): its notebooks/
# folder is the committed source. An installed package carries them as aelib/notebooks/.
IN_CHECKOUT = (REPO / "pyproject.toml").is_file() and (REPO / "notebooks").is_dir() and (REPO / "aelib").is_dir()

#: The word of ``--steps`` that stands for the family notebooks (``notebooks/models/<family>.ipynb``, one per
#: family; ``--models`` adds them after the steps). Their units are named ``models/<family>``.
MODELS = "models"
#: The step whose profile parameters the family notebooks take (training fields, seeds, subset sizes, z grid).
MODEL_NOTEBOOK_STEP = "02_latent_sweep"
#: Expected seconds of one family notebook when the study's runs exist (kernel start-up, reading, figures).
MODEL_NOTEBOOK_COST = 30.0

# Smallest values of the numeric options (and why, where it is not obvious).
MINIMUM = {"epochs": 1, "n_train": 2, "n_test": 1}
MINIMUM_WHY = {"n_train": " (training holds out a validation split and trains on the rest)"}
IMAGE_VALUES = 28 * 28  # every data set of aelib.data is 28 × 28 grayscale


def notebooks_dir() -> Path:
    """The folder of the step notebooks: the checkout's, else the installed package's."""
    if IN_CHECKOUT:
        return REPO / "notebooks"
    packaged = Path(str(importlib.resources.files("aelib") / "notebooks"))
    if not packaged.is_dir():
        raise FileNotFoundError(f"The step notebooks are missing: neither {REPO / 'notebooks'} nor {packaged} exists. "
                                "Reinstall aelib (pip install --force-reinstall aelib).")
    return packaged


def work_dir() -> Path:
    """Where relative paths start: the checkout's root, else the current directory."""
    return REPO if IN_CHECKOUT else Path.cwd()


def default_out(profile: str) -> Path:
    """``results/<profile>`` of the checkout, else under the current directory."""
    return work_dir() / "results" / profile


def model_notebook_parameters(profile: str, overrides: dict | None = None) -> dict:
    """The parameters of a family notebook under ``profile`` (``overrides`` applied as for a step), without its
    ``family``: those of :data:`MODEL_NOTEBOOK_STEP` but its own (``matched``: the sweep's matched-capacity
    runs, which a family notebook does not train)."""
    params = step_parameters(profile, MODEL_NOTEBOOK_STEP, overrides)
    for name in MATCHED_PARAMETERS:
        params.pop(name, None)
    return params


def is_model_unit(unit: dict) -> bool:
    """Whether ``unit`` is a family notebook's (``models/<family>``) rather than a step's."""
    return str(unit["step"]).startswith(f"{MODELS}/")


def unit_cost(unit: dict) -> float:
    """Expected relative cost of a step unit: the step's share, scaled by its number of families."""
    if is_model_unit(unit):
        return MODEL_NOTEBOOK_COST
    step = steps.get(unit["step"])
    families = unit["parameters"].get("families") or []
    if step.per_family_cost and families:
        return step.cost * len(families) / steps.COST_FAMILIES
    return step.cost


def time_left(costs: list[float], n_done: int, elapsed: float) -> float | None:
    """Seconds left for the parts of expected relative costs ``costs[n_done:]`` (a unit's :func:`unit_cost`,
    a phase's :func:`phase_cost`), from the time the first ``n_done`` took."""
    done_cost = sum(costs[:n_done])
    if n_done == 0 or done_cost <= 0 or elapsed <= 0:
        return None
    return elapsed / done_cost * sum(costs[n_done:])


def phase_cost(phase: list[dict], lanes: int) -> float:
    """Expected relative wall time of units run ``lanes`` at once: their costs shared among the lanes, never
    less than the longest unit; their sum when one at a time."""
    costs = [unit_cost(u) for u in phase]
    if len(phase) == 1 or lanes <= 1:
        return sum(costs)
    return max(max(costs), sum(costs) / lanes)


def parse_shard(text: str | None) -> tuple[int, int]:
    """``(i, n)`` of ``--shard i/n``; ``(0, 1)`` when not given."""
    if not text:
        return 0, 1
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ValueError(f"Expected --shard as i/n with 0 <= i < n. Received: {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"Expected --shard as i/n with 0 <= i < n. Received: {text!r}")
    return i, n


def shard_families(families: list[str], shard: tuple[int, int]) -> list[str]:
    """Families of shard ``i`` of ``n``: all steps of a family stay in one shard,
    so no two shards ever train the same run."""
    i, n = shard
    return [f for k, f in enumerate(families) if k % n == i]


def resolve_steps(text: str | None) -> list[str]:
    """The step names of ``--steps`` (names, their part after the number, or numbers), in the order given;
    the word :data:`MODELS` (the family notebooks) is left out here (see :func:`wants_models`)."""
    if not text or text == "all":
        return list(STEP_NAMES)
    out = []
    for part in text.split(","):
        part = part.strip()
        if part == MODELS:
            continue
        match = [s for s in STEP_NAMES if s == part or s.startswith(part.zfill(2) + "_") or s.split("_", 1)[1] == part]
        if not match:
            raise ValueError(f"Unknown step {part!r}. Known steps: {', '.join(STEP_NAMES)} (or their numbers "
                             f"{STEP_NAMES[0][:2]}–{STEP_NAMES[-1][:2]}), and {MODELS!r} for the family notebooks")
        out.extend(m for m in match if m not in out)
    return out


def wants_models(args: argparse.Namespace) -> bool:
    """Whether the family notebooks run: ``--models``, or :data:`MODELS` among ``--steps``."""
    named = bool(args.steps) and MODELS in [part.strip() for part in args.steps.split(",")]
    return bool(getattr(args, "models", False)) or named


def resolve_families(text: str | None) -> list[str]:
    """The family keys of ``--families`` (all when not given), or a ValueError listing the known ones."""
    from aelib.models import list_models  # imports TensorFlow: not needed for --help

    known = list_models()
    if not text or text == "all":
        return known
    families = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in families if f not in known]
    if unknown:
        raise ValueError(f"Unknown families {unknown}. Known families: {', '.join(known)}")
    return families


def _int_list(name: str, text: str, *, minimum: int) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"Expected --{name} as comma-separated integers. Received: {text!r}") from None
    if not values or min(values) < minimum:
        raise ValueError(f"Expected --{name} as comma-separated integers >= {minimum}. Received: {text!r}")
    return values


def resolve_dataset(text: str) -> str:
    """The data set key of ``--dataset`` (case and - or _ as in aelib.data), or a ValueError listing the known ones."""
    key = text.strip().lower().replace("-", "_")
    if key not in list_datasets():
        raise ValueError(f"Unknown --dataset {text!r}. Known data sets: {', '.join(list_datasets())}")
    return key


def check_z_fits(z_values: list[int], families: list[str]) -> list[int]:
    """``z_values`` if every family can have a code that large for a 28 × 28 image (see ``max_latent_ratio``)."""
    from aelib.models import get_model_class  # imports TensorFlow: not needed for --help

    for family in families:
        largest = int(IMAGE_VALUES * get_model_class(family).max_latent_ratio)
        too_big = [z for z in z_values if z > largest]
        if too_big:
            raise ValueError(f"Expected --z values <= {largest} for family {family} (28 × 28 = {IMAGE_VALUES} pixel "
                             f"values). Received: {','.join(map(str, too_big))}")
    return z_values


def check_out_dir(out_dir: Path) -> None:
    """A results folder that can be created and written, before anything runs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out must be a folder. Received: {out_dir} (a file). Choose another path.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"Cannot write results to --out {out_dir}: {err.strerror or err}. "
                         "Choose a writable folder (and free disk space).") from None


def plan(args: argparse.Namespace) -> list[dict]:
    """The (step, families, parameters) units this invocation runs.

    Raises:
        ValueError: for an option given empty or out of range, an unknown step, family or data set, or an
            ``--out`` that cannot be written (checked unless ``args.dry_run``).
    """
    for name in ("families", "steps", "z", "seeds", "dataset", "out"):  # given but empty: never "everything"
        value = getattr(args, name, None)
        if value is not None and not value.strip(" ,"):
            raise ValueError(f"Expected a value for --{name.replace('_', '-')}. Received: {value!r} "
                             "(leave the option out for the profile's default)")
    names = resolve_steps(args.steps)
    families = shard_families(resolve_families(args.families), parse_shard(args.shard))
    overrides: dict = {}
    if args.z is not None:
        overrides["z_values"] = check_z_fits(_int_list("z", args.z, minimum=1), resolve_families(args.families))
    if args.dataset is not None:
        overrides["dataset"] = resolve_dataset(args.dataset)
    for name in ("epochs", "n_train", "n_test"):
        value = getattr(args, name)
        if value is not None:
            if value < MINIMUM[name]:
                raise ValueError(f"Expected --{name.replace('_', '-')} >= {MINIMUM[name]}{MINIMUM_WHY.get(name, '')}. "
                                 f"Received: {value}")
            overrides[name] = value
    if args.seeds is not None:
        overrides["seeds"] = _int_list("seeds", args.seeds, minimum=0)
    if "n_train" in overrides:  # its validation split must hold every class (StudySettings checks it too)
        common = step_parameters(args.profile, names[0] if names else MODEL_NOTEBOOK_STEP, overrides)
        dataset = common.get("dataset", DEFAULT_DATASET)
        need = min_training_size(dataset, common["validation_fraction"])
        if overrides["n_train"] < need:
            raise ValueError(f"Expected --n-train >= {need} for {dataset}: its validation split "
                             f"(validation_fraction={common['validation_fraction']}) needs one image of each class. "
                             f"Received: {overrides['n_train']}")
    out_dir = Path(args.out or default_out(args.profile)).resolve()
    if not getattr(args, "dry_run", False):
        check_out_dir(out_dir)
    overrides["out_dir"] = str(out_dir)
    shard_index, _ = parse_shard(args.shard)
    units = []
    for name in names:
        once = steps.get(name).scope == "study"  # not per family: once, on shard 0
        if once and shard_index != 0:
            continue
        params = step_parameters(args.profile, name, overrides)
        params["families"] = resolve_families(args.families) if once else families
        if not params["families"]:
            continue
        units.append({"step": name, "parameters": params, "out_dir": str(out_dir)})
    if wants_models(args):  # after the steps (the summary included): each family's notebook
        for family in families:
            params = {**model_notebook_parameters(args.profile, overrides), "family": family}
            units.append({"step": f"{MODELS}/{family}", "parameters": params, "out_dir": str(out_dir)})
    return units
