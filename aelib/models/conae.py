"""Contractive AE (Rifai, Vincent, Muller, Glorot, Bengio, "Contractive
auto-encoders: explicit invariance during feature extraction", ICML 2011).

The penalty is Rifai et al.'s ``‖J_f(x)‖²_F``, ``J_f(x) = ∂z/∂x`` the
Jacobian of the code with respect to the input. By default
(``penalty="standardised"``) each code unit's row of ``J`` is measured
against that unit's spread over the batch:

    lam · mean_n mean_j ‖∂z_j/∂x(x_n)‖² / Var_batch(z_j)

Architecture (default ``encoder="deep"``): the depth-rule MLP encoder and
mirrored decoder of ``fcae`` (docs/methods.md §1, "Objective or architecture": the
objective families share one backbone, so their parameter counts agree and a
difference between them is one of objective), with fcae's **linear code** and
the Jacobian of the whole encoder, by one of:

* ``jacobian="auto"``/``"projection"`` (default): an unbiased random-projection
  estimate (:func:`projected_row_norms_sq`; Hoffman, Roberts and Yaida 2019):
  one vector-Jacobian product per sample with random signs ±1 per code unit,
  ``E‖Jᵀ(v ⊙ √w)‖² = Σ_j w_j ‖∂z_j/∂x‖²``. One backward pass whatever z, and
  the training step differentiates through it (a second-order gradient).
  Against the exact rows (z = 10, λ = 1e-2, depth 1, 3,600 MNIST images, 60
  epochs, two loaded CPU cores): test RMSE 0.1426 against 0.1427, exact
  penalty after training 0.217 against 0.210, 0.44 against 1.17 s per epoch;
  at z = 100 it costs 0.58 s per epoch, where the exact rows would cost
  about 100 backward passes.
* ``jacobian="autodiff"``: ``tf.GradientTape.batch_jacobian`` of the
  encoder, exact, about ``latent_dim`` backward passes, holding a (batch,
  latent_dim, d) tensor (z = 40, batch 128, d = 784: 4 M floats). With the
  estimate, the one place with TensorFlow-only code
  (:func:`jacobian_autodiff`).
* ``jacobian="chain"``: the chain rule written out in ``keras.ops`` (any
  backend). With ``a_k = h_{k-1} W_k + b_k``, ``h_k = s_k(a_k)`` and
  ``D_k = diag(s_k'(a_k))``, ``J = D_L W_L^T D_{L-1} W_{L-1}^T … D_1 W_1^T``,
  formed from the code side as (batch·z) × h_k by h_k × h_{k-1} products.
  Equal to ``batch_jacobian`` in value and gradient (tested).

Why standardised, and why not the sigmoid code. With a linear code the raw
penalty scales with the code layer's weights, and the untied decoder undoes
any shrinking of them exactly: the raw penalty can be lowered at no cost in
reconstruction by rescaling the code, which measures nothing. Rifai et al.
bound the code with a sigmoid instead. On the deep ReLU backbone that code
collapsed: at initialisation the sigmoid codes of different images differ
by about 0.06, the decoder first learns the mean image, and within the first
epoch every code unit saturates at a constant (z = 10, 3,600 MNIST images:
test RMSE 0.259, the mean image's, already at ``lam = 0``; in the study the
single-layer sigmoid encoder collapsed at z = 2 the same way). Dividing each
unit's sensitivity by its variance over the batch makes the penalty
unchanged by any rescaling of a unit, so the only way to lower it is what
contraction asks: a code that moves little near each input while it still
spreads across the data. Measured with the exact rows (z = 10, depth 1, 3,600 MNIST images,
60 epochs at most; test RMSE / standardised penalty on 200 test images):
``lam`` = 0 → 0.1435 / 1.35, 1e-3 → 0.1427 / 0.51, 1e-2 → 0.1461 / 0.23,
0.1 → 0.1535 / 0.20, 1 → 0.1622 / 0.19. ``lam=1e-2`` is the default; the
study's tuning stage picks λ from a grid that includes 0
(:mod:`aelib.study.tuning`). ``penalty="raw"`` is the paper's unnormalised
``mean_n ‖J_f(x_n)‖²_F``; ``code_activation="sigmoid"`` stays an option.

``encoder="single"`` is the paper's architecture: one dense layer with a
sigmoid code ``h = σ(W x + b)``, so the raw penalty has the closed form
``‖J‖²_F = Σ_j (h_j(1 − h_j))² Σ_i W_ij²`` (Rifai et al., eq. 3) — one pass,
no ``batch_jacobian`` — and ``fcae``'s mirrored decoder, or with
``tied=True`` the paper's tied one-layer decoder ``σ(Wᵀ h + c)``
(:class:`TiedDense`, which reads the encoder's kernel; ``depth`` then does
not apply). Use ``penalty="raw", code_activation="sigmoid"`` with it for the
paper's model. For the single layer, ``jacobian="autodiff"`` or ``"chain"``
force those paths (same value as the closed form, tested).

Rifai et al. pick λ by validation, with a cross-entropy summed over the 784
pixels; ``aelib`` uses the per-value mean squared error, so their λ values
do not carry over.

Departures from the paper: a deep ReLU encoder with a linear code and an
untied deep decoder by default (``encoder="single", tied=True`` for the
paper's), the standardised penalty, the per-value mean squared error instead
of the cross-entropy, Adam instead of SGD, and the penalty averaged over the
batch.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import keras
from keras import ops

from aelib.checks import check_bool, check_choice, check_int, check_non_negative
from aelib.models.base import Autoencoder, LossTerm
from aelib.models.blocks import flat_io, mirrored_decoder_layers, mlp_layers
from aelib.models.registry import register_model

CODE_ACTIVATIONS = ("linear", "sigmoid")
HIDDEN_ACTIVATIONS = ("relu", "sigmoid")
JACOBIAN_METHODS = ("auto", "projection", "chain", "autodiff")
PENALTIES = ("standardised", "raw")
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
    return ops.sum(row_norms_sq_autodiff(encoder, x), axis=1)


def row_norms_sq_autodiff(encoder, x):
    """``‖∂z_j/∂x‖²`` for each sample and code unit, shape (n, latent_dim), from the exact Jacobian."""
    return ops.sum(ops.square(jacobian_autodiff(encoder, x)), axis=2)


def projected_row_norms_sq(encoder, x, unit_weights, seed, projections: int = 1):
    """An unbiased estimate of ``Σ_j w_j ‖∂z_j/∂x(x_n)‖²`` per sample, shape (n,), from ``projections``
    vector-Jacobian products: for Rademacher ``v`` (±1 per code unit and sample), ``E‖Jᵀ(v ⊙ √w)‖² =
    Σ_j w_j ‖J_j‖²`` because ``E[v vᵀ] = I`` (the random-projection Jacobian estimate of Hoffman, Roberts and
    Yaida, "Robust learning with Jacobian regularization", 2019). One backward pass per projection whatever the
    code size, where the exact rows cost ``latent_dim`` of them; exact for ``latent_dim = 1``.

    Args:
        encoder: the encoder network (TensorFlow backend: ``tf.GradientTape``).
        x: inputs, shape (n, ...).
        unit_weights: ``w``, shape (latent_dim,) (ones for ``‖J‖²_F``); may depend on the weights being trained
            (the estimate is differentiable in it).
        seed: a ``keras.random.SeedGenerator`` for the signs.
        projections: number of independent ``v`` averaged.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    scale = ops.sqrt(ops.cast(unit_weights, x.dtype))
    total = 0.0
    for _ in range(projections):
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = encoder(x)
        signs = ops.cast(keras.random.randint(ops.shape(z), 0, 2, seed=seed), z.dtype) * 2.0 - 1.0
        vjp = tape.gradient(z, x, output_gradients=signs * scale[None, :])
        total = total + ops.sum(ops.reshape(ops.square(vjp), (ops.shape(x)[0], -1)), axis=1)
    return total / projections


