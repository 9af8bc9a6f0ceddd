"""The study's eight steps, one module each, all of one shape.

Each module has ``run(study, **params) -> DataFrame``: it lists the step's
units (a :class:`aelib.study.study.Unit` or a training spec each), evaluates
them through :meth:`Study.evaluate_grid` with the module's top-level
``evaluate(study, unit, run_dir) -> metrics`` (progress, failure isolation,
the run store and the table are the grid's), and draws the step's figures with
``figures(study, table)``. The notebook of a step calls its ``run`` with the
parameters of its ``parameters`` cell (generated from the profiles).
"""
from __future__ import annotations

import importlib

#: step name (aelib.study.profiles.STEPS) → module of this package
MODULES = {
    "01_architecture": "architecture",
    "02_latent_sweep": "sweep",
    "03_reconstruction": "reconstruction",
    "04_latent_space": "latent",
    "05_ood_reconstruction": "ood",
    "06_generative": "generative",
    "07_augmentation": "augmentation",
    "08_summary": "summary",
}


def module(step: str):
    """The module of ``step`` (a name of ``aelib.study.profiles.STEPS``)."""
    if step not in MODULES:
        raise ValueError(f"Unknown step {step!r}. Known steps: {', '.join(MODULES)}")
    return importlib.import_module(f"aelib.study.steps.{MODULES[step]}")
