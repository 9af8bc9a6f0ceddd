"""Image features for the artwork study, computed once and cached on disk.

:func:`cached_features` is the caching layer: it takes any feature function
and a model name, and stores the result in ``cache_dir`` as an ``.npz`` keyed
by a hash of the image set (file names, sizes and modification times, or the
bytes of an array) together with the model name, so a second call with the same
images and model reads the file instead of computing.

Two feature functions use it:

* :func:`inception_features` — the real path of docs/methods.md §6: Inception v3
  (ImageNet weights, no top, global average pooling) → 2048 values per image.
* :func:`standin_features` — the offline stand-in: the penultimate layer
  (512 values) of a small CNN trained on Fashion-MNIST, a data set disjoint
  from the stand-in "artworks" (font-rendered letters). Like ImageNet for
  paintings, its training task (clothing classes) is not the verification
  task, so the features are generic rather than made for telling "artists"
  apart. It stands in for Inception v3's 2048-D features.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from aelib.augmentation.artworks import load_rgb
from aelib.checks import check_int
from aelib.data import load_dataset_with_info
from aelib.io import atomic_write_bytes, config_hash

INCEPTION_MIN_SIZE = 75  # the smallest input InceptionV3 accepts
INCEPTION_SIZE = 299
CACHE_FORMAT = 1

#: The stand-in feature extractor (see module docstring); part of its cache key.
STANDIN_EXTRACTOR: dict[str, Any] = {
    "dataset": "fashion_mnist",
    "split": "train",
    "n_train": 12000,
    "epochs": 3,
    "batch_size": 128,
    "feature_dim": 512,
    "seed": 0,
}


def image_set_key(inputs: Sequence[str | os.PathLike[str]] | np.ndarray) -> str:
    """SHA-256 of an image set: each file's name, size and modification time
    (in order), or an array's shape, dtype and bytes."""
    h = hashlib.sha256()
    if isinstance(inputs, np.ndarray):
        h.update(f"array|{inputs.shape}|{inputs.dtype.str}|".encode())
        h.update(np.ascontiguousarray(inputs).tobytes())
        return h.hexdigest()
    h.update(b"files|")
    for p in inputs:
        p = Path(p)
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60]


def cache_path(inputs, *, model_name: str, cache_dir: str | os.PathLike[str]) -> tuple[Path, str]:
    """Where the features of ``inputs`` under ``model_name`` are cached, and the full key."""
    key = hashlib.sha256(f"{CACHE_FORMAT}|{model_name}|{image_set_key(inputs)}".encode()).hexdigest()
    return Path(cache_dir) / f"features-{_slug(model_name)}-{key[:20]}.npz", key


