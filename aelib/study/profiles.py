"""Study profiles: the parameters each step notebook gets.

``quick`` runs offline on two CPU cores in minutes; ``thesis`` is the seed
study's full grids with several seeds, for GPUs. The steps are those of
:data:`aelib.study.steps.STEPS`; each profile's ``common`` part sets every
training field of :class:`aelib.training.TrainConfig` (``TRAINING_FIELDS``;
tests/study/test_profiles.py checks that they agree).
"""
from __future__ import annotations

import copy

from aelib.study.steps import STEP_NAMES
from aelib.study.steps import get as get_step

SEED_Z_GRID = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 600, 700]

# Training stops by convergence (early stopping on a relative improvement of
# the validation loss, with reduce-on-plateau); ``epochs`` is only a safety cap.
CONVERGENCE = {"min_delta": 1e-3, "lr_patience": 3, "lr_factor": 0.5}
# The share of the training split held out for early stopping (TrainConfig's default).
VALIDATION_FRACTION = 0.1

PROFILES: dict[str, dict] = {
    "quick": {
        # Converged training on 4,000 MNIST images, batch 64: 20-300 epochs per model (the cap of 600 is a
        # safety net only). Batch 64 rather than 128: at z = 10 the ten families converged in 565 s against
        # 960 s (rae 214 s against 559 s; vae, aae and mae 5-29 % slower) and nine of ten to a lower test RMSE
        # (benchmarks/README.md, "Time to a converged model"). z = 2, 40 and 100 in steps 02-06, the three
        # sizes the seed study's claims are about (UMAP at all three, generation at 2 and 40 as the seed showed),
        # three seeds (two leave a bootstrap over seeds only three distinct resamples); step 01 (depth and
        # tuning, at z = 10 and 40) on one seed. Step 02 also trains cae and mae at fcae's parameter count, at
        # z = 2 on one seed only: sized up to fcae's 0.6 M parameters a cae run took 8 min on two cores (the
        # whole grid would take 45 min more); rae, as costly, is matched in the thesis profile only.
        "common": {"epochs": 600, "batch_size": 64, "learning_rate": 1e-3, "validation_fraction": VALIDATION_FRACTION,
                   "patience": 6, **CONVERGENCE,
                   "seeds": [0, 1, 2], "n_train": None, "n_test": None},
        "01_architecture": {"seeds": [0], "depths": [1, 2, 3, 4, 5, 6], "z_values": [10, 40],
                            "arch_families": ["fcae"], "tune_z": 10, "tune_grids": None, "tune_learning_rates": []},
        "02_latent_sweep": {"z_values": [2, 40, 100], "matched": ["cae", "mae"], "matched_z": [2],
                            "matched_seeds": [0]},
        "03_reconstruction": {"z_values": [2, 40, 100]},
        "04_latent_space": {"z_values": [2, 40, 100], "umap_z": [2, 40, 100], "n_points": 1000},
        "05_ood_reconstruction": {"z_values": [2, 40, 100], "n_ood": 1000},
        "06_generative": {"z_values": [2, 40], "levels": [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0], "n_samples": 500},
        "07_augmentation": {"aug_seeds": [0, 1, 2, 3, 4], "aug_latent_dim": [16, 64, 256],
                            "perturbations": [0.0, 0.1, 0.5], "thresholds": [10, 20, 40]},
        "08_summary": {"z_values": [2, 40, 100], "chosen_z": [2, 40, 100]},
    },
    "thesis": {
        "common": {"epochs": 1000, "batch_size": 128, "learning_rate": 1e-3, "validation_fraction": VALIDATION_FRACTION,
                   "patience": 10, **CONVERGENCE,
                   "lr_patience": 4, "seeds": [0, 1, 2, 3, 4], "n_train": None, "n_test": None},
        "01_architecture": {"depths": [1, 2, 3, 4, 5, 6], "z_values": [10, 20, 40, 80, 160, 320],
                            "arch_families": ["fcae"], "tune_z": 10, "tune_grids": None,
                            "tune_learning_rates": [3e-4, 1e-3, 3e-3]},
        "02_latent_sweep": {"z_values": SEED_Z_GRID, "matched": ["cae", "rae", "mae"], "matched_z": [2, 40, 100],
                            "matched_seeds": [0, 1, 2, 3, 4]},
        "03_reconstruction": {"z_values": [2, 10, 40, 100, 700]},
        "04_latent_space": {"z_values": SEED_Z_GRID, "umap_z": [2, 40, 100], "n_points": 5000},
        "05_ood_reconstruction": {"z_values": SEED_Z_GRID, "n_ood": 5000},
        "06_generative": {"z_values": [2, 40], "levels": [round(0.1 * i, 1) for i in range(11)], "n_samples": 2000},
        "07_augmentation": {"aug_seeds": [0, 1, 2, 3, 4], "aug_latent_dim": [16, 64, 256],
                            "perturbations": [0.0, 0.05, 0.1, 0.2, 0.5, 1.0], "thresholds": [5, 10, 20, 40]},
        "08_summary": {"z_values": SEED_Z_GRID, "chosen_z": [2, 40, 100]},
    },
}

#: Step 02's parameters of the matched-capacity runs: the sweep's own, which a family notebook (one family's
#: story) neither takes nor passes on.
MATCHED_PARAMETERS = ("matched", "matched_z", "matched_seeds")

# Step settings every profile shares (a profile's own step settings win).
COMPLEMENTARY = ["emnist_letters", "fashion_mnist"]  # data sets unlike MNIST (docs/methods.md §4, step 6)
SHARED_STEP = {
    "03_reconstruction": {"grid_seed": 0},
    "04_latent_space": {"k": 7, "analysis_seed": None},
    "05_ood_reconstruction": {"complementary": COMPLEMENTARY},
    "06_generative": {"modes": ["relative", "additive"]},
    "07_augmentation": {"source": "standin", "image_dir": None, "csv_path": None},
    "08_summary": {"complementary": COMPLEMENTARY},
}



def _check_steps() -> None:
    """Every step key of the profiles names a step of :data:`aelib.study.steps.STEPS` (one renamed there fails here)."""
    unknown = {key for part in (*PROFILES.values(), SHARED_STEP) for key in part} - {"common", *STEP_NAMES}
    if unknown:
        raise ValueError(f"Expected the profiles' steps among {', '.join(STEP_NAMES)}. Received: {sorted(unknown)}")


_check_steps()

# Parameters that only some steps take (the rest go to every step).
STEP_ONLY = {"depths", "arch_families", "tune_z", "tune_grids", "tune_learning_rates", "umap_z", "k", "n_points",
             "n_ood", "complementary", "levels", "modes", "n_samples", "aug_seeds", "perturbations", "thresholds",
             "source", "image_dir", "csv_path", "aug_latent_dim", "chosen_z", "grid_seed", "analysis_seed"}


def step_parameters(profile: str, step: str, overrides: dict | None = None) -> dict:
    """Parameters for ``step`` under ``profile``, with ``overrides`` applied where the step takes them."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}. Known profiles: {', '.join(PROFILES)}")
    get_step(step)  # a ValueError naming the known steps
    params = copy.deepcopy(PROFILES[profile]["common"])
    step_params = copy.deepcopy({**SHARED_STEP.get(step, {}), **PROFILES[profile].get(step, {})})
    params.update(step_params)
    for key, value in (overrides or {}).items():
        if key == "z_values" and "z_values" not in step_params:
            continue
        if key in STEP_ONLY and key not in step_params:
            continue
        params[key] = value
    params["profile"] = profile
    return params
