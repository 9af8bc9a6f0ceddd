"""Figures in one style across the study, sized for a thesis page.

Two widths: :data:`SINGLE_WIDTH` (one column, about 3.3 in) and
:data:`FULL_WIDTH` (the text width, about 6.3 in); no saved figure is wider
than :data:`MAX_WIDTH` or taller than :data:`MAX_HEIGHT`, and no text in it is
smaller than :data:`MIN_FONT_PT` (8 pt) at that size (:func:`save_figure`
makes sure). Families keep one colour (a colour-blind-safe palette), one
marker and their display name (:func:`family_label`) in every figure, in the
order of :data:`FAMILY_ORDER`. Heatmaps share one direction of meaning:
darker is better. Digit classes get their own palette (:data:`CLASS_COLORS`).

The backend is left to matplotlib: inline in notebooks (papermill's kernels
too), Agg where there is no display. Every figure is saved to files and closed.
"""
from __future__ import annotations

import os
import textwrap
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.colors
import matplotlib.pyplot as plt
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.layout_engine import ConstrainedLayoutEngine

from aelib import families

SINGLE_WIDTH = 3.3  # in: one column
FULL_WIDTH = 6.3  # in: the text width
MAX_WIDTH = 6.5  # in: no saved figure is wider
MAX_HEIGHT = 8.5  # in: nor taller (a page less its caption)
MIN_FONT_PT = 8.0

FAMILY_ORDER = families.ORDER
# Each family's colour and marker are in aelib.families: the ten colours of seaborn's "colorblind" palette
# (Okabe–Ito-like). The PCA baseline is black.
FAMILY_COLORS = {f: matplotlib.colors.to_rgb(families.info(f).color) for f in FAMILY_ORDER}
FAMILY_MARKERS = {f: families.info(f).marker for f in FAMILY_ORDER}
FAMILY_LINESTYLES = {f: ("--" if f == families.PCA.key else "-") for f in FAMILY_ORDER}
# Digit classes 0-9: Paul Tol's "muted" qualitative scheme (colour-blind safe) and a dark grey, none of them
# a family colour, so that a class is never read as a family.
CLASS_COLORS = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
                "#555555")
HEATMAP_NOTE = "darker = better"
# lines that are not families (e.g. data sets): black and greys, so they are never read as a family
_OTHER_COLORS = ((0.0, 0.0, 0.0), (0.45, 0.45, 0.45), (0.7, 0.7, 0.7), (0.25, 0.25, 0.25))


_base = families.base_key


def family_color(family: str):
    return FAMILY_COLORS.get(_base(family), (0.5, 0.5, 0.5))


def family_marker(family: str) -> str:
    return FAMILY_MARKERS.get(_base(family), "o")


def family_label(family: str) -> str:
    """The display name of a family key ("conae" → "Contractive AE"); other names unchanged."""
    return families.display_name(family)


