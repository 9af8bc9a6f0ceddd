"""Is each regulariser active? Measures of what a family's extra objective does to its model (docs/methods.md §1,
"Tuning that keeps the regulariser"), each set beside the same measure of fcae, which has no regulariser.

Pure functions on arrays first (each tested against a closed form or a constructed case), then
:func:`activity`, which measures a trained model of a regularised family on images, family by family:

- ``sae``: the mean activation ρ̂ of its penalised sigmoid units against the target ρ (Ng 2011), and the
  KL sparsity penalty per unit;
- ``conae``: the standardised sensitivity of its code, mean_j ‖∂z_j/∂x‖² / Var(z_j) — the penalty it trains
  with, unchanged by rescaling a code unit — against fcae's encoder's on the same images, and the raw Frobenius
  norm ‖J_f(x)‖_F beside it (Rifai et al. 2011), whose scale follows the code's;
- ``vae``: the KL to the prior per code dimension, the number of active units (Burda, Grosse, Salakhutdinov,
  ICLR 2016: Cov_x(E[z|x]) > 0.01) and the MMD of its codes to the prior;
- ``aae``: the MMD between its aggregated codes q(z) and draws from its prior (Makhzani et al. 2015);
- ``dae``: the RMSE of the clean image reconstructed from a corrupted one, its own corruption, against fcae's
  on the same corrupted images (Vincent et al. 2008);
- ``mae``, ``mmae``: the RMSE on masked patches at He et al.'s ratio 0.75, whatever the model's own ratio,
  against fcae's reconstruction of the same images with the same patches set to 0.

The fcae values come from fcae's model at the same z and seed (``reference``); without one they are NaN
(the regularisation path measures one family along its grid).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from aelib.checks import check_float, check_int
from aelib.metrics.reconstruction import rmse_per_sample
from aelib.models.inference import forward

#: Burda et al.'s threshold on the variance over inputs of a code dimension's posterior mean for an active unit.
ACTIVE_UNIT_THRESHOLD = 0.01
#: The share of patches masked when a masked family's reconstruction of masked patches is measured (He et al.).
EVAL_MASK_RATIO = 0.75
#: Inputs on which the encoder Jacobian is measured (a Jacobian costs ``latent_dim`` backward passes each).
JACOBIAN_POINTS = 200


# ----- pure functions -------------------------------------------------------------------------------------------
def _matrix(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"Expected {name} of shape (n, units) with n, units >= 1. Received: shape={array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def mean_activation(h) -> np.ndarray:
    """ρ̂_j: each unit's mean activation over the samples, shape (units,)."""
    return _matrix("h", h).mean(axis=0)


def bernoulli_kl(rho: float, rho_hat) -> np.ndarray:
    """KL(ρ ‖ ρ̂_j) per unit (nats), for firing rates in (0, 1); ρ̂ is clipped to [1e-7, 1 − 1e-7] as in training."""
    rho = check_float("rho", rho, above=0, below=1)
    rho_hat = np.clip(np.asarray(rho_hat, dtype=np.float64), 1e-7, 1 - 1e-7)
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def gaussian_kl_per_dimension(mean, log_var) -> np.ndarray:
    """KL(N(μ_j, σ_j²) ‖ N(0, 1)) per code dimension, averaged over samples, shape (latent_dim,)."""
    mean, log_var = _matrix("mean", mean), _matrix("log_var", log_var)
    if mean.shape != log_var.shape:
        raise ValueError(f"Expected mean and log_var of one shape. Received: {mean.shape} and {log_var.shape}")
    return (-0.5 * (1.0 + log_var - mean**2 - np.exp(log_var))).mean(axis=0)