def cached_features(
    inputs: Sequence[str | os.PathLike[str]] | np.ndarray,
    feature_fn: Callable[[Any], np.ndarray],
    *,
    model_name: str,
    cache_dir: str | os.PathLike[str] | None,
) -> np.ndarray:
    """``feature_fn(inputs)``, read from ``cache_dir`` when it was computed before.

    Args:
        inputs: image files or an image array, passed unchanged to ``feature_fn``.
        feature_fn: returns a 2-D float array with one row per input.
        model_name: names the model and weights; part of the cache key.
        cache_dir: folder of the ``.npz`` files; ``None`` turns caching off.

    Returns:
        float32 features of shape (n, d).

    Raises:
        ValueError: when ``feature_fn`` returns the wrong number of rows or non-finite values.
    """
    n = len(inputs)
    if cache_dir is not None:
        path, key = cache_path(inputs, model_name=model_name, cache_dir=cache_dir)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    if str(stored["key"]) == key and stored["features"].shape[0] == n:
                        return stored["features"].astype(np.float32)
            except Exception as exc:  # a damaged cache file is recomputed, not fatal
                warnings.warn(f"Ignoring unreadable feature cache {path} ({exc}); recomputing.", stacklevel=2)
    features = np.asarray(feature_fn(inputs), dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != n:
        raise ValueError(f"Expected features of shape ({n}, d) from {model_name}. Received: shape={features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"Features from {model_name} contain NaN or infinite values.")
    if cache_dir is not None:
        buffer = io.BytesIO()
        np.savez(buffer, features=features, key=np.array(key), model_name=np.array(model_name))
        atomic_write_bytes(path, buffer.getvalue())
    return features


# ----------------------------------------------------------------------- Inception v3


def _weights_tag(weights: str | None) -> str:
    if weights is None:
        return "random-seed0"
    if weights == "imagenet":
        return "imagenet"
    p = Path(weights)
    if not p.is_file():
        raise ValueError(f"Expected weights='imagenet', None or a weights file. Received: weights={weights!r}")
    st = p.stat()
    return f"file-{p.name}-{st.st_size}-{st.st_mtime_ns}"


def _image_batch(inputs, start: int, stop: int, size: int, workers: int = 1) -> np.ndarray:
    """Images ``start:stop`` as float32 RGB in 0..255, resized to size×size."""
    if isinstance(inputs, np.ndarray):
        import keras  # deferred: Keras loads TensorFlow

        batch = inputs[start:stop]
        batch = batch.astype(np.float32) if batch.dtype == np.uint8 else batch.astype(np.float32) * 255.0
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        if batch.shape[1:3] != (size, size):
            batch = keras.ops.convert_to_numpy(keras.ops.image.resize(batch, (size, size), interpolation="bilinear"))
        return batch
    paths = [Path(p) for p in inputs[start:stop]]
    if workers > 1 and len(paths) > 1:
        with ThreadPoolExecutor(min(workers, len(paths))) as pool:
            return np.stack(list(pool.map(lambda p: load_rgb(p, size), paths)))
    return np.stack([load_rgb(p, size) for p in paths])


def _check_image_array(x: np.ndarray) -> None:
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)) or len(x) == 0:
        raise ValueError(f"Expected images of shape (n, h, w), (n, h, w, 1) or (n, h, w, 3). Received: shape={x.shape}")
    if x.dtype != np.uint8 and (np.nanmin(x) < 0 or np.nanmax(x) > 1 or not np.all(np.isfinite(x))):
        raise ValueError(
            "Expected float images in [0, 1] (or uint8 in 0..255). "
            f"Received: dtype={x.dtype}, range [{np.nanmin(x)}, {np.nanmax(x)}]"
        )


def inception_features(
    paths_or_arrays: Sequence[str | os.PathLike[str]] | np.ndarray,
    *,
    weights: str | None = "imagenet",
    batch_size: int = 32,
    cache_dir: str | os.PathLike[str] | None = None,
    input_size: int = INCEPTION_SIZE,
    chunk_size: int = 4096,
    workers: int = 4,
    progress: bool = True,
) -> np.ndarray:
    """Inception v3 features (no top, global average pooling): 2048 per image.

    Images are read as RGB, resized (squashed) to ``input_size``² and passed
    through ``keras.applications.inception_v3.preprocess_input``. The cache
    holds one file per chunk of ``chunk_size`` images, so an interrupted run
    (79,433 paintings take a while) resumes at the first missing chunk.

    Args:
        paths_or_arrays: image files, or an array (n, h, w[, 1 or 3]) that is
            uint8 in 0..255 or float in [0, 1] (the project's convention).
        weights: ``"imagenet"`` (downloaded by Keras on first use), ``None``
            (random, seeded with 0 — for tests only) or a weights file.
        batch_size: images per forward pass.
        cache_dir: where the features are cached (``None``: no cache).
        input_size: side of the square input; 299 as published, at least 75.
        chunk_size: images per cache file.
        workers: threads decoding image files (PIL releases the GIL while decoding).
        progress: show a progress bar over images.

    Returns:
        float32 array (n, 2048).

    Raises:
        ValueError: bad arguments, an empty input or an image that cannot be decoded.
    """
    for name, value, minimum in (
        ("batch_size", batch_size, 1),
        ("input_size", input_size, INCEPTION_MIN_SIZE),
        ("chunk_size", chunk_size, 1),
        ("workers", workers, 1),
    ):
        check_int(name, value, minimum)
    if isinstance(paths_or_arrays, np.ndarray):
        _check_image_array(paths_or_arrays)
        inputs = paths_or_arrays
    else:
        inputs = [Path(p) for p in paths_or_arrays]
        if not inputs:
            raise ValueError("Expected at least one image. Received: an empty list")
        absent = [str(p) for p in inputs if not p.is_file()]
        if absent:
            raise FileNotFoundError(f"{len(absent)} image file(s) do not exist, e.g. {absent[0]}")
    model_name = f"inception_v3-{_weights_tag(weights)}-{int(input_size)}px-avgpool"
    built: dict[str, Any] = {}
    bar = None
    if progress:
        bar = tqdm(total=len(inputs), desc="Inception v3 features", unit="img")

    def compute(items) -> np.ndarray:
        import keras  # deferred: Keras loads TensorFlow

        if "model" not in built:
            if weights is None:
                keras.utils.set_random_seed(0)  # random weights must be reproducible to be cacheable
            built["model"] = keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights=weights, input_shape=(int(input_size), int(input_size), 3)
            )
        built["ran"] = True
        out = []
        for start in range(0, len(items), int(batch_size)):
            batch = _image_batch(items, start, start + int(batch_size), int(input_size), int(workers))
            batch = keras.applications.inception_v3.preprocess_input(batch)
            out.append(keras.ops.convert_to_numpy(built["model"](batch, training=False)))
            if bar is not None:
                bar.update(len(batch))
        return np.concatenate(out)

    parts = []
    try:
        for start in range(0, len(inputs), int(chunk_size)):
            chunk = inputs[start : start + int(chunk_size)]
            built["ran"] = False
            parts.append(cached_features(chunk, compute, model_name=model_name, cache_dir=cache_dir))
            if bar is not None and not built["ran"]:
                bar.update(len(chunk))  # read from the cache
    finally:
        if bar is not None:
            bar.close()
    return np.concatenate(parts)


