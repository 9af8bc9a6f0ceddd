"""Step 07: data augmentation for same-artist verification (docs/methods.md §6), run through the study's grid.

Every feature autoencoder (seed, z) and every results row (seed, setting) is
a run in the study's run store (kinds ``"augmentation_fcae"`` and
``"augmentation"``), evaluated by :meth:`Study.evaluate_grid`, so a rerun
computes only what is missing. The tables, figures and provenance go to
``<out_dir>/augmentation`` (:mod:`.augmentation_tables`). The experiments
themselves (data, settings, per-seed computation) are
:mod:`aelib.augmentation.experiments`'s.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from aelib.augmentation import experiments
from aelib.augmentation.dataset import FeatureSet, holdout_split, load_features, standardized_split
from aelib.io import atomic_write_csv, atomic_write_text, config_hash
from aelib.study.steps import augmentation_tables as tables
from aelib.study.store import RunResult, RunStore
from aelib.study.study import Study, Unit


def run(study: Study, *, source: str, image_dir: str | None, csv_path: str | None, aug_latent_dim: Sequence[int],
        aug_seeds: Sequence[int], perturbations: Sequence[float], thresholds: Sequence[int]) -> pd.DataFrame:
    """The augmentation experiments and the duplicate control against the baseline; returns the summary table
    (one row per experiment × z × setting, with intervals over ``aug_seeds``)."""
    plan = plan_experiments(source=source, image_dir=image_dir, csv_path=csv_path, latent_dims=aug_latent_dim,
                            seeds=tuple(aug_seeds), perturbations=tuple(perturbations), thresholds=tuple(thresholds),
                            out_dir=study.out_dir / "augmentation")
    return evaluate_plan(study, plan)["summary"]


def evaluate_plan(study: Study, plan: Plan) -> dict[str, Any]:
    """Every feature autoencoder, then every results row of ``plan``, through the study's grid; then the
    tables, figures and provenance (see :func:`finish`)."""
    _, autoencoders = study.evaluate_grid("07 feature autoencoders", "augmentation_fcae", fcae_units(plan),
                                          evaluate_fcae)
    _, rows = study.evaluate_grid("07 augmentation", "augmentation", setting_units(plan, study.store), evaluate)
    return finish(plan, [*autoencoders, *rows])


# ------------------------------------------------------------------------------ plan


@dataclasses.dataclass
class Plan:
    """Everything the experiments' runs share: the checked arguments, the data and its split, the settings,
    the equal number of pair-model updates, the configuration every run key holds, and the per-seed state
    of the settings computed in this process."""

    args: experiments.Arguments
    out_dir: Path
    data: FeatureSet
    train_idx: np.ndarray
    test_idx: np.ndarray
    split: tuple
    n_baseline_pairs: int
    n_updates: int
    config: dict
    common: dict
    settings: list
    wall: float
    states: dict = dataclasses.field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, Any]:
        return self.args.sizes

    def state(self, seed: int) -> experiments.SeedRun:
        """The shared state of ``seed``'s settings (one seed's pair model and autoencoder in memory at a time)."""
        if seed not in self.states:
            self.states.clear()
            self.states[seed] = experiments.SeedRun(seed, self.split, self.sizes, self.n_updates)
        return self.states[seed]


def plan_experiments(*, source: str = "standin", image_dir: str | os.PathLike[str] | None = None,
                     csv_path: str | os.PathLike[str] | None = None,
                     latent_dims: int | Sequence[int] = experiments.DEFAULT_LATENT_DIMS,
                     seeds: Sequence[int] = (0, 1, 2, 3, 4),
                     perturbations: Sequence[float] = experiments.DEFAULT_PERTURBATIONS,
                     thresholds: Sequence[int] = experiments.DEFAULT_THRESHOLDS,
                     out_dir: str | os.PathLike[str] = Path("results/augmentation"),
                     cache_dir: str | os.PathLike[str] | None = None, quick: bool = True,
                     sizes: dict[str, Any] | None = None, progress: bool = True) -> Plan:
    """Check the arguments (see :func:`aelib.augmentation.experiments.check_arguments`; nothing is written
    before), load (or extract) the features into ``cache_dir`` (default ``out_dir/cache``), split them and
    fix the settings; nothing is trained yet."""
    wall = time.perf_counter()
    args = experiments.check_arguments(source=source, image_dir=image_dir, csv_path=csv_path,
                                       latent_dims=latent_dims, seeds=seeds, perturbations=perturbations,
                                       thresholds=thresholds, quick=quick, sizes=sizes)
    sizes = args.sizes
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    out_dir.mkdir(parents=True, exist_ok=True)

    data = load_features(args.source, image_dir, csv_path, sizes, cache_dir, progress)
    train_idx, test_idx = holdout_split(
        data.labels, test_fraction=sizes["test_fraction"], min_test=sizes["min_test_works"], seed=sizes["data_seed"]
    )
    split = standardized_split(data.features, data.labels, train_idx, test_idx)
    n_baseline_pairs, n_updates = experiments.equal_updates(split[1], sizes)
    config = {  # in every run's key
        "source": args.source,
        "data_source": data.data_source,
        "image_dir": str(image_dir) if image_dir else None,
        "csv_path": str(csv_path) if csv_path else None,
        "feature_model": data.feature_model,
        "n_works": int(len(data.labels)),
        "sizes": sizes,
        "topup_target": experiments.TOPUP_TARGET,
        "threshold_p": experiments.THRESHOLD_P,
        "format": 2,  # 2: equal updates, no self-pairs, z in the row key
    }
    run_hash = config_hash(config, digest="sha256", length=12, default=str)  # names the study's settings in rows
    common = {"feature_model": data.feature_model, "data_source": data.data_source, "stand_in": data.stand_in,
              "config_hash": run_hash}
    return Plan(args, out_dir, data, train_idx, test_idx, split, n_baseline_pairs, n_updates, config, common,
                experiments.settings(args.latent_dims, args.perturbations, args.thresholds), wall)


# ----------------------------------------------------------------------------- units


def _fcae_key(plan: Plan, z: int, seed: int) -> dict:
    return {**plan.config, "latent_dim": int(z), "seed": int(seed)}


def fcae_units(plan: Plan) -> list[Unit]:
    """One unit per feature autoencoder: per seed and z."""
    return [Unit(f"feature autoencoder z={z} seed={seed}", _fcae_key(plan, z, seed),
                 {"plan": plan, "latent_dim": int(z), "seed": int(seed)})
            for seed in plan.args.seeds for z in plan.args.latent_dims]


def setting_units(plan: Plan, store: RunStore) -> list[Unit]:
    """One unit per results row: per seed and setting, a seed's in order; ``params["fcae_dir"]`` is the
    ``store`` folder of the setting's feature autoencoder (None without one)."""
    units = []
    for seed in plan.args.seeds:
        for setting in plan.settings:
            experiment, z, value, _ = setting
            fcae = None if z is None else store.path_for("augmentation_fcae", _fcae_key(plan, z, seed))
            units.append(Unit(f"{experiment} z={z} value={value} seed={seed}",
                              {**plan.config, "experiment": experiment, "latent_dim": z, "value": value,
                               "seed": int(seed)},
                              {"plan": plan, "setting": setting, "seed": int(seed), "fcae_dir": fcae}))
    return units


