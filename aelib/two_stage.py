"""Intervals over training seeds and test images together: the two-stage (nested) bootstrap.

Pure functions over arrays, like :mod:`aelib.stats`, for data with two levels of
variation: per family an array of shape ``(n_seeds, n_units)`` — e.g. the
per-image test RMSE of each seed's model, the same images in the same order for
every seed and family, the same seeds for every family. A deterministic family
(PCA) may be given as ``(n_units,)`` or ``(1, n_units)``: it is the same for
every seed and is broadcast over them.

One resample of the two-stage bootstrap (Davison & Hinkley 1997, *Bootstrap
Methods and their Application*, §3.8) draws ``n_seeds`` seed indices with
replacement and then, for each drawn seed independently, ``n_units`` unit
indices with replacement; the statistic is the mean over all drawn (seed, unit)
values. Resamples are paired across families: one resample uses the same seed
and unit indices for every family, so differences and ranks keep the pairing.
The draws depend only on ``(n_seeds, n_units, n_boot, seed)``: every function
called with the same shapes and seed uses the same resamples.

What the intervals mean, and their limits:

- Seeds are the outer stage, so the interval reflects how much a result moves
  from one training seed to another — what an interval over test images alone
  misses (with seed variance, an images-only interval under-covers badly).
- Units are resampled independently within each drawn seed, i.e. treated as
  nested in seeds. An image effect shared by all seeds (crossed design) enters
  the interval only through the within-seed stage, not as a variance common to
  all seeds.
- It is a percentile bootstrap: with few seeds the seed stage has few
  distinct outcomes and both the interval and a bootstrap p-value are too
  optimistic (with 2 seeds whose differences share a sign, nearly every
  resampled difference does too). In a simulation with no true difference
  (seed effect sd 0.5, image noise sd 1, 1000 images) the p-value fell below
  0.05 in about 40 % of data sets with 2 seeds, 25 % with 3, 18 % with 5 and
  7 % with 8 (95 % intervals covering 0 in about 58, 75, 81 and 92 %).
  Therefore the p-value of a comparison, on which decisions rest, is **not**
  the bootstrap's: it is the paired t-test over the per-seed differences
  (:func:`seed_t_pvalue`, n_seeds − 1 degrees of freedom), nominal at any
  number of seeds ≥ 2 when the seed means are about normal. A decision needs
  that test to reject (Holm-adjusted) *and* the two-stage interval to exclude
  0; :func:`detectable_difference` says what the design can resolve.

Decisions over a table of comparisons are Holm-corrected (:func:`holm_decisions`).
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from aelib.checks import check_float, check_int
from aelib.stats import _ranks, holm_adjusted

N_BOOT = 2000
CONFIDENCE = 0.95
ALPHA = 0.05
COMPARISON_COLUMNS = ["criterion", "latent_dim", "family", "reference", "estimate", "ci_low", "ci_high",
                      "p_value", "p_adjusted", "decision", "over"]
DECISIONS = ("better", "worse", "not distinguishable")
# resampling weights are built in chunks of about this many numbers (as in aelib.stats), so 10 seeds × 10 000
# images × 2000 resamples never hold 2·10⁸ numbers at once
_CHUNK_NUMBERS = 2_000_000


# ------------------------------------------------------------------ validation


def _as_seed_unit(name: str, value) -> np.ndarray:
    """One family's values as a float64 (seeds, units) array; 1-D is one deterministic row."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Expected an array (n_seeds, n_units) of numbers for {name!r}, every seed with the same "
                         f"number of units. Received a ragged or non-numeric value ({error})") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"Expected an array (n_seeds, n_units) or (n_units,) for {name!r}. "
                         f"Received: shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"Expected at least one seed and one unit for {name!r}. Received: shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"Expected finite values for {name!r}. Received: {bad} NaN or infinite value(s) "
                         f"in an array of shape {array.shape}")
    return array


