"""The overall ranking: families ranked per criterion and overall by weighted mean rank, its sensitivity to
each criterion, and how the report shows it (table and figure).

The criteria, their groups and weights are :mod:`aelib.criteria`'s.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from aelib import plots, stats
from aelib.criteria import NEVER_COMBINED, RANKING_WEIGHTS, criterion_group
from aelib.report.runs import runs_text
from aelib.report.tables import markdown


def criterion_weights(names: Sequence[str], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each criterion's weight in the overall rank: its group's weight (1 when undeclared) shared equally
    among the group's criteria present.

    Raises:
        ValueError: both criteria of a :data:`aelib.criteria.NEVER_COMBINED` pair weighted above 0.
    """
    weights = RANKING_WEIGHTS if weights is None else weights
    groups = {n: criterion_group(n, weights) for n in names}
    size = pd.Series(groups).value_counts().to_dict() if groups else {}
    out = {n: float(weights.get(g, 1.0)) / size[g] for n, g in groups.items()}
    for first, second in NEVER_COMBINED:
        if out.get(first, 0) > 0 and out.get(second, 0) > 0:
            raise ValueError(f"{first} and {second} measure opposite things and are never averaged into one rank. "
                             f"Received weights: {first}={out[first]}, {second}={out[second]}")
    return out


def criterion_rank_columns(ranking: pd.DataFrame) -> list[str]:
    """``rank_<criterion>`` columns: not the overall rank, not the interval bounds."""
    return [c for c in ranking if c.startswith("rank_") and c != "rank_overall"
            and not c.endswith(("_low", "_high")) and not c.startswith("rank_without_")]


