"""The artworks of docs/methods.md §6: Painter by Numbers as Kaggle distributes it, or the offline stand-in works.

:func:`read_artworks` reads an image folder and ``train_info.csv``
(``filename``, ``artist``, …). Problems in the data are counted, not fatal:
CSV rows whose image file is missing, images PIL cannot open, rows without an
artist, duplicate file names, and artists with fewer than ``min_works``
readable works are all skipped and reported. Only an empty result (nothing
readable) is an error.

:func:`standin_works` gives the offline stand-in (Painter by Numbers cannot be
downloaded here): letters of the EMNIST-letters stand-in of :mod:`aelib.data`
(rendered from Debian handwriting fonts, 26 classes = 26 "artists"),
subsampled to a long tail (:func:`long_tail_counts`). Why letters: an
artist-verification task needs many classes; Fashion-MNIST has only 10.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from aelib.checks import check_int
from aelib.data import load_dataset_with_info
from aelib.data.letters import LETTERS

HOW_TO_GET = (
    "Painter by Numbers is not packaged: download it from Kaggle "
    "(https://www.kaggle.com/c/painter-by-numbers/data, e.g. `kaggle competitions download -c painter-by-numbers`), "
    "unzip train.zip into an image folder and pass that folder as image_dir and train_info.csv as csv_path."
)
CHECKS = ("none", "open", "full")
#: How many skipped file names a report lists (the counts are always complete).
REPORT_EXAMPLES = 20


@dataclasses.dataclass(frozen=True)
class Artworks:
    """Readable works and what was skipped.

    Attributes:
        paths: image files, one per work.
        artists: artist name per work (``str`` array).
        labels: integer artist index per work (into ``artist_names``).
        artist_names: sorted artist names.
        report: JSON-able counts of everything skipped, with a few examples.
    """

    paths: list[Path]
    artists: np.ndarray
    labels: np.ndarray
    artist_names: list[str]
    report: dict[str, Any]

    def __len__(self) -> int:
        return len(self.paths)


def check_image(path: Path, *, check: str = "open") -> str | None:
    """``None`` when PIL can read ``path``, else the reason it cannot.

    ``"open"`` reads the header and runs ``Image.verify`` (cheap);
    ``"full"`` decodes every pixel (catches truncated JPEGs, slow on big
    paintings); ``"none"`` only checks that the file exists.
    """
    if check == "none":
        return None if path.is_file() else "no such file"
    try:
        with _no_bomb_limit(), Image.open(path) as img:
            if check == "full":
                img.load()
            else:
                img.verify()
    except Exception as exc:  # PIL raises many types for broken files
        return f"{type(exc).__name__}: {exc}"
    return None


class _no_bomb_limit:
    """Painter by Numbers holds a few paintings above PIL's decompression-bomb
    limit; they are trusted local files, so lift the limit while reading."""

    def __enter__(self):
        self._saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None

    def __exit__(self, *exc):
        Image.MAX_IMAGE_PIXELS = self._saved
        return False


def read_artworks(
    image_dir: str | os.PathLike[str],
    csv_path: str | os.PathLike[str],
    *,
    min_works: int = 1,
    check: str = "open",
    progress: bool = False,
) -> Artworks:
    """Read the works listed in ``csv_path`` whose images are in ``image_dir``.

    Args:
        image_dir: folder holding the images named in the CSV's ``filename`` column.
        csv_path: ``train_info.csv`` (columns ``filename`` and ``artist`` at least).
        min_works: artists with fewer readable works are dropped (and counted).
        check: how each image is checked: ``"open"`` (header + ``verify``),
            ``"full"`` (decode every pixel) or ``"none"`` (exists).
        progress: show a progress bar while checking images.

    Returns:
        An :class:`Artworks` with the readable works and a report of the skipped ones.

    Raises:
        FileNotFoundError: ``image_dir`` or ``csv_path`` missing (says how to get the data).
        ValueError: bad ``min_works``/``check``, CSV without the needed columns,
            or no readable work at all (naming the folder).
    """
    check_int("min_works", min_works)
    if check not in CHECKS:
        raise ValueError(f"Expected check in {CHECKS}. Received: check={check!r}")
    image_dir, csv_path = Path(image_dir), Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"No artwork CSV at {csv_path}. {HOW_TO_GET}")
    if not image_dir.is_dir():
        raise FileNotFoundError(f"No artwork image folder at {image_dir}. {HOW_TO_GET}")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise ValueError(f"Cannot read the artwork CSV {csv_path}: {exc}") from exc
    missing_cols = [c for c in ("filename", "artist") if c not in table.columns]
    if missing_cols:
        raise ValueError(
            f"The artwork CSV {csv_path} lacks column(s) {missing_cols}; found {list(table.columns)}. "
            "Expected Kaggle's train_info.csv (filename, artist, title, style, genre, date)."
        )
    table["filename"] = table["filename"].str.strip()
    table["artist"] = table["artist"].str.strip()
    n_rows = len(table)
    no_artist = table["artist"] == ""
    table = table[~no_artist & (table["filename"] != "")]
    duplicated = table["filename"].duplicated(keep="first")
    table = table[~duplicated]

    missing, unreadable, keep = [], [], []
    rows = list(zip(table["filename"], table["artist"]))
    iterator = rows
    if progress:
        iterator = tqdm(rows, desc="checking images", unit="img")
    for name, artist in iterator:
        path = image_dir / name
        if not path.is_file():
            missing.append(name)
            continue
        why = check_image(path, check=check)
        if why is not None:
            unreadable.append((name, why))
            continue
        keep.append((path, artist))

    artists = np.array([a for _, a in keep], dtype=str)
    names, counts = np.unique(artists, return_counts=True) if len(keep) else (np.array([], dtype=str), np.array([]))
    rare = set(names[counts < min_works].tolist())
    dropped = sum(1 for _, a in keep if a in rare)
    keep = [(p, a) for p, a in keep if a not in rare]
    report = {
        "image_dir": str(image_dir),
        "csv_path": str(csv_path),
        "check": check,
        "min_works": int(min_works),
        "n_rows": int(n_rows),
        "n_rows_without_artist": int(no_artist.sum()),
        "n_duplicate_rows": int(duplicated.sum()),
        "n_missing_files": len(missing),
        "n_unreadable": len(unreadable),
        "n_artists_below_min_works": len(rare),
        "n_works_of_dropped_artists": int(dropped),
        "n_works": len(keep),
        "n_artists": len(names) - len(rare),
        "missing_files": missing[:REPORT_EXAMPLES],
        "unreadable": [{"filename": n, "reason": r} for n, r in unreadable[:REPORT_EXAMPLES]],
    }
    if not keep:
        raise ValueError(
            f"No readable artwork in {image_dir} (CSV {csv_path}: {n_rows} rows, {len(missing)} without a file, "
            f"{len(unreadable)} unreadable, {dropped} from artists with fewer than {min_works} works). {HOW_TO_GET}"
        )
    paths = [p for p, _ in keep]
    artists = np.array([a for _, a in keep], dtype=str)
    artist_names, labels = np.unique(artists, return_inverse=True)
    return Artworks(paths, artists, labels.astype(np.int64), artist_names.tolist(), report)


def load_rgb(path: Path, size: int) -> np.ndarray:
    """An image as float32 RGB (size, size, 3) in 0..255, squashed to a square.

    JPEGs are decoded at a reduced scale first (``Image.draft``), which makes
    large paintings much faster to read without changing the 299-pixel result much.
    """
    try:
        with _no_bomb_limit(), Image.open(path) as img:
            img.draft("RGB", (size, size))
            img = img.convert("RGB").resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.float32)
    except Exception as exc:
        raise ValueError(
            f"Cannot decode image {path} ({type(exc).__name__}: {exc}). Read the works with "
            "read_artworks(..., check='full') to skip images that only fail when decoded."
        ) from exc


# ------------------------------------------------------------------ offline stand-in


def long_tail_counts(n_classes: int, max_works: int, min_works: int) -> np.ndarray:
    """Class sizes falling geometrically from ``max_works`` to ``min_works`` (rounded)."""
    if n_classes == 1:
        return np.array([max_works])
    ratio = (min_works / max_works) ** (np.arange(n_classes) / (n_classes - 1))
    return np.rint(max_works * ratio).astype(np.int64)


def standin_works(
    *, n_classes: int = 26, max_works: int = 120, min_works: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, Any]]:
    """Long-tailed stand-in "artworks": letters from the EMNIST-letters stand-in's train split.

    Returns:
        ``(images, labels, artist_names, info)``; labels 0..n_classes-1 with
        class 0 the largest; ``artist_names`` like ``"letter-q"``.
    """
    # Always the font-rendered stand-in (source="offline"), so the stand-in study is the same on every machine.
    x, y, info = load_dataset_with_info("emnist_letters", "train", source="offline")
    available = np.bincount(y, minlength=len(LETTERS))
    if n_classes > len(LETTERS):
        raise ValueError(
            f"Expected n_classes <= {len(LETTERS)} for the letter stand-in. Received: n_classes={n_classes}"
        )
    if max_works > available.min():
        raise ValueError(
            f"Expected max_works <= {available.min()} (images per letter). Received: max_works={max_works}"
        )
    rng = np.random.default_rng(seed)
    letters = rng.permutation(len(LETTERS))[:n_classes]
    counts = long_tail_counts(n_classes, max_works, min_works)
    picked = [np.sort(rng.choice(np.flatnonzero(y == c), size=int(k), replace=False)) for c, k in zip(letters, counts)]
    images = np.concatenate([x[i] for i in picked])
    labels = np.repeat(np.arange(n_classes), counts).astype(np.int64)
    names = [f"letter-{LETTERS[c]}" for c in letters]
    data_info = {k: info.get(k) for k in ("name", "split", "source", "stand_in", "description", "fonts")}
    return images, labels, names, data_info
