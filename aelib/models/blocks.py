"""Building blocks that several families share: the flattening wrapper of
fully connected stacks, the depth-rule MLP stacks, the image-shape check and
draws from a code prior."""
from __future__ import annotations

import keras
import numpy as np

from aelib.checks import check_int


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
