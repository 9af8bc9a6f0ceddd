"""Masked MLP AE: the masked-input objective of He, Chen, Xie, Li, Dollár,
Girshick ("Masked autoencoders are scalable vision learners", CVPR 2022) on
the ``fcae`` backbone, so masking is compared as an *objective*, apart from
``mae``'s transformer (docs/methods.md §1, "Objective or architecture").

The networks are exactly those of ``fcae`` (depth-rule MLP encoder and
mirrored decoder, ``widths`` option; the same parameter count). Only the
training objective differs: each image is cut into ``patch_size ×
patch_size`` patches (7 by default: 16 patches of 49 values on 28×28), and a
seeded per-sample random choice masks ``round(N · mask_ratio)`` of them
(0.75 by default, He et al.'s ratio): their values are set to 0 in the input.
The model reconstructs the whole image from the rest, and the loss
(``loss_on="masked"``, the default, as in MAE) is the mean squared error over
the masked patches only; ``loss_on="all"`` scores every patch.

As in ``mae``, training and validation (whose loss early stopping watches)
draw masks from the model's seeded generator, while ``encode``, ``decode``
and ``reconstruct`` — and so every analysis and the study's RMSE — use the
clean, unmasked image. ``mask_ratio=0`` masks nothing and the loss covers
every patch: the model is then trained exactly as ``fcae``, the
unregularised end of the tuning grid.

Departures from MAE: an MLP sees the whole image with the masked patches
zeroed (a dense layer has no notion of a token to drop), so a masked patch is
indistinguishable from a black one; MNIST's background is black, so the
mask hides the digit's strokes, not an unusual value. No positional
embedding or mask token is needed: the input position of each pixel is
fixed.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from aelib.checks import check_bool, check_choice, check_float, check_int
from aelib.models.base import Autoencoder
from aelib.models.blocks import flat_io, masked_patch_loss, mlp_layers, patchify, require_image_shape, unpatchify
from aelib.models.registry import register_model

#: Values of ``loss_on``.
LOSS_ON = ("masked", "all")


def _check_mask(mask, n: int, num_patches: int) -> np.ndarray:
    mask = np.asarray(mask, dtype="float32")
    if mask.shape != (n, num_patches) or not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError(f"Expected a mask of 0s and 1s of shape ({n}, {num_patches}). Received: shape={mask.shape}")
    return mask


@keras.saving.register_keras_serializable(package="aelib")
@register_model("mmae")
class MaskedMLPAE(Autoencoder):
    """The ``fcae`` MLP trained to fill in masked image patches.

    Args:
        patch_size: side of a square patch; must divide the image height and
            width (7: 16 patches on 28×28).
        mask_ratio: share of patches masked in training, in [0, 1); 0 turns
            masking off (then the model is trained as ``fcae``).
        loss_on: ``"masked"`` (default: the masked patches only, every patch
            when none is masked) or ``"all"`` (every patch).
        norm_pix_loss: per-patch normalised targets, as ``mae``'s option.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: for inputs that are not images (H, W, C) divisible into
            patches, or a bad option.
    """

    def __init__(self, *args: Any, patch_size: int = 7, mask_ratio: float = 0.75, loss_on: str = "masked",
                 norm_pix_loss: bool = False, **kwargs: Any) -> None:
        self.patch_size = check_int("patch_size", patch_size)
        self.mask_ratio = check_float("mask_ratio", mask_ratio, minimum=0, below=1)
        self.loss_on = check_choice("loss_on", loss_on, LOSS_ON)
        self.norm_pix_loss = check_bool("norm_pix_loss", norm_pix_loss)
        super().__init__(*args, **kwargs)

    def build_networks(self) -> None:
        h, w, _ = require_image_shape(self.family, self.sample_shape, multiple=self.patch_size,
                                      multiple_name="patch_size")
        self.num_patches = (h // self.patch_size) * (w // self.patch_size)
        self.num_masked = min(self.num_patches - 1, int(round(self.num_patches * self.mask_ratio)))
        self.encoder, self.decoder = flat_io(self, *mlp_layers(self))

    # ----- masking -------------------------------------------------------------
    def random_mask(self, batch_size, seed=None):
        """``(n, num_patches)`` float mask, 1 for a masked patch: ``num_masked`` patches per sample, drawn
        from ``seed`` (a ``keras.random.SeedGenerator``; default the model's)."""
        if self.num_masked == 0:
            return ops.zeros((batch_size, self.num_patches), dtype="float32")
        seed = self.seed_generator if seed is None else seed
        noise = keras.random.uniform((batch_size, self.num_patches), seed=seed)
        rank = ops.argsort(ops.argsort(noise, axis=1), axis=1)  # each patch's place in a random order
        return ops.cast(rank < self.num_masked, "float32")

    def apply_mask(self, x, mask):
        """``x`` with the patches where ``mask`` is 1 set to 0."""
        patches = patchify(x, self.patch_size) * (1.0 - ops.cast(mask, x.dtype))[:, :, None]
        return unpatchify(patches, self.patch_size, self.sample_shape)

    def masked(self, x, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(masked images, mask)`` as NumPy arrays, from a generator of its own (for measures and figures),
        so the model's draws are not disturbed."""
        x = ops.convert_to_tensor(self._check_input(x))
        mask = self.random_mask(ops.shape(x)[0], keras.random.SeedGenerator(int(seed)))
        return np.asarray(ops.convert_to_numpy(self.apply_mask(x, mask))), np.asarray(ops.convert_to_numpy(mask))

    def reconstruct_masked(self, x, mask, *, batch_size: int = 512) -> np.ndarray:
        """The reconstruction of ``x`` with the patches where ``mask`` (n, num_patches) is 1 set to 0, as in
        training (for the RMSE on masked patches, :mod:`aelib.metrics.regularisers`)."""
        x = self._check_input(x)
        mask = _check_mask(mask, len(x), self.num_patches)
        masked = ops.convert_to_numpy(self.apply_mask(ops.convert_to_tensor(x), ops.convert_to_tensor(mask)))
        return self.reconstruct(np.asarray(masked), batch_size=batch_size)

    # ----- forward pass and loss ------------------------------------------------
    def call(self, x, training: bool = False) -> dict:
        """The training objective's forward pass: always masked (also at validation); use
        ``encode``/``reconstruct`` for unmasked outputs."""
        mask = self.random_mask(ops.shape(x)[0])
        z = self.encoder(self.apply_mask(x, mask), training=training)
        return {"reconstruction": self.decoder(z, training=training), "z": z, "mask": mask}

    def reconstruction_loss(self, target, outputs: dict):
        """Squared error over the patches ``loss_on`` selects (every patch when none is masked)."""
        mask = outputs["mask"]
        if self.loss_on == "all" or self.num_masked == 0:
            mask = ops.ones_like(mask)
        return masked_patch_loss(target, outputs["reconstruction"], mask, patch_size=self.patch_size,
                                 norm_pix_loss=self.norm_pix_loss)
