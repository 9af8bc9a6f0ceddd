"""Contractive AE (Rifai, Vincent, Muller, Glorot, Bengio, "Contractive
auto-encoders: explicit invariance during feature extraction", ICML 2011).

The penalty is ``lam · mean_n ‖J_f(x_n)‖²_F`` with ``J_f(x) = ∂z/∂x`` the
Jacobian of the code with respect to the input, computed exactly.

Architecture (default ``encoder="deep"``): the depth-rule MLP encoder and
mirrored decoder of ``fcae`` (docs/methods.md §1, "Objective or architecture": the
objective families share one backbone, so their parameter counts agree and a
difference between them is one of objective), with a **sigmoid code** and the
exact Jacobian of the whole encoder:

* ``jacobian="auto"``/``"autodiff"``: ``tf.GradientTape.batch_jacobian`` of
  the encoder, vectorised over the ``latent_dim`` rows — about
  ``latent_dim`` backward passes — holding a (batch, latent_dim, d) tensor
  (z = 40, batch 128, d = 784: 4 M floats). The training step
  differentiates through it (a second-order gradient). It is the one place
  with TensorFlow-only code (:func:`jacobian_autodiff`).
* ``jacobian="chain"``: the chain rule written out in ``keras.ops`` (any
  backend). With ``a_k = h_{k-1} W_k + b_k``, ``h_k = s_k(a_k)`` and
  ``D_k = diag(s_k'(a_k))``, ``J = D_L W_L^T D_{L-1} W_{L-1}^T … D_1 W_1^T``,
  formed from the code side as (batch·z) × h_k by h_k × h_{k-1} products.
  Equal to ``batch_jacobian`` in value and gradient (tested). About the
  same cost on two CPU cores (z = 40, batch 64, s per epoch, chain against
  ``batch_jacobian`` in the same run: 4.9 vs 4.6, then 4.2 vs 4.8;
  ``benchmarks/family_cost.py --variant conae:jacobian=chain``).

A deep contractive encoder costs about twice fcae per epoch (z = 10,
depth 1, 2,000 images, batch 64, two shared CPU cores: 4.2–5.1 s against
2.3–2.5 s).

Why a sigmoid code. With a linear code ``z = W_L^T h + b`` the penalty
scales with ``W_L``, and an untied decoder undoes any shrinking of ``W_L``
exactly, so the penalty could be lowered at no cost in reconstruction — it
would only rescale the code. A sigmoid code cannot be shrunk freely: it is
bounded in (0, 1), and the penalty falls only where units saturate
(h(1 − h) → 0) or where the pre-activations vary little, which pushes units
into the near-linear regime around 0.5 where the decoder must amplify small
differences. That saturation is the contraction Rifai et al. describe.
``code_activation="linear"`` stays an option.

``encoder="single"`` is the paper's architecture: one dense layer with a
sigmoid code ``h = σ(W x + b)``, so the penalty has the closed form
``‖J‖²_F = Σ_j (h_j(1 − h_j))² Σ_i W_ij²`` (Rifai et al., eq. 3) — one pass,
no ``batch_jacobian`` — and ``fcae``'s mirrored decoder, or with
``tied=True`` the paper's tied one-layer decoder ``σ(Wᵀ h + c)``
(:class:`TiedDense`, which reads the encoder's kernel; ``depth`` then does
not apply). For the single layer, ``jacobian="autodiff"`` or ``"chain"``
force those paths (same value as the closed form, tested). Its encoder has
about half of fcae's parameters, and at z = 2 its code collapsed in the
quick study, which is why it is no longer the default.

Default weight. Rifai et al. pick λ by validation, with a cross-entropy
summed over the 784 pixels; ``aelib`` uses the per-value mean squared error,
which is smaller by roughly a factor d, so their λ values do not carry over.
The balance at initialisation on MNIST (Glorot weights, sigmoid code): the
deep encoder's ‖J‖²_F is measured 0.10 / 0.66 / 5.7 at z = 2 / 10 / 100
(depth 1) and 0.06 / 0.28 / 1.9 (depth 3); the paper's single layer gives
1.1 at z = 10 and 10.2 at z = 100 — against an MSE of ≈ 0.07 falling to
0.01–0.04 when trained. The penalty is a sum over code units, so its weight
must suit the whole z sweep (1–700). ``lam=1e-4`` makes it ≈ 1e-4 (z = 10)
to 1e-3 (z = 100) at the start, a few per cent of the reconstruction term
at most: active but mild. Measured for the single layer (5 epochs on 3,000
MNIST images, batch 64, test RMSE / final ‖J‖²_F; a short check, not a
tuning): z = 10: λ = 0 → 0.236 / 0.81, 1e-4 → 0.238 / 0.50, 1e-3 → 0.241 /
0.23; z = 100: λ = 0 → 0.184 / 8.9, 1e-4 → 0.190 / 4.0, 1e-3 → 0.224 /
0.69, 1e-2 → 0.243 / 0.13. The study's tuning stage picks λ from a grid
that includes 0 (:mod:`aelib.study.tuning`); this default is only the
starting point.

Departures from the paper: a deep ReLU encoder with a sigmoid code and an
untied deep decoder by default (``encoder="single", tied=True`` for the
paper's), the per-value mean squared error instead of the cross-entropy,
Adam instead of SGD, and the penalty averaged over the batch.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import keras
from keras import ops

from aelib.checks import check_bool, check_choice, check_non_negative
from aelib.models.base import Autoencoder, LossTerm
from aelib.models.blocks import flat_io, mirrored_decoder_layers, mlp_layers
from aelib.models.registry import register_model

CODE_ACTIVATIONS = ("linear", "sigmoid")
HIDDEN_ACTIVATIONS = ("relu", "sigmoid")
JACOBIAN_METHODS = ("auto", "chain", "autodiff")
ENCODERS = ("single", "deep")


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
    rows = ops.broadcast_to(ops.transpose(dense_layers[-1].kernel)[None],
                            (n, latent_dim, dense_layers[-1].kernel.shape[0]))
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
class TiedDense(keras.layers.Layer):
    """``activation(h Wᵀ + c)`` with ``W`` the kernel of another Dense layer.

    Only the bias ``c`` belongs to this layer; ``W`` stays a weight of the
    source layer (the encoder's code layer), so it is saved once and shared in
    training. The link is not part of the config: the model that owns both
    layers makes it again with :meth:`tie` when it is rebuilt, so a loaded
    ``.keras`` file is tied as the saved one was.
    """

    def __init__(self, units: int, activation=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self._source = SimpleNamespace(layer=None)  # a namespace, so Keras does not track the source twice

    def tie(self, source: keras.layers.Dense) -> "TiedDense":
        self._source.layer = source
        return self

    def build(self, input_shape) -> None:
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, h):
        if self._source.layer is None:
            raise ValueError(f"TiedDense {self.name!r} is not tied to a Dense layer: call tie(layer) first.")
        return self.activation(ops.matmul(h, ops.transpose(self._source.layer.kernel)) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="aelib")
@register_model("conae")
class ContractiveAE(Autoencoder):
    """Autoencoder with a contractive penalty on the encoder Jacobian.

    Args:
        lam: weight λ of ``mean_n ‖J_f(x_n)‖²_F``, >= 0 (0 turns it off).
            Default 1e-4 (module docstring).
        encoder: ``"deep"`` (default: the depth-rule MLP encoder of ``fcae``)
            or ``"single"`` (Rifai et al.'s one dense layer to the code, with
            the closed-form penalty).
        tied: ``True`` for the tied one-layer decoder ``σ(Wᵀ h + c)``
            (needs ``encoder="single"``); ``False`` (default) for the
            mirrored MLP decoder of ``fcae``.
        code_activation: ``"sigmoid"`` (default, the paper's) or ``"linear"``
            (then ``‖J‖²_F = ‖W‖²_F`` for a single layer; module docstring).
        hidden_activation: ``"relu"`` (default, as ``fcae``) or ``"sigmoid"``:
            hidden layers of the decoder and of a deep encoder.
        jacobian: ``"auto"`` uses the closed form for a single-layer encoder
            and ``batch_jacobian`` otherwise; ``"autodiff"`` always
            ``batch_jacobian``; ``"chain"`` the chain rule in ``keras.ops``
            (any backend). All are exact.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: ``lam < 0``, an unknown option value, or ``tied=True``
            with ``encoder="deep"``.
    """

    loss_terms = ("contractive",)
    # ``encoder`` is the option; the attribute of that name is the encoder network.
    option_attributes = {"encoder": "encoder_kind"}

    def __init__(
        self,
        *args: Any,
        lam: float = 1e-4,
        encoder: str = "deep",
        tied: bool = False,
        code_activation: str = "sigmoid",
        hidden_activation: str = "relu",
        jacobian: str = "auto",
        **kwargs: Any,
    ) -> None:
        self.lam = check_non_negative("lam", lam)
        self.encoder_kind = check_choice("encoder", encoder, ENCODERS)
        self.code_activation = check_choice("code_activation", code_activation, CODE_ACTIVATIONS)
        self.hidden_activation = check_choice("hidden_activation", hidden_activation, HIDDEN_ACTIVATIONS)
        self.jacobian = check_choice("jacobian", jacobian, JACOBIAN_METHODS)
        self.tied = check_bool("tied", tied)
        if tied and encoder != "single":
            raise ValueError("tied=True needs a one-layer encoder: expected encoder='single'. "
                             f"Received: encoder={encoder!r}")
        super().__init__(*args, **kwargs)

    def build_networks(self) -> None:
        code = None if self.code_activation == "linear" else "sigmoid"
        if self.encoder_kind == "deep":
            enc_layers, dec_layers = mlp_layers(self, hidden_activation=self.hidden_activation, code_activation=code)
            self.code_layer = enc_layers[-1]
            self.encoder, self.decoder = flat_io(self, enc_layers, dec_layers)
            return
        self.code_layer = self.dense(self.latent_dim, code, name="enc_code")
        if not self.tied:
            dec_layers = mirrored_decoder_layers(self, self.depth_rule_widths(),
                                                 hidden_activation=self.hidden_activation)
            self.encoder, self.decoder = flat_io(self, [self.code_layer], dec_layers)
            return
        x_in = keras.Input(self.sample_shape, name="x")
        h = keras.layers.Flatten(name="flatten")(x_in) if len(self.sample_shape) > 1 else x_in
        self.encoder = keras.Model(x_in, self.code_layer(h), name="encoder")  # builds the kernel the decoder reads
        z_in = keras.Input((self.latent_dim,), name="z")
        h = TiedDense(self.input_dim, self.output_activation, name="dec_output").tie(self.code_layer)(z_in)
        if len(self.sample_shape) > 1:
            h = keras.layers.Reshape(self.sample_shape, name="unflatten")(h)
        self.decoder = keras.Model(z_in, h, name="decoder")

    @property
    def uses_closed_form(self) -> bool:
        return self.jacobian == "auto" and (self.encoder_kind == "single" or self.depth == 0)

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

    def extra_losses(self, x, outputs: dict, training: bool) -> list[LossTerm]:
        # History logs the weighted penalty, as the study's tables always have.
        if self.lam == 0:  # skip the Jacobian's cost when it cannot matter
            return [LossTerm("contractive", ops.zeros((), dtype="float32"))]
        return [LossTerm("contractive", self.lam * self.jacobian_penalty(x, outputs["z"]))]
