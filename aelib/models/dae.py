"""Denoising AE: trained to map a corrupted input to the clean one, evaluated
on clean inputs (Vincent, Larochelle, Bengio, Manzagol, "Extracting and
composing robust features with denoising autoencoders", ICML 2008; gaussian
and salt-and-pepper corruption as in Vincent et al., JMLR 2010).

The networks are those of ``fcae`` (depth rule, docs/methods.md §2); only the
training-time corruption differs. Three corruptions, all applied per value:

- ``"gaussian"``: additive noise ``x + σ·ε``, ε ~ N(0, 1), with σ = ``noise_level``;
- ``"masking"``: each value is set to 0 with probability ``noise_level``
  (Vincent et al.'s "masking noise");
- ``"salt_and_pepper"``: each value is, with probability ``noise_level``,
  replaced by 0 or 1 with equal chance (the extremes of [0, 1] data).

No corruption is clipped. Masking and salt-and-pepper stay inside [0, 1] by
construction; gaussian noise is left unclipped on purpose: clipping to [0, 1]
would turn MNIST's black background (x = 0) into max(0, σε), whose mean
σ/√(2π) (0.12 at σ = 0.3) biases every background pixel upward, so the
corruption would no longer be mean-zero.

Departures from the source: the networks are the deep ``fcae`` MLP (ReLU,
depth rule, ``widths`` option) rather than one sigmoid hidden layer with tied
weights, the loss is the per-value mean squared error rather than the
cross-entropy, and the encoder is not stacked layer by layer.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from aelib.checks import check_choice, check_non_negative
from aelib.models.base import Autoencoder
from aelib.models.blocks import flat_io, mlp_layers
from aelib.models.registry import register_model

CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")


def corrupt_tensor(x, corruption: str, noise_level: float, seed):
    """Corrupt ``x`` in ``keras.ops``; ``seed`` is a ``keras.random.SeedGenerator``.

    Nothing is clipped (module docstring): gaussian noise stays mean-zero
    everywhere, and the other two keep [0, 1] data in [0, 1] by construction.
    """
    shape = ops.shape(x)
    if corruption == "gaussian":
        noisy = x + noise_level * keras.random.normal(shape, dtype=x.dtype, seed=seed)
    elif corruption == "masking":
        keep = ops.cast(keras.random.uniform(shape, dtype=x.dtype, seed=seed) >= noise_level, x.dtype)
        noisy = x * keep
    else:  # salt_and_pepper
        hit = ops.cast(keras.random.uniform(shape, dtype=x.dtype, seed=seed) < noise_level, x.dtype)
        salt = ops.cast(keras.random.uniform(shape, dtype=x.dtype, seed=seed) < 0.5, x.dtype)
        noisy = x * (1.0 - hit) + salt * hit
    return noisy


@keras.saving.register_keras_serializable(package="aelib")
@register_model("dae")
class DenoisingAE(Autoencoder):
    """Denoising autoencoder with the ``fcae`` networks.

    Args:
        corruption: ``"gaussian"`` (default), ``"masking"`` or ``"salt_and_pepper"``.
        noise_level: σ of the gaussian noise (>= 0), or the fraction of values
            corrupted by masking / salt-and-pepper (in [0, 1]). Default 0.3:
            inside the 10–50 % destruction range of Vincent et al. (2008,
            2010) for masking, and a clearly visible but digit-preserving σ
            for [0, 1] images.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: unknown ``corruption`` or ``noise_level`` out of range.
    """

    def __init__(self, *args: Any, corruption: str = "gaussian", noise_level: float = 0.3, **kwargs: Any) -> None:
        self.corruption = check_choice("corruption", corruption, CORRUPTIONS)
        self.noise_level = check_non_negative("noise_level", noise_level)
        if corruption != "gaussian" and noise_level > 1:
            raise ValueError(
                f"Expected 0 <= noise_level <= 1 (a fraction) for corruption={corruption!r}. "
                f"Received: noise_level={noise_level!r}"
            )
        super().__init__(*args, **kwargs)

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, *mlp_layers(self))

    def _corrupt(self, x, seed):
        return corrupt_tensor(x, self.corruption, self.noise_level, seed)

    def call(self, x, training: bool = False) -> dict:
        # Only training sees corrupted inputs; the target stays the clean x
        # (compute_loss uses y = x), and evaluation/predict use clean inputs.
        x_in = self._corrupt(x, self.seed_generator) if training else x
        z = self.encoder(x_in, training=training)
        return {"reconstruction": self.decoder(z, training=training), "z": z}

    def corrupt(self, x, *, seed: int = 0) -> np.ndarray:
        """The training-time corruption of ``x`` as a NumPy array (for tests and figures).

        Uses its own seeded generator, so it does not disturb the model's draws.
        """
        x = ops.convert_to_tensor(self._check_input(x))
        return np.asarray(ops.convert_to_numpy(self._corrupt(x, keras.random.SeedGenerator(int(seed)))))
