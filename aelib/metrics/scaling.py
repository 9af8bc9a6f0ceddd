"""How RMSE scales with the latent size z, and how far one criterion predicts another (step 8).

- :func:`fit_power_law` fits RMSE(z) = a·z^(−b) + c and says when the fit should not be believed: a parameter at
  its bound, an exactly determined fit (3 points for 3 parameters), b ≈ 0 (a and c then trade off), a fit that did
  not converge or whose covariance cannot be estimated.
- :func:`held_out_predictions` is leave-one-out over z: interpolation, kept for the fit table.
- :func:`extrapolate` is the prediction test: fit on the smallest z, predict the largest (rule in
  :func:`extrapolation_split`), with three predictors side by side — the power law, log-linear
  (log RMSE = α + β log z) and PCA-relative (the family's RMSE/PCA-RMSE ratio at the largest fitted z times PCA's
  RMSE at the predicted z).
- :func:`bootstrap_spearman` and :func:`criterion_prediction`: Spearman correlation across family × z cells of
  in-distribution RMSE and parameter count against the other criteria, with a percentile bootstrap interval.

Pure numpy/pandas/scipy; :mod:`aelib.report` feeds these the study's tables and writes them out.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from aelib.checks import check_float, check_int
from aelib.stats import CONFIDENCE, N_BOOT

POWER_LAW_PARAMS = ("a", "b", "c")
# Bounds of the fit: a, c >= 0 (RMSE falls towards a floor), 0 <= b <= 5 (beyond 5 the curve is a step).
POWER_LAW_BOUNDS: dict[str, tuple[float, float]] = {"a": (0.0, np.inf), "b": (0.0, 5.0), "c": (0.0, np.inf)}
# A parameter within this of a bound sits on it: absolute for the exponent b, times max |RMSE| for a and c.
BOUND_TOLERANCE = 1e-4
# Below this b, a·z^(−b) + c ≈ (a + c) − a·b·ln z over any z range used here: a and c are not separately identified.
B_TINY = 0.05
# The first extrapolation rule: with at least this many z values, the two largest are predicted.
PREDICT_TWO_FROM = 5
PREDICTORS = ("power_law", "log_linear", "pca_relative")
POSITIONS = ("largest", "2nd largest")  # of the predicted z among a family's z values
# What each predictor is, for captions and the report.
PREDICTOR_TEXT = {"power_law": "power law a·z^(−b) + c",
                  "log_linear": "log-linear, log RMSE = α + β log z",
                  "pca_relative": "PCA-relative, (RMSE/PCA RMSE at the largest fitted z) × PCA RMSE at the predicted z"}


def power_law(z, a, b, c):
    return a * np.power(np.asarray(z, dtype=float), -b) + c


def _points(z: Sequence[float], rmse: Sequence[float], *, minimum: int, positive_rmse: bool = False):
    z = np.asarray(z, dtype=float).reshape(-1)
    y = np.asarray(rmse, dtype=float).reshape(-1)
    if len(z) < minimum or len(z) != len(y):
        raise ValueError(f"Expected at least {minimum} (z, rmse) points of equal length. "
                         f"Received: {len(z)} z and {len(y)} rmse values")
    if np.any(~np.isfinite(z)) or np.any(z <= 0) or not np.all(np.isfinite(y)):
        raise ValueError(f"Expected z > 0 and finite RMSE values. Received: z={z.tolist()}, rmse={y.tolist()}")
    if positive_rmse and np.any(y <= 0):
        raise ValueError(f"Expected RMSE > 0 (its logarithm is fitted). Received: rmse={y.tolist()}")
    if len(np.unique(z)) != len(z):
        raise ValueError(f"Expected distinct z values. Received: z={z.tolist()}")
    return z, y


def fit_power_law(z: Sequence[float], rmse: Sequence[float]) -> dict:
    """Least-squares fit of RMSE(z) = a·z^(−b) + c within :data:`POWER_LAW_BOUNDS`, with its warnings.

    Returns:
        ``a``, ``b``, ``c``, ``r2``; ``n_points``; ``converged`` (False: curve_fit gave up, parameters NaN);
        ``at_bound`` (e.g. ``"b=5 (upper); c=0 (lower)"``, empty when none); ``degenerate`` (bool) and ``note``
        (why, ``"; "``-joined: exactly determined, b at its upper bound, b ≈ 0, a = 0, not converged,
        covariance not estimable).

    Raises:
        ValueError: fewer than 3 points, unequal lengths, repeated or non-positive z, non-finite RMSE.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    z, y = _points(z, rmse, minimum=len(POWER_LAW_PARAMS))
    order = np.argsort(z)
    z, y = z[order], y[order]
    lower = [POWER_LAW_BOUNDS[p][0] for p in POWER_LAW_PARAMS]
    upper = [POWER_LAW_BOUNDS[p][1] for p in POWER_LAW_PARAMS]
    p0 = (max(y[0] - y[-1], 1e-3), 0.5, max(float(y.min()) * 0.9, 0.0))
    out = {"n_points": len(z)}
    reasons = []
    if len(z) <= len(POWER_LAW_PARAMS):
        reasons.append(f"exactly determined ({len(z)} points, {len(POWER_LAW_PARAMS)} parameters): "
                       "nothing tests the law")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, cov = curve_fit(power_law, z, y, p0=p0, bounds=(lower, upper), maxfev=20000)
    except RuntimeError as err:
        reasons.append(f"curve_fit did not converge ({err})")
        return {"a": np.nan, "b": np.nan, "c": np.nan, "r2": np.nan, **out, "converged": False, "at_bound": "",
                "degenerate": True, "note": "; ".join(reasons)}
    a, b, c = (float(v) for v in params)
    pred = power_law(z, a, b, c)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    scale = float(np.max(np.abs(y))) or 1.0
    bounds = []
    for name, value in zip(POWER_LAW_PARAMS, (a, b, c)):
        tolerance = BOUND_TOLERANCE * (1.0 if name == "b" else scale)
        for side, bound in zip(("lower", "upper"), POWER_LAW_BOUNDS[name]):
            if np.isfinite(bound) and abs(value - bound) <= tolerance:
                bounds.append(f"{name}={bound:g} ({side})")
    if np.isclose(b, POWER_LAW_BOUNDS["b"][1], rtol=0, atol=BOUND_TOLERANCE):
        reasons.append(f"b at its upper bound {POWER_LAW_BOUNDS['b'][1]:g}: RMSE drops to c after the smallest z "
                       "and the exponent is set by the bound, not the data")
    if b < B_TINY:
        floor = "c ≈ 0, " if abs(c) <= BOUND_TOLERANCE * scale else ""
        reasons.append(f"b ≈ 0 (b = {b:.3g} < {B_TINY:g}), {floor}so a and c are not separately identified "
                       "(a·z^(−b) + c ≈ a + c − a·b·ln z)")
    if abs(a) <= BOUND_TOLERANCE * scale:
        reasons.append("a = 0: no dependence on z")
    if len(z) > len(POWER_LAW_PARAMS) and not np.all(np.isfinite(np.diag(cov))):
        reasons.append("covariance of the parameters not estimable")
    return {"a": a, "b": b, "c": c, "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"), **out,
            "converged": True, "at_bound": "; ".join(bounds), "degenerate": bool(reasons), "note": "; ".join(reasons)}


