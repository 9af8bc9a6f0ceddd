"""Tables for the report: each written as CSV, LaTeX and Markdown, with the cells and captions they show.

Shared by every section of :mod:`aelib.report`; formatting only, no computation of results.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aelib import gates, latex
from aelib.io import atomic_write_text
from aelib.latex.tables import DATASET_NAMES


def write_table(frame: pd.DataFrame, stem: Path, *, caption: str, data: str = "") -> list[Path]:
    """``stem``.csv (all columns, full precision), .tex (for the thesis: display names, per-column precision,
    the best values bold, fitted to a 16 cm text width; :func:`aelib.latex.table_latex`) and .md; returns the
    paths. ``caption``: plain text (``$…$`` math allowed); ``data``: on which data, added to the LaTeX caption."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    atomic_write_text(stem.with_suffix(".tex"), latex.table_latex(frame, stem.name, caption=caption, data=data))
    atomic_write_text(stem.with_suffix(".md"), markdown(frame))
    return [stem.with_suffix(s) for s in (".csv", ".tex", ".md")]


def data_text(runs: pd.DataFrame, dataset: str) -> str:
    """On which data a table's models were trained and scored, for its caption, from a runs table
    (``data_source``, ``data_stand_in``, ``n_train_used``, ``n_test_used``): "MNIST (source: …; stand-in
    data): trained on 4000 images, scored on 1000 test images"; "" without those columns."""
    if runs.empty:
        return ""
    name = DATASET_NAMES.get(dataset, dataset)
    sources = sorted({str(s) for s in runs["data_source"].dropna()}) if "data_source" in runs else []
    stand_in = "data_stand_in" in runs and runs["data_stand_in"].astype(str).str.lower().isin(["true", "1"]).any()
    counts = []
    for column, what in (("n_train_used", "trained on {} images"), ("n_test_used", "scored on {} test images")):
        values = sorted({int(v) for v in runs[column].dropna()}) if column in runs else []
        if values:
            counts.append(what.format("/".join(map(str, values))))
    detail = "; ".join(([f"source: {', '.join(sources)}"] if sources else []) + (["stand-in data"] if stand_in else []))
    return f"{name}" + (f" ({detail})" if detail else "") + (": " + ", ".join(counts) if counts else "")


def ood_sources_text(comp: pd.DataFrame) -> str:
    """The complementary data sets with their sources, stand-ins marked, for a caption."""
    if comp.empty or "dataset" not in comp:
        return ""
    parts = []
    for dataset, part in comp.groupby("dataset", sort=True):
        source = ", ".join(sorted({str(s) for s in part["data_source"].dropna()})) if "data_source" in part else ""
        stand_in = "stand_in" in part and part["stand_in"].astype(str).str.lower().isin(["true", "1"]).any()
        detail = "; ".join(([f"source: {source}"] if source else []) + (["stand-in data"] if stand_in else []))
        parts.append(DATASET_NAMES.get(dataset, dataset) + (f" ({detail})" if detail else ""))
    return "Complementary data: " + ", ".join(parts)


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """``frame`` as a Markdown table (numbers to ``digits`` significant digits); "_(no rows)_" when empty."""
    if frame.empty:
        return "_(no rows)_\n"
    return frame.to_markdown(index=False, floatfmt=f".{digits}g") + "\n"


def fmt_ci(mean: float, low: float, high: float, digits: int = 4) -> str:
    """A table cell "mean ± half the interval" ("–" without a mean, the mean alone without an interval)."""
    if pd.isna(mean):
        return "–"
    if pd.isna(low) or pd.isna(high) or np.isclose(low, high):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def over_seeds(frame: pd.DataFrame) -> str:
    """What a table's per-cell mean is over: its training seeds."""
    seeds = sorted({int(s) for s in frame["seed"].dropna()}) if "seed" in frame else []
    if len(seeds) >= 2:
        return f"mean over {len(seeds)} training seeds ({', '.join(map(str, seeds))})"
    return f"value of one training seed ({seeds[0]})" if seeds else "value of one training seed"

def capped_cells(runs: pd.DataFrame) -> set[tuple[str, int]]:
    """(family, z) cells with at least one run that early stopping did not end."""
    if runs.empty or "stopped_by" not in runs:
        return set()
    bad = runs[runs["stopped_by"] != "early_stopping"]
    return {(f, int(z)) for f, z in zip(bad["family"], bad["latent_dim"])}


def mark_capped(frame: pd.DataFrame, capped: set[tuple[str, int]]) -> pd.DataFrame:
    """``frame`` for the report with the family name marked where its run was not stopped by early stopping:
    a row whose own ``stopped_by`` says so, and a row of a capped (family, z) of the sweep (per row when the
    table has ``latent_dim``, else where any z shown is affected)."""
    if frame.empty or "family" not in frame:
        return frame
    own = frame["stopped_by"].astype(str).eq("epoch_cap").tolist() if "stopped_by" in frame else [False] * len(frame)
    if not capped and not any(own):
        return frame
    out = frame.copy()
    if "latent_dim" in out:
        hit = [(f, int(z)) in capped for f, z in zip(out["family"], out["latent_dim"])]
    else:
        shown = {int(c[2:]) for c in out.columns if isinstance(c, str) and c.startswith("z=") and c[2:].isdigit()}
        hit = [any((f, z) in capped for z in shown) for f in out["family"]]
    out["family"] = [f + gates.CAP_MARK if h or o else f for f, h, o in zip(out["family"], hit, own)]
    return out
