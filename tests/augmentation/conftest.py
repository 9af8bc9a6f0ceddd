"""Shared fixtures of the augmentation tests: images on disk and a small Painter by Numbers folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _write_image(path, seed: int, size=(40, 32), fmt=None) -> None:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)


@pytest.fixture
def write_image():
    """``write_image(path, seed, size=(w, h))``: a seeded random RGB image file."""
    return _write_image


@pytest.fixture
def art_folder(tmp_path):
    """Three artists (4, 3, 1 works), one corrupt JPEG, one CSV row without a file."""
    images = tmp_path / "train"
    images.mkdir()
    rows = []
    works = {"Alice": 4, "Bob": 3, "Carol": 1}
    k = 0
    for artist, n in works.items():
        for _ in range(n):
            name = f"{k}.png" if k % 2 else f"{k}.jpg"
            _write_image(images / name, k)
            rows.append({"filename": name, "artist": artist, "title": f"t{k}", "style": "s", "genre": "g", "date": ""})
            k += 1
    (images / "broken.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    rows.append({"filename": "broken.jpg", "artist": "Alice", "title": "x", "style": "", "genre": "", "date": ""})
    rows.append({"filename": "gone.jpg", "artist": "Bob", "title": "y", "style": "", "genre": "", "date": ""})
    csv = tmp_path / "train_info.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return images, csv