def held_out_predictions(z: Sequence[float], rmse: Sequence[float]) -> pd.DataFrame:
    """Leave-one-out over z: for each z, fit on the others and predict it (interpolation for inner z).

    Returns one row per z (``latent_dim``, ``observed``, ``predicted``, ``rel_error`` = |predicted − observed| /
    observed, ``degenerate``: whether that fit is flagged by :func:`fit_power_law`); no rows for fewer than 4
    points (3 are needed to fit).
    """
    z = np.asarray(z, dtype=float)
    y = np.asarray(rmse, dtype=float)
    rows = []
    if len(z) >= len(POWER_LAW_PARAMS) + 1:
        for i in range(len(z)):
            keep = np.arange(len(z)) != i
            fit = fit_power_law(z[keep], y[keep])
            predicted = float(power_law(z[i], fit["a"], fit["b"], fit["c"]))
            rows.append({"latent_dim": z[i], "observed": y[i], "predicted": predicted,
                         "rel_error": abs(predicted - y[i]) / y[i], "degenerate": fit["degenerate"]})
    return pd.DataFrame(rows, columns=["latent_dim", "observed", "predicted", "rel_error", "degenerate"])


def held_out_check(z: Sequence[float], rmse: Sequence[float]) -> dict:
    """Summary of :func:`held_out_predictions`: how many z, mean and max relative error."""
    errors = held_out_predictions(z, rmse)["rel_error"]
    if errors.empty:
        return {"heldout_n": 0, "heldout_mean_abs_rel_error": float("nan"), "heldout_max_abs_rel_error": float("nan")}
    return {"heldout_n": len(errors), "heldout_mean_abs_rel_error": float(errors.mean()),
            "heldout_max_abs_rel_error": float(errors.max())}


