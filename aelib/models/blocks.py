"""Building blocks that several families share: the flattening wrapper of
fully connected stacks, the depth-rule MLP stacks, the image-shape check,
draws from a code prior, and image patches with the loss on a subset of them
(the masked families, ``mae`` and ``mmae``)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from aelib import losses
from aelib.checks import check_int

#: ε added to a target patch's variance when a masked family's ``norm_pix_loss`` is on.
NORM_PIX_EPS = 0.01


def flat_io(model, body_encoder, body_decoder):
    """Wrap dense stacks into functional encoder/decoder models that take and
    return samples of ``model.sample_shape`` (flattening inside the model).

    The decoder gets a final dense layer to ``model.input_dim`` values with the
    model's output activation, reshaped back to the sample shape.
    """
    x_in = keras.Input(model.sample_shape, name="x")
    h = keras.layers.Flatten(name="flatten")(x_in) if len(model.sample_shape) > 1 else x_in
    for layer in body_encoder:
        h = layer(h)
    encoder = keras.Model(x_in, h, name="encoder")
    z_in = keras.Input((model.latent_dim,), name="z")
    h = z_in
    for layer in body_decoder:
        h = layer(h)
    h = model.dense(model.input_dim, model.output_activation, name="dec_output")(h)
    if len(model.sample_shape) > 1:
        h = keras.layers.Reshape(model.sample_shape, name="unflatten")(h)
    decoder = keras.Model(z_in, h, name="decoder")
    return encoder, decoder


def mlp_layers(model, *, hidden_activation: str = "relu", code_activation: str | None = None,
               first_hidden_activation: str | None = None):
    """Encoder and decoder dense stacks by the depth rule (decoder mirrors encoder).

    Args:
        model: the autoencoder; its ``depth``, ``widths`` and ``latent_dim`` set the widths.
        hidden_activation: activation of the hidden layers.
        code_activation: activation of the code layer (None: linear).
        first_hidden_activation: activation of the first (widest) encoder
            hidden layer if it differs (the sparse AE's sigmoid layer).
    """
    widths = model.depth_rule_widths()
    encoder = [
        model.dense(w, first_hidden_activation if (i == 0 and first_hidden_activation) else hidden_activation,
                    name=f"enc_dense_{i}")
        for i, w in enumerate(widths)
    ]
    encoder.append(model.dense(model.latent_dim, code_activation, name="enc_code"))
    return encoder, mirrored_decoder_layers(model, widths, hidden_activation=hidden_activation)


def mirrored_decoder_layers(model, widths, *, hidden_activation: str = "relu"):
    """Decoder hidden layers ``z → widths[-1] → … → widths[0]`` (the output layer is added by ``flat_io``)."""
    return [model.dense(w, hidden_activation, name=f"dec_dense_{i}") for i, w in enumerate(reversed(widths))]


def require_image_shape(family: str, shape: tuple[int, ...], *, multiple: int = 1,
                        multiple_name: str | None = None) -> tuple[int, int, int]:
    """``(height, width, channels)`` of an image input, or a ValueError naming the family.

    Args:
        multiple: height and width must be divisible by it.
        multiple_name: the option ``multiple`` comes from, named in the error (``"patch_size"``).
    """
    if len(shape) != 3 or shape[0] % multiple or shape[1] % multiple:
        divisor = f"{multiple_name}={multiple}" if multiple_name else str(multiple)
        need = f" with height and width divisible by {divisor}" if multiple > 1 or multiple_name else ""
        raise ValueError(
            f"Family {family!r} needs image inputs of shape (height, width, channels){need}. "
            f"Received: input_shape={shape}"
        )
    return shape


def prior_codes(n: int, latent_dim: int, *, seed: int, prior: str = "normal") -> np.ndarray:
    """``n`` seeded draws from the prior N(0, I) (or U(-1, 1)^d) as float32."""
    check_int("n", n)
    rng = np.random.default_rng(seed)
    if prior == "uniform":
        return rng.uniform(-1.0, 1.0, size=(int(n), latent_dim)).astype("float32")
    return rng.standard_normal((int(n), latent_dim)).astype("float32")


def patchify(images, patch_size: int):
    """(n, H, W, C) → (n, (H/p)(W/p), p·p·C), patches in row-major order."""
    h, w, c = images.shape[1:]
    gh, gw = h // patch_size, w // patch_size
    x = ops.reshape(images, (-1, gh, patch_size, gw, patch_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, gh * gw, patch_size * patch_size * c))


def unpatchify(patches, patch_size: int, image_shape):
    """Inverse of :func:`patchify` for images of ``image_shape`` (H, W, C)."""
    h, w, c = image_shape
    gh, gw = h // patch_size, w // patch_size
    x = ops.reshape(patches, (-1, gh, gw, patch_size, patch_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h, w, c))


def masked_patch_loss(target, prediction, mask, *, patch_size: int, norm_pix_loss: bool = False):
    """Mean squared error over the patches where ``mask`` is 1.

    Args:
        target, prediction: images (n, H, W, C).
        mask: (n, N), 1 for a patch in the loss (masked in training).
        norm_pix_loss: divide each patch's squared error by the variance of
            its target patch plus ``NORM_PIX_EPS`` (He et al.'s per-patch
            normalised targets; their ε = 1e-6 would let MNIST's blank
            patches, of variance 0, dominate the loss).
    """
    t = patchify(target, patch_size)
    p = patchify(prediction, patch_size)
    if norm_pix_loss:
        scale = ops.sqrt(ops.var(t, axis=-1, keepdims=True) + NORM_PIX_EPS)
        t, p = t / scale, p / scale
    return losses.masked_mse(t, p, mask)
