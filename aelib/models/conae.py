"""Contractive AE (Rifai, Vincent, Muller, Glorot, Bengio, ICML 2011).

The penalty is ``lam · mean_n ‖J_f(x_n)‖²_F`` with ``J_f(x) = ∂z/∂x`` the
Jacobian of the code with respect to the input, computed exactly:

* one-layer encoder (``depth=0``): closed forms. A sigmoid code
  ``h = σ(W x + b)`` gives ``‖J‖²_F = Σ_j (h_j(1 − h_j))² Σ_i W_ij²``
  (Rifai et al., eq. 3); a linear code gives ``‖W‖²_F`` for every input.
* deeper encoders (default): ``tf.GradientTape.batch_jacobian`` of the
  encoder, vectorised over the ``latent_dim`` rows — about ``latent_dim``
  backward passes — holding a (batch, latent_dim, d) tensor (z = 40, batch
  128, d = 784: 4 M floats). The training step differentiates through it (a
  second-order gradient). ``jacobian="autodiff"`` forces this path for a
  one-layer encoder too. It is the one place with TensorFlow-only code
  (:func:`jacobian_autodiff`).
* ``jacobian="chain"``: the chain rule written out in ``keras.ops`` (any
  backend). With ``a_k = h_{k-1} W_k + b_k``, ``h_k = s_k(a_k)`` and
  ``D_k = diag(s_k'(a_k))``, ``J = D_L W_L^T D_{L-1} W_{L-1}^T … D_1 W_1^T``,
  formed from the code side as (batch·z) × h_k by h_k × h_{k-1} products.
  Equal to ``batch_jacobian`` in value and gradient (tested). About the
  same cost on two CPU cores (z = 40, batch 64, s per epoch, chain against
  ``batch_jacobian`` in the same run: 4.9 vs 4.6, then 4.2 vs 4.8;
  ``benchmarks/family_cost.py --variant conae:jacobian=chain``): the work is
  the same ``latent_dim`` passes, so the default stays the reference path.

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
JACOBIAN_METHODS = ("auto", "chain", "autodiff")


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


def _activation_derivative(name: str, a, h):
    """``s'(a)`` for the activations an MLP encoder uses here (``None`` for linear)."""
    if name == "relu":
        return ops.cast(ops.greater(a, 0), a.dtype)
    if name == "sigmoid":
        return h * (1.0 - h)
    if name == "linear":
        return None
    raise ValueError(f"Expected an activation in ('relu', 'sigmoid', 'linear'). Received: {name!r}")


def frobenius_sq_chain(dense_layers, x):
    """``‖J_f(x_n)‖²_F`` per sample, shape (n,), for an encoder that is a stack
    of Dense layers (after flattening), by the chain rule in matrix form.

    Exact, like :func:`frobenius_sq_autodiff`; it forms
    ``J = D_L W_L^T … D_1 W_1^T`` from the code side as (n·z) × h products.
    """
    h = ops.reshape(x, (ops.shape(x)[0], -1))
    derivatives = []
    for layer in dense_layers:
        a = ops.matmul(h, layer.kernel)
        if layer.use_bias:
            a = a + layer.bias
        h = layer.activation(a)
        derivatives.append(_activation_derivative(keras.activations.serialize(layer.activation), a, h))
    n = ops.shape(h)[0]
    latent_dim = h.shape[-1]
    # rows of J, one block of latent_dim rows per sample: start at the code layer
    rows = ops.broadcast_to(ops.transpose(dense_layers[-1].kernel)[None], (n, latent_dim, dense_layers[-1].kernel.shape[0]))
    if derivatives[-1] is not None:
        rows = rows * derivatives[-1][:, :, None]
    for layer, derivative in zip(reversed(dense_layers[:-1]), reversed(derivatives[:-1])):
        if derivative is not None:
            rows = rows * derivative[:, None, :]
        width = layer.kernel.shape[0]
        flat = ops.matmul(ops.reshape(rows, (-1, layer.kernel.shape[1])), ops.transpose(layer.kernel))
        rows = ops.reshape(flat, (n, latent_dim, width))
    return ops.sum(ops.square(rows), axis=(1, 2))


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
            ``batch_jacobian`` otherwise; ``"autodiff"`` always
            ``batch_jacobian``; ``"chain"`` the chain rule in ``keras.ops``
            (any backend, Dense stacks only). All are exact.
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
        if self.jacobian == "chain":
            dense_layers = [layer for layer in self.encoder.layers if isinstance(layer, keras.layers.Dense)]
            return ops.mean(frobenius_sq_chain(dense_layers, x))
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