def _as_arrays(values: Mapping[str, object]) -> tuple[list[str], list[np.ndarray], int, int]:
    """Families, their (seeds, units) arrays, and the common number of seeds and units.

    A family with one seed row is deterministic and broadcast; every other family must have the common number
    of seeds, and all the same number of units.
    """
    if not isinstance(values, Mapping) or len(values) == 0:
        raise ValueError(f"Expected a non-empty dict family → array (n_seeds, n_units). Received: "
                         f"{type(values).__name__} of length {len(values) if hasattr(values, '__len__') else '?'}")
    families = [str(f) for f in values]
    arrays = [_as_seed_unit(f, v) for f, v in zip(families, values.values())]
    shapes = {f: a.shape for f, a in zip(families, arrays)}
    n_units = {a.shape[1] for a in arrays}
    if len(n_units) != 1:
        raise ValueError(f"Expected the same units (images) for every family. Received shapes: {shapes}")
    seeds = {a.shape[0] for a in arrays} - {1}
    if len(seeds) > 1:
        raise ValueError(f"Expected the same seeds for every family (or one row for a deterministic family). "
                         f"Received shapes: {shapes}")
    return families, arrays, (seeds.pop() if seeds else 1), n_units.pop()


def _check_common(n_boot: int, seed: int, confidence: float) -> tuple[int, int, float]:
    return (check_int("n_boot", n_boot, 100), check_int("seed", seed, 0),
            check_float("confidence", confidence, above=0, below=1))


# ------------------------------------------------------------------ resampling


def _two_stage_weights(n_seeds: int, n_units: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of count matrices (resamples × n_seeds·n_units): how often each (seed, unit) cell is drawn.

    For each resample and each of its ``n_seeds`` slots a seed is drawn, then ``n_units`` units for that slot;
    a cell's count sums over the slots that drew its seed, so each row sums to n_seeds·n_units.
    """
    rng = np.random.default_rng(seed)
    cells = n_seeds * n_units
    chunk = max(1, _CHUNK_NUMBERS // cells)
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        seeds = rng.integers(0, n_seeds, size=(m, n_seeds))
        units = rng.integers(0, n_units, size=(m, n_seeds, n_units))
        flat = (np.arange(m)[:, None, None] * n_seeds + seeds[:, :, None]) * n_units + units
        yield np.bincount(flat.ravel(), minlength=m * cells).reshape(m, cells).astype(np.float64)


def _boot_means(arrays: Sequence[np.ndarray], n_seeds: int, n_units: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, families) two-stage bootstrap means, the same resamples for every family."""
    matrix = np.stack([np.broadcast_to(a, (n_seeds, n_units)).reshape(-1) for a in arrays])
    out = np.concatenate([w @ matrix.T for w in _two_stage_weights(n_seeds, n_units, n_boot, seed)])
    return out / (n_seeds * n_units)


def two_stage_bootstrap_means(values: Mapping[str, np.ndarray], *, n_boot: int = N_BOOT,
                              seed: int = 0) -> pd.DataFrame:
    """The mean of each family in each of ``n_boot`` paired two-stage resamples (rows × families).

    Raises:
        ValueError: as :func:`two_stage_means`.
    """
    n_boot, seed, _ = _check_common(n_boot, seed, CONFIDENCE)
    families, arrays, n_seeds, n_units = _as_arrays(values)
    return pd.DataFrame(_boot_means(arrays, n_seeds, n_units, n_boot, seed), columns=families)


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - confidence) / 2
    return np.quantile(samples, tail, axis=0), np.quantile(samples, 1 - tail, axis=0)