def active_units(mean, *, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Code dimensions whose posterior mean varies over the inputs: Var_x(E[z_j|x]) > ``threshold`` (Burda et al.)."""
    threshold = check_float("threshold", threshold, minimum=0)
    return int(np.sum(_matrix("mean", mean).var(axis=0) > threshold))


def mmd_squared(x, y, *, scale: float = 1.0) -> float:
    """Squared maximum mean discrepancy between samples ``x`` (n, d) and ``y`` (m, d), the biased (V-statistic)
    estimate with the inverse multiquadratic kernel k(a, b) = C / (C + ‖a − b‖²), C = 2·d·scale² (Tolstikhin et al.,
    ICLR 2018, for a prior of standard deviation ``scale``). The kernel's width is fixed by the prior, not by the
    samples, so the values of two models measured against one prior compare. 0 for identical samples, >= 0."""
    x, y = _matrix("x", x), _matrix("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Expected samples of one dimension. Received: shapes {x.shape} and {y.shape}")
    c = 2.0 * x.shape[1] * check_float("scale", scale, above=0) ** 2

    def mean_kernel(a, b):
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return float(np.mean(c / (c + np.maximum(sq, 0.0))))

    return max(0.0, mean_kernel(x, x) + mean_kernel(y, y) - 2.0 * mean_kernel(x, y))


def frobenius_norms(jacobians) -> np.ndarray:
    """‖J_n‖_F of each sample's Jacobian, from an array (n, latent_dim, d) (or any (n, ...))."""
    jacobians = np.asarray(jacobians, dtype=np.float64)
    return np.sqrt(np.sum(jacobians.reshape(len(jacobians), -1) ** 2, axis=1))


def _patch_grid(x, patch_size: int) -> np.ndarray:
    """(n, H, W, C) → (n, H/p, W/p, p, p, C)."""
    n, h, w, c = x.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"Expected image sides divisible by patch_size={patch_size}. Received: shape={x.shape}")
    return x.reshape(n, h // patch_size, patch_size, w // patch_size, patch_size, c).transpose(0, 1, 3, 2, 4, 5)


def random_patch_mask(n: int, num_patches: int, *, ratio: float = EVAL_MASK_RATIO, seed: int = 0) -> np.ndarray:
    """(n, num_patches) float mask, 1 for a masked patch: ``round(num_patches · ratio)`` per sample, seeded."""
    n, num_patches = check_int("n", n), check_int("num_patches", num_patches)
    ratio = check_float("ratio", ratio, minimum=0, below=1)
    masked = int(round(num_patches * ratio))
    order = np.argsort(np.random.default_rng(seed).random((n, num_patches)), axis=1)
    mask = np.zeros((n, num_patches), "float32")
    np.put_along_axis(mask, order[:, :masked], 1.0, axis=1)
    return mask


def zero_patches(x, mask, *, patch_size: int) -> np.ndarray:
    """Images ``x`` (n, H, W, C) with the patches where ``mask`` (n, N; row-major patches) is 1 set to 0."""
    x = np.asarray(x, dtype="float32")
    grid = _patch_grid(x, patch_size).copy()
    n, gh, gw = grid.shape[:3]
    keep = 1.0 - np.asarray(mask, dtype="float32").reshape(n, gh, gw)
    grid *= keep[:, :, :, None, None, None]
    return grid.transpose(0, 1, 3, 2, 4, 5).reshape(x.shape)


def masked_patch_rmse(x, x_hat, mask, *, patch_size: int) -> np.ndarray:
    """Per sample, the RMSE over the values of the patches where ``mask`` is 1 (NaN for a sample with none)."""
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"Expected x and x_hat of the same shape. Received: {x.shape} and {x_hat.shape}")
    sq = ((_patch_grid(x_hat, patch_size) - _patch_grid(x, patch_size)) ** 2)
    n, gh, gw = sq.shape[:3]
    per_patch = sq.reshape(n, gh * gw, -1).mean(axis=2)
    mask = np.asarray(mask, dtype=np.float64).reshape(n, gh * gw)
    counts = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((per_patch * mask).sum(axis=1) / counts)


# ----- measured on a family's model ----------------------------------------------------------------------------------
def encoder_jacobian_norms(model, x, *, batch_size: int = 50) -> np.ndarray:
    """‖J_f(x_n)‖_F of ``model.encoder`` (the exact Jacobian, ``batch_jacobian``) for each image, shape (n,)."""
    return np.sqrt(encoder_jacobian_rows(model, x, batch_size=batch_size).sum(axis=1))


def encoder_jacobian_rows(model, x, *, batch_size: int = 50) -> np.ndarray:
    """‖∂z_j/∂x(x_n)‖² of ``model.encoder`` for each image and code unit, shape (n, latent_dim)."""
    from aelib.models.conae import jacobian_autodiff  # the package's one TensorFlow-only Jacobian

    x = np.asarray(x, dtype="float32")
    return np.concatenate([np.sum(np.asarray(jacobian_autodiff(model.encoder, x[i:i + batch_size]),
                                             dtype=np.float64) ** 2, axis=2)
                           for i in range(0, len(x), batch_size)])


def standardised_sensitivity(rows, codes) -> float:
    """mean_n mean_j ‖∂z_j/∂x(x_n)‖² / Var_n(z_j) from Jacobian rows (n, latent_dim) and codes (n, latent_dim):
    how much each code unit moves near an input against how much it varies across inputs (rescaling a unit
    leaves it unchanged)."""
    rows = np.asarray(rows, dtype=np.float64)
    variance = np.asarray(codes, dtype=np.float64).var(axis=0)
    return float(np.mean(rows / (variance[None, :] + 1e-12)))