def evaluate_fcae(study: Study, unit: Unit, run_dir: Path) -> dict:
    """The feature autoencoder of (seed, z), trained on the training features and kept as ``model.keras``."""
    plan = unit.params["plan"]
    model, rmse = experiments.train_feature_autoencoder(plan.split[0], plan.split[2], unit.params["latent_dim"],
                                                        unit.params["seed"], plan.sizes)
    tmp = run_dir / "model.partial.keras"
    model.save(tmp)
    os.replace(tmp, run_dir / "model.keras")
    return {"fcae_test_rmse": rmse}


def load_fcae(fcae_dir: Path, z: int, seed: int) -> tuple[Any, float]:
    """The stored feature autoencoder of (seed, z) and its held-out RMSE (its run must be complete)."""
    from aelib.models import load_model  # deferred: the models load Keras

    fcae_dir = Path(fcae_dir)
    if not (fcae_dir / "metrics.json").is_file():
        raise RuntimeError(f"the feature autoencoder of z={z} seed={seed} did not complete (see {fcae_dir})")
    model = load_model(fcae_dir / "model.keras")
    return model, json.loads((fcae_dir / "metrics.json").read_text())["fcae_test_rmse"]


def evaluate(study: Study, unit: Unit, run_dir: Path) -> dict:
    """One results row: a setting of one experiment (and z) under one seed."""
    plan, seed, setting, fcae_dir = (unit.params[k] for k in ("plan", "seed", "setting", "fcae_dir"))
    load = None if fcae_dir is None else functools.partial(load_fcae, fcae_dir, setting[1], seed)
    return {**plan.state(seed).row(setting, load), **plan.common}


