"""Masked AE (He, Chen, Xie, Li, Dollár, Girshick, "Masked autoencoders are
scalable vision learners", CVPR 2022), at MNIST scale.

Images are cut into ``patch_size × patch_size`` patches (7 by default: 16
patches of 49 values on 28×28, cheap on a CPU; 4 gives 49 patches and about
three times the attention cost). Each patch is embedded linearly and gets a
learned positional embedding. In training a seeded per-sample random shuffle
(``keras.random`` with the model's ``SeedGenerator``) keeps
``max(1, round(N · (1 − mask_ratio)))`` patches visible, and pre-norm
transformer blocks run on the visible patches only, as in the paper.

Where this model departs from the paper, and why. The study needs a code
``z`` of ``latent_dim`` values that ``decode`` maps back to an image, while
MAE's decoder reads the encoder's visible tokens, so no single code would be
on its reconstruction path. Here the encoder output is mean-pooled and
projected to ``z``, and every reconstruction goes through ``z``: the light
decoder starts from ``N`` tokens, each a per-position projection of ``z``
plus the learned mask token and a learned decoder positional embedding (every
position is "to be predicted", as masked positions are in MAE, so the shared
mask token acts like a learned bias), then one transformer block and a linear
head to pixels, un-patchified to the image (sigmoid output by default).

What is trained and what is scored. In training (and validation, with masks
from the same seeded generator) the encoder sees only the visible patches.
``encode``, ``decode`` and ``reconstruct`` — and with them the study's RMSE
and every other analysis — use **no masking**: all ``N`` patches go through
the encoder, and the RMSE is over every value of the full reconstructed image
against the clean image. The option ``loss_on`` sets which patches the
training loss (``losses.masked_mse``) covers:

* ``"masked"`` (default): the paper's loss, on the masked patches only
  (every patch if ``mask_ratio`` leaves none masked, e.g. 0), as docs/methods.md §1
  specifies. The visible patches never enter the loss, yet they are a
  quarter of what the study's RMSE scores at the default ratio 0.75: their
  reconstruction is a by-product of the objective, which is the point of
  comparing masking as an objective (the RMSE on masked patches is reported
  separately, :mod:`aelib.metrics.regularisers`).
* ``"all"`` (an option, a departure from the paper): every patch, masked
  and visible, so the model is trained to output the full image — the
  quantity the study's RMSE scores.

Either way the training input is masked and the scored input is not, so
``val_reconstruction`` is not the square of the test RMSE.

Capacity. The encoder's tokens are mean-pooled into ``embed_dim`` values
before the code, and the decoder spreads ``z`` over ``num_patches ×
decoder_dim`` values; both would cap a wider code. So the defaults are
``"auto"``: ``embed_dim = max(64, latent_dim)`` and ``decoder_dim =
max(32, ⌈latent_dim / num_patches⌉)``, each rounded up to a multiple of its
number of attention heads. ``effective_bottleneck()`` is the smallest of
``latent_dim``, the embedding width and ``num_patches · decoder_dim``.

``norm_pix_loss=True`` normalises each target patch by its own mean and
standard deviation, as the paper does; the prediction, which must stay an
image for ``decode``, is mapped by the same statistics, so the loss is each
patch's squared error divided by ``var(target patch) + 0.01``. The paper's
ε = 1e-6 would let MNIST's blank patches (variance 0) dominate the loss.
The base options ``depth`` and ``widths`` (fully connected layers) are not
used (``widths_rule_used == "n/a"``).

Other departures from the paper, for scale: 7×7 patches on 28×28 images, a
64-wide two-block encoder and a one-block decoder instead of ViT-B/L/H, no
class token, and the code bottleneck described above.

It trains more slowly per step than the MLP families: on 4,000 MNIST images
at z = 10 (batch 128), test RMSE was 0.262 after 5 epochs (the mean image
scores 0.256) and 0.235 after 15; the gain follows the number of steps.
"""
from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from aelib.checks import check_auto_or_int, check_bool, check_choice, check_float, check_int
from aelib.models.base import Autoencoder
from aelib.models.blocks import masked_patch_loss, patchify, require_image_shape, unpatchify
from aelib.models.registry import register_model

