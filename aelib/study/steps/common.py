"""What several steps share: the table of training runs, seed checks, example picks."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from aelib.study.study import Study

RMSE_COLUMNS = ["rmse_mean", "rmse_std", "rmse_median", "rmse_ci95_low", "rmse_ci95_high"]
RUN_COLUMNS = ["family", "dataset", "depth", "latent_dim", "seed", *RMSE_COLUMNS, "val_rmse", "mean_image_rmse",
               "n_params", "effective_bottleneck", "widths_rule", "epochs_run", "best_epoch", "stopped_by",
               "final_learning_rate", "val_loss_rel_change_last10pct", "train_seconds", "seconds_per_epoch",
               "data_source", "data_stand_in", "n_train_used", "n_test_used"]


def train_rows(study: Study, results) -> pd.DataFrame:
    """One row per complete training run: its configuration, test RMSE, convergence and cost, and its setting."""
    rows = [{**r.config, **r.metrics, "setting": study.setting_of(r.config, r.metrics.get("data_source"))}
            for r in results if r.metrics is not None]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "setting"])
    columns = [c for c in RUN_COLUMNS if c in frame]
    columns.insert(columns.index("seed") + 1, "setting")  # a key: rows of other settings are kept apart
    return frame[columns].sort_values(["family", "depth", "latent_dim", "seed"])


def check_seeds(seeds: Sequence[int], shown: int | None, what: str = "drawn") -> tuple[list[int], int]:
    """The training seeds a step measures, and the one its example figures show (default: the first)."""
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"Expected distinct training seeds >= 0. Received: seeds={seeds!r}")
    shown = seeds[0] if shown is None else shown
    if isinstance(shown, bool) or not isinstance(shown, (int, np.integer)) or int(shown) not in seeds:
        raise ValueError(f"Expected the {what} seed among the seeds measured. "
                         f"Received: seed={shown!r}, seeds={seeds!r}")
    return seeds, int(shown)


def model_setting(study: Study, train_config: dict) -> str:
    """The setting of the trained model a run evaluated (its training config, on the study's training data)."""
    return study.setting_of(train_config, study.data("train")[2]["source"])


def example_indices(y: np.ndarray, n_images: int) -> np.ndarray:
    """The first image of each class in turn (then the next of each), ``n_images`` in all."""
    y = np.asarray(y)
    per_class = [list(np.flatnonzero(y == c)) for c in np.unique(y)]
    picks: list[int] = []
    while len(picks) < min(n_images, len(y)):
        for members in per_class:
            if members and len(picks) < n_images:
                picks.append(int(members.pop(0)))
    return np.asarray(picks, dtype=np.int64)
