"""Step 07: data augmentation for same-artist verification (STUDY.md §6), in ``<out_dir>/augmentation``.

Every feature autoencoder (seed, z) and every results row (seed, setting) is
a run in the study's run store (kinds ``"augmentation_fcae"`` and
``"augmentation"``), so a rerun computes only what is missing; the tables and
figures go to ``<out_dir>/augmentation`` (:func:`aelib.augmentation.run_augmentation_study`).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from aelib.augmentation import run_augmentation_study
from aelib.study.study import Study


def run(study: Study, *, source: str = "standin", image_dir: str | None = None, csv_path: str | None = None,
        aug_latent_dim: Sequence[int] = (16, 64, 256), aug_seeds: Sequence[int] = (0, 1, 2, 3, 4),
        perturbations: Sequence[float] = (0.0, 0.1, 0.5), thresholds: Sequence[int] = (10, 20, 40)) -> pd.DataFrame:
    """The augmentation experiments and the duplicate control against the baseline; returns the summary table."""
    result = run_augmentation_study(source=source, image_dir=image_dir, csv_path=csv_path, latent_dims=aug_latent_dim,
                                    seeds=tuple(aug_seeds), perturbations=tuple(perturbations),
                                    thresholds=tuple(thresholds), out_dir=study.out_dir / "augmentation",
                                    store=study.store)
    study.results.extend(result["runs"])  # counted in the step's provenance like every other step's runs
    return result["summary"]