# ------------------------------------------------------------------ offline stand-in


def standin_extractor_name(config: dict[str, Any] | None = None) -> str:
    config = {**STANDIN_EXTRACTOR, **(config or {})}
    return "standin-cnn-" + config_hash(config, digest="sha256", length=12, default=None)


def train_standin_extractor(config: dict[str, Any] | None = None, *, progress: bool = False):
    """The stand-in feature extractor: a small CNN trained to classify
    Fashion-MNIST (a stratified ``n_train`` of its train split), cut at its
    ``feature_dim``-wide penultimate layer.

    Returns:
        ``(extractor, info)``: a Keras model images (n, 28, 28, 1) → (n, feature_dim)
        and a JSON-able record of the training data and accuracy.
    """
    import keras  # deferred: Keras loads TensorFlow

    from aelib.training import set_seed  # deferred: aelib.training loads Keras

    config = {**STANDIN_EXTRACTOR, **(config or {})}
    x, y, data_info = load_dataset_with_info(
        config["dataset"], config["split"], n=config["n_train"], seed=config["seed"]
    )
    set_seed(config["seed"])
    inp = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    features = keras.layers.Dense(config["feature_dim"], activation="relu", name="features")(h)
    h = keras.layers.Dropout(0.3)(features)
    out = keras.layers.Dense(int(y.max()) + 1, activation="softmax")(h)
    classifier = keras.Model(inp, out)
    classifier.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = classifier.fit(
        x, y, epochs=config["epochs"], batch_size=config["batch_size"], shuffle=True, verbose=1 if progress else 0
    )
    info = {
        "extractor": standin_extractor_name(config),
        "config": config,
        "trained_on": {k: data_info.get(k) for k in ("name", "split", "source", "path", "n", "stand_in")},
        "train_accuracy": float(history.history["accuracy"][-1]),
    }
    return keras.Model(inp, features, name="standin_extractor"), info


def standin_features(
    images: np.ndarray,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    config: dict[str, Any] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Stand-in features of 28×28 images (float32 in [0, 1]), cached like
    :func:`inception_features`; the CNN is trained only when the cache misses."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"Expected stand-in images of shape (n, 28, 28, 1). Received: shape={images.shape}")

    def compute(x: np.ndarray) -> np.ndarray:
        import keras  # deferred: Keras loads TensorFlow

        extractor, _ = train_standin_extractor(config, progress=progress)
        return np.concatenate(
            [keras.ops.convert_to_numpy(extractor(x[i : i + 512], training=False)) for i in range(0, len(x), 512)]
        )

    return cached_features(images, compute, model_name=standin_extractor_name(config), cache_dir=cache_dir)
