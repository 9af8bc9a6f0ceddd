"""Training: Adam, the family's loss, a validation split with early stopping,
fixed seeds, progress on screen, history kept."""
from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from typing import Any

from aelib._quiet import import_tensorflow

import_tensorflow()  # no C++ start-up lines on the screen

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aelib.checks import check_float, check_int  # noqa: E402
from aelib.models.base import Autoencoder  # noqa: E402


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters with their defaults.

    Attributes:
        epochs: safety cap on the passes over the training data; training
            normally ends by early stopping first (``stopped_by`` says which).
        batch_size: samples per gradient step.
        learning_rate: Adam step size.
        validation_fraction: share of the training split held out for early
            stopping (0 turns it off).
        patience: epochs without improvement of the validation loss before
            stopping; the best weights are restored.
        min_delta: smallest relative decrease of the validation loss that
            counts as an improvement (1e-3: 0.1 % of the best loss so far).
            Relative, because loss scales differ between families.
        lr_patience: epochs without improvement before the learning rate is
            multiplied by ``lr_factor`` (reduce on plateau); it is smaller
            than ``patience``, so a plateau first gets a smaller step.
        lr_factor: the reduce-on-plateau factor, in (0, 1]; 1 turns the
            schedule off.
        seed: seed of weights, shuffling and every random draw.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        steps_per_execution: gradient steps per call into the compiled
            training function. The updates and the per-epoch history are the
            same as with 1 (tested); it only saves Python overhead between
            small steps (fcae at batch 64 on two CPU cores: 0.83 → 0.61 s
            per epoch).
    """

    epochs: int = 200
    batch_size: int = 128
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1
    patience: int = 6
    min_delta: float = 1e-3
    lr_patience: int = 3
    lr_factor: float = 0.5
    seed: int = 0
    verbose: int = 2
    steps_per_execution: int = 16

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "steps_per_execution"):
            object.__setattr__(self, name, check_int(name, getattr(self, name)))
        # checked, not converted: the values stay as given (they are part of stored runs' configurations)
        check_float("validation_fraction", self.validation_fraction, minimum=0, below=1)
        check_float("learning_rate", self.learning_rate, above=0)
        for name in ("patience", "lr_patience"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), 0))
        check_float("min_delta", self.min_delta, minimum=0, below=1, note="a relative decrease")
        check_float("lr_factor", self.lr_factor, above=0, maximum=1)


#: The fields of :class:`TrainConfig` that define a trained model, in declaration order: every field but the
#: seed (a run's own), ``verbose`` and ``steps_per_execution`` (they change nothing in the result). The one
#: list of them: run keys, the study's settings, the profiles and the notebooks' parameters derive from it.
TRAINING_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig)
                        if f.name not in ("seed", "verbose", "steps_per_execution"))


def set_seed(seed: int, *, deterministic: bool | None = None) -> bool:
    """Seed Python, NumPy and the backend, and make TensorFlow ops deterministic
    unless ``deterministic`` is False (None: the environment variable
    ``AELIB_DETERMINISTIC``, on unless it is 0, false, no or off).

    Returns:
        Whether op determinism is on.
    """
    keras.utils.set_random_seed(int(seed))
    if deterministic is None:
        deterministic = os.environ.get("AELIB_DETERMINISTIC", "1").strip().lower() not in ("0", "false", "no", "off")
    try:
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config

        if deterministic:
            tf.config.experimental.enable_op_determinism()
        else:
            tf_config.disable_op_determinism()
    except Exception:  # pragma: no cover - other backends
        return False
    return bool(deterministic)


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss."""


class _StopOnNaN(keras.callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get("loss")
        if value is not None and not math.isfinite(value):
            self.model.stop_training = True
            self.bad_epoch = epoch + 1


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into training and validation indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if fraction > 0 and n_val == 0:
        n_val = 1
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def compile_model(model: Autoencoder, config: TrainConfig) -> Autoencoder:
    if hasattr(model, "compile_for_training"):
        model.compile_for_training(config)  # families with their own optimisers
    else:
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      steps_per_execution=config.steps_per_execution)
    return model


def optimizers_of(model: keras.Model) -> list:
    """Every optimizer a compiled model trains with: ``model.training_optimizers()``
    where a family defines it (the adversarial family has three), else ``model.optimizer``."""
    if hasattr(model, "training_optimizers"):
        return list(model.training_optimizers())
    return [model.optimizer] if getattr(model, "optimizer", None) is not None else []


