"""Training runs shared by every step: a model is trained once per key and reused by the later analyses.

A run's key (:meth:`TrainSpec.config`) holds everything that decides the trained
model: the family, its options, z, depth, seed and training fields, the data set
with where it came from and a fingerprint of the arrays actually loaded
(:func:`cached_dataset`), the family's implementation version
(:mod:`aelib.models.versions`) and the training loop. A model trained on other
data, by other code or by another loop has another key, so it is never handed
back for this one.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aelib.data import load_dataset_with_info
from aelib.io import atomic_write_csv
from aelib.metrics.reconstruction import mean_image_rmse, rmse_per_sample, summarize
from aelib.models import build_model, load_model, model_options
from aelib.models.versions import family_version
from aelib.study.failures import explain, guarded_run
from aelib.study.store import RunResult, RunStore
from aelib.study.trust import describe_link, link_below
from aelib.training import SAMPLE_ORDER, TRAINING_FIELDS, TrainConfig, train, training_loop_name, validation_split


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
    options: tuple = ()  # sorted (key, value) pairs of family options, sequences as tuples (hashable)

    @classmethod
    def make(cls, family: str, latent_dim: int, *, options: dict | None = None, **kwargs: Any) -> "TrainSpec":
        """A spec whose options hold every family default too, so a change of a
        default changes the run's key (and an old saved model is not reused)."""
        defaults = model_options(family)  # unknown family → ValueError now, not deep inside a run
        unknown = sorted(set(options or {}) - set(defaults))
        if unknown:
            raise ValueError(f"Bad option for family {family!r}: {', '.join(unknown)}. "
                             f"Options it takes: {', '.join(sorted(defaults))}.")
        resolved = {k: v for k, v in {**defaults, **(options or {})}.items() if k not in ("depth", "seed")}
        resolved = {k: _frozen(v) for k, v in resolved.items()}  # hashable: specs key dicts and sets
        return cls(family=family, latent_dim=int(latent_dim), options=tuple(sorted(resolved.items())), **kwargs)

    @property
    def learning_rate(self) -> float:
        return self.training.learning_rate

    def config(self) -> dict:
        """The run's key: the model and data fields with the training fields
        (:data:`aelib.training.TRAINING_FIELDS`) beside them, the data actually loaded
        (:func:`data_fingerprint`) and the implementation (:func:`implementation`).

        Loads the data set once per process (:func:`cached_dataset`).

        Raises:
            ValueError, aelib.data.DataError: the data set cannot be loaded with these sizes.
        """
        return {"family": self.family, "latent_dim": self.latent_dim, "dataset": self.dataset, "depth": self.depth,
                "seed": self.seed, **{k: getattr(self.training, k) for k in TRAINING_FIELDS},
                "n_train": self.n_train, "n_test": self.n_test, "options": {k: _listed(v) for k, v in self.options},
                "sample_order": SAMPLE_ORDER, "data": data_fingerprint(self.dataset, self.n_train, self.n_test),
                "implementation": implementation(self.family)}

    def train_config(self, verbose: int = 2) -> TrainConfig:
        return dataclasses.replace(self.training, seed=self.seed, verbose=verbose)


def _frozen(value: Any) -> Any:
    """``value`` with its lists as tuples, so that a spec holding it is hashable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def _listed(value: Any) -> Any:
    """``value`` with its tuples as lists, as the run's ``config.json`` holds it (JSON has no tuples)."""
    return [_listed(v) for v in value] if isinstance(value, (list, tuple)) else value


def implementation(family: str) -> dict:
    """The code behind a model of ``family``: its implementation version and the training loop
    (:func:`aelib.training.training_loop_name`)."""
    return {"family_version": family_version(family), "training_loop": training_loop_name()}


def array_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def cached_dataset(name: str, split: str, n: int | None, seed: int = 0):
    """Load a dataset once per process (arrays are read-only to keep it safe to share).

    Its ``info`` holds ``sha256``, the fingerprint of the arrays loaded (:func:`array_sha256` of images and
    labels), computed here once per loaded dataset.
    """
    x, y, info = load_dataset_with_info(name, split, n=n, seed=seed)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y, {**info, "sha256": array_sha256(x, y)}


def data_fingerprint(dataset: str, n_train: int | None, n_test: int | None) -> dict:
    """Where the training data came from and the fingerprints of the train and test arrays loaded (the test
    split too: a training run's metrics are measured on it)."""
    info_train = cached_dataset(dataset, "train", n_train)[2]
    return {"source": info_train["source"], "train_sha256": info_train["sha256"],
            "test_sha256": cached_dataset(dataset, "test", n_test)[2]["sha256"]}