def family_sorted(names) -> list:
    """``names`` in the study's order of the families (:data:`FAMILY_ORDER`), other names after them."""
    return sorted(names, key=lambda f: (families.rank(f), str(f)))


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams.update({
        "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "legend.fontsize": 8, "legend.title_fontsize": 8, "figure.titlesize": 9, "figure.labelsize": 8,
        "lines.linewidth": 1.2, "lines.markersize": 4, "axes.linewidth": 0.6, "grid.linewidth": 0.4,
        "figure.dpi": 110, "savefig.dpi": 200, "pdf.fonttype": 42, "ps.fonttype": 42,
        "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    })


def _width(width: str | float) -> float:
    if width == "full":
        return FULL_WIDTH
    if width == "single":
        return SINGLE_WIDTH
    if isinstance(width, (int, float)) and 1.0 <= width <= MAX_WIDTH:
        return float(width)
    raise ValueError(f"Expected width 'full', 'single' or inches in [1, {MAX_WIDTH}]. Received: width={width!r}")


def subplots(nrows: int = 1, ncols: int = 1, *, width: str | float = "full", height: float | None = None,
             constrained: bool = False, **kwargs):
    """``plt.subplots`` at a thesis width (``"full"``, ``"single"`` or inches); ``height`` in inches (default:
    0.62 of the width per row of panels, at most :data:`MAX_HEIGHT`). Returns (figure, 2-D array of axes)."""
    set_style()
    w = _width(width)
    h = height if height is not None else min(MAX_HEIGHT, max(1.6, 0.62 * w / max(ncols, 1)) * nrows + 0.3)
    if not 0.5 <= h <= MAX_HEIGHT:
        raise ValueError(f"Expected height in [0.5, {MAX_HEIGHT}] in. Received: height={h!r}")
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False, layout="constrained" if constrained else None,
                        **kwargs)


def reproducible_metadata(suffix: str) -> dict:
    """Figure metadata without a creation date, so the same figure gives the same file."""
    return {"CreationDate": None} if suffix.lstrip(".").lower() == "pdf" else {}


def _texts(fig) -> list[matplotlib.text.Text]:
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


def _wrap(text: matplotlib.text.Text, inches: float) -> None:
    """Break a title into lines that fit ``inches`` (about half an em a character)."""
    words = text.get_text()
    chars = max(12, int(inches * 72 / (0.52 * text.get_fontsize())))
    if words and "\n" not in words and len(words) > chars:
        text.set_text(textwrap.fill(words, chars))


def fit_to_page(fig, *, max_width: float = MAX_WIDTH, max_height: float = MAX_HEIGHT,
                min_font: float = MIN_FONT_PT) -> None:
    """Make ``fig`` print at thesis size: every text at least ``min_font`` pt, and what is saved (the tight
    bounding box, legends outside the axes included) at most ``max_width`` × ``max_height`` inches — the
    figure is made smaller, never its text."""
    for text in _texts(fig):
        if text.get_fontsize() < min_font:
            text.set_fontsize(min_font)
    width = fig.get_size_inches()[0]
    for ax in fig.axes:  # titles wrapped to their panel and the figure rather than widening them
        _wrap(ax.title, ax.get_position().width * width)
    if fig._suptitle is not None:
        _wrap(fig._suptitle, width)
    for _ in range(6):
        if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine) and fig.axes \
                and getattr(fig, "_aelib_tight", True):  # constrained layout redoes itself when drawn
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig.tight_layout()
        if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure(): give it an Agg canvas to measure with
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(fig)
        renderer = fig.canvas.get_renderer()
        box = fig.get_tightbbox(renderer)
        pad = 2 * plt.rcParams["savefig.pad_inches"] + 0.02  # what saving adds around the box, and a margin
        scale = min((max_width - pad) / box.width, (max_height - pad) / box.height)
        w, h = fig.get_size_inches()
        if scale >= 0.995 or min(w, h) * scale < 1.0:
            return
        fig.set_size_inches(w * scale * 0.98, h * scale * 0.98)


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (fitted to the page first, :func:`fit_to_page`); returns both
    paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fit_to_page(fig)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        # a name of this process's own: shards and sessions sharing a folder may save the same figure at once
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")
        fig.savefig(tmp, metadata=reproducible_metadata(path.suffix), bbox_inches="tight", pad_inches=0.02)
        tmp.replace(path)
    plt.close(fig)
    return paths


def _log_x(ax, values) -> None:
    ax.set_xscale("log")
    ticks = sorted({v for v in values if pd.notna(v) and v > 0})
    if len(ticks) <= 12:
        ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _unique_handles(axes) -> tuple[list, list[str]]:
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels and not label.startswith("_"):
                handles.append(handle)
                labels.append(label)
    return handles, labels


def figure_legend(fig, axes=None, *, loc: str = "outside right center", ncol: int = 1):
    """One legend for the figure from the lines of ``axes`` (default all), each label once, outside the panels;
    removes the panels' own legends."""
    axes = list(fig.axes if axes is None else axes)
    handles, labels = _unique_handles(axes)
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for legend in list(fig.legends):
        legend.remove()
    if not handles:
        return None
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine) and loc.startswith("outside"):
        side = loc.split()[1]
        anchor = {"right": ((1.0, 0.5), "center left"), "lower": ((0.5, 0.0), "upper center"),
                  "upper": ((0.5, 1.0), "lower center")}[side]
        return fig.legend(handles, labels, loc=anchor[1], bbox_to_anchor=anchor[0], ncol=ncol, frameon=False)
    return fig.legend(handles, labels, loc=loc, ncol=ncol, frameon=False)