def standardised_penalty(row_norms_sq, z):
    """``mean_n mean_j ‖∂z_j/∂x(x_n)‖² / Var_batch(z_j)``: the Jacobian of the code standardised per unit.

    Unchanged when a code unit is rescaled (the decoder could undo any rescaling), so the only way to lower
    it is to make each unit vary less near each input than it varies across the batch: local contraction.
    """
    variance = ops.var(z, axis=0)
    return ops.mean(row_norms_sq / (variance[None, :] + 1e-8))


def _activation_derivative(name: str, a, h):
    """``s'(a)`` for the activations an MLP encoder uses here (``None`` for linear)."""
    if name == "relu":
        return ops.cast(ops.greater(a, 0), a.dtype)
    if name == "sigmoid":
        return h * (1.0 - h)
    if name == "linear":
        return None
    raise ValueError(f"Expected an activation in ('relu', 'sigmoid', 'linear'). Received: {name!r}")


def row_norms_sq_chain(dense_layers, x):
    """``‖∂z_j/∂x(x_n)‖²`` per sample and code unit, shape (n, latent_dim), for an encoder that is a stack
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
    return ops.sum(ops.square(rows), axis=2)


def frobenius_sq_chain(dense_layers, x):
    """``‖J_f(x_n)‖²_F`` per sample, shape (n,), by the chain rule (:func:`row_norms_sq_chain`)."""
    return ops.sum(row_norms_sq_chain(dense_layers, x), axis=1)


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
        lam: weight λ of the penalty, >= 0 (0 turns it off). Default 1e-2
            (module docstring).
        encoder: ``"deep"`` (default: the depth-rule MLP encoder of ``fcae``)
            or ``"single"`` (Rifai et al.'s one dense layer to the code, with
            the closed-form penalty).
        tied: ``True`` for the tied one-layer decoder ``σ(Wᵀ h + c)``
            (needs ``encoder="single"``); ``False`` (default) for the
            mirrored MLP decoder of ``fcae``.
        code_activation: ``"linear"`` (default, fcae's code) or ``"sigmoid"``
            (the paper's; module docstring).
        hidden_activation: ``"relu"`` (default, as ``fcae``) or ``"sigmoid"``:
            hidden layers of the decoder and of a deep encoder.
        jacobian: ``"auto"`` (default) uses the closed form for a
            single-layer encoder with the raw penalty and the random-projection
            estimate otherwise (``"projection"``, :func:`projected_row_norms_sq`:
            ``projections`` backward passes, unbiased); ``"autodiff"``
            (``batch_jacobian``) and ``"chain"`` (the chain rule in
            ``keras.ops``, any backend) are exact and cost ``latent_dim``
            backward passes.
        penalty: ``"standardised"`` (default: each unit's Jacobian row over
            its batch variance) or ``"raw"`` (``mean_n ‖J_f(x_n)‖²_F``, whose
            closed forms the single layer uses).
        projections: random projections per sample and step for the
            ``"projection"`` estimate (default 1).
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
        lam: float = 1e-2,
        encoder: str = "deep",
        tied: bool = False,
        code_activation: str = "linear",
        hidden_activation: str = "relu",
        jacobian: str = "auto",
        penalty: str = "standardised",
        projections: int = 1,
        **kwargs: Any,
    ) -> None:
        self.penalty = check_choice("penalty", penalty, PENALTIES)
        self.projections = check_int("projections", projections)
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
    def uses_projection(self) -> bool:
        """Whether the penalty is the random-projection estimate (:func:`projected_row_norms_sq`): with
        ``jacobian="projection"``, and with ``"auto"`` wherever no closed form applies."""
        return self.jacobian == "projection" or (self.jacobian == "auto" and not self.uses_closed_form)

    @property
    def uses_closed_form(self) -> bool:
        return (self.jacobian == "auto" and self.penalty == "raw"
                and (self.encoder_kind == "single" or self.depth == 0))

    def jacobian_penalty(self, x, z=None):
        """The penalty without λ: ``mean_n ‖J_f(x_n)‖²_F`` (``penalty="raw"``) or its standardised form
        (:func:`standardised_penalty`); ``z`` (the codes of ``x``) saves an encoder pass."""
        if self.uses_projection:
            if self.penalty == "raw":
                return ops.mean(projected_row_norms_sq(self.encoder, x, ops.ones((self.latent_dim,)),
                                                       self.seed_generator, self.projections))
            if z is None:
                z = self.encoder(x)
            weights = 1.0 / (ops.var(z, axis=0) + 1e-8)
            return ops.mean(projected_row_norms_sq(self.encoder, x, weights, self.seed_generator,
                                                   self.projections)) / self.latent_dim
        if self.penalty == "standardised":
            if z is None:
                z = self.encoder(x)
            if self.jacobian == "chain":
                dense_layers = [layer for layer in self.encoder.layers if isinstance(layer, keras.layers.Dense)]
                rows = row_norms_sq_chain(dense_layers, x)
            else:
                rows = row_norms_sq_autodiff(self.encoder, x)
            return standardised_penalty(rows, z)
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
