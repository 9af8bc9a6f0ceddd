"""Synthetic feature vectors from an autoencoder: decode(perturb(encode(x), p)).

Which originals a synthetic sample comes from is decided here; the
perturbation itself is :func:`aelib.perturbation.perturb` (docs/methods.md §4.7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aelib.checks import check_int
from aelib.perturbation import perturb


def _check_target(target) -> int:
    return check_int("target", target)


def top_up_counts(labels, target: int) -> dict:
    """Synthetic samples per class so that every class with fewer than
    ``target`` items reaches exactly ``target``; other classes get 0.

    Returns:
        ``{class: count}`` for every class in ``labels`` (insertion order = sorted classes).
    """
    target = _check_target(target)
    classes, counts = np.unique(np.asarray(labels), return_counts=True)
    return {c.item(): max(0, target - int(n)) for c, n in zip(classes, counts)}


def top_up_sources(labels, target: int, *, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Indices of the originals each top-up sample is made from.

    A class short of ``target`` by k draws its k sources by cycling through a
    seeded permutation of its members, so every original of the class is used
    ⌊k / n⌋ or ⌈k / n⌉ times.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    sources = []
    for c, k in top_up_counts(labels, target).items():
        if k:
            members = rng.permutation(np.flatnonzero(labels == c))
            sources.append(np.resize(members, k))
    return np.concatenate(sources).astype(np.int64) if sources else np.empty(0, np.int64)


def encode_eager(model, x: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """``model.encode`` by eager calls of the encoder (see :func:`decode_codes`)."""
    import keras  # deferred: Keras loads TensorFlow

    x = np.asarray(x, dtype=np.float32)
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model.encoder(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
    ).astype(np.float32)


def decode_codes(model, z: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """``model.decode`` by eager calls of the decoder, which avoids a retrace
    of ``predict`` for every new number of samples."""
    import keras  # deferred: Keras loads TensorFlow

    z = np.asarray(z, dtype=np.float32)
    if len(z) == 0:
        return np.empty((0, *model.sample_shape), np.float32)
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model.decoder(z[i : i + batch_size], training=False))
            for i in range(0, len(z), batch_size)
        ]
    ).astype(np.float32)


def synthesize(
    model,
    codes: np.ndarray,
    sources: np.ndarray,
    *,
    max_fraction: float,
    seed: int = 0,
    mode: str = "relative",
    scale=None,
) -> np.ndarray:
    """Decoded perturbed codes of the originals ``sources``: ``decode(perturb(codes[sources], p))``.

    Args:
        model: a trained autoencoder (``aelib.models``), whose codes ``codes`` are.
        codes: ``model.encode`` of the original items, (n, latent_dim).
        sources: index of the original behind each synthetic sample.
        max_fraction: the maximum perturbation p in [0, 1].
        seed: seed of the perturbation draw.
        mode, scale: see :func:`aelib.perturbation.perturb`.
    """
    sources = np.asarray(sources, dtype=np.int64)
    z = np.asarray(codes, dtype=np.float32)[sources]
    if len(sources) == 0:
        perturb(np.zeros((1, z.shape[1]), np.float32), max_fraction, mode=mode, scale=scale, seed=seed)  # validates p
        return decode_codes(model, z)
    return decode_codes(model, perturb(z, max_fraction, mode=mode, scale=scale, seed=seed))