def curve_by_family(frame: pd.DataFrame, *, x: str, y: str, low: str | None = None, high: str | None = None,
                    hue: str = "family", style: str | None = None, logx: bool = True, title: str = "",
                    xlabel: str | None = None, ylabel: str | None = None, ax=None, width: str | float = "full",
                    height: float = 3.0):
    """Line per family (and per ``style`` value), each family in its colour and marker, labelled by display
    name, with an optional interval band. Without ``ax``: a figure of ``width`` with the legend right of the
    panel; with ``ax``: drawn there, with a legend on the panel that a shared one may replace."""
    if ax is None:
        fig, axes = subplots(1, 1, width=width, height=height, constrained=True)
        ax = axes[0, 0]
        own = True
    else:
        set_style()
        fig, own = ax.figure, False
    styles = [None] if style is None else list(dict.fromkeys(frame[style]))
    dashes = ["-", "--", ":", "-."]
    groups = dict(list(frame.groupby(hue, sort=False)))
    keys = family_sorted(groups) if hue == "family" else list(groups)
    for k, key in enumerate(keys):
        part = groups[key]
        for i, s in enumerate(styles):
            sub = part if s is None else part[part[style] == s]
            if sub.empty:
                continue
            sub = sub.sort_values(x)
            name = family_label(key) if hue == "family" else str(key)
            label = name if s is None else f"{name} · {s}"
            kwargs = {"color": family_color(str(key)), "marker": family_marker(str(key)),
                      "linestyle": FAMILY_LINESTYLES.get(_base(key), "-") if s is None else dashes[i % 4]} \
                if hue == "family" else {"marker": "osD^v"[k % 5], "linestyle": dashes[(k + i) % 4],
                                         "color": _OTHER_COLORS[k % len(_OTHER_COLORS)]}
            line, = ax.plot(sub[x], sub[y], label=label, ms=3.5, **kwargs)
            if low and high and low in sub and high in sub:
                ax.fill_between(sub[x], sub[low], sub[high], alpha=0.15, color=line.get_color(), lw=0)
    if logx:
        _log_x(ax, frame[x])
    ax.set_xlabel(x if xlabel is None else xlabel)
    ax.set_ylabel(y if ylabel is None else ylabel)
    if title:
        (fig.suptitle if own else ax.set_title)(title)
    if own:
        figure_legend(fig)
    else:
        ax.legend(ncol=2, frameon=False)
    return fig