def _bootstrap_p(estimate: np.ndarray, boot: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p of 'no difference': 2·(count + 1)/(n_boot + 1), capped at 1, count = resampled
    differences on the other side of 0 than the estimate (0 itself included); 1 for an estimate of 0."""
    other = np.where(estimate > 0, (boot <= 0).sum(axis=0), (boot >= 0).sum(axis=0))
    p = np.minimum(1.0, 2 * (other + 1) / (len(boot) + 1))
    return np.where(estimate == 0, 1.0, p)


# ------------------------------------------------------------------ means and differences


def two_stage_means(values: Mapping[str, np.ndarray], *, n_boot: int = N_BOOT, seed: int = 0,
                    confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Each family's mean over seeds and units with its two-stage percentile bootstrap interval.

    Args:
        values: family → array (n_seeds, n_units); a deterministic family as (n_units,) or (1, n_units).
        n_boot: bootstrap resamples (>= 100).
        seed: seed of the resampling.
        confidence: the interval's coverage, in (0, 1).

    Returns:
        One row per family, in the input order: ``family``, ``mean``, ``ci_low``, ``ci_high``, ``n_seeds``
        (the family's own: 1 when deterministic), ``n_units``. With one seed and one unit there is no
        interval (NaN).

    Raises:
        ValueError: an empty dict, ragged or non-finite arrays, no seed or unit, different numbers of units,
            or of seeds (other than 1), across families; n_boot < 100; confidence outside (0, 1).
    """
    n_boot, seed, confidence = _check_common(n_boot, seed, confidence)
    families, arrays, n_seeds, n_units = _as_arrays(values)
    mean = np.array([a.mean() for a in arrays])
    if n_seeds * n_units > 1:
        low, high = _percentiles(_boot_means(arrays, n_seeds, n_units, n_boot, seed), confidence)
    else:
        low = high = np.full(len(families), np.nan)
    return pd.DataFrame({"family": families, "mean": mean, "ci_low": low, "ci_high": high,
                         "n_seeds": [a.shape[0] for a in arrays], "n_units": n_units})


def two_stage_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                         confidence: float = CONFIDENCE) -> dict:
    """``mean(a) − mean(b)``, paired by seed index and unit index, with its two-stage interval and p-value.

    Args:
        a, b: arrays (n_seeds, n_units) over the same seeds and units; either may be deterministic
            ((n_units,) or (1, n_units), broadcast over the seeds).
        n_boot, seed, confidence: as in :func:`two_stage_means`.

    Returns:
        ``{"estimate", "ci_low", "ci_high", "p_value", "p_bootstrap", "n_seeds", "n_units"}``: the difference
        of the means and its two-stage percentile interval; ``p_value`` from the paired t-test over the seeds
        (:func:`seed_t_pvalue`: the test the decisions use, valid with few seeds where the bootstrap's is
        not); ``p_bootstrap``, the two-stage bootstrap's two-sided p (the share of resampled differences on
        the other side of 0, doubled, with the +1 correction), kept for comparison (module docstring: it is
        optimistic with few seeds). With one seed, ``p_value`` is NaN (one seed decides nothing about the
        family); with one seed and one unit the interval is NaN too.

    Raises:
        ValueError: as :func:`two_stage_means`, the message naming ``a`` or ``b``.
    """
    n_boot, seed, confidence = _check_common(n_boot, seed, confidence)
    _, arrays, n_seeds, n_units = _as_arrays({"a": a, "b": b})
    estimate = float(arrays[0].mean() - arrays[1].mean())
    out = {"estimate": estimate, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": seed_t_pvalue(arrays[0].mean(axis=1) - arrays[1].mean(axis=1)), "p_bootstrap": np.nan,
           "n_seeds": n_seeds, "n_units": n_units}
    if n_seeds * n_units > 1:
        boot = _boot_means(arrays, n_seeds, n_units, n_boot, seed)
        diff = boot[:, 0] - boot[:, 1]
        low, high = _percentiles(diff, confidence)
        out.update(ci_low=float(low), ci_high=float(high),
                   p_bootstrap=float(_bootstrap_p(np.array([estimate]), diff[:, None])[0]))
    return out


def seed_t_pvalue(differences: np.ndarray) -> float:
    """Two-sided p of the paired t-test that the per-seed differences (one per seed: a family's mean over the
    test images minus the reference's, same seed) have mean 0, with n_seeds − 1 degrees of freedom.

    The seed is the unit a claim about a family generalises over, so the test is over seeds, as many as there
    are: with 3 seeds the t quantile is 4.30 and only consistent, large differences reject. Its false-positive
    rate is the nominal one when the seed means are about normal (a mean over thousands of images is), which
    the two-stage bootstrap's p is not with few seeds (module docstring). NaN with one seed; 0 when every seed
    has the same non-zero difference, 1 when all are 0.
    """
    from scipy.stats import t as student_t

    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    if len(d) < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() != 0 else 1.0
    t = d.mean() / (sd / np.sqrt(len(d)))
    return float(2 * student_t.sf(abs(t), df=len(d) - 1))


# ------------------------------------------------------------------ ranks


