"""A linear reference for every curve: PCA with z components."""
from __future__ import annotations

import numpy as np

from aelib.checks import check_int


class PCABaseline:
    """PCA fitted on training inputs; ``encode``/``decode``/``reconstruct`` like a family.

    Reconstructions are clipped to [0, 1] when ``clip`` is set, as images are.
    """

    family = "pca"

    def __init__(self, latent_dim: int, *, seed: int = 0, clip: bool = True) -> None:
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.seed = seed
        self.clip = clip
        self._shape = None

    def fit(self, x) -> "PCABaseline":
        from sklearn.decomposition import PCA

        x = np.asarray(x, dtype=np.float64)
        self._shape = x.shape[1:]
        flat = x.reshape(len(x), -1)
        if self.latent_dim > min(flat.shape):
            raise ValueError(f"latent_dim={self.latent_dim} does not fit PCA on {flat.shape[0]} samples of "
                             f"{flat.shape[1]} values: expected latent_dim <= {min(flat.shape)}.")
        self._pca = PCA(n_components=self.latent_dim, svd_solver="full", random_state=self.seed).fit(flat)
        return self

    def encode(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self._pca.transform(x.reshape(len(x), -1)).astype("float32")

    def decode(self, z) -> np.ndarray:
        out = self._pca.inverse_transform(np.asarray(z, dtype=np.float64))
        if self.clip:
            out = np.clip(out, 0.0, 1.0)
        return out.reshape((len(out), *self._shape)).astype("float32")

    def reconstruct(self, x) -> np.ndarray:
        return self.decode(self.encode(x))


def pca_rmse(x_train, sets, z_values) -> dict[tuple[str, int], float]:
    """Mean per-sample RMSE of PCA fitted on ``x_train`` with ``z`` components, on each named set.

    Args:
        x_train: the training inputs PCA is fitted on.
        sets: ``{name: inputs}`` to reconstruct (the test split, complementary data…).
        z_values: component counts; those that do not fit the training data are left out.

    Returns:
        ``{(name, z): mean RMSE}``.
    """
    from aelib.metrics.reconstruction import rmse_per_sample

    limit = min(len(x_train), int(np.prod(np.shape(x_train)[1:])))
    out = {}
    for z in sorted({int(v) for v in z_values}):
        if z > limit:
            continue
        pca = PCABaseline(z).fit(x_train)
        for name, x in sets.items():
            out[(name, z)] = float(rmse_per_sample(x, pca.reconstruct(x)).mean())
    return out