# ------------------------------------------------------------------ extrapolation


def log_linear_fit(z: Sequence[float], rmse: Sequence[float]) -> tuple[float, float]:
    """Least squares of log RMSE = α + β log z; returns (α, β).

    Raises:
        ValueError: fewer than 2 points, repeated or non-positive z, non-positive or non-finite RMSE.
    """
    z, y = _points(z, rmse, minimum=2, positive_rmse=True)
    beta, alpha = np.polyfit(np.log(z), np.log(y), 1)
    return float(alpha), float(beta)


def extrapolation_split(n: int) -> tuple[int, int]:
    """(z values fitted, z values predicted) for ``n`` z values: the n−2 smallest predict the 2 largest when
    n >= 5; the n−1 smallest predict the largest when n is 3 or 4.

    Raises:
        ValueError: n < 3 (one fitted point predicts nothing).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"Expected at least 3 z values to extrapolate (fit on the smaller, predict the larger). "
                         f"Received: n={n!r}")
    n_predict = 2 if n >= PREDICT_TWO_FROM else 1
    return int(n) - n_predict, n_predict


EXTRAPOLATION_RULE = (f"with n z values, the n−2 smallest are fitted and the 2 largest predicted when n ≥ "
                      f"{PREDICT_TWO_FROM}; with n = 3 or 4, the n−1 smallest predict the largest")


def extrapolate(z: Sequence[float], rmse: Sequence[float], *, pca: Mapping[int, float] | None = None) -> pd.DataFrame:
    """Fit each predictor on the smallest z (:func:`extrapolation_split`) and predict the largest.

    Args:
        z, rmse: one family's RMSE per latent size (any order, distinct z).
        pca: PCA's test RMSE per z (``{z: rmse}``); the PCA-relative predictor needs the largest fitted z and the
            predicted z there, else it is NaN with a note.

    Returns:
        One row per predicted z: ``latent_dim``, ``position`` ("largest", "2nd largest"), ``fit_z`` (the z
        fitted, comma-separated), ``observed``; per predictor in :data:`PREDICTORS` the prediction and
        ``<predictor>_rel_error`` = (predicted − observed)/observed; ``power_law_status`` ("fitted", "fitted,
        degenerate: …" or "not fittable: …") and ``note``.
    """
    z, y = _points(z, rmse, minimum=3, positive_rmse=True)
    order = np.argsort(z)
    z, y = z[order], y[order]
    n_fit, n_predict = extrapolation_split(len(z))
    zf, yf = z[:n_fit], y[:n_fit]
    alpha, beta = log_linear_fit(zf, yf)
    if n_fit > len(POWER_LAW_PARAMS):
        fit = fit_power_law(zf, yf)
        status = "fitted" if not fit["degenerate"] else f"fitted, degenerate: {fit['note']}"
        if not fit["converged"]:
            status = f"not fittable: {fit['note']}"
    else:
        fit = None
        status = (f"not fittable: {n_fit} fitted points for {len(POWER_LAW_PARAMS)} parameters "
                  f"(needs {len(POWER_LAW_PARAMS) + 1})")
    pca = {int(k): float(v) for k, v in (pca or {}).items()}
    anchor = int(zf[-1])
    rows = []
    for i in range(n_fit, len(z)):
        target, observed = int(z[i]), float(y[i])
        notes = []
        predicted = {"power_law": float(power_law(target, fit["a"], fit["b"], fit["c"])) if fit else np.nan,
                     "log_linear": float(np.exp(alpha + beta * np.log(target)))}
        if anchor in pca and target in pca and pca[anchor] > 0:
            predicted["pca_relative"] = yf[-1] / pca[anchor] * pca[target]
        else:
            predicted["pca_relative"] = np.nan
            notes.append(f"no PCA RMSE at z={anchor if anchor not in pca else target}")
        if n_fit == 2:
            notes.append("log-linear through 2 points")
        row = {"latent_dim": target, "position": POSITIONS[len(z) - 1 - i],
               "fit_z": ", ".join(str(int(v)) for v in zf), "observed": observed}
        for name in PREDICTORS:
            row[name] = predicted[name]
            row[f"{name}_rel_error"] = (predicted[name] - observed) / observed
        rows.append({**row, "power_law_status": status, "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def extrapolation_table(by_z: pd.DataFrame, pca: Mapping[int, float] | None = None, *,
                        value: str = "rmse_mean") -> pd.DataFrame:
    """:func:`extrapolate` for every family of ``by_z`` (columns ``family``, ``latent_dim``, ``value``: one row per
    family and z; average seeds first). A family with fewer than 3 z values gets one row with the reason."""
    missing = {"family", "latent_dim", value} - set(by_z.columns)
    if missing:
        raise ValueError(f"Expected columns family, latent_dim and {value}. Missing: {sorted(missing)}")
    frames = []
    for family, part in by_z.groupby("family", sort=True):
        part = part.dropna(subset=[value])
        if part["latent_dim"].duplicated().any():
            raise ValueError(f"Expected one row per z for {family} (average the seeds first). "
                             f"Received z: {sorted(part['latent_dim'].tolist())}")
        try:
            rows = extrapolate(part["latent_dim"], part[value], pca=pca)
        except ValueError as err:
            rows = pd.DataFrame([{"note": f"skipped: {err}"}])
        frames.append(rows.assign(family=family, n_z=len(part)))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    first = ["family", "n_z"]
    return table[first + [c for c in table.columns if c not in first]]


def extrapolation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per predictor and position: the median absolute relative error over families (``median_abs_rel_error``)
    and how many families it is over (``n_families``: those the predictor could predict)."""
    columns = ["predictor", "position", "median_abs_rel_error", "n_families"]
    if table.empty or "position" not in table:
        return pd.DataFrame(columns=columns)
    rows = []
    for position in POSITIONS:
        part = table[table["position"] == position]
        if part.empty:
            continue
        for name in PREDICTORS:
            errors = part[f"{name}_rel_error"].abs().dropna()
            rows.append({"predictor": name, "position": position,
                         "median_abs_rel_error": float(errors.median()) if len(errors) else np.nan,
                         "n_families": int(errors.size)})
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------ one criterion predicting another


def _rank_rows(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, axis=-1)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def bootstrap_spearman(x: Sequence[float], y: Sequence[float], *, n_boot: int = N_BOOT, seed: int = 0,
                       confidence: float = CONFIDENCE) -> dict:
    """Spearman's ρ of paired ``x``, ``y`` with a percentile bootstrap interval over the pairs (ties averaged).

    Resamples in which either side is constant (ρ undefined) are left out of the interval.

    Returns:
        ``spearman``, ``ci95_low``, ``ci95_high``, ``n`` (pairs); ρ and the interval NaN when n < 3 or a side is
        constant.

    Raises:
        ValueError: unequal lengths, non-finite values, ``n_boot`` < 100, confidence outside (0, 1).
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"Expected paired values of equal length. Received: {len(x)} x and {len(y)} y")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("Expected finite values. Received NaN or infinite values.")
    check_int("n_boot", n_boot, 100)
    check_float("confidence", confidence, above=0, below=1)
    n = len(x)
    out = {"spearman": np.nan, "ci95_low": np.nan, "ci95_high": np.nan, "n": n}
    if n < 3:
        return out
    out["spearman"] = float(_pearson_rows(_rank_rows(x), _rank_rows(y)))
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    rho = _pearson_rows(_rank_rows(x[idx]), _rank_rows(y[idx]))
    rho = rho[np.isfinite(rho)]
    if rho.size:
        tail = (1 - confidence) / 2 * 100
        out["ci95_low"], out["ci95_high"] = (float(v) for v in np.percentile(rho, [tail, 100 - tail]))
    return out


def cell_means(frame: pd.DataFrame, columns: Sequence[str], *, keys: Sequence[str] = ("family", "latent_dim")
               ) -> pd.DataFrame:
    """Mean of ``columns`` per cell (``keys``) over the seeds (and any other rows) of each cell."""
    missing = set(keys) | set(columns)
    missing -= set(frame.columns)
    if missing:
        raise ValueError(f"Expected columns {list(keys) + list(columns)}. Missing: {sorted(missing)}")
    return frame.groupby(list(keys), sort=True)[list(columns)].mean().reset_index()


CRITERION_PREDICTORS = {"id_rmse": "rmse_mean", "n_params": "n_params"}


def label_consistency_cells(gen: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], list[tuple[str, str]]]:
    """Label consistency per (family, z) at the smallest perturbation level p > 0 of each mode, averaged over
    seeds: ``{target name: cells}`` (column ``target``) and ``(target, note)`` for what was missing. Prior samples
    (no level) are left out."""
    if gen.empty:
        return {}, [("label_consistency", "skipped: generative.csv missing (step 06 has not run)")]
    if "label_consistency" not in gen or "level" not in gen:
        return {}, [("label_consistency", "skipped: generative.csv has no label_consistency or level column")]
    perturbed = gen[gen["level"].notna() & gen["label_consistency"].notna()]
    if "source" in perturbed:
        perturbed = perturbed[perturbed["source"].fillna("perturbed") == "perturbed"]
    perturbed = perturbed.assign(mode=perturbed["mode"].fillna("unknown") if "mode" in perturbed else "unknown")
    out, notes = {}, []
    for mode, part in perturbed.groupby("mode", sort=True):
        levels = part.loc[part["level"] > 0, "level"]
        if levels.empty:
            notes.append((f"label_consistency ({mode})", f"skipped: generative.csv has no level p > 0 for mode {mode}"))
            continue
        p = float(levels.min())
        out[f"label_consistency ({mode}, p={p:g})"] = cell_means(part[part["level"] == p], ["label_consistency"]) \
            .rename(columns={"label_consistency": "target"})
    if not out and not notes:
        notes.append(("label_consistency", "skipped: no perturbed rows with a label consistency (no classifier?)"))
    return out, notes


def criterion_prediction(runs: pd.DataFrame, *, ood: pd.DataFrame | None = None, latent: pd.DataFrame | None = None,
                         gen: pd.DataFrame | None = None, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Spearman's ρ across family × z cells of in-distribution RMSE and parameter count (from ``runs``, the sweep's
    per-seed rows) against each other criterion, with a bootstrap interval over cells (:func:`bootstrap_spearman`).
    Every table is averaged over seeds per cell first.

    Targets: OOD RMSE per complementary dataset (``ood``, role "complementary"), trustworthiness (``latent``),
    label consistency at the smallest p > 0 per perturbation mode (``gen``, :func:`label_consistency_cells`).
    A missing input gives a row with NaN and a ``note`` saying why, never an error.

    Returns:
        ``predictor``, ``target``, ``n_cells``, ``spearman``, ``ci95_low``, ``ci95_high``, ``note``.
    """
    empty = pd.DataFrame()
    ood, latent, gen = (empty if f is None else f for f in (ood, latent, gen))
    targets: dict[str, pd.DataFrame] = {}
    skipped: list[tuple[str, str]] = []
    if ood.empty or not {"dataset", "rmse_mean"} <= set(ood.columns):
        skipped.append(("ood_rmse", "skipped: ood_rmse.csv missing (step 05 has not run)"))
    else:
        comp = ood[ood["role"] == "complementary"] if "role" in ood else ood
        for dataset, part in comp.groupby("dataset", sort=True):
            targets[f"ood_rmse ({dataset})"] = cell_means(part, ["rmse_mean"]).rename(columns={"rmse_mean": "target"})
        if not targets:
            skipped.append(("ood_rmse", "skipped: no complementary rows in ood_rmse.csv"))
    if latent.empty or "trustworthiness" not in latent:
        skipped.append(("trustworthiness", "skipped: latent_quality.csv missing (step 04 has not run)"))
    else:
        targets["trustworthiness"] = cell_means(latent, ["trustworthiness"]).rename(
            columns={"trustworthiness": "target"})
    label_targets, label_notes = label_consistency_cells(gen)
    targets.update(label_targets)
    skipped += label_notes

    rows = []
    for predictor, column in CRITERION_PREDICTORS.items():
        if runs.empty or column not in runs:
            rows.append({"predictor": predictor, "target": "all", "n_cells": 0,
                         "note": f"skipped: latent_sweep_runs.csv has no {column} (step 02 has not run)"})
            continue
        cells = cell_means(runs, [column]).rename(columns={column: "predictor_value"})
        for target, values in targets.items():
            both = cells.merge(values, on=["family", "latent_dim"])
            both = both[np.isfinite(both["predictor_value"]) & np.isfinite(both["target"])]
            result = bootstrap_spearman(both["predictor_value"], both["target"], n_boot=n_boot, seed=seed)
            note = "fewer than 3 cells" if len(both) < 3 else ("a side is constant" if np.isnan(result["spearman"])
                                                              else "")
            rows.append({"predictor": predictor, "target": target, "n_cells": result["n"],
                         "spearman": result["spearman"], "ci95_low": result["ci95_low"],
                         "ci95_high": result["ci95_high"], "note": note})
        rows += [{"predictor": predictor, "target": target, "n_cells": 0, "note": note} for target, note in skipped]
    return pd.DataFrame(rows, columns=["predictor", "target", "n_cells", "spearman", "ci95_low", "ci95_high", "note"])
