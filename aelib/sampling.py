"""New codes for a trained autoencoder (docs/methods.md §4, step 7): draws from a density fitted to its training codes.

An autoencoder without a prior has no distribution to sample from, but its training codes have one.
As in Ghosh et al. (2020, "From variational to deterministic autoencoders", ex-post density estimation), a
Gaussian mixture is fitted to the training codes after training and new codes are drawn from it; decoding
them gives the family's samples. Pure numpy and scikit-learn: no model, no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from aelib.checks import check_int

#: The mixture's covariance form (each component its own full covariance).
COVARIANCE_TYPE = "full"
#: Added to each component's covariance diagonal, relative to the codes' mean variance (scale-free, so codes of
#: any scale are regularised alike); scikit-learn's own default is an absolute 1e-6.
REG_COVAR_RELATIVE = 1e-6


@dataclasses.dataclass(frozen=True)
class CodeDensity:
    """A fitted Gaussian mixture: component weights (K,), means (K, z), full covariances (K, z, z)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    converged: bool
    n_iter: int
    reg_covar: float

    @property
    def n_components(self) -> int:
        return int(len(self.weights))


def _check_codes(codes) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] < 1:
        raise ValueError(f"Expected codes of shape (n_samples, latent_dim). Received: shape={codes.shape}")
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"Expected finite codes. Received: {int((~np.isfinite(codes)).sum())} NaN or infinite "
                         f"values of {codes.size}")
    return codes


def fit_code_density(codes, *, n_components: int, seed: int) -> CodeDensity:
    """Fit a Gaussian mixture with ``n_components`` full-covariance components to ``codes`` (EM, k-means
    initialisation, scikit-learn's :class:`~sklearn.mixture.GaussianMixture`, ``random_state=seed``).

    The covariance diagonals get :data:`REG_COVAR_RELATIVE` times the codes' mean variance, so a model whose codes
    barely vary (a collapsed encoder) still has a density to draw from.

    Raises:
        ValueError: codes not 2-D or not finite, ``n_components < 1``, or fewer codes than components.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    codes = _check_codes(codes)
    check_int("n_components", n_components, minimum=1)
    check_int("seed", seed, minimum=0)
    if len(codes) < n_components:
        raise ValueError(f"Expected at least n_components={n_components} codes to fit the mixture. "
                         f"Received: {len(codes)} codes")
    scale = float(np.mean(np.var(codes, axis=0)))
    reg_covar = REG_COVAR_RELATIVE * scale if scale > 0 else REG_COVAR_RELATIVE
    gmm = GaussianMixture(n_components=n_components, covariance_type=COVARIANCE_TYPE, reg_covar=reg_covar,
                          max_iter=500, random_state=int(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported as ``converged`` instead
        gmm.fit(codes)
    return CodeDensity(weights=np.asarray(gmm.weights_, dtype=np.float64),
                       means=np.asarray(gmm.means_, dtype=np.float64),
                       covariances=np.asarray(gmm.covariances_, dtype=np.float64),
                       converged=bool(gmm.converged_), n_iter=int(gmm.n_iter_), reg_covar=reg_covar)


def draw_codes(density: CodeDensity, n: int, *, seed: int) -> np.ndarray:
    """``n`` codes drawn from ``density``: a component by its weight, then mean + L·ε with L the Cholesky factor
    of its covariance and ε ~ N(0, I). Returns float32 ``(n, latent_dim)``, in random component order."""
    check_int("n", n, minimum=1)
    check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(int(seed))
    weights = density.weights / density.weights.sum()
    component = rng.choice(len(weights), size=int(n), p=weights)
    latent_dim = density.means.shape[1]
    eps = rng.standard_normal((int(n), latent_dim))
    out = np.empty((int(n), latent_dim))
    for c in np.unique(component):
        rows = component == c
        factor = np.linalg.cholesky(density.covariances[c])
        out[rows] = density.means[c] + eps[rows] @ factor.T
    return out.astype(np.float32)
