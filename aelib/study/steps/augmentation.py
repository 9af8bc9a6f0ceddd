"""Step 07: data augmentation for same-artist verification (STUDY.md §6).

Every feature autoencoder (seed, z) and every results row (seed, setting) is
a run in the study's run store (kinds ``"augmentation_fcae"`` and
``"augmentation"``), so a rerun computes only what is missing; the tables and
figures go to ``<out_dir>/augmentation`` (:mod:`aelib.augmentation.experiments`
holds the experiments; :func:`aelib.augmentation.run_augmentation_study` runs
the same units without a study).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from aelib.augmentation import experiments
from aelib.study.study import Study, Unit


def run(study: Study, *, source: str, image_dir: str | None, csv_path: str | None, aug_latent_dim: Sequence[int],
        aug_seeds: Sequence[int], perturbations: Sequence[float], thresholds: Sequence[int]) -> pd.DataFrame:
    """The augmentation experiments and the duplicate control against the baseline; returns the summary table
    (one row per experiment × z × setting, with intervals over ``aug_seeds``)."""
    plan = experiments.plan_study(source=source, image_dir=image_dir, csv_path=csv_path, latent_dims=aug_latent_dim,
                                  seeds=tuple(aug_seeds), perturbations=tuple(perturbations),
                                  thresholds=tuple(thresholds), out_dir=study.out_dir / "augmentation")
    _, autoencoders = study.evaluate_grid("07 feature autoencoders", "augmentation_fcae",
                                          _units(experiments.fcae_units(plan), plan), evaluate_fcae)
    _, settings = study.evaluate_grid("07 augmentation", "augmentation",
                                      _units(experiments.setting_units(plan, study.store), plan), evaluate)
    return experiments.finish_study(plan, [*autoencoders, *settings])["summary"]


def _units(units, plan: experiments.Plan) -> list[Unit]:
    return [Unit(what, config, {**params, "plan": plan}) for what, config, params in units]


def evaluate_fcae(study: Study, unit: Unit, run_dir: Path) -> dict:
    return experiments.train_fcae(unit.params["plan"], unit.params, run_dir)


def evaluate(study: Study, unit: Unit, run_dir: Path) -> dict:
    return experiments.evaluate_setting(unit.params["plan"], unit.params, run_dir)
