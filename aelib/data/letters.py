"""The EMNIST-letters stand-in: letters rendered from Debian's handwriting fonts, centred like MNIST.

NOT EMNIST: it stands in where no copy of EMNIST letters can be had (offline); every result that
uses it says so (``info["stand_in"]``).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from aelib.data.catalog import HOW_TO_GET, IMAGE_SIZE, DataError

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


def split_fonts(split: str) -> tuple[str, ...]:
    fonts = _stand_in_fonts()
    if len(fonts) < 2:
        raise DataError(
            f"The EMNIST-letters stand-in needs at least two handwriting fonts; found {len(fonts)} under "
            f"{', '.join(str(r) for r in FONT_ROOTS)} in {list(FONT_FAMILIES)}. Install them with "
            "`apt-get install fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver "
            f"fonts-humor-sans fonts-rufscript fonts-sjfonts fonts-comic-neue`. {HOW_TO_GET['emnist_letters']}"
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
def render_letters(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in split: uint8 (26 * per_class, 28, 28) letters and labels 0..25 (a..z).

    Train uses the usable fonts except every 4th (sorted by path), test uses
    those every-4th fonts, so the two share no font. Image ``i`` of letter ``c``
    uses font ``(i + c) % len(fonts)`` and upper case when ``(i // len(fonts))``
    is odd, so fonts and cases are balanced. The jitter (font size, stroke
    dilation, ±15 % horizontal stretch, ±10° rotation, ±1 px shift) comes from
    ``default_rng(1000)`` (train) or ``default_rng(2000)`` (test).
    """
    fonts = split_fonts(split)
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


def load_stand_in(split: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    images, labels = render_letters(split)
    fonts = split_fonts(split)
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
