"""Paired comparisons and rankings with their uncertainty (step 8).

Pure functions over arrays; :mod:`aelib.report` feeds them the study's numbers.
Every function takes ``values``: family → one number per *unit*, where a unit is
a test sample (per-sample RMSE of one seed's models: the same images, in the
same order, for every family) or a seed (one value per training seed, the same
seeds for every family). Units are paired across families: unit ``i`` of one
family is compared with unit ``i`` of another, and a bootstrap resample draws
the same units for every family.

- Differences (:func:`paired_bootstrap`, :func:`pairwise_table`): the mean of
  ``a − b`` with a 95 % percentile bootstrap interval. The p-value is *not* read
  off the bootstrap: it comes from a paired sign-flip randomisation test (each
  unit's difference keeps or flips its sign; exact over all 2ⁿ flips when
  2ⁿ ≤ ``n_boot``, else ``n_boot`` random flips). The percentile bootstrap puts
  every resampled mean on one side of zero whenever all n differences share a
  sign, so with 2–5 seeds it would "detect" a difference half the time with
  none there; the sign-flip test stays valid at any n (its smallest two-sided p
  is 2/2ⁿ, so fewer than 6 units can never reach 5 %). For thousands of test
  samples the two agree. Decisions are Holm-corrected (:func:`holm`) over the
  pairs of one table.
- Ranks (:func:`rank_intervals`, :func:`composite_rank_intervals`): 1 = best,
  ties share the smaller rank; the interval is the 2.5–97.5 % range of each
  family's rank over bootstrap resamples of the units, drawn jointly for all
  families. With one unit there is no interval (NaN).
- Means over seeds (:func:`t_interval`): the mean with its Student-t interval.
- Overall (:func:`overall_rank`): a weighted mean of criterion ranks with
  declared weights, and :func:`rank_sensitivity` leaves each criterion out in turn.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as _student_t

from aelib.checks import check_float, check_int

N_BOOT = 2000
CONFIDENCE = 0.95
ALPHA = 0.05
# bootstrap weights are drawn in chunks of about this many numbers, so 10 000 test samples need ~20 MB, not 160
_CHUNK_NUMBERS = 2_000_000
# the tolerance below which a flipped statistic counts as "as large as" the observed one (float sums differ in order)
_TIE_RTOL = 1e-9


# ------------------------------------------------------------------ validation


def _as_matrix(values: Mapping[str, Sequence[float]]) -> tuple[list[str], np.ndarray]:
    """Families and a (family, unit) float64 matrix; raises on ragged, empty or non-finite input."""
    if not isinstance(values, Mapping) or len(values) == 0:
        raise ValueError(f"Expected a non-empty dict family → values. Received: {type(values).__name__} "
                         f"of length {len(values) if hasattr(values, '__len__') else '?'}")
    families = [str(f) for f in values]
    rows = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values.values()]
    lengths = {f: len(r) for f, r in zip(families, rows)}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"Expected the same number (>= 1) of paired units for every family. Received: {lengths}")
    matrix = np.vstack(rows)
    bad = [f for f, r in zip(families, rows) if not np.all(np.isfinite(r))]
    if bad:
        raise ValueError(f"Expected finite values. Received NaN or infinite values for: {bad}")
    return families, matrix


def _check_strata(strata, n: int) -> np.ndarray | None:
    if strata is None:
        return None
    strata = np.asarray(strata).reshape(-1)
    if len(strata) != n:
        raise ValueError(f"Expected one stratum label per unit ({n}). Received: {len(strata)} labels")
    return strata


# ------------------------------------------------------------------ resampling


def _bootstrap_weights(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Chunks of bootstrap count matrices (resamples × units): unit i drawn ``counts[b, i]`` times in
    resample b. With ``strata``, each stratum is resampled within itself (its share of units fixed).

    Depends only on (n, n_boot, seed, strata), so every caller with the same units draws the same resamples.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in pd.unique(strata)]
    chunk = max(1, _CHUNK_NUMBERS // max(n, 1))
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        parts = []
        for members in groups:
            k = len(members)
            draws = rng.integers(0, k, size=(m, k)) + np.arange(m)[:, None] * k
            parts.append(np.bincount(draws.ravel(), minlength=m * k).reshape(m, k))
        if strata is None:
            yield parts[0].astype(np.float64)
        else:
            counts = np.zeros((m, n))
            for members, part in zip(groups, parts):
                counts[:, members] = part
            yield counts


def bootstrap_means(values: Mapping[str, Sequence[float]], *, n_boot: int = N_BOOT, seed: int = 0,
                    strata=None) -> pd.DataFrame:
    """Mean of each family's units in each of ``n_boot`` paired resamples (rows) — the same units for every family.

    Raises:
        ValueError: ragged, empty or non-finite values; n_boot < 100.
    """
    n_boot = check_int("n_boot", n_boot, 100)
    families, matrix = _as_matrix(values)
    strata = _check_strata(strata, matrix.shape[1])
    out = np.concatenate([counts @ matrix.T for counts in _bootstrap_weights(matrix.shape[1], n_boot, seed, strata)])
    return pd.DataFrame(out / matrix.shape[1], columns=families)


def _sign_flip_pvalues(differences: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Two-sided paired sign-flip p-value of the mean of each row of ``differences`` (pairs × units)."""
    n = differences.shape[1]
    observed = np.abs(differences.mean(axis=1))
    tol = _TIE_RTOL * np.maximum(observed, np.abs(differences).mean(axis=1))
    exact = 2 ** n <= n_boot
    if exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        extreme = (np.abs(signs @ differences.T / n) >= observed - tol).sum(axis=0)
        return extreme / len(signs)
    rng = np.random.default_rng([seed, 1])  # a stream apart from the bootstrap's
    extreme = np.zeros(len(differences))
    chunk = max(1, _CHUNK_NUMBERS // n)
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        bits = np.unpackbits(rng.integers(0, 256, size=(m, -(-n // 8)), dtype=np.uint8), axis=1)[:, :n]
        signs = bits.astype(np.float64) * 2 - 1
        extreme += (np.abs(signs @ differences.T / n) >= observed - tol).sum(axis=0)
    return (1 + extreme) / (1 + n_boot)


def _percentiles(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - confidence) / 2
    return np.quantile(samples, tail, axis=0), np.quantile(samples, 1 - tail, axis=0)


# ------------------------------------------------------------------ mean over seeds


def t_interval(values: Sequence[float], *, confidence: float = CONFIDENCE, finite_only: bool = True,
               one_value: str = "nan") -> tuple[float, float, float]:
    """Mean of ``values`` and its Student-t interval: mean ± t(0.5 + confidence/2, n − 1) · s / √n, s with ddof=1.

    Args:
        values: one number per unit (typically per seed).
        confidence: the interval's coverage, in (0, 1).
        finite_only: drop NaN and infinite values first (False: they propagate into the result).
        one_value: the bounds for a single value: ``"nan"`` (no interval) or ``"mean"`` (the value itself).

    Returns:
        ``(mean, low, high)``; all NaN without values.

    Raises:
        ValueError: ``confidence`` outside (0, 1) or an unknown ``one_value``.
    """
    check_float("confidence", confidence, above=0, below=1)
    if one_value not in ("nan", "mean"):
        raise ValueError(f"Expected one_value in ('nan', 'mean'). Received: one_value={one_value!r}")
    v = np.asarray(values, dtype=float)
    if finite_only:
        v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan
    mean = float(v.mean())
    if len(v) < 2:
        return (mean, mean, mean) if one_value == "mean" else (mean, np.nan, np.nan)
    half = float(_student_t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


# ------------------------------------------------------------------ paired differences


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = N_BOOT, seed: int = 0,
                     strata=None) -> tuple[float, float, float, float]:
    """Mean paired difference ``a − b`` with its 95 % interval and a two-sided p-value.

    Args:
        a, b: one value per unit (test sample or seed), unit i of ``a`` paired with unit i of ``b``.
        n_boot: bootstrap resamples (and random sign flips when 2ⁿ > n_boot).
        seed: seed of the resampling; the same seed and units give the same resamples as :func:`pairwise_table`.
        strata: optional label per unit; resampling keeps each stratum's units within it.

    Returns:
        ``(diff, low, high, p)``: the mean of ``a − b``; the 2.5 and 97.5 % percentiles of
        its bootstrap distribution; the p-value of a paired sign-flip randomisation test
        (see the module docstring for why not the bootstrap). With one unit: ``(diff, nan, nan, nan)``.

    Raises:
        ValueError: different lengths, no units, non-finite values, n_boot < 100.
    """
    n_boot = check_int("n_boot", n_boot, 100)
    _, matrix = _as_matrix({"a": a, "b": b})
    d = matrix[0] - matrix[1]
    diff = float(d.mean())
    if len(d) < 2:
        return diff, float("nan"), float("nan"), float("nan")
    boot = bootstrap_means({"a": matrix[0], "b": matrix[1]}, n_boot=n_boot, seed=seed, strata=strata)
    low, high = _percentiles((boot["a"] - boot["b"]).to_numpy())
    p = float(_sign_flip_pvalues(d[None, :], n_boot, seed)[0])
    return diff, float(low), float(high), p


def holm_adjusted(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN stays NaN and is not counted among the tests.

    Raises:
        ValueError: a p-value outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"Expected p-values in [0, 1]. Received: {p[finite & ((p < 0) | (p > 1))].tolist()}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> np.ndarray:
    """Holm's step-down test at family-wise error ``alpha``: which hypotheses are rejected.

    Sort the m finite p-values; reject the i-th smallest (i = 0, 1, …) while
    p₍ᵢ₎ ≤ alpha / (m − i), and none after the first that is not. NaN p-values
    (no test possible) are never rejected and do not count in m.

    Raises:
        ValueError: alpha outside (0, 1) or a p-value outside [0, 1].
    """
    check_float("alpha", alpha, above=0, below=1)
    adjusted = holm_adjusted(pvalues)
    return np.where(np.isnan(adjusted), False, adjusted <= alpha)


def decision_text(family_a: str, family_b: str, diff: float, low: float, high: float, reject: bool, *,
                  n: int, over: str = "", digits: int = 4) -> str:
    """``"fcae lower than vae by 0.0120 [0.0080, 0.0160]"``, ``"no detectable difference"`` or, with one
    unit, ``"one seed: no interval"``."""
    if n < 2:
        return "one seed: no interval" if "seed" in over else "one value: no interval"
    if not reject:
        return "no detectable difference"
    if diff < 0:
        return f"{family_a} lower than {family_b} by {-diff:.{digits}f} [{-high:.{digits}f}, {-low:.{digits}f}]"
    return f"{family_a} higher than {family_b} by {diff:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


PAIRWISE_COLUMNS = ["family_a", "family_b", "n", "diff", "ci95_low", "ci95_high", "p", "p_holm", "reject",
                    "decision", "over"]


def pairwise_table(values: Mapping[str, Sequence[float]], *, over: str, n_boot: int = N_BOOT, seed: int = 0,
                   alpha: float = ALPHA, strata=None, digits: int = 4) -> pd.DataFrame:
    """Every pair of families compared as in :func:`paired_bootstrap`, Holm-corrected over the pairs.

    Args:
        values: family → one value per paired unit (same units, same order, for every family).
        over: what the units are, kept in the ``over`` column (``"test samples (one seed)"``, ``"seeds"``).
        n_boot, seed, strata: as in :func:`paired_bootstrap` (one set of resamples serves every pair).
        alpha: family-wise error rate of the Holm correction over this table's pairs.
        digits: decimals in the decision text.

    Returns:
        One row per pair (a before b in the order of ``values``): ``family_a``, ``family_b``, ``n`` (units),
        ``diff`` (mean of a − b), ``ci95_low``, ``ci95_high``, ``p`` (sign-flip), ``p_holm`` (Holm-adjusted),
        ``reject`` (p_holm ≤ alpha), ``decision`` and ``over``. The smallest Monte Carlo p is 1/(n_boot+1):
        with more than about alpha·(n_boot+1) pairs (100 at the defaults) raise ``n_boot``.

    Raises:
        ValueError: fewer than two families, or as :func:`bootstrap_means`.
    """
    n_boot = check_int("n_boot", n_boot, 100)
    families, matrix = _as_matrix(values)
    if len(families) < 2:
        raise ValueError(f"Expected at least two families to compare. Received: {families}")
    n = matrix.shape[1]
    pairs = list(itertools.combinations(range(len(families)), 2))
    diffs = np.array([matrix[i] - matrix[j] for i, j in pairs])
    mean_diff = diffs.mean(axis=1)
    if n >= 2:
        boot = bootstrap_means(dict(zip(families, matrix)), n_boot=n_boot, seed=seed, strata=strata).to_numpy()
        low, high = _percentiles(np.stack([boot[:, i] - boot[:, j] for i, j in pairs], axis=1))
        p = _sign_flip_pvalues(diffs, n_boot, seed)
    else:
        low = high = p = np.full(len(pairs), np.nan)
    p_holm = holm_adjusted(p)
    reject = holm(p, alpha)
    rows = [{"family_a": families[i], "family_b": families[j], "n": n, "diff": mean_diff[k], "ci95_low": low[k],
             "ci95_high": high[k], "p": p[k], "p_holm": p_holm[k], "reject": bool(reject[k]),
             "decision": decision_text(families[i], families[j], mean_diff[k], low[k], high[k], bool(reject[k]),
                                       n=n, over=over, digits=digits),
             "over": over}
            for k, (i, j) in enumerate(pairs)]
    return pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)


# ------------------------------------------------------------------ ranks


def _ranks(scores: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """Rank along the last axis, 1 = best, ties share the smaller rank (``method="min"``)."""
    from scipy.stats import rankdata

    return rankdata(scores if lower_is_better else -scores, method="min", axis=-1)


def _interval_frame(families, value, rank, boot_ranks) -> pd.DataFrame:
    if boot_ranks is None:
        low = high = np.full(len(families), np.nan)
    else:
        tail = (1 - CONFIDENCE) / 2
        low = np.quantile(boot_ranks, tail, axis=0, method="inverted_cdf")
        high = np.quantile(boot_ranks, 1 - tail, axis=0, method="inverted_cdf")
    return pd.DataFrame({"family": families, "value": value, "rank": rank.astype(int), "rank_low": low,
                         "rank_high": high})


def rank_intervals(values: Mapping[str, Sequence[float]], *, lower_is_better: bool, n_boot: int = N_BOOT,
                   seed: int = 0, strata=None) -> pd.DataFrame:
    """Rank of each family by the mean of its units, with a bootstrap interval on the rank.

    The units are resampled jointly (the same draw for every family), the
    families reranked in each resample, and each family's 2.5 and 97.5 %
    rank percentiles reported.

    Returns:
        ``family``, ``value`` (mean over units), ``rank`` (1 = best, ties share the
        smaller rank), ``rank_low``, ``rank_high`` (NaN with one unit: no interval).

    Raises:
        ValueError: as :func:`bootstrap_means`.
    """
    families, matrix = _as_matrix(values)
    value = matrix.mean(axis=1)
    rank = _ranks(value, lower_is_better)
    boot = None
    if matrix.shape[1] >= 2:
        means = bootstrap_means(dict(zip(families, matrix)), n_boot=n_boot, seed=seed, strata=strata).to_numpy()
        boot = _ranks(means, lower_is_better)
    return _interval_frame(families, value, rank, boot)


def _parse_measures(measures, higher_is_better) -> tuple[dict, list[str]]:
    """measure → (families, (family, unit) matrix), and the families; raises on no measures, a measure without a
    direction, or different families or units across measures."""
    if not measures:
        raise ValueError("Expected at least one measure. Received: {}")
    missing = [m for m in measures if m not in higher_is_better]
    if missing:
        raise ValueError(f"Expected a direction for every measure. Missing: {missing}")
    parsed = {m: _as_matrix(v) for m, v in measures.items()}
    shapes = {m: (tuple(f), x.shape) for m, (f, x) in parsed.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"Expected the same families and units for every measure. Received: "
                         f"{ {m: s[1] for m, s in shapes.items()} } for families {[s[0] for s in shapes.values()]}")
    families = next(iter(parsed.values()))[0]
    return parsed, families


def composite_rank_intervals(measures: Mapping[str, Mapping[str, Sequence[float]]], *,
                             higher_is_better: Mapping[str, bool], n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One ranking from several measures: each family's score is the mean of its per-measure ranks.

    Args:
        measures: measure → (family → one value per unit); the same families and units for every measure.
        higher_is_better: measure → direction.

    Returns:
        As :func:`rank_intervals`, ``value`` being the mean per-measure rank (lower is better).
        The interval resamples the units once for all measures, reranks every measure, and
        ranks the mean.

    Raises:
        ValueError: no measures, a measure without a direction, different families or units across measures.
    """
    parsed, families = _parse_measures(measures, higher_is_better)
    n = next(iter(parsed.values()))[1].shape[1]
    point = np.mean([_ranks(x.mean(axis=1), not higher_is_better[m]) for m, (_, x) in parsed.items()], axis=0)
    boot = None
    if n >= 2:  # the same resamples for every measure: same n and seed
        boot_scores = np.mean([_ranks(bootstrap_means(dict(zip(families, x)), n_boot=n_boot, seed=seed).to_numpy(),
                                      not higher_is_better[m]) for m, (_, x) in parsed.items()], axis=0)
        boot = _ranks(boot_scores, True)
    return _interval_frame(families, point, _ranks(point, True), boot)


def standardised_composite(measures: Mapping[str, Mapping[str, Sequence[float]]], *,
                           higher_is_better: Mapping[str, bool], n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One ranking from several measures by effect size, not rank: each measure is standardised against its
    spread over every family and unit (``(x − mean) / sd``, sign flipped where lower is better), and a family's
    score is the mean of its standardised values over measures and units, in standard deviations (higher is
    better). A gap of 0.0004 on one measure then weighs as little as it is, where a mean of ranks would count it
    as a whole place.

    Args:
        measures: measure → (family → one value per unit); the same families and units for every measure.
        higher_is_better: measure → direction.

    Returns:
        As :func:`rank_intervals`, ``value`` being the score (higher is better). The interval resamples the
        units once for all measures, keeping each measure's mean and sd from the full data. A measure that does
        not vary at all contributes 0.

    Raises:
        ValueError: no measures, a measure without a direction, different families or units across measures.
    """
    parsed, families = _parse_measures(measures, higher_is_better)
    scales = {m: (float(x.mean()), float(x.std())) for m, (_, x) in parsed.items()}
    scores = np.mean([_standardised(x, scales[m], higher_is_better[m]) for m, (_, x) in parsed.items()],
                     axis=0)  # (family, unit)
    point = scores.mean(axis=1)
    boot = None
    if scores.shape[1] >= 2:
        boot = _ranks(bootstrap_means(dict(zip(families, scores)), n_boot=n_boot, seed=seed).to_numpy(), False)
    return _interval_frame(families, point, _ranks(point, False), boot)


def measure_scales(measures: Mapping[str, Mapping[str, Sequence[float]]], *,
                   higher_is_better: Mapping[str, bool]) -> dict[str, tuple[float, float]]:
    """Each measure's (mean, sd) over every family and unit: the scale :func:`standardised_composite` puts it on."""
    parsed, _ = _parse_measures(measures, higher_is_better)
    return {m: (float(x.mean()), float(x.std())) for m, (_, x) in parsed.items()}


def standardised_score(values: Mapping[str, float], scales: Mapping[str, tuple[float, float]], *,
                       higher_is_better: Mapping[str, bool]) -> float:
    """One more row (a reference such as PCA) on a composite's scales (:func:`measure_scales`): the mean over
    measures of its standardised value, sign turned so that higher is better, as the families' scores are."""
    if set(values) != set(scales):
        raise ValueError(f"Expected a value for each measure of the scales {sorted(scales)}. "
                         f"Received: {sorted(values)}")
    return float(np.mean([_standardised(np.float64(values[m]), scales[m], higher_is_better[m]) for m in scales]))


def _standardised(x, scale: tuple[float, float], higher_is_better: bool):
    """``(x − mean) / sd``, negated where lower is better; 0 for a measure that does not vary."""
    mean, sd = scale
    z = (x - mean) / sd if sd > 0 else np.zeros_like(x)
    return z if higher_is_better else -z


def degradation_slope(levels: Sequence[float], values: Sequence[float], *, reference_level: float = 0.0) -> float:
    """How fast ``values`` grow with the perturbation p, from the levels p > reference only.

    The least-squares slope through the origin of Δ(p) = value(p) − value(reference)
    against p − reference, over the levels above the reference:
    Σ (p−r)·Δ(p) / Σ (p−r)². The value at the reference level is only the origin of
    Δ, so what a model does without perturbation (its reconstruction error) does
    not enter the slope.

    Raises:
        ValueError: no value at the reference level, no level above it, or non-finite values.
    """
    levels = np.asarray(levels, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(levels) != len(values):
        raise ValueError(f"Expected one value per level. Received: {len(levels)} levels, {len(values)} values")
    at_ref = np.isclose(levels, reference_level)
    above = levels > reference_level + 1e-12
    if not at_ref.any() or not above.any():
        raise ValueError(f"Expected a value at p = {reference_level} and at least one level above it. "
                         f"Received levels: {levels.tolist()}")
    if not np.all(np.isfinite(values[at_ref | above])):
        raise ValueError(f"Expected finite values. Received: {values.tolist()}")
    x = levels[above] - reference_level
    delta = values[above] - values[at_ref].mean()
    return float(np.sum(x * delta) / np.sum(x * x))


# ------------------------------------------------------------------ overall rank


def overall_rank(ranks: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """Weighted mean of criterion ranks and the overall rank it gives.

    Args:
        ranks: one row per family (index), one column of ranks (1 = best) per criterion.
        weights: criterion → weight ≥ 0, for every column. A family missing a criterion
            (NaN) is averaged over the criteria it has, their weights renormalised.

    Returns:
        ``mean_rank`` (weighted) and ``rank_overall`` (1 = best, ties share the smaller rank), indexed by family.

    Raises:
        ValueError: a column without a weight, a negative weight, or all weights zero.
    """
    missing = [c for c in ranks.columns if c not in weights]
    if missing:
        raise ValueError(f"Expected a weight for every criterion. Missing: {missing} (weights: {dict(weights)})")
    w = pd.Series({c: float(weights[c]) for c in ranks.columns}, dtype=float)
    if (w < 0).any() or not w.gt(0).any():
        raise ValueError(f"Expected weights >= 0, at least one > 0. Received: {w.to_dict()}")
    present = ranks.notna().astype(float) * w
    mean_rank = (ranks.fillna(0.0) * w).sum(axis=1) / present.sum(axis=1).replace(0.0, np.nan)
    return pd.DataFrame({"mean_rank": mean_rank, "rank_overall": mean_rank.rank(method="min")})


def rank_sensitivity(ranks: pd.DataFrame, weights: Mapping[str, float], *,
                     groups: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The overall rank with each weighted criterion (or group of criteria) left out in turn.

    Args:
        ranks, weights: as :func:`overall_rank`.
        groups: criterion → group left out together (default: each criterion its own group).

    Returns:
        ``family``, ``rank_overall``, one ``rank_without_<group>`` column per group with
        a positive weight, and ``max_shift`` (the largest change of a family's overall
        rank when one group is left out), sorted by ``rank_overall``.
    """
    groups = dict(groups or {})
    base = overall_rank(ranks, weights)
    out = pd.DataFrame({"rank_overall": base["rank_overall"]})
    group_of = {c: groups.get(c, c) for c in ranks.columns}
    for group in dict.fromkeys(group_of.values()):
        members = [c for c, g in group_of.items() if g == group]
        kept = [c for c in ranks.columns if c not in members]
        if not any(weights[c] > 0 for c in members) or not any(weights[c] > 0 for c in kept):
            continue
        out[f"rank_without_{group}"] = overall_rank(ranks[kept], weights)["rank_overall"]
    shifts = out.drop(columns="rank_overall").sub(out["rank_overall"], axis=0).abs()
    out["max_shift"] = shifts.max(axis=1) if not shifts.empty else 0.0
    return out.sort_values("rank_overall").rename_axis("family").reset_index()