class Convergence(keras.callbacks.Callback):
    """Early stopping on a relative improvement of the validation loss, with
    reduce-on-plateau for every optimizer of the model, restoring the best weights.

    An epoch improves when ``val_loss < best · (1 − min_delta)``. After
    ``lr_patience`` epochs without improvement every learning rate is
    multiplied by ``lr_factor`` (and again after each further ``lr_patience``);
    after ``patience`` epochs without improvement training stops. At the end
    the weights of the best epoch are put back, whatever stopped training.
    """

    def __init__(self, *, patience: int, min_delta: float, lr_patience: int, lr_factor: float,
                 monitor: str = "val_loss") -> None:
        super().__init__()
        self.patience, self.min_delta = patience, min_delta
        self.lr_patience, self.lr_factor, self.monitor = lr_patience, lr_factor, monitor

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best = math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.wait = 0
        self.stopped_early = False
        self.learning_rates: list[float] = []

    def _learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.learning_rates.append(self._learning_rate())
        logs["learning_rate"] = self.learning_rates[-1]
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if value < self.best * (1.0 - self.min_delta) or self.best_weights is None:
            self.best, self.best_epoch, self.wait = float(value), epoch + 1, 0
            self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True
        elif self.lr_factor < 1.0 and self.lr_patience > 0 and self.wait % self.lr_patience == 0:
            for optimizer in optimizers_of(self.model):
                optimizer.learning_rate.assign(
                    float(keras.ops.convert_to_numpy(optimizer.learning_rate)) * self.lr_factor)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def convergence_record(history: pd.DataFrame, *, stopped_by: str, best_epoch: int | None,
                       final_learning_rate: float | None) -> dict:
    """How a training run ended: epochs run, best epoch, what stopped it, the
    final learning rate, and the relative change of the validation loss over
    the last 10 % of its epochs (at least two epochs)."""
    column = "val_loss" if "val_loss" in history else "loss"
    values = history[column].to_numpy(dtype=float)
    span = max(2, int(math.ceil(0.1 * len(values))))
    tail = values[-span:] if len(values) >= 2 else values
    change = float((tail[-1] - tail[0]) / abs(tail[0])) if len(tail) >= 2 and tail[0] != 0 else float("nan")
    return {"epochs_run": int(len(values)), "best_epoch": None if best_epoch is None else int(best_epoch),
            "stopped_by": stopped_by, "final_learning_rate": final_learning_rate,
            "val_loss_rel_change_last10pct": change}


