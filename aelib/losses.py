"""Loss terms as small pure functions in ``keras.ops``."""
from __future__ import annotations

from keras import ops


def _flat(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def mse(target, prediction):
    """Mean squared error over all values of all samples."""
    return ops.mean(ops.square(_flat(target) - _flat(prediction)))


def sum_squared_error(target, prediction):
    """Squared error summed over the values of a sample, averaged over samples."""
    return ops.mean(ops.sum(ops.square(_flat(target) - _flat(prediction)), axis=-1))


def binary_crossentropy_sum(target, prediction, eps: float = 1e-7):
    """Bernoulli negative log-likelihood summed over values, averaged over samples."""
    p = ops.clip(_flat(prediction), eps, 1.0 - eps)
    t = _flat(target)
    return ops.mean(-ops.sum(t * ops.log(p) + (1.0 - t) * ops.log(1.0 - p), axis=-1))


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) ‖ N(0, I)) summed over dimensions, averaged over samples."""
    return ops.mean(-0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1))


def bernoulli_kl(rho, rho_hat, eps: float = 1e-7):
    """Σ_j KL(ρ ‖ ρ̂_j) for sparsity targets; ``rho_hat`` are mean activations per unit."""
    rho_hat = ops.clip(rho_hat, eps, 1.0 - eps)
    return ops.sum(rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat)))


def masked_mse(target, prediction, mask):
    """Mean squared error over the entries where ``mask`` is 1.

    ``target`` and ``prediction`` are (n, patches, values); ``mask`` is (n, patches).
    """
    per_patch = ops.mean(ops.square(target - prediction), axis=-1)
    mask = ops.cast(mask, per_patch.dtype)
    return ops.sum(per_patch * mask) / ops.maximum(ops.sum(mask), 1.0)
