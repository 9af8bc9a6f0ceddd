"""Contractive AE (Rifai, Vincent, Muller, Glorot, Bengio, ICML 2011).

The penalty is ``lam · mean_n ‖J_f(x_n)‖²_F`` with ``J_f(x) = ∂z/∂x`` the
Jacobian of the code with respect to the input, computed exactly:

* one-layer encoder (``depth=0``): closed forms. A sigmoid code
  ``h = σ(W x + b)`` gives ``‖J‖²_F = Σ_j (h_j(1 − h_j))² Σ_i W_ij²``
  (Rifai et al., eq. 3); a linear code gives ``‖W‖²_F`` for every input.
* deeper encoders: ``tf.GradientTape.batch_jacobian``, vectorised over the
  ``latent_dim`` rows, so it costs about ``latent_dim`` backward passes of
  the encoder and holds a (batch, latent_dim, d) tensor (at z = 40, batch
  128, d = 784: 4 M floats). The training step differentiates through it
  (a second-order gradient): on two CPU cores an epoch of 3,600 MNIST images
  took about 4 s at z = 10 and 5 s at z = 40, against about 1 s for ``fcae``.
  ``jacobian="autodiff"`` forces this path for a one-layer encoder too.
The Jacobian is the one place with TensorFlow-only code (:func:`jacobian_autodiff`).

Default weight. Rifai et al. pick λ by validation. With ``aelib``'s per-value
mean squared error and the default ReLU encoder (‖J‖²_F ≈ 0.2–0.5 per code
unit at initialisation on MNIST), ``lam=1e-4`` is active but mild: after 5
epochs on 4,000 MNIST images at z = 10, test RMSE 0.212 against 0.204 with
λ = 0 (which is ``fcae`` exactly), while ``lam=1e-3`` holds ‖J‖²_F near 0.7
and costs RMSE 0.233. Sweep it for a real comparison.
"""
from __future__ import annotations

import math
import numbers

import keras
from keras import ops

from aelib.models.base import Autoencoder
from aelib.models.fcae import mlp_layers
from aelib.models.registry import register_model
from aelib.models.vanilla import flat_io

CODE_ACTIVATIONS = ("linear", "sigmoid")
HIDDEN_ACTIVATIONS = ("relu", "sigmoid")
JACOBIAN_METHODS = ("auto", "autodiff")


def jacobian_autodiff(encoder, x):
    """``∂z/∂x`` per sample, shape (n, latent_dim, d), by ``batch_jacobian``.

    TensorFlow only: Keras has no backend-neutral Jacobian. Another backend
    would add its own branch here (``jax.vmap(jax.jacrev(...))``).
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = encoder(x)
    jac = tape.batch_jacobian(z, x)
    return tf.reshape(jac, (tf.shape(jac)[0], z.shape[-1], -1))


def frobenius_sq_autodiff(encoder, x):
    """``‖J_f(x_n)‖²_F`` for each sample, shape (n,), from the exact Jacobian."""
    return ops.sum(ops.square(jacobian_autodiff(encoder, x)), axis=(1, 2))


def frobenius_sq_sigmoid(h, kernel):
    """Closed form of ``‖J‖²_F`` for ``h = σ(x W + b)``: ``Σ_j (h_j(1 − h_j))² Σ_i W_ij²``.

    Args:
        h: code activations, shape (n, latent_dim).
        kernel: ``W``, shape (d, latent_dim) as Keras stores a Dense kernel.

    Returns:
        Shape (n,).
    """
    return ops.sum(ops.square(h * (1.0 - h)) * ops.sum(ops.square(kernel), axis=0), axis=-1)


def frobenius_sq_linear(kernel):
    """``‖J‖²_F = ‖W‖²_F`` for a linear code, the same for every input."""
    return ops.sum(ops.square(kernel))


@keras.saving.register_keras_serializable(package="aelib")
@register_model("conae")
class ContractiveAE(Autoencoder):
    """MLP autoencoder with a contractive penalty on the encoder Jacobian.

    Args:
        lam: weight λ of ``mean_n ‖J_f(x_n)‖²_F``, >= 0 (0 turns it off).
        code_activation: ``"linear"`` (default, as ``fcae``) or ``"sigmoid"``
            (Rifai et al.'s one-layer CAE with ``depth=0``).
        hidden_activation: ``"relu"`` (default, as ``fcae``) or ``"sigmoid"``.
        jacobian: ``"auto"`` uses the closed form when ``depth=0`` and
            ``batch_jacobian`` otherwise; ``"autodiff"`` always uses
            ``batch_jacobian``. Both are exact.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.
    """

    loss_terms = ("contractive",)

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim: int = 2,
        *,
        lam: float = 1e-4,
        code_activation: str = "linear",
        hidden_activation: str = "relu",
        jacobian: str = "auto",
        **kwargs,
    ) -> None:
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not math.isfinite(lam) or lam < 0:
            raise ValueError(f"Expected lam >= 0 (a finite number). Received: lam={lam!r}")
        for name, value, allowed in (
            ("code_activation", code_activation, CODE_ACTIVATIONS),
            ("hidden_activation", hidden_activation, HIDDEN_ACTIVATIONS),
            ("jacobian", jacobian, JACOBIAN_METHODS),
        ):
            if value not in allowed:
                raise ValueError(f"Expected {name} in {allowed}. Received: {name}={value!r}")
        self.lam = float(lam)
        self.code_activation = code_activation
        self.hidden_activation = hidden_activation
        self.jacobian = jacobian
        super().__init__(input_shape, latent_dim, **kwargs)

    def build_networks(self) -> None:
        code = None if self.code_activation == "linear" else "sigmoid"
        enc_layers, dec_layers = mlp_layers(self, hidden_activation=self.hidden_activation, code_activation=code)
        self.code_layer = enc_layers[-1]
        self.encoder, self.decoder = flat_io(self, enc_layers, dec_layers)

    @property
    def uses_closed_form(self) -> bool:
        return self.jacobian == "auto" and self.depth == 0

    def jacobian_penalty(self, x, z=None):
        """``mean_n ‖J_f(x_n)‖²_F`` (without λ); ``z`` avoids a second encoder pass for the closed form."""
        if self.uses_closed_form:
            kernel = self.code_layer.kernel
            if self.code_activation == "linear":
                return frobenius_sq_linear(kernel)
            if z is None:
                z = self.encoder(x)
            return ops.mean(frobenius_sq_sigmoid(z, kernel))
        return ops.mean(frobenius_sq_autodiff(self.encoder, x))

    def extra_losses(self, x, outputs: dict, training: bool) -> dict:
        if self.lam == 0:  # skip the Jacobian's cost when it cannot matter
            return {"contractive": ops.zeros((), dtype="float32")}
        return {"contractive": self.lam * self.jacobian_penalty(x, outputs["z"])}

    def options(self) -> dict:
        return {
            "lam": self.lam,
            "code_activation": self.code_activation,
            "hidden_activation": self.hidden_activation,
            "jacobian": self.jacobian,
        }
