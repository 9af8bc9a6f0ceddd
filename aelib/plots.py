"""Figures in one style across the study, one colour per family throughout.

The backend is left to matplotlib: inline in notebooks (papermill's kernels
too), Agg where there is no display. Every figure is saved to files and closed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

FAMILY_ORDER = ("vanilla", "fcae", "dae", "cae", "vae", "aae", "rae", "sae", "conae", "mae", "pca")
_PALETTE = sns.color_palette("tab10", 10) + [(0.2, 0.2, 0.2)]
FAMILY_COLORS = dict(zip(FAMILY_ORDER, _PALETTE))


def family_color(family: str):
    return FAMILY_COLORS.get(family, (0.5, 0.5, 0.5))


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "pdf.fonttype": 42})


def reproducible_metadata(suffix: str) -> dict:
    """Figure metadata without a creation date, so the same figure gives the same file."""
    return {"CreationDate": None} if suffix.lstrip(".").lower() == "pdf" else {}


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, metadata=reproducible_metadata(path.suffix))
        tmp.replace(path)
    plt.close(fig)
    return paths


def curve_by_family(frame: pd.DataFrame, *, x: str, y: str, low: str | None = None, high: str | None = None,
                    hue: str = "family", style: str | None = None, logx: bool = True, title: str = "",
                    xlabel: str | None = None, ylabel: str | None = None, ax=None):
    """Line per family (and per ``style`` value), with an optional interval band."""
    set_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    styles = [None] if style is None else list(dict.fromkeys(frame[style]))
    dashes = ["-", "--", ":", "-."]
    groups = dict(list(frame.groupby(hue, sort=False)))
    rank = {f: i for i, f in enumerate(FAMILY_ORDER)}
    for key in sorted(groups, key=lambda k: (rank.get(str(k), len(rank)), str(k))):
        part = groups[key]
        for i, s in enumerate(styles):
            sub = part if s is None else part[part[style] == s]
            if sub.empty:
                continue
            sub = sub.sort_values(x)
            label = str(key) if s is None else f"{key} · {s}"
            color = family_color(str(key)) if hue == "family" else None
            line, = ax.plot(sub[x], sub[y], dashes[i % 4], marker="o", ms=3, label=label, color=color)
            if low and high and low in sub and high in sub:
                ax.fill_between(sub[x], sub[low], sub[high], alpha=0.15, color=line.get_color())
    if logx:
        ax.set_xscale("log")
        ticks = sorted(set(frame[x].dropna()))
        if len(ticks) <= 12:
            ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, ncol=2, frameon=False)
    return fig


def image_grid(rows: Sequence[np.ndarray], row_labels: Sequence[str], *, title: str = "", n: int = 10):
    """Grid of images: one row per array (first ``n`` images each)."""
    set_style()
    n = min(n, min(len(r) for r in rows))
    height = len(rows) * 0.95 + (0.4 if title else 0.1)
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.9, height), squeeze=False)
    for i, (images, label) in enumerate(zip(rows, row_labels)):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(np.asarray(images[j]).reshape(np.shape(images[j])[:2]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top")
    # margins in inches, so that tall grids get no wider gap above than short ones
    fig.subplots_adjust(wspace=0.05, hspace=0.05, top=1 - (0.4 if title else 0.05) / height, bottom=0.05 / height)
    return fig


def heatmap(table: pd.DataFrame, *, title: str = "", fmt: str = ".4f", cmap: str = "viridis_r", xlabel="", ylabel=""):
    set_style()
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * table.shape[1], 0.8 + 0.5 * table.shape[0]))
    sns.heatmap(table, annot=True, fmt=fmt, cmap=cmap, ax=ax, cbar=False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig
