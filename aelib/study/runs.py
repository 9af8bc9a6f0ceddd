"""Training runs shared by every step: a model is trained once per
configuration and reused by the later analyses."""
from __future__ import annotations

import dataclasses
import functools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from aelib.data import load_dataset_with_info
from aelib.io import atomic_write_csv
from aelib.metrics.reconstruction import mean_image_rmse, rmse_per_sample, summarize
from aelib.models import build_model, load_model, model_options
from aelib.study.integrity import guarded_run
from aelib.study.store import RunStore
from aelib.training import SAMPLE_ORDER, TrainConfig, train, validation_split


#: the fields of :class:`TrainConfig` that define a trained model (its seed is the spec's; ``verbose`` and
#: ``steps_per_execution`` change nothing in the result), in the order of a run's configuration
TRAINING_KEYS = ("epochs", "batch_size", "learning_rate", "patience", "min_delta", "lr_patience", "lr_factor",
                 "validation_fraction")


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Everything that defines a trained model (and so its run folder): the model, its data, and its
    :class:`TrainConfig`, carried whole."""

    family: str
    latent_dim: int
    dataset: str = "mnist"
    depth: int = 3
    seed: int = 0
    training: TrainConfig = TrainConfig()
    n_train: int | None = None
    n_test: int | None = None
    options: tuple = ()  # sorted (key, value) pairs of family options

    @classmethod
    def make(cls, family: str, latent_dim: int, *, options: dict | None = None, **kwargs: Any) -> "TrainSpec":
        """A spec whose options hold every family default too, so a change of a
        default changes the run's key (and an old saved model is not reused)."""
        defaults = model_options(family)  # unknown family → ValueError now, not deep inside a run
        unknown = sorted(set(options or {}) - set(defaults))
        if unknown:
            raise ValueError(f"Bad option for family {family!r}: {', '.join(unknown)}. Options it takes: {', '.join(sorted(defaults))}.")
        resolved = {k: v for k, v in {**defaults, **(options or {})}.items() if k not in ("depth", "seed")}
        resolved = {k: list(v) if isinstance(v, tuple) else v for k, v in resolved.items()}
        return cls(family=family, latent_dim=int(latent_dim), options=tuple(sorted(resolved.items())), **kwargs)

    @property
    def learning_rate(self) -> float:
        return self.training.learning_rate

    def config(self) -> dict:
        """The run's key: the model and data fields with the training fields of :data:`TRAINING_KEYS` beside them."""
        return {"family": self.family, "latent_dim": self.latent_dim, "dataset": self.dataset, "depth": self.depth,
                "seed": self.seed, **{k: getattr(self.training, k) for k in TRAINING_KEYS},
                "n_train": self.n_train, "n_test": self.n_test, "options": dict(self.options),
                "sample_order": SAMPLE_ORDER}

    def train_config(self, verbose: int = 2) -> TrainConfig:
        return dataclasses.replace(self.training, seed=self.seed, verbose=verbose)


@functools.lru_cache(maxsize=16)
def cached_dataset(name: str, split: str, n: int | None, seed: int = 0):
    """Load a dataset once per process (arrays are read-only to keep it safe to share)."""
    x, y, info = load_dataset_with_info(name, split, n=n, seed=seed)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y, info


def _verbose() -> int:
    return int(os.environ.get("AELIB_VERBOSE", "0"))


def _train_fn(spec: TrainSpec):
    def fn(run_dir: Path) -> dict:
        x_train, _, info_train = cached_dataset(spec.dataset, "train", spec.n_train)
        x_test, _, info_test = cached_dataset(spec.dataset, "test", spec.n_test)
        model = build_model(spec.family, input_shape=x_train.shape[1:], latent_dim=spec.latent_dim,
                            depth=spec.depth, seed=spec.seed, **dict(spec.options))
        start = time.perf_counter()
        convergence: dict = {}
        history = train(model, np.array(x_train), spec.train_config(verbose=_verbose()), record=convergence)
        train_seconds = time.perf_counter() - start
        atomic_write_csv(run_dir / "history.csv", history)
        tmp = run_dir / "model.partial.keras"
        model.save(tmp)
        os.replace(tmp, run_dir / "model.keras")
        rmse = rmse_per_sample(x_test, model.reconstruct(x_test))
        np.save(run_dir / "test_rmse.npy", rmse.astype("float32"))
        baseline = mean_image_rmse(x_train, x_test)
        _, val_idx = validation_split(len(x_train), spec.training.validation_fraction, spec.seed)  # the split train() held out
        val_rmse = float(rmse_per_sample(x_train[val_idx], model.reconstruct(x_train[val_idx])).mean()) \
            if len(val_idx) else None
        return {
            **summarize(rmse, prefix="rmse"),
            "mean_image_rmse": float(baseline.mean()),
            "val_rmse": val_rmse,
            "epochs_trained": int(len(history)),
            **convergence,
            "final_val_loss": float(history["val_loss"].min()) if "val_loss" in history else None,
            "train_seconds": train_seconds,
            "seconds_per_epoch": train_seconds / max(1, len(history)),
            "n_params": int(model.count_params()),
            "effective_bottleneck": int(model.effective_bottleneck()) if hasattr(model, "effective_bottleneck") else None,
            "widths_rule": getattr(model, "widths_rule_used", None),
            "data_source": info_train["source"],
            "data_stand_in": bool(info_train.get("stand_in", False)),
            "n_train_used": int(len(x_train)),
            "n_test_used": int(len(x_test)),
            "test_source": info_test["source"],
        }

    return fn


def ensure_trained(store: RunStore, spec: TrainSpec, *, wait: bool = True):
    """Train ``spec`` unless its run is complete; returns the store's RunResult.

    ``wait=False``: a run another process has claimed gives a ``"busy"`` result at once (see :meth:`RunStore.run`)."""
    return guarded_run(store, "train", spec.config(), _train_fn(spec), wait=wait)  # a bad folder fails this run only


def load_trained(store: RunStore, spec: TrainSpec):
    """The trained model of ``spec`` (training it first if needed)."""
    result = ensure_trained(store, spec)
    if result.status == "failed":
        raise RuntimeError(f"Training {spec.family} z={spec.latent_dim} failed: {result.error} (see {result.path})")
    try:
        return load_model(result.path / "model.keras")
    except (ValueError, FileNotFoundError) as err:  # saved by other code, or damaged: train again
        print(f"Retraining {spec.family} z={spec.latent_dim}: its saved model does not load ({err})", flush=True)
        (result.path / "metrics.json").unlink(missing_ok=True)
        result = ensure_trained(store, spec)
        if result.status == "failed":
            raise RuntimeError(f"Training {spec.family} z={spec.latent_dim} failed: {result.error} (see {result.path})")
        return load_model(result.path / "model.keras")