#: Values of ``loss_on``.
LOSS_ON = ("all", "masked")
#: Smallest ``embed_dim`` and ``decoder_dim`` that ``"auto"`` gives.
DEFAULT_EMBED_DIM = 64
DEFAULT_DECODER_DIM = 32


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# ----- layers ---------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="aelib")
class Patchify(keras.layers.Layer):
    """Layer form of :func:`patchify`."""

    def __init__(self, patch_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)

    def call(self, images):
        return patchify(images, self.patch_size)

    def compute_output_shape(self, input_shape):
        h, w, c = input_shape[1:]
        p = self.patch_size
        return (input_shape[0], (h // p) * (w // p), p * p * c)

    def get_config(self) -> dict:
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="aelib")
class Unpatchify(keras.layers.Layer):
    """Layer form of :func:`unpatchify`."""

    def __init__(self, patch_size: int, image_shape, **kwargs) -> None:
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        self.image_shape = tuple(int(s) for s in image_shape)

    def call(self, patches):
        return unpatchify(patches, self.patch_size, self.image_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "patch_size": self.patch_size, "image_shape": list(self.image_shape)}


@keras.saving.register_keras_serializable(package="aelib")
class LearnedEmbedding(keras.layers.Layer):
    """Adds a learned embedding: one vector per token (``per_token=True``,
    positional embeddings) or one vector shared by all tokens (the mask token)."""

    def __init__(self, *, per_token: bool = True, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.per_token = bool(per_token)
        self.seed = int(seed)

    def build(self, input_shape) -> None:
        shape = tuple(input_shape[1:]) if self.per_token else (input_shape[-1],)
        self.embedding = self.add_weight(
            shape=shape,
            initializer=keras.initializers.RandomNormal(stddev=0.02, seed=self.seed),
            name="embedding",
        )

    def call(self, tokens):
        return tokens + self.embedding

    def get_config(self) -> dict:
        return {**super().get_config(), "per_token": self.per_token, "seed": self.seed}


@keras.saving.register_keras_serializable(package="aelib")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block: x + MHSA(LN(x)), then x + MLP(LN(x)) with GELU.

    Args:
        dim: token width; must be divisible by ``num_heads``.
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP as a multiple of ``dim``.
        seeds: four initialiser seeds (qkv, attention output, MLP in, MLP out).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 2.0, seeds=(0, 1, 2, 3), **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim, self.num_heads, self.mlp_ratio = int(dim), int(num_heads), float(mlp_ratio)
        self.seeds = tuple(int(s) for s in seeds)
        self.head_dim = self.dim // self.num_heads
        hidden = max(1, int(round(self.dim * self.mlp_ratio)))

        def dense(units, seed, activation=None, name=None):
            init = keras.initializers.GlorotUniform(seed=seed)
            return keras.layers.Dense(units, activation=activation, kernel_initializer=init, name=name)

        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.qkv = dense(3 * self.dim, self.seeds[0], name="qkv")
        self.proj = dense(self.dim, self.seeds[1], name="proj")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.fc1 = dense(hidden, self.seeds[2], "gelu", name="fc1")
        self.fc2 = dense(self.dim, self.seeds[3], name="fc2")

    def build(self, input_shape) -> None:
        for layer in (self.norm1, self.qkv, self.norm2, self.fc1):
            layer.build(input_shape)
        self.proj.build((*input_shape[:-1], self.dim))
        self.fc2.build((*input_shape[:-1], self.fc1.units))

    def attention(self, x):
        length = x.shape[1]
        qkv = ops.reshape(self.qkv(x), (-1, length, 3, self.num_heads, self.head_dim))
        q, k, v = (ops.transpose(qkv[:, :, i], (0, 2, 1, 3)) for i in range(3))  # (n, heads, L, head_dim)
        weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.head_dim), axis=-1)
        out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))
        return self.proj(ops.reshape(out, (-1, length, self.dim)))

    def call(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.fc2(self.fc1(self.norm2(x)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "seeds": list(self.seeds),
        }


# ----- the family -------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="aelib")
@register_model("mae")
class MaskedAE(Autoencoder):
    """Masked autoencoder on image patches with a code ``z`` on every path.

    Args:
        patch_size: side of a square patch; must divide the image height and
            width (7: 16 patches on 28×28; 4: 49 patches).
        mask_ratio: share of patches masked in training, in [0, 1).
        loss_on: ``"masked"`` (default, the paper's: masked patches only)
            or ``"all"`` (every patch); see the module docstring.
        embed_dim: encoder token width (divisible by ``num_heads``), or
            ``"auto"`` (default): ``max(64, latent_dim)`` rounded up to a
            multiple of ``num_heads``.
        encoder_depth: transformer blocks in the encoder, >= 1.
        num_heads: attention heads of the encoder blocks.
        mlp_ratio: MLP width of every block as a multiple of its token width.
        decoder_dim: decoder token width (divisible by ``decoder_num_heads``),
            or ``"auto"`` (default): ``max(32, ⌈latent_dim / num_patches⌉)``
            rounded up to a multiple of ``decoder_num_heads``.
        decoder_depth: transformer blocks in the decoder, >= 1.
        decoder_num_heads: attention heads of the decoder blocks.
        norm_pix_loss: per-patch normalised targets (module docstring).
        xla: compile the training step with XLA (default ``True``). The
            model's many small kernels (16 tokens of width 64) cost more to
            launch than to compute; XLA fuses them: 0.69-0.72x the time per
            epoch in the quick profile's training. At z = 40 the run kept its
            91 epochs and its test RMSE to five digits; at z = 2 round-off
            took it another way (54 epochs instead of 72, RMSE 1.2 % higher,
            inside the seeds' spread) (benchmarks/README.md, "Family options
            against their baseline"). Part of every run's key, since it
            changes the last digits; ``False`` gives aelib's mae before
            2026-12-08.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: for inputs that are not images (H, W, C) divisible into
            patches, or a bad option.
    """

    # The options as given ("auto" kept, for get_config); the built widths are resolved in build_networks.
    option_attributes = {"embed_dim": "embed_dim_option", "decoder_dim": "decoder_dim_option"}

    def __init__(
        self,
        *args: Any,
        patch_size: int = 7,
        mask_ratio: float = 0.75,
        loss_on: str = "masked",
        embed_dim: int | str = "auto",
        encoder_depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        decoder_dim: int | str = "auto",
        decoder_depth: int = 1,
        decoder_num_heads: int = 4,
        norm_pix_loss: bool = False,
        xla: bool = True,
        **kwargs: Any,
    ) -> None:
        check_float("mask_ratio", mask_ratio, minimum=0, below=1)
        self.xla = check_bool("xla", xla)
        check_float("mlp_ratio", mlp_ratio, above=0)
        self.loss_on = check_choice("loss_on", loss_on, LOSS_ON)
        self.norm_pix_loss = check_bool("norm_pix_loss", norm_pix_loss)
        self.patch_size = check_int("patch_size", patch_size)
        self.mask_ratio = float(mask_ratio)
        self.encoder_depth = check_int("encoder_depth", encoder_depth)
        self.num_heads = check_int("num_heads", num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.decoder_depth = check_int("decoder_depth", decoder_depth)
        self.decoder_num_heads = check_int("decoder_num_heads", decoder_num_heads)
        self.embed_dim_option = check_auto_or_int("embed_dim", embed_dim)
        self.decoder_dim_option = check_auto_or_int("decoder_dim", decoder_dim)
        for dim_name, heads_name in (("embed_dim", "num_heads"), ("decoder_dim", "decoder_num_heads")):
            dim, heads = getattr(self, f"{dim_name}_option"), getattr(self, heads_name)
            if dim != "auto" and dim % heads:
                raise ValueError(
                    f"Expected {dim_name} divisible by {heads_name}. Received: {dim_name}={dim}, {heads_name}={heads}"
                )
        super().__init__(*args, **kwargs)

    # ----- networks --------------------------------------------------------
    def _block(self, dim: int, heads: int, name: str) -> TransformerBlock:
        seeds = [self.next_initializer_seed() for _ in range(4)]
        return TransformerBlock(dim, heads, self.mlp_ratio, seeds, name=name)

    def build_networks(self) -> None:
        h, w, c = require_image_shape(self.family, self.sample_shape, multiple=self.patch_size,
                                      multiple_name="patch_size")
        p = self.patch_size
        self.num_patches = (h // p) * (w // p)
        self.embed_dim = self.embed_dim_option
        if self.embed_dim == "auto":
            self.embed_dim = _round_up(max(DEFAULT_EMBED_DIM, self.latent_dim), self.num_heads)
        self.decoder_dim = self.decoder_dim_option
        if self.decoder_dim == "auto":
            needed = max(DEFAULT_DECODER_DIM, -(-self.latent_dim // self.num_patches))
            self.decoder_dim = _round_up(needed, self.decoder_num_heads)
        self.patch_dim = p * p * c
        self.num_visible = min(self.num_patches, max(1, int(round(self.num_patches * (1.0 - self.mask_ratio)))))

        # Encoder layers, shared by the unmasked functional encoder and the masked training path.
        self.patchify = Patchify(p, name="patchify")
        self.patch_embed = self.dense(self.embed_dim, name="patch_embed")
        self.pos_embed = LearnedEmbedding(per_token=True, seed=self.next_initializer_seed(), name="pos_embed")
        self.encoder_blocks = [
            self._block(self.embed_dim, self.num_heads, f"enc_block_{i}") for i in range(self.encoder_depth)
        ]
        self.encoder_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="enc_norm")
        self.pool = keras.layers.GlobalAveragePooling1D(name="mean_pool")
        self.to_code = self.dense(self.latent_dim, name="enc_code")

        x_in = keras.Input(self.sample_shape, name="x")
        self.encoder = keras.Model(x_in, self._tokens_to_code(self._embed(x_in)), name="encoder")

        z_in = keras.Input((self.latent_dim,), name="z")
        t = self.dense(self.num_patches * self.decoder_dim, name="dec_tokens")(z_in)
        t = keras.layers.Reshape((self.num_patches, self.decoder_dim), name="dec_reshape")(t)
        t = LearnedEmbedding(per_token=False, seed=self.next_initializer_seed(), name="mask_token")(t)
        t = LearnedEmbedding(per_token=True, seed=self.next_initializer_seed(), name="dec_pos_embed")(t)
        for i in range(self.decoder_depth):
            t = self._block(self.decoder_dim, self.decoder_num_heads, f"dec_block_{i}")(t)
        t = keras.layers.LayerNormalization(epsilon=1e-6, name="dec_norm")(t)
        t = self.dense(self.patch_dim, self.output_activation, name="dec_pixels")(t)
        self.decoder = keras.Model(z_in, Unpatchify(p, self.sample_shape, name="unpatchify")(t), name="decoder")

    def _embed(self, images):
        return self.pos_embed(self.patch_embed(self.patchify(images)))

    def _tokens_to_code(self, tokens, training: bool = False):
        for block in self.encoder_blocks:
            tokens = block(tokens, training=training)
        return self.to_code(self.pool(self.encoder_norm(tokens)))

    # ----- masking -------------------------------------------------------------
    def random_mask(self, batch_size):
        """Draw a per-sample random shuffle from the model's seed generator.

        Returns:
            ``(keep, mask)``: ``keep`` (n, num_visible) indices of the visible
            patches; ``mask`` (n, num_patches) float, 1 for a patch in the loss
            (a masked patch; every patch when none is masked).
        """
        noise = keras.random.uniform((batch_size, self.num_patches), seed=self.seed_generator)
        shuffle = ops.argsort(noise, axis=1)
        keep = shuffle[:, : self.num_visible]
        if self.num_visible == self.num_patches:
            return keep, ops.ones((batch_size, self.num_patches), dtype="float32")
        rank = ops.argsort(shuffle, axis=1)  # position of each patch in the shuffle
        return keep, ops.cast(rank >= self.num_visible, "float32")

    def reconstruct_masked(self, x, mask, *, batch_size: int = 256) -> np.ndarray:
        """The reconstruction of ``x`` from its patches where ``mask`` (n, num_patches) is 0, as in training:
        the encoder sees only those tokens (for the RMSE on masked patches, :mod:`aelib.metrics.regularisers`).

        Raises:
            ValueError: a mask of another shape, or rows that leave different numbers of patches visible.
        """
        x = self._check_input(x)
        mask = np.asarray(mask, dtype="float32")
        visible = self.num_patches - mask.sum(axis=1) if mask.ndim == 2 else None
        if (mask.shape != (len(x), self.num_patches) or not np.isin(mask, (0.0, 1.0)).all()
                or len(set(visible.tolist())) != 1 or visible[0] < 1):
            raise ValueError(f"Expected a mask of 0s and 1s of shape ({len(x)}, {self.num_patches}) with the same "
                             f"number (>= 1) of visible patches in each row. Received: shape={mask.shape}")
        keep_all = np.argsort(mask, axis=1, kind="stable")[:, :int(visible[0])]
        out = []
        for i in range(0, len(x), batch_size):
            keep = ops.convert_to_tensor(keep_all[i:i + batch_size])
            tokens = self._embed(ops.convert_to_tensor(x[i:i + batch_size]))
            index = ops.broadcast_to(ops.expand_dims(keep, -1), (*ops.shape(keep), self.embed_dim))
            z = self._tokens_to_code(ops.take_along_axis(tokens, index, axis=1))
            out.append(np.asarray(ops.convert_to_numpy(self.decoder(z))))
        return np.concatenate(out).astype("float32")

    # ----- forward pass and loss -------------------------------------------------
    def call(self, x, training: bool = False) -> dict:
        """The training objective's forward pass: always masked (also at
        validation); use ``encode``/``reconstruct`` for unmasked outputs."""
        tokens = self._embed(x)
        keep, mask = self.random_mask(ops.shape(x)[0])
        index = ops.broadcast_to(ops.expand_dims(keep, -1), (*ops.shape(keep), self.embed_dim))
        visible = ops.take_along_axis(tokens, index, axis=1)
        z = self._tokens_to_code(visible, training=training)
        return {"reconstruction": self.decoder(z, training=training), "z": z, "mask": mask}

    def reconstruction_loss(self, target, outputs: dict):
        """Squared error over the patches ``loss_on`` selects (module docstring)."""
        mask = outputs["mask"] if self.loss_on == "masked" else ops.ones_like(outputs["mask"])
        return masked_patch_loss(
            target,
            outputs["reconstruction"],
            mask,
            patch_size=self.patch_size,
            norm_pix_loss=self.norm_pix_loss,
        )

    def effective_bottleneck(self) -> int:
        """Smallest of ``latent_dim``, the pooled embedding width and the decoder's ``num_patches · decoder_dim``."""
        return int(min(self.latent_dim, self.embed_dim, self.num_patches * self.decoder_dim))

