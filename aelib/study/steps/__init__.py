"""The table of the study's eight steps (name, module, scope, cost), and their modules, all of one shape.

Each module has ``run(study, **params) -> DataFrame``: it lists the step's
units (a :class:`aelib.study.study.Unit` or a training spec each), evaluates
them through :meth:`Study.evaluate_grid` with the module's top-level
``evaluate(study, unit, run_dir) -> metrics`` (progress, failure isolation,
the run store and the table are the grid's), and draws the step's figures with
``figures(study, table)``. The notebook of a step calls its ``run`` with the
parameters of its ``parameters`` cell (generated from the profiles).

:data:`STEPS` is the one list of the steps: the command line, the profiles,
the session plans and the notebook generator all take the names from it.
Importing this package imports none of the step modules (they import
TensorFlow); :func:`module` does, on demand.
"""
from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

#: The scopes of a step: ``family`` steps run per family (split across shards, one Slurm job per family);
#: ``study`` steps run once for the whole study (on shard 0 when sharded).
SCOPES = ("family", "study")
#: The families the costs below were measured with (the quick profile, every family).
COST_FAMILIES = 10


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the study.

    Attributes:
        name: ``NN_what``: its notebook (``notebooks/<name>.ipynb``) and its key in the profiles.
        module: its module in this package, with ``run(study, **params)``.
        scope: ``"family"`` (per family) or ``"study"`` (once), see :data:`SCOPES`.
        cost: its share of the quick profile's wall time with all :data:`COST_FAMILIES` families, in seconds
            measured on two CPU cores; the estimate of the time left across steps scales these by the time the
            finished steps actually took.
        per_family_cost: whether ``cost`` scales with the number of families a unit runs (step 01's is
            dominated by the depth search on its ``arch_families``, so it does not).
        title: what the step does, in a line (the notebook's heading, ``aelib list``).
    """

    name: str
    module: str
    scope: str
    cost: float
    per_family_cost: bool
    title: str

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"Expected the scope of step {self.name} in {SCOPES}. Received: {self.scope!r}")

    @property
    def number(self) -> str:
        """The two digits ``--steps`` takes: ``"01"`` for ``01_architecture``."""
        return self.name[:2]


STEPS = (
    Step("01_architecture", "architecture", "family", 1546, False, "Step 1 — architecture search and tuning"),
    Step("02_latent_sweep", "sweep", "family", 4074, True, "Step 2 — latent sweep"),
    Step("03_reconstruction", "reconstruction", "family", 28, True, "Step 3 — reconstruction"),
    Step("04_latent_space", "latent", "family", 94, True, "Step 4 — latent space"),
    Step("05_ood_reconstruction", "ood", "family", 94, True, "Step 5 — complementary data"),
    Step("06_generative", "generative", "family", 224, True, "Step 6 — generative capacity"),
    Step("07_augmentation", "augmentation", "study", 180, False, "Step 7 — data augmentation on artwork features"),
    Step("08_summary", "summary", "study", 14, False, "Step 8 — summary and comparison"),
)
#: the step names, in the order the study runs them
STEP_NAMES = tuple(step.name for step in STEPS)
_BY_NAME = {step.name: step for step in STEPS}


def get(name: str) -> Step:
    """The :class:`Step` named ``name``, or a ValueError listing the known ones."""
    if name not in _BY_NAME:
        raise ValueError(f"Unknown step {name!r}. Known steps: {', '.join(STEP_NAMES)}")
    return _BY_NAME[name]


def numbers(scope: str) -> str:
    """The numbers of the steps of ``scope``, as ``--steps`` takes them: ``"07,08"`` for ``"study"``."""
    if scope not in SCOPES:
        raise ValueError(f"Expected a scope in {SCOPES}. Received: {scope!r}")
    return ",".join(step.number for step in STEPS if step.scope == scope)


def module(name: str) -> ModuleType:
    """The module of step ``name`` (imports it, and with it TensorFlow)."""
    return importlib.import_module(f"aelib.study.steps.{get(name).module}")