def _verbose() -> int:
    return int(os.environ.get("AELIB_VERBOSE", "0"))


def _train_fn(spec: TrainSpec, key: dict):
    def fn(run_dir: Path) -> dict:
        loaded = data_fingerprint(spec.dataset, spec.n_train, spec.n_test)
        if loaded != key["data"]:  # e.g. a worker that found other data files than the process that made the key
            raise ValueError(f"The data loaded here ({loaded}) is not the data of the run's key ({key['data']}). "
                             "Run the step again in one environment (AELIB_DATA_DIR, AELIB_OFFLINE).")
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
        # the split train() held out
        _, val_idx = validation_split(len(x_train), spec.training.validation_fraction, spec.seed)
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
            "n_params": int(model.autoencoder_params()),  # x → z → x̂ only (not aae's discriminator)
            "effective_bottleneck": int(model.effective_bottleneck()) if hasattr(model, "effective_bottleneck")
            else None,
            "widths_rule": getattr(model, "widths_rule_used", None),
            "data_source": info_train["source"],
            "data_stand_in": bool(info_train.get("stand_in", False)),
            "n_train_used": int(len(x_train)),
            "n_test_used": int(len(x_test)),
            "test_source": info_test["source"],
        }

    return fn


def ensure_trained(store: RunStore, spec: TrainSpec, *, wait: bool = True) -> RunResult:
    """Train ``spec`` unless its run is complete; returns the store's RunResult.

    ``wait=False``: a run another process has claimed gives a ``"busy"`` result at once (see :meth:`RunStore.run`).
    Data that cannot be loaded fails the run (its key needs the data's fingerprint)."""
    try:
        config = spec.config()
    except Exception as err:  # the data set does not load: this run fails, the step goes on
        return RunResult("train", {"family": spec.family, "latent_dim": spec.latent_dim, "seed": spec.seed},
                         store.root / "train", "failed", error=explain(err))
    return guarded_run(store, "train", config, _train_fn(spec, config), wait=wait)  # a bad folder fails this run only


class ModelUnavailable(RuntimeError):
    """A trained model that cannot be handed back: its run is not complete, or its saved model does not load."""


#: What loading a ``.keras`` file raises when the file is damaged or was saved by other code (not a passing
#: I/O error, after which the run is kept).
_DAMAGED_MODEL = (ValueError, FileNotFoundError, KeyError, TypeError, zipfile.BadZipFile)


def load_trained(store: RunStore, spec: TrainSpec):
    """The trained model of ``spec``, loaded from its complete run in ``store``. Never trains (a step trains
    the models its analyses need first, through the worker pool: :meth:`aelib.study.study.Study.ensure_models`).

    Raises:
        ModelUnavailable: naming the run: its key cannot be made (the data does not load), it is not complete,
            its ``metrics.json`` is invalid, its model file is reached through a link, or the saved model does not
            load. In the last case the run is discarded (under its claim: :meth:`RunStore.discard`) so that
            running the step again retrains it.
    """
    name = f"{spec.family} z={spec.latent_dim} depth={spec.depth} seed={spec.seed}"
    try:
        config = spec.config()
    except Exception as err:  # the data set does not load, so the run's key cannot be made
        raise ModelUnavailable(f"No trained model of {name}: its run key needs the data, which does not load "
                               f"({explain(err)})") from err
    path = store.path_for("train", config)
    status = store.status("train", config)
    if status != "complete":
        raise ModelUnavailable(f"No trained model of {name}: its run is {status} ({path}). Train it first: run the "
                               "step that trains it (step 02 for the study's models).")
    try:
        store.load_metrics("train", config)
    except (ValueError, FileNotFoundError) as err:
        raise ModelUnavailable(f"Not loading the model of {name}: {err}") from err
    file = path / "model.keras"
    link = link_below(store.root, file)
    if link is not None:
        raise ModelUnavailable(f"Not loading the model of {name} through a link: {describe_link(link)}. "
                               "Run `aelib check --repair` to remove it, then the step again.")
    try:
        return load_model(file)
    except _DAMAGED_MODEL as err:  # damaged, or saved by other code
        discarded = store.discard("train", config)  # under the run's claim; kept if another process redid it
        raise ModelUnavailable(
            f"The saved model of {name} does not load ({explain(err)}; {file}). "
            + ("Its run is marked not complete: run the step again to retrain it." if discarded else
               "Another process has rewritten its run meanwhile: run the step again.")) from err