def _overall_complete_first(ranks: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """:func:`aelib.stats.overall_rank`, but a family missing a weighted criterion is ranked after every family
    missing fewer (its mean over fewer criteria is not a full one); adds ``criteria_missing``."""
    overall = stats.overall_rank(ranks, weights)
    missing = ranks[[c for c in ranks if weights[c] > 0]].isna().sum(axis=1).astype(int)
    keys = {f: (missing[f], overall.at[f, "mean_rank"]) for f in ranks.index if pd.notna(overall.at[f, "mean_rank"])}
    rank = {f: 1.0 + sum(other < key for other in keys.values()) for f, key in keys.items()}
    overall["rank_overall"] = pd.Series(rank, dtype=float).reindex(ranks.index)
    overall["criteria_missing"] = missing
    return overall


def rank_table(criteria: dict[str, pd.Series], higher_is_better: dict[str, bool], *,
               intervals: Mapping[str, pd.DataFrame] | None = None,
               weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Rank families per criterion (1 = best, ties share the smaller rank) and overall.

    Args:
        criteria: criterion → value per family (a Series indexed by family).
        higher_is_better: criterion → direction.
        intervals: criterion → :func:`aelib.stats.rank_intervals` output; adds ``rank_<c>_low``/``_high``.
        weights: group weights (default :data:`RANKING_WEIGHTS`, see :func:`criterion_weights`).

    Returns:
        ``family``, then per criterion its value, ``rank_<c>`` (and its interval), then
        ``mean_rank`` (the weighted mean of the criterion ranks it has) and ``rank_overall``: families
        missing a weighted criterion come after every family that has more of them, whatever their
        mean rank (then a ``criteria_missing`` column counts them).

    Raises:
        ValueError: a criterion without a direction, or weights that combine a NEVER_COMBINED pair.
    """
    missing = [c for c in criteria if c not in higher_is_better]
    if missing:
        raise ValueError(f"Expected a direction for every criterion. Missing: {missing}")
    frame = pd.DataFrame(criteria)
    ranks = pd.DataFrame({c: frame[c].rank(ascending=not higher_is_better[c], method="min") for c in frame},
                         index=frame.index)
    overall = _overall_complete_first(ranks, criterion_weights(list(frame), weights))
    missing = overall.pop("criteria_missing")
    out = pd.DataFrame(index=frame.index)
    for c in frame:
        out[c] = frame[c]
        out[f"rank_{c}"] = ranks[c]
        if intervals and c in intervals:
            bounds = intervals[c].set_index("family")
            out[f"rank_{c}_low"] = bounds["rank_low"].reindex(frame.index)
            out[f"rank_{c}_high"] = bounds["rank_high"].reindex(frame.index)
    out = pd.concat([out, overall], axis=1)
    if missing.any():
        out["criteria_missing"] = missing
    return out.sort_values(["rank_overall", "mean_rank"]).rename_axis("family").reset_index()


def ranking_sensitivity(ranking: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The overall rank with each weighted criterion group left out in turn (:func:`aelib.stats.rank_sensitivity`),
    plus, for a NEVER_COMBINED pair with one weighted, the overall with the other in its place."""
    weights = RANKING_WEIGHTS if weights is None else weights
    ranks = ranking.set_index("family")[criterion_rank_columns(ranking)]
    ranks.columns = [c.removeprefix("rank_") for c in ranks.columns]
    w = criterion_weights(list(ranks), weights)
    groups = {c: criterion_group(c, weights) for c in ranks}
    out = stats.rank_sensitivity(ranks, w, groups=groups).set_index("family")
    # the same rule as rank_table: a family missing a criterion after the families that have it
    out["rank_overall"] = _overall_complete_first(ranks, w)["rank_overall"]
    for column in [c for c in out if c.startswith("rank_without_")]:
        kept = [c for c in ranks if groups[c] != column.removeprefix("rank_without_")]
        out[column] = _overall_complete_first(ranks[kept], w)["rank_overall"]
    for first, second in NEVER_COMBINED:
        if first in w and second in w and (w[first] > 0) != (w[second] > 0):
            used, other = (first, second) if w[first] > 0 else (second, first)
            swapped = {**w, other: w[used], used: 0.0}
            out[f"rank_with_{other}_for_{used}"] = _overall_complete_first(ranks, swapped)["rank_overall"]
    shifts = out.drop(columns=["rank_overall", "max_shift"]).sub(out["rank_overall"], axis=0).abs()
    out = out.drop(columns="max_shift").assign(max_shift=shifts.max(axis=1) if not shifts.empty else 0.0)
    return out.sort_values("rank_overall").reset_index()


# ------------------------------------------------------------------ what each criterion ranks and leaves out

def long_ranking(ranked: Sequence[dict], weights: Mapping[str, float]) -> pd.DataFrame:
    """``ranking_by_criterion``: per criterion its ranked families, then the families left out (value and rank
    empty, ``excluded`` naming their failed runs as z and seed), then its reference rows (``reference`` true)."""
    parts = []
    for r in ranked:
        table = r["table"].assign(excluded="", reference=False)
        left = [{"family": f, "excluded": runs_text(runs.assign(family=f)), "reference": False}
                for f, runs in r["excluded"].items() if f not in set(table["family"])]
        reference = r.get("reference")
        extra = [pd.DataFrame(left)] + ([reference.assign(excluded="", reference=True)]
                                        if reference is not None and not reference.empty else [])
        part = pd.concat([table, *[e for e in extra if not e.empty]], ignore_index=True)
        over = part["over"] if "over" in part else pd.Series(np.nan, index=part.index)
        part = part.assign(criterion=r["name"], better=r["better"], over=over.fillna(r["over"]).where(
            part["excluded"] == "", "not ranked: failed runs"), weight=weights[r["name"]])
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    return long[["criterion", "family", "value", "rank", "rank_low", "rank_high", "better", "over", "weight",
                 "excluded", "reference"]]


def excluded_text(ranked: Sequence[dict], failed: pd.DataFrame) -> str:
    """The ranking section's sentence on the families left out, and why."""
    left = {f for r in ranked for f in r["excluded"]}
    if not left:
        return ("\n\nNo run was left out: every model of the ranked cells beats the mean-image predictor and gives "
                "finite output.\n")
    per_criterion = "; ".join(f"{r['name']}: {', '.join(sorted(r['excluded']))}" for r in ranked if r["excluded"])
    reasons = ", ".join(sorted(set(failed["reason"]))) if not failed.empty else "non-finite values"
    return (f"\n\n**Left out of the ranking** ({per_criterion}): a model that does not beat the mean-image "
            "predictor on test RMSE (gate `beats_mean_image`) or gives non-finite output has failed (docs/methods.md "
            "§4, gates); its numbers would rank a broken model, so its family is left out of every criterion whose "
            "cells hold the failed run and of that cell's paired comparisons, and listed instead (`excluded` in "
            f"`summary/ranking_by_criterion.csv` names the runs by z and seed). Here: {runs_text(failed)} "
            f"({reasons}).\n" if not failed.empty else
            f"\n\n**Left out of the ranking** ({per_criterion}): their values there are not finite.\n")


def reference_text(ranked: Sequence[dict]) -> str:
    """The ranking section's lines on reference rows (PCA beside OOD generalisation)."""
    lines = []
    for r in ranked:
        reference = r.get("reference")
        if reference is None or reference.empty:
            continue
        values = r["table"].set_index("family")["value"]
        for row in reference.itertuples():
            better = values < row.value if r["better"] == "lower" else values > row.value
            ahead = int(better.sum())
            lines.append(f"- {r['name']}: **{row.family}** (reference, not ranked) {row.value:.4f}: "
                         + (f"better than every ranked family ({len(values)})" if ahead == 0 else
                            f"{ahead} of the {len(values)} ranked families do better") + ".")
    if not lines:
        return ""
    return ("\nReference rows (`reference` in `summary/ranking_by_criterion.csv`), the same cells averaged:\n\n"
            + "\n".join(lines) + "\n")


def ranking_overview(ranking: pd.DataFrame) -> str:
    """The report's overall-ranking table: each criterion's rank with its interval, then the overall."""
    if ranking.empty:
        return "_no criteria available yet_\n"
    shown = ranking[["family", "mean_rank", "rank_overall"]].copy()
    none = pd.Series(np.nan, index=ranking.index)
    for col in criterion_rank_columns(ranking):
        low, high = ranking.get(f"{col}_low", none), ranking.get(f"{col}_high", none)
        shown[col] = [("–" if pd.isna(r) else f"{r:.0f}") + ("" if pd.isna(lo) else f" [{lo:.0f}–{hi:.0f}]")
                      for r, lo, hi in zip(ranking[col], low, high)]
    weights = criterion_weights([c.removeprefix("rank_") for c in criterion_rank_columns(ranking)])
    declared = ", ".join(f"{c} {w:g}" for c, w in weights.items())
    apart = [second for first, second in NEVER_COMBINED if weights.get(second) == 0 and first in weights]
    return (markdown(shown) + "\nRank 1 = best; [low–high] is the 95 % bootstrap interval of the rank (what each is "
            "over: *Ranking with uncertainty* below; none where one seed of a global measure leaves nothing to "
            f"resample). `mean_rank` is the weighted mean of the criterion ranks, weights {declared} "
            "(`aelib.criteria.RANKING_WEIGHTS`" + (f"; {', '.join(apart)} ranked on its own, never averaged with "
                                                 "its opposite" if apart else "")
            + "); `rank_overall` ranks it.\n" + _excluded_note(ranking))


def _excluded_note(ranking: pd.DataFrame) -> str:
    """A line naming the families left out of criteria for failed runs (the ``excluded`` column)."""
    if "excluded" not in ranking:
        return ""
    listed = ranking[ranking["excluded"].fillna("").astype(str) != ""]
    if listed.empty:
        return ""
    return ("\nLeft out for failed runs (no better than the mean image, or non-finite output; – where left out, "
            "never ranked): " + "; ".join(str(r.excluded) for r in listed.itertuples())
            + ". Which criteria: `excluded` in `summary/ranking_by_criterion.csv`.\n")


def plot_ranks(ranking: pd.DataFrame, stem: Path) -> None:
    """The rank of each family per criterion as a heat map, saved as ``stem`` (:func:`aelib.plots.save_figure`)."""
    ranks = ranking.set_index("family")[criterion_rank_columns(ranking)]
    ranks.columns = [c.removeprefix("rank_") for c in ranks.columns]
    fig = plots.heatmap(ranks, fmt=".0f", cmap="viridis", title="Rank per criterion (1 = best)")
    plots.save_figure(fig, stem)
    plt.close("all")