def two_stage_rank_intervals(values: Mapping[str, np.ndarray], *, lower_is_better: bool, n_boot: int = N_BOOT,
                             seed: int = 0, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Rank of each family by its mean over seeds and units, with a two-stage bootstrap interval on the rank.

    The families are reranked in every joint resample (the same seeds and units for all), and each family's
    rank percentiles (``inverted_cdf``, so the bounds are ranks that occurred) form its interval.

    Returns:
        ``family``, ``value`` (mean), ``rank`` (1 = best, ties share the smaller rank, as
        :func:`aelib.stats.rank_intervals`), ``rank_low``, ``rank_high`` (NaN with one seed and one unit).

    Raises:
        ValueError: as :func:`two_stage_means`.
    """
    n_boot, seed, confidence = _check_common(n_boot, seed, confidence)
    families, arrays, n_seeds, n_units = _as_arrays(values)
    value = np.array([a.mean() for a in arrays])
    rank = _ranks(value, bool(lower_is_better))
    low = high = np.full(len(families), np.nan)
    if n_seeds * n_units > 1:
        boot = _ranks(_boot_means(arrays, n_seeds, n_units, n_boot, seed), bool(lower_is_better))
        tail = (1 - confidence) / 2
        low = np.quantile(boot, tail, axis=0, method="inverted_cdf")
        high = np.quantile(boot, 1 - tail, axis=0, method="inverted_cdf")
    return pd.DataFrame({"family": families, "value": value, "rank": rank.astype(int), "rank_low": low,
                         "rank_high": high})


# ------------------------------------------------------------------ declared comparisons


def declared_comparisons(values: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray], *,
                         criterion: str, latent_dim: int, over: str, n_boot: int = N_BOOT, seed: int = 0,
                         confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Each family in ``values`` against each reference in ``references``, as :func:`two_stage_difference`.

    All comparisons share one set of resamples (the same seeds and units for every family and reference).

    Args:
        values: family → array (n_seeds, n_units).
        references: reference → array (n_seeds, n_units), or (n_units,) when deterministic (PCA). A reference
            that is also a family (same name) is not compared with itself.
        criterion, latent_dim: kept in their columns.
        over: what the interval is over, kept in the ``over`` column, e.g.
            ``"2 seeds × 1000 test images (two-stage bootstrap)"``.
        n_boot, seed, confidence: as in :func:`two_stage_means`.

    Returns:
        One row per (family, reference) pair, families in the outer loop, with :data:`COMPARISON_COLUMNS`:
        ``estimate`` = mean(family) − mean(reference) with its two-stage interval; ``p_value`` from the
        paired t-test over seeds (:func:`seed_t_pvalue`); ``p_adjusted`` NaN and ``decision`` "" until
        :func:`holm_decisions` fills them.

    Raises:
        ValueError: no references, or as :func:`two_stage_means` over families and references together.
    """
    n_boot, seed, confidence = _check_common(n_boot, seed, confidence)
    if not isinstance(references, Mapping) or len(references) == 0:
        raise ValueError(f"Expected a non-empty dict reference → array. Received: {type(references).__name__} "
                         f"of length {len(references) if hasattr(references, '__len__') else '?'}")
    families, family_arrays, _, _ = _as_arrays(values)
    refs, ref_arrays, _, _ = _as_arrays(references)
    tagged = {f"family {f!r}": a for f, a in zip(families, family_arrays)}
    tagged.update({f"reference {r!r}": a for r, a in zip(refs, ref_arrays)})
    _, arrays, n_seeds, n_units = _as_arrays(tagged)  # the common shape over families and references
    pairs = [(i, j) for i, f in enumerate(families) for j, r in enumerate(refs) if f != r]
    columns = {c: [] for c in COMPARISON_COLUMNS}
    if not pairs:
        return pd.DataFrame(columns, columns=COMPARISON_COLUMNS)
    means = np.array([a.mean() for a in arrays])
    k = len(families)
    estimate = np.array([means[i] - means[k + j] for i, j in pairs])
    low = high = np.full(len(pairs), np.nan)
    # the decisions' test: paired t over the seeds (seed_t_pvalue; NaN with one seed)
    p = np.array([seed_t_pvalue(arrays[i].mean(axis=1) - arrays[k + j].mean(axis=1)) for i, j in pairs])
    if n_seeds * n_units > 1:
        boot = _boot_means(arrays, n_seeds, n_units, n_boot, seed)
        diffs = np.stack([boot[:, i] - boot[:, k + j] for i, j in pairs], axis=1)
        low, high = _percentiles(diffs, confidence)
    return pd.DataFrame({"criterion": criterion, "latent_dim": latent_dim,
                         "family": [families[i] for i, _ in pairs], "reference": [refs[j] for _, j in pairs],
                         "estimate": estimate, "ci_low": low, "ci_high": high, "p_value": p, "p_adjusted": np.nan,
                         "decision": "", "over": over}, columns=COMPARISON_COLUMNS)


def holm_decisions(table: pd.DataFrame, *, by: Sequence[str] = ("criterion",), alpha: float = ALPHA,
                   lower_is_better: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """Holm-adjust ``p_value`` within each group of ``by`` and decide each comparison.

    Args:
        table: rows with at least ``criterion``, ``estimate``, ``ci_low``, ``ci_high``, ``p_value`` and the
            ``by`` columns (e.g. several :func:`declared_comparisons` tables concatenated).
        by: the columns whose groups are one family of tests for Holm (:func:`aelib.stats.holm_adjusted`);
            empty: one Holm correction over the whole table.
        alpha: family-wise error rate within a group, in (0, 1).
        lower_is_better: criterion → direction; None means lower is better for every criterion.

    Returns:
        A copy with ``p_adjusted`` and ``decision`` set: ``"better"`` / ``"worse"`` (the family against its
        reference, from the sign of ``estimate`` and the criterion's direction) when ``p_adjusted <= alpha``
        AND the interval excludes 0, else ``"not distinguishable"`` (also for a NaN p-value).

    Raises:
        ValueError: a missing column, alpha outside (0, 1), a p-value outside [0, 1], or a criterion without a
            direction in ``lower_is_better``.
    """
    alpha = check_float("alpha", alpha, above=0, below=1)
    by = [by] if isinstance(by, str) else list(by)
    needed = ["criterion", "estimate", "ci_low", "ci_high", "p_value", *by]
    missing = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if missing:
        raise ValueError(f"Expected the columns {needed} in the table. Missing: {missing}; "
                         f"received: {list(table.columns)}")
    out = table.copy()
    if lower_is_better is None:
        lower = pd.Series(True, index=out.index)
    else:
        direction = {str(c): bool(v) for c, v in lower_is_better.items()}
        undirected = sorted({str(c) for c in out["criterion"]} - set(direction))
        if undirected:
            raise ValueError(f"Expected a direction in lower_is_better for every criterion. Missing: {undirected} "
                             f"(received: {dict(lower_is_better)})")
        lower = out["criterion"].map(lambda c: direction[str(c)])
    p_adjusted = pd.Series(np.nan, index=out.index, dtype=float)
    groups = [out.index] if not by else [g.index for _, g in out.groupby(by, sort=False, dropna=False)]
    for index in groups:
        p_adjusted[index] = holm_adjusted(out.loc[index, "p_value"].to_numpy(dtype=float))
    out["p_adjusted"] = p_adjusted
    excludes_zero = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    significant = (p_adjusted <= alpha) & excludes_zero
    family_lower = out["estimate"] < 0
    better = family_lower == lower
    out["decision"] = np.where(significant, np.where(better, "better", "worse"), "not distinguishable")
    return out


# ------------------------------------------------------------------ design


def detectable_difference(values: np.ndarray, *, confidence: float = CONFIDENCE, power: float = 0.8) -> float:
    """The smallest difference of means that a paired comparison over these seeds could detect.

    A rough normal approximation from the spread of the per-seed means of ``values`` (n_seeds, n_units):
    ``(z_{1−α/2} + z_power) · sd(per-seed means) · sqrt(2 / n_seeds)`` with α = 1 − confidence and sd with
    ddof = 1. It treats the per-seed spread of one family as that of each of two independent families (paired
    seeds that share variation can do better), ignores the uncertainty in sd itself (badly optimistic with 2–3
    seeds) and the image-level noise within a seed. Use it to say what a design can resolve, not as a test.

    Returns:
        The difference, in the units of ``values``; NaN with one seed (a 1-D array is one seed).

    Raises:
        ValueError: a ragged, empty or non-finite array; confidence or power outside (0, 1).
    """
    confidence = check_float("confidence", confidence, above=0, below=1)
    power = check_float("power", power, above=0, below=1)
    array = _as_seed_unit("values", values)
    n_seeds = array.shape[0]
    if n_seeds < 2:
        return float("nan")
    spread = float(array.mean(axis=1).std(ddof=1))
    z = norm.ppf(1 - (1 - confidence) / 2) + norm.ppf(power)
    return float(z * spread * np.sqrt(2 / n_seeds))
