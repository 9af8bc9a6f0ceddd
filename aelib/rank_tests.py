"""Ranking several families over many blocks: the Friedman test and the Nemenyi critical difference.

Following Demšar (2006), "Statistical comparisons of classifiers over multiple
data sets", JMLR 7:1–30, §3.2.2. A *block* is one setting in which every family
has a score (e.g. one (latent size, data set, seed)); the families are ranked
within each block (1 = best, ties get the average rank) and the ranks averaged.

- :func:`friedman`: Friedman's χ²_F = 12N/(k(k+1)) · (Σ_j R_j² − k(k+1)²/4)
  over the mean ranks R_j (N blocks, k families; χ² with k − 1 degrees of
  freedom), and Iman and Davenport's F_F = (N − 1)χ²_F / (N(k − 1) − χ²_F)
  (F with k − 1 and (k − 1)(N − 1) degrees of freedom), which Demšar recommends
  as less conservative. The statistic is Demšar's, without a correction for
  ties (with ties it is a little smaller than the tie-corrected one of
  :func:`scipy.stats.friedmanchisquare`, i.e. conservative).
- :func:`nemenyi_critical_difference`: two families differ when their mean
  ranks differ by at least CD = q_α · sqrt(k(k+1)/(6N)), q_α the studentized
  range quantile over √2.
- :func:`cd_groups`: the groups of families that are not told apart, as joined
  by the thick lines of the critical-difference diagram
  (:func:`aelib.plots.cd_diagram`).

Blocks should be independent; seeds of the same setting are blocks that share
the setting, so a test over (setting, seed) blocks says more about seeds than
about settings.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata, studentized_range
from scipy.stats import f as f_distribution

from aelib.checks import check_float, check_int

ALPHA = 0.05
RANKING_TEST_COLUMNS = ["criterion", "n_blocks", "n_families", "friedman_statistic", "friedman_p", "iman_davenport_f",
                        "iman_davenport_p", "critical_difference", "alpha"]


def _as_scores(scores, *, min_blocks: int = 1, min_families: int = 1) -> np.ndarray:
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Expected a (blocks, families) array of numbers. Received a ragged or non-numeric value "
                         f"({error})") from None
    if array.ndim != 2 or array.shape[0] < min_blocks or array.shape[1] < min_families:
        raise ValueError(f"Expected a (blocks, families) array with at least {min_blocks} block(s) and "
                         f"{min_families} families. Received: shape {array.shape}")
    if not np.all(np.isfinite(array)):
        rows = np.flatnonzero(~np.all(np.isfinite(array), axis=1)).tolist()
        raise ValueError(f"Expected finite scores. Received NaN or infinite values in rows {rows}")
    return array


def average_ranks(scores: np.ndarray, *, lower_is_better: bool) -> np.ndarray:
    """Mean rank of each family (column) over the blocks (rows): 1 = best in a block, ties get the average rank.

    Raises:
        ValueError: not a 2-D array with at least one block and one family, or non-finite scores.
    """
    array = _as_scores(scores)
    return rankdata(array if lower_is_better else -array, method="average", axis=1).mean(axis=0)


def friedman(scores: np.ndarray, *, lower_is_better: bool) -> dict:
    """Friedman's test that all families rank alike, with Iman and Davenport's F (Demšar 2006, §3.2.2).

    Args:
        scores: (blocks, families) array, finite.
        lower_is_better: the direction of the scores.

    Returns:
        ``{"statistic"`` (χ²_F), ``"p"`` (χ² with k − 1 df), ``"iman_davenport_f"``, ``"iman_davenport_p"``
        (F with k − 1 and (k − 1)(N − 1) df), ``"mean_ranks"`` (array, one per family)}. When every block ranks
        the families the same way, χ²_F = N(k − 1) and F_F is infinite (p = 0); when all are tied, both are 0
        (p = 1).

    Raises:
        ValueError: fewer than two blocks or two families, or as :func:`average_ranks`.
    """
    array = _as_scores(scores, min_blocks=2, min_families=2)
    n, k = array.shape
    ranks = average_ranks(array, lower_is_better=lower_is_better)
    statistic = 12 * n / (k * (k + 1)) * (float(np.sum(ranks**2)) - k * (k + 1) ** 2 / 4)
    statistic = max(0.0, statistic)  # rounding can give -1e-15 when all ranks are equal
    denominator = n * (k - 1) - statistic
    if denominator <= 1e-12 * n * k:
        f_value, f_p = math.inf, 0.0
    else:
        f_value = (n - 1) * statistic / denominator
        f_p = float(f_distribution.sf(f_value, k - 1, (k - 1) * (n - 1)))
    return {"statistic": statistic, "p": float(chi2.sf(statistic, k - 1)), "iman_davenport_f": f_value,
            "iman_davenport_p": f_p, "mean_ranks": ranks}


def nemenyi_q(k: int, *, alpha: float = ALPHA) -> float:
    """The Nemenyi test's q_α for k families: the studentized range quantile (infinite df) over √2."""
    k = check_int("k", k, 2)
    alpha = check_float("alpha", alpha, above=0, below=1)
    return float(studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_critical_difference(k: int, n_blocks: int, *, alpha: float = ALPHA) -> float:
    """The Nemenyi critical difference of mean ranks: CD = q_α · sqrt(k(k + 1) / (6N)) (Demšar 2006, §3.2.2).

    Raises:
        ValueError: k < 2, n_blocks < 1 or alpha outside (0, 1).
    """
    n_blocks = check_int("n_blocks", n_blocks, 1)
    q = nemenyi_q(k, alpha=alpha)
    return float(q * math.sqrt(k * (k + 1) / (6 * n_blocks)))


def ranking_test(blocks: pd.DataFrame, *, criterion: str, lower_is_better: bool,
                 alpha: float = ALPHA) -> tuple[dict, pd.Series]:
    """The Friedman / Iman–Davenport test and the Nemenyi CD over a table of blocks.

    Args:
        blocks: one row per block (e.g. (z, data set, seed)), one column per family, finite scores only
            (drop incomplete rows first).
        criterion: kept in the row.
        lower_is_better: the direction of the scores.
        alpha: level of the critical difference, in (0, 1).

    Returns:
        ``(row, mean_ranks)``: a dict with :data:`RANKING_TEST_COLUMNS`, and each family's mean rank as a
        Series sorted best (lowest) first.

    Raises:
        ValueError: not a DataFrame, fewer than two families or two blocks, or NaN / infinite values (the
            message names the rows).
    """
    if not isinstance(blocks, pd.DataFrame):
        raise ValueError(f"Expected a DataFrame of blocks (rows) × families (columns). "
                         f"Received: {type(blocks).__name__}")
    alpha = check_float("alpha", alpha, above=0, below=1)
    if blocks.shape[0] < 2 or blocks.shape[1] < 2:
        raise ValueError(f"Expected at least 2 blocks (rows) and 2 families (columns). Received: shape "
                         f"{blocks.shape}, families {list(blocks.columns)}")
    try:
        values = blocks.to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Expected numeric scores in every column. Received: {error}") from None
    bad = ~np.all(np.isfinite(values), axis=1)
    if bad.any():
        raise ValueError(f"Expected finite scores in every block; drop incomplete blocks first. Received NaN or "
                         f"infinite values in {int(bad.sum())} row(s): {list(blocks.index[bad])[:20]}")
    result = friedman(values, lower_is_better=lower_is_better)
    n, k = values.shape
    row = {"criterion": criterion, "n_blocks": n, "n_families": k, "friedman_statistic": result["statistic"],
           "friedman_p": result["p"], "iman_davenport_f": result["iman_davenport_f"],
           "iman_davenport_p": result["iman_davenport_p"],
           "critical_difference": nemenyi_critical_difference(k, n, alpha=alpha), "alpha": alpha}
    ranks = pd.Series(result["mean_ranks"], index=list(blocks.columns), name="mean_rank")
    return row, ranks.sort_values(kind="stable")


def cd_groups(mean_ranks: Mapping[str, float], cd: float) -> list[list[str]]:
    """Maximal groups of families whose mean ranks all differ by less than ``cd`` (not told apart).

    On the ranks sorted best first, each group is a run of consecutive families with
    ``rank(last) − rank(first) < cd``, kept when it has at least two families and is not inside another.

    Returns:
        The groups, each best first, in the order of their best family.

    Raises:
        ValueError: non-finite ranks or a cd that is not a finite number > 0.
    """
    cd = check_float("cd", cd, above=0)
    names = [str(f) for f in mean_ranks]
    ranks = np.asarray(list(mean_ranks.values()), dtype=np.float64)
    if not np.all(np.isfinite(ranks)):
        raise ValueError(f"Expected finite mean ranks. Received: {dict(zip(names, ranks.tolist()))}")
    order = np.argsort(ranks, kind="stable")
    names, ranks = [names[i] for i in order], ranks[order]
    groups, reach = [], -1
    for i in range(len(names)):
        last = i
        while last + 1 < len(names) and ranks[last + 1] - ranks[i] < cd:
            last += 1
        if last > i and last > reach:
            groups.append(names[i:last + 1])
        reach = max(reach, last)
    return groups