# ---------------------------------------------------------------------------- finish


def finish(plan: Plan, runs: Sequence[RunResult]) -> dict[str, Any]:
    """The tables, figures and provenance from the store's runs (``runs``: every unit's result).

    Returns:
        ``{"results": one row per experiment × z × setting × seed, "summary": one row per experiment × z ×
        setting (see :func:`.augmentation_tables.summarize_results`), "class_counts": training/held-out works
        per class, "provenance": dict, "figures": list of paths, "runs": the runs}``, written to
        ``augmentation_results.csv``, ``augmentation_summary.csv``, ``augmentation_class_counts.csv`` and
        ``augmentation_provenance.json`` in the plan's ``out_dir``.

    Raises:
        RuntimeError: a run failed (the others are kept in the store and not computed again).
    """
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} augmentation run(s) failed; the others are kept in their store and are not "
                           f"computed again. First: " + "; ".join(f"{r.error} ({r.path})" for r in failed[:3]))
    data, out_dir = plan.data, plan.out_dir
    results = tables.results_table([r.metrics for r in runs if r.kind == "augmentation"])
    summary = tables.summarize_results(results)
    class_counts = tables.class_counts(data, plan.split)
    label = (
        "stand-in data (font-rendered letters as 'artists', CNN features) — not Painter by Numbers"
        if data.stand_in
        else "Painter by Numbers, Inception v3 features"
    )
    figures = tables.plot_experiments(summary, out_dir, label=label)
    provenance = _provenance(plan)
    atomic_write_csv(out_dir / "augmentation_results.csv", results)
    atomic_write_csv(out_dir / "augmentation_summary.csv", summary)
    atomic_write_csv(out_dir / "augmentation_class_counts.csv", class_counts)
    atomic_write_text(out_dir / "augmentation_provenance.json", json.dumps(provenance, indent=2, default=str))
    return {
        "results": results,
        "summary": summary,
        "class_counts": class_counts,
        "provenance": provenance,
        "figures": figures,
        "runs": runs,
    }


def _provenance(plan: Plan) -> dict[str, Any]:
    import keras  # deferred: Keras loads TensorFlow

    data, args, sizes, n_updates = plan.data, plan.args, plan.sizes, plan.n_updates
    return {
        "data_source": data.data_source,
        "stand_in": data.stand_in,
        "description": data.info.get("description"),
        "data": data.info,
        "n_works": int(len(data.labels)),
        "n_classes": len(data.artist_names),
        "n_train_works": int(len(plan.train_idx)),
        "n_test_works": int(len(plan.test_idx)),
        "feature_model": data.feature_model,
        "feature_dim": int(plan.split[0].shape[1]),
        "latent_dims": list(args.latent_dims),
        "seeds": list(args.seeds),
        "perturbations": list(args.perturbations),
        "thresholds": list(args.thresholds),
        "duplicate_thresholds": sorted({*args.thresholds, experiments.TOPUP_TARGET}),
        "sizes": sizes,
        "quick": args.quick,
        "n_updates": int(n_updates),
        "pair_training": (
            f"every condition: {n_updates} Adam updates of {sizes['pair_batch_size']} pairs from the same initial "
            "weights; batches cut from seeded permutations of the condition's own training pairs"
            + (
                ""
                if sizes["pair_updates"]
                else f" ({sizes['pair_epochs']} passes over the baseline's {plan.n_baseline_pairs} pairs)"
            )
        ),
        "self_pairs": (
            "excluded: no positive training pair joins a synthetic or duplicated sample to its source original, "
            "or two samples made from the same original"
        ),
        "ci_method": tables.CI_METHOD,
        "auc_rare": (f"AUC on the test pairs whose anchor's class has fewer than {experiments.TOPUP_TARGET} "
                     "training works"),
        "config_hash": plan.common["config_hash"],
        "wall_seconds": round(time.perf_counter() - plan.wall, 1),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
        },
    }