def train(model: Autoencoder, x: np.ndarray, config: TrainConfig | None = None, *, callbacks=None,
          record: dict | None = None, **overrides: Any) -> pd.DataFrame:
    """Train ``model`` on ``x`` (inputs are also the targets) until the
    validation loss stops improving, and return the history.

    Args:
        model: an untrained model from ``aelib.models.build_model``.
        x: training inputs, float32 in the model's input shape.
        config: a :class:`TrainConfig`; keyword ``overrides`` replace its fields.
        record: if given, filled with :func:`convergence_record` (epochs run,
            best epoch, ``stopped_by``, final learning rate, last-10 % change).

    Returns:
        One row per epoch: every loss term for training and validation, and
        the learning rate.

    Raises:
        ValueError: on bad inputs or settings, before any training.
        NonFiniteLoss: when the loss becomes NaN or infinite.
    """
    config = dataclasses.replace(config or TrainConfig(), **overrides)
    x = model._check_input(x)
    if len(x) < 2:
        raise ValueError(f"Expected at least 2 training samples. Received: {len(x)}")
    if getattr(model, "output_activation", None) == "sigmoid" and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(
            f"Expected inputs in [0, 1] for {model.family!r} (its output is a sigmoid). Received: values from "
            f"{float(x.min()):g} to {float(x.max()):g}. Scale 8-bit images by 1/255, or build the model with "
            "output_activation='linear' for unbounded data."
        )
    deterministic = set_seed(config.seed)
    train_idx, val_idx = validation_split(len(x), config.validation_fraction, config.seed)
    initial_weights = model.get_weights() if model.built else None
    compile_model(model, config)
    nan_guard = _StopOnNaN()
    monitor = "val_loss" if len(val_idx) else "loss"
    convergence = Convergence(patience=config.patience, min_delta=config.min_delta, lr_patience=config.lr_patience,
                              lr_factor=config.lr_factor, monitor=monitor)
    cbs = [nan_guard, convergence, *(callbacks or [])]
    x_val = x[val_idx] if len(val_idx) else None
    fit_loop = _keras_fit if training_loop_name() == "keras-fit" else _fit
    try:
        epochs = fit_loop(model, x[train_idx], x_val, config, cbs)
    except Exception as err:
        # On a GPU, TensorFlow raises UnimplementedError ("A deterministic GPU implementation of ... is not
        # currently available") when an op has no deterministic kernel: train once more from the same start
        # without op determinism, and say so in the record.
        import tensorflow as tf

        if not (deterministic and isinstance(err, tf.errors.UnimplementedError) and "determinis" in str(err).lower()):
            raise
        warnings.warn(f"{model.family}: {str(err).strip().splitlines()[0]} Training again without op determinism.",
                      RuntimeWarning, stacklevel=2)
        deterministic = set_seed(config.seed, deterministic=False)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        compile_model(model, config)  # fresh optimizer state
        epochs = fit_loop(model, x[train_idx], x_val, config, cbs)
    history = pd.DataFrame(epochs)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    bad_epoch = getattr(nan_guard, "bad_epoch", None)
    stopped_by = "non_finite" if bad_epoch else ("early_stopping" if convergence.stopped_early else "epoch_cap")
    if record is not None:
        rates = convergence.learning_rates
        record.update(convergence_record(history, stopped_by=stopped_by, best_epoch=convergence.best_epoch or None,
                                         final_learning_rate=rates[-1] if rates else None))
        record["deterministic"] = deterministic
    if bad_epoch:
        raise NonFiniteLoss(
            f"{model.family}: the training loss became non-finite at epoch {bad_epoch} "
            f"(latent_dim={model.latent_dim}). Try a lower learning_rate (was {config.learning_rate})."
        )
    return history


#: Environment variable: ``keras-fit`` trains with ``keras.Model.fit`` instead of :func:`_fit`, for
#: benchmarks that compare the two loops in one run (``benchmarks/training_loop.py``). Not for studies: the
#: two loops order the samples differently, so the same run key would hold a different model.
TRAINING_LOOP_VARIABLE = "AELIB_TRAINING_LOOP"


def training_loop_name() -> str:
    """The loop :func:`train` uses in this process: ``"keras-fit"`` when :data:`TRAINING_LOOP_VARIABLE` says
    so, else ``"aelib"`` (its own loop, the default; any other value too). Part of each stored run's key."""
    return "keras-fit" if os.environ.get(TRAINING_LOOP_VARIABLE, "").strip() == "keras-fit" else "aelib"

#: Stream of the run's seed that orders the training samples each epoch.
SHUFFLE_STREAM = 1
#: How :func:`train` orders the samples, recorded in each stored run's key (``aelib.study.runs``): runs
#: trained by ``keras.Model.fit`` (Keras' own shuffling, before December 2026) have other keys and are retrained.
SAMPLE_ORDER = "numpy-pcg64-permutation"