def curve_panels(frame: pd.DataFrame, *, panel: str, x: str, y: str, low: str | None = None, high: str | None = None,
                 logx: bool = True, title: str = "", xlabel: str | None = None, ylabel: str | None = None,
                 panel_label=lambda v: str(v), sharey: bool = False, ncols: int | None = None):
    """One panel per value of ``panel`` (e.g. z), one line per family in each, the axis labels and one legend
    shared below. Returns the figure; ``fig.panels`` maps each panel value to its axes."""
    values = sorted(frame[panel].dropna().unique())
    if not values:
        raise ValueError(f"Expected rows with a value in column {panel!r}. Received: {len(frame)} rows without one")
    ncols = ncols or min(len(values), 3)
    nrows = -(-len(values) // ncols)
    fig, axes = subplots(nrows, ncols, width="full", height=min(MAX_HEIGHT, 2.3 * nrows + 1.0), constrained=True,
                         sharey=sharey)
    # the x label under each panel, wrapped to the panel's width; the y label once, left of all
    shown_x = textwrap.fill(x if xlabel is None else xlabel, width=max(20, int(FULL_WIDTH / ncols * 13)))
    for ax, value in zip(axes.flat, values):
        curve_by_family(frame[frame[panel] == value], x=x, y=y, low=low, high=high, logx=logx, ax=ax,
                        title=panel_label(value), xlabel=shown_x, ylabel="")
    for ax in list(axes.flat)[len(values):]:
        ax.set_visible(False)
    fig.supylabel(y if ylabel is None else ylabel)
    if title:
        fig.suptitle(title)
    figure_legend(fig, axes.flat[:len(values)], loc="outside lower center", ncol=4)
    fig.panels = dict(zip(values, axes.flat))
    return fig


def learning_curves(history: pd.DataFrame, *, column: str = "val_loss", title: str = "", width: str | float = "full"):
    """Validation loss against epoch, relative to each run's first epoch, log y: one line per run (family ×
    seed), coloured and marked by family. ``history`` has ``family``, ``seed``, ``epoch`` and ``column``."""
    missing = {"family", "seed", "epoch", column} - set(history.columns)
    if missing:
        raise ValueError(f"Expected history columns family, seed, epoch and {column!r}. Missing: {sorted(missing)}")
    fig, axes = subplots(1, 1, width=width, height=3.0, constrained=True)
    ax = axes[0, 0]
    for family in family_sorted(history["family"].unique()):
        part = history[history["family"] == family]
        for i, (seed, run) in enumerate(part.groupby("seed", sort=True)):
            run = run.sort_values("epoch")
            values = run[column].to_numpy(dtype=float)
            if len(values) == 0 or not np.isfinite(values[0]) or values[0] == 0:
                continue
            relative = values / values[0]
            ax.plot(run["epoch"], np.where(relative > 0, relative, np.nan), color=family_color(family),
                    marker=family_marker(family), markevery=max(1, len(run) // 6), ms=3.5, lw=1.0,
                    alpha=1.0 if i == 0 else 0.55, label=family_label(family) if i == 0 else "_")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{column.replace('_', ' ')} / its first-epoch value (log)")
    if title:
        fig.suptitle(title)
    figure_legend(fig)
    return fig


def _label_width(labels: Sequence[str]) -> float:
    """Inches a column of row labels at 8 pt needs."""
    return 0.15 + 0.062 * max((len(str(label)) for label in labels), default=0)


def image_grid(rows: Sequence[np.ndarray], row_labels: Sequence[str], *, title: str = "", n: int = 10,
               width: str | float = "full", column_labels: Sequence[str] | None = None):
    """Grid of images: one row per array (its first ``n`` images), labelled on the left, at a thesis width."""
    set_style()
    if len(rows) != len(row_labels):
        raise ValueError(f"Expected one label per row. Received: {len(rows)} rows and {len(row_labels)} labels")
    n = min(n, min(len(r) for r in rows))
    label_w = _label_width(row_labels)
    cell = min(0.62, (_width(width) - label_w) / n, (MAX_HEIGHT - 0.5) / len(rows))
    top = (0.3 if title else 0.05) + (0.18 if column_labels is not None else 0.0)
    fig_w, fig_h = label_w + n * cell, len(rows) * cell + top + 0.05
    fig, axes = plt.subplots(len(rows), n, figsize=(fig_w, fig_h), squeeze=False)
    fig._aelib_tight = False  # laid out here, in inches
    for i, (images, label) in enumerate(zip(rows, row_labels)):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(np.asarray(images[j]).reshape(np.shape(images[j])[:2]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_linewidth(0.3)
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=MIN_FONT_PT)
            if i == 0 and column_labels is not None and j < len(column_labels):
                ax.set_title(str(column_labels[j]), fontsize=MIN_FONT_PT, pad=2)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.06 / fig_h, va="top")
    fig.subplots_adjust(left=label_w / fig_w, right=1 - 0.02 / fig_w, wspace=0.04, hspace=0.04,
                        top=1 - top / fig_h, bottom=0.05 / fig_h)
    return fig


def family_reconstructions(originals: np.ndarray, reconstructions: Mapping[str, np.ndarray], *, z: int,
                           title: str = "", digits: Sequence | None = None):
    """The same test images and each family's reconstructions at one z: a row per family (display names, in the
    study's order), the originals on top."""
    if not reconstructions:
        raise ValueError("Expected reconstructions of at least one family. Received: none")
    shown = family_sorted(reconstructions)
    rows = [originals] + [reconstructions[f] for f in shown]
    labels = ["original"] + [family_label(f) for f in shown]
    return image_grid(rows, labels, n=len(originals), title=title or f"Reconstructions at z = {z}",
                      column_labels=None if digits is None else [str(d) for d in digits])


def embedding_grid(panels: Sequence[dict], *, title: str = "", ncols: int = 5, classes: Sequence | None = None):
    """2-D embeddings coloured by class, a block of rows per z (families across, ``ncols`` per row), one class
    legend below; fits a page. Each panel: ``family``, ``z``, ``embedding`` (n × 2), ``labels`` (n) and
    optionally ``how`` (e.g. "UMAP of codes")."""
    if not panels:
        raise ValueError("Expected at least one embedding panel. Received: none")
    set_style()
    zs = sorted({p["z"] for p in panels})
    shown = family_sorted(dict.fromkeys(p["family"] for p in panels))
    ncols = max(1, min(ncols, len(shown)))
    rows_per_z = -(-len(shown) // ncols)
    nrows = rows_per_z * len(zs)
    cell = min(1.6, (FULL_WIDTH - 0.35) / ncols, (MAX_HEIGHT - 0.9) / (nrows * 1.18))
    fig, axes = plt.subplots(nrows, ncols, figsize=(0.35 + ncols * cell, nrows * cell * 1.18 + 0.9), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    if classes is None:
        classes = sorted({int(c) for p in panels for c in np.unique(p["labels"])})
    colors = {c: CLASS_COLORS[i % len(CLASS_COLORS)] for i, c in enumerate(classes)}
    by_key = {(p["family"], p["z"]): p for p in panels}
    for b, z in enumerate(zs):
        for k, family in enumerate(shown):
            ax = axes[b * rows_per_z + k // ncols, k % ncols]
            panel = by_key.get((family, z))
            if panel is None:
                continue
            ax.axis("on")
            emb, labels = np.asarray(panel["embedding"]), np.asarray(panel["labels"])
            ax.scatter(emb[:, 0], emb[:, 1], c=[colors.get(int(c), "0.5") for c in labels], s=1.5, alpha=0.8,
                       linewidths=0, rasterized=True)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(family_label(family), fontsize=MIN_FONT_PT, pad=2)
            if k % ncols == 0:
                how = panel.get("how", "")
                ax.set_ylabel(f"z = {z}" + (f"\n({how})" if how else ""), fontsize=MIN_FONT_PT)
    handles = [plt.Line2D([], [], ls="", marker="o", ms=5, color=colors[c], label=str(c)) for c in classes]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, title="digit class",
               handletextpad=0.1, columnspacing=0.8)
    if title:
        fig.suptitle(title)
    return fig


def heatmap(table: pd.DataFrame, *, title: str = "", fmt: str = ".4f", better: str = "lower", label: str = "",
            cmap: str | None = None, xlabel: str = "", ylabel: str = "", width: str | float | None = None):
    """Annotated heatmap with a colour bar; darker is better in every heatmap (``better``: "lower" or "higher"
    values are better), which the colour bar says. Family keys in the index become display names."""
    if better not in ("lower", "higher"):
        raise ValueError(f"Expected better='lower' or 'higher'. Received: better={better!r}")
    set_style()
    cmap = cmap or ("viridis" if better == "lower" else "viridis_r")  # viridis: low values dark
    shown = table.rename(index=lambda v: family_label(v) if _base(v) in FAMILY_ORDER else v,
                         columns=lambda v: str(v).replace("_", " ") if isinstance(v, str) else v)
    label_w = _label_width([str(v) for v in shown.index]) + 0.3
    w = min(FULL_WIDTH, label_w + 0.62 * shown.shape[1] + 0.9) if width is None else _width(width)
    h = min(MAX_HEIGHT, 0.9 + 0.28 * shown.shape[0])
    fig, axes = subplots(1, 1, width=w, height=h, constrained=True)
    ax = axes[0, 0]
    sns.heatmap(shown, annot=True, fmt=fmt, cmap=cmap, ax=ax, cbar=True, annot_kws={"fontsize": MIN_FONT_PT},
                cbar_kws={"label": (f"{label} " if label else "") + f"({better} = better; {HEATMAP_NOTE})",
                          "shrink": 0.9})
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="y", rotation=0)
    if any(len(str(c)) > 6 for c in shown.columns):
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    return fig


def cd_diagram(mean_ranks: Mapping[str, float], critical_difference: float, *, title: str = "",
               colors: Mapping[str, str] | None = None):
    """Demšar's (2006) critical-difference diagram, at the full text width.

    An axis of mean rank (1 = best, at the left) with each family's mean rank marked and labelled — the better
    half on the left, the rest on the right, as in the paper — a bar of length ``critical_difference`` above
    it, and thick lines joining the groups of families whose mean ranks differ by less than the CD (maximal
    groups on the sorted ranks, :func:`aelib.rank_tests.cd_groups`). Family keys become display names; each
    family keeps its colour unless ``colors`` (family → colour) says otherwise.

    Raises:
        ValueError: no families, a non-finite mean rank, or a critical difference that is not a number > 0.
    """
    import math

    from aelib.rank_tests import cd_groups  # numpy/scipy only

    if not mean_ranks:
        raise ValueError("Expected the mean rank of at least one family. Received: none")
    cd = float(critical_difference)
    if not math.isfinite(cd) or cd <= 0:
        raise ValueError(f"Expected critical_difference > 0 (a finite number). Received: {critical_difference!r}")
    items = sorted(((str(f), float(r)) for f, r in mean_ranks.items()), key=lambda item: item[1])
    groups = cd_groups(dict(items), cd)  # also refuses non-finite ranks
    colors = dict(colors or {})
    n = len(items)
    lowest, highest = 1.0, float(max(n, 2, math.ceil(items[-1][1])))
    n_left = (n + 1) // 2
    labels = [f"{family_label(f)} ({r:.2f})" for f, r in items]
    rows = max(n_left, n - n_left)
    # laid out in inches: y = 0 is the rank axis, the CD bar above, group lines and label rows below
    top, title_h, group_step, row_step = 0.55, (0.3 if title else 0.0), 0.09, 0.2
    first_row = -(0.12 + group_step * len(groups) + 0.08)
    bottom = first_row - row_step * (rows - 1) - 0.15
    fig_w, fig_h = FULL_WIDTH, top - bottom + title_h
    set_style()
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    fig._aelib_tight = False  # laid out here, in inches
    left_w = _label_width(labels[:n_left]) + 0.12
    right_w = _label_width(labels[n_left:] or [""]) + 0.12
    fig.subplots_adjust(left=left_w / fig_w, right=1 - right_w / fig_w, bottom=0, top=1 - title_h / fig_h)
    pad = 0.04 * (highest - lowest)
    ax.set_xlim(lowest - pad, highest + pad)
    ax.set_ylim(bottom, top)
    ax.set_axis_off()
    ax.plot([lowest, highest], [0, 0], color="black", lw=0.8)
    for tick in np.arange(lowest, highest + 0.25, 0.5):
        major = float(tick).is_integer()
        ax.plot([tick, tick], [0, 0.05 if major else 0.025], color="black", lw=0.8)
        if major:
            ax.text(tick, 0.07, f"{tick:.0f}", ha="center", va="bottom", fontsize=MIN_FONT_PT)
    ax.plot([lowest, lowest + cd], [0.38, 0.38], color="black", lw=1.0, clip_on=False)
    for end in (lowest, lowest + cd):
        ax.plot([end, end], [0.34, 0.42], color="black", lw=1.0, clip_on=False)
    ax.text(lowest + cd / 2, 0.43, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=MIN_FONT_PT)
    for g, members in enumerate(groups):
        ranks = [r for f, r in items if f in members]
        ax.plot([min(ranks) - 0.03, max(ranks) + 0.03], [-0.12 - group_step * g] * 2, color="black", lw=3.0,
                solid_capstyle="round", gid="cd_group")
    for i, ((family, rank), label) in enumerate(zip(items, labels)):
        left = i < n_left
        row = i if left else n - 1 - i  # rows fill from the top towards the middle, so no lines cross
        y = first_row - row_step * row
        end = lowest - pad if left else highest + pad
        color = colors.get(family, family_color(family))
        ax.plot([rank, rank, end], [0, y, y], color=color, lw=0.9, clip_on=False)
        ax.plot([rank], [0], ls="", marker=family_marker(family), color=color, ms=4, clip_on=False)
        ax.text(end + (-0.01 if left else 0.01) * (highest - lowest), y, label, ha="right" if left else "left",
                va="center", fontsize=MIN_FONT_PT)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.06 / fig_h, va="top")
    return fig