def _row(measure: str, value: float, fcae_value: float = math.nan, target: float = math.nan) -> dict:
    return {"measure": measure, "value": float(value), "fcae_value": float(fcae_value), "target": float(target)}


def _sparse(model, x, reference, seed) -> list[dict]:
    outputs = forward(model.penalised_model, x, batch_size=512)
    units = np.concatenate([np.asarray(h).reshape(len(x), -1) for h in outputs[:-1]], axis=1)
    rho_hat = mean_activation(units)
    return [_row("mean_activation", rho_hat.mean(), target=model.rho),
            _row("sparsity_kl_per_unit", bernoulli_kl(model.rho, rho_hat).mean(), target=0.0)]


def _contractive(model, x, reference, seed) -> list[dict]:
    x = x[:JACOBIAN_POINTS]
    values = {}
    for name, encoder_of in (("model", model), ("fcae", reference)):
        if encoder_of is None:
            values[name] = (math.nan, math.nan)
            continue
        rows = encoder_jacobian_rows(encoder_of, x)
        values[name] = (standardised_sensitivity(rows, encoder_of.encode(x)), np.sqrt(rows.sum(axis=1)).mean())
    return [_row("standardised_sensitivity", values["model"][0], values["fcae"][0]),
            _row("jacobian_frobenius", values["model"][1], values["fcae"][1])]


def _prior_mmd(model, codes, reference_codes, seed, prior: str = "normal") -> dict:
    from aelib.models.blocks import prior_codes

    draws = prior_codes(len(codes), model.latent_dim, seed=seed, prior=prior)
    scale = 1.0 if prior == "normal" else 1.0 / math.sqrt(3.0)  # U(−1, 1) has standard deviation 1/√3
    fcae = mmd_squared(reference_codes, draws, scale=scale) if reference_codes is not None else math.nan
    return _row("mmd_to_prior", mmd_squared(codes, draws, scale=scale), fcae)


def _variational(model, x, reference, seed) -> list[dict]:
    mean, log_var = (np.asarray(a) for a in forward(model.gaussian_encoder, x, batch_size=512))
    reference_codes = reference.encode(x) if reference is not None else None
    fcae_units = active_units(reference_codes) if reference_codes is not None else math.nan
    return [_row("kl_per_dimension", gaussian_kl_per_dimension(mean, log_var).mean()),
            _row("active_units", active_units(mean), fcae_units, target=model.latent_dim),
            _prior_mmd(model, mean, reference_codes, seed)]


def _adversarial(model, x, reference, seed) -> list[dict]:
    reference_codes = reference.encode(x) if reference is not None else None
    return [_prior_mmd(model, model.encode(x), reference_codes, seed, prior=model.prior)]


def _denoising(model, x, reference, seed) -> list[dict]:
    corrupted = model.corrupt(x, seed=seed)
    fcae = rmse_per_sample(x, reference.reconstruct(corrupted)).mean() if reference is not None else math.nan
    return [_row("corrupted_rmse", rmse_per_sample(x, model.reconstruct(corrupted)).mean(), fcae)]


def _masked(model, x, reference, seed) -> list[dict]:
    p = model.patch_size
    mask = random_patch_mask(len(x), model.num_patches, seed=seed)
    rmse = masked_patch_rmse(x, model.reconstruct_masked(x, mask), mask, patch_size=p).mean()
    fcae = (masked_patch_rmse(x, reference.reconstruct(zero_patches(x, mask, patch_size=p)), mask, patch_size=p).mean()
            if reference is not None else math.nan)
    return [_row("masked_patch_rmse", rmse, fcae)]


#: family → its measures ``(model, images, fcae model or None, seed) → rows``.
MEASURES: dict[str, Callable] = {"sae": _sparse, "conae": _contractive, "vae": _variational, "aae": _adversarial,
                                 "dae": _denoising, "mae": _masked, "mmae": _masked}


def activity(model, x, *, reference=None, seed: int = 0) -> list[dict]:
    """The measures of ``model``'s regulariser on images ``x``, beside fcae's (``reference``, a trained fcae of
    the same z) where there is one.

    Returns:
        One dict per measure: ``measure``, ``value``, ``fcae_value`` (NaN without a reference or where fcae has
        no such quantity) and ``target`` (sae's ρ, 0 for its KL, the code size for active units; else NaN).
        An empty list for a family without a regulariser.
    """
    measure = MEASURES.get(getattr(model, "family", None))
    if measure is None:
        return []
    x = np.asarray(x, dtype="float32")
    if len(x) == 0:
        raise ValueError(f"Expected at least one image. Received: shape={x.shape}")
    return measure(model, x, reference, int(seed))