class _CompiledSteps:
    """``model.train_step`` / ``model.test_step`` over in-memory batches, several per call.

    One call runs ``steps_per_execution`` steps in a graph loop over a
    ``(steps, batch, *shape)`` array; a last, smaller batch goes through the
    single step. The steps are the model's own (so every family's loss terms,
    optimisers and metrics are as in ``fit``), without ``fit``'s ``tf.data``
    pipeline and per-call machinery, which cost more than the step itself for
    this study's small models (``benchmarks/README.md``, "The training loop").
    """

    def __init__(self, step, sample_shape: tuple, batch_size: int, *, xla: bool = False) -> None:
        import tensorflow as tf

        # Each traced once: a full batch (static size: the recurrent and convolutional kernels are slower on
        # a dynamic one), the short last batch (any size), and the loop over any number of full batches,
        # which calls the first rather than tracing the step again.
        self.full = tf.function(lambda x: step((x, x)), input_signature=[tf.TensorSpec((batch_size, *sample_shape))],
                                jit_compile=xla or None)
        self.one = tf.function(lambda x: step((x, x)), input_signature=[tf.TensorSpec((None, *sample_shape))])

        def many(xs):
            logs = self.full(xs[0])
            for i in tf.range(1, tf.shape(xs)[0]):
                logs = self.full(xs[i])
            return logs

        self.many = tf.function(many, input_signature=[tf.TensorSpec((None, batch_size, *sample_shape))])

    def run(self, x: np.ndarray, order: np.ndarray | None, batch_size: int, steps_per_execution: int,
            on_call=None) -> dict:
        """Steps over ``x`` (in ``order`` if given) in batches; returns the last step's logs."""
        n = len(x)
        full = n // batch_size
        logs = None
        for start in range(0, full, steps_per_execution):
            stop = min(full, start + steps_per_execution)
            rows = slice(start * batch_size, stop * batch_size)
            chunk = x[order[rows]] if order is not None else x[rows]
            logs = self.many(chunk.reshape(stop - start, batch_size, *x.shape[1:]))
            if on_call is not None:
                on_call(stop, logs)
        if n % batch_size:
            rows = slice(full * batch_size, n)
            logs = self.one(x[order[rows]] if order is not None else x[rows])
            if on_call is not None:
                on_call(full + 1, logs)
        return {name: float(keras.ops.convert_to_numpy(value)) for name, value in logs.items()}


def _fit(model: Autoencoder, x: np.ndarray, x_val: np.ndarray | None, config: TrainConfig, callbacks: list) -> list:
    """The epoch loop of ``keras.Model.fit`` for in-memory autoencoder data
    (targets are the inputs): the training samples in a seeded new order each
    epoch, the model's metrics reset each epoch, validation after each epoch
    logged as ``val_*``, Keras callbacks (``stop_training`` ends it). Returns
    one dict of logs per epoch."""
    batch_size, per_call = config.batch_size, config.steps_per_execution
    n_batches = -(-len(x) // batch_size)
    epochs = _EpochLogs()  # last, so it sees what the callbacks before it add to the logs (the learning rate)
    callback_list = keras.callbacks.CallbackList([*callbacks, epochs], add_history=False,
                                                 add_progbar=config.verbose != 0,
                                                 verbose=config.verbose, epochs=config.epochs, steps=n_batches,
                                                 model=model)
    # A family may ask for its full-batch step to be compiled by XLA (the option ``xla``, part of its runs'
    # keys): it fuses the many small kernels of an overhead-bound model (mae), and slows the others.
    xla = bool(getattr(model, "xla", False))
    train_steps = _CompiledSteps(model.train_step, x.shape[1:], batch_size, xla=xla)
    test_steps = _CompiledSteps(model.test_step, x.shape[1:], batch_size, xla=xla)
    order_rng = np.random.default_rng([int(config.seed), SHUFFLE_STREAM])
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict = {}
    for epoch in range(config.epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        logs = train_steps.run(x, order_rng.permutation(len(x)), batch_size, per_call,
                               on_call=lambda step, step_logs: callback_list.on_train_batch_end(step - 1, step_logs))
        if x_val is not None:
            model.reset_metrics()
            val_logs = test_steps.run(x_val, None, batch_size, per_call)
            logs.update({f"val_{name}": value for name, value in val_logs.items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    if epochs.logs and getattr(model, "optimizer", None) is not None:
        model.optimizer.finalize_variable_values(model.trainable_weights)  # as fit does (matters only with EMA)
    callback_list.on_train_end(logs)
    return epochs.logs


class _EpochLogs(keras.callbacks.Callback):
    """Keeps each epoch's logs as the callbacks pass them on."""

    def __init__(self) -> None:
        super().__init__()
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.logs.append(dict(logs or {}))


def _keras_fit(model: Autoencoder, x: np.ndarray, x_val: np.ndarray | None, config: TrainConfig,
               callbacks: list) -> list:
    """The same training through ``keras.Model.fit`` (Keras shuffles with its own random stream): the
    baseline of ``benchmarks/training_loop.py``."""
    fit = model.fit(x, x, epochs=config.epochs, batch_size=config.batch_size, shuffle=True, callbacks=callbacks,
                    validation_data=(x_val, x_val) if x_val is not None else None, verbose=config.verbose)
    names = list(fit.history)
    return [{name: fit.history[name][i] for name in names} for i in range(len(fit.history[names[0]]))] \
        if names else []


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each epoch in ``times`` (the first includes tracing)."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.times: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter() - self._start)
