import numpy as np
import pandas as pd
import pytest

from aelib.metrics.scaling import (
    bootstrap_spearman,
    criterion_prediction,
    extrapolate,
    extrapolation_split,
    extrapolation_summary,
    extrapolation_table,
    fit_power_law,
    held_out_predictions,
    log_linear_fit,
    power_law,
)

Z6 = np.array([2, 5, 10, 20, 40, 80])


def test_power_law_recovered_exactly_from_five_points_and_not_flagged():
    z = Z6[:5]
    fit = fit_power_law(z, power_law(z, 0.3, 0.5, 0.05))
    assert fit["a"] == pytest.approx(0.3, rel=1e-5)
    assert fit["b"] == pytest.approx(0.5, rel=1e-5)
    assert fit["c"] == pytest.approx(0.05, rel=1e-5)
    assert fit["r2"] == pytest.approx(1.0)
    assert fit["converged"] and not fit["degenerate"]
    assert fit["at_bound"] == "" and fit["note"] == ""


def test_step_like_data_push_b_to_its_bound_and_are_flagged():
    fit = fit_power_law([1, 2, 4, 8, 16], [0.5, 0.1, 0.1, 0.1, 0.1])
    assert fit["b"] == pytest.approx(5.0, abs=1e-6)
    assert "b=5 (upper)" in fit["at_bound"]
    assert fit["degenerate"] and "upper bound" in fit["note"]


def test_three_point_fit_is_exactly_determined_and_flagged():
    z = np.array([2, 10, 40])
    fit = fit_power_law(z, power_law(z, 0.3, 0.5, 0.05))
    assert fit["degenerate"] and "exactly determined" in fit["note"]
    four = fit_power_law(Z6[:4], power_law(Z6[:4], 0.3, 0.5, 0.05))  # one point more: a testable law
    assert not four["degenerate"]


def test_tiny_exponent_flagged_as_unidentified():
    fit = fit_power_law(Z6, power_law(Z6, 0.1, 0.01, 0.1))
    assert fit["b"] < 0.05 and fit["degenerate"] and "not separately identified" in fit["note"]


def test_pure_power_law_reports_c_at_its_lower_bound_without_calling_it_degenerate():
    fit = fit_power_law(Z6, power_law(Z6, 0.5, 0.4, 0.0))
    assert fit["at_bound"] == "c=0 (lower)" and not fit["degenerate"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([1, 2], [0.3, 0.2])
    with pytest.raises(ValueError, match="z > 0"):
        fit_power_law([0, 2, 4], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="distinct z"):
        fit_power_law([2, 2, 4], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="RMSE > 0"):
        log_linear_fit([1, 2], [0.3, 0.0])
    assert held_out_predictions([2, 10, 40], [0.3, 0.2, 0.1]).empty


@pytest.mark.parametrize("n,expected", [(3, (2, 1)), (4, (3, 1)), (5, (3, 2)), (8, (6, 2))])
def test_extrapolation_split_rule(n, expected):
    assert extrapolation_split(n) == expected


def test_extrapolation_split_needs_three():
    with pytest.raises(ValueError, match="at least 3 z values"):
        extrapolation_split(2)


def test_extrapolation_exact_for_log_linear_on_a_pure_power_law():
    y = 0.5 * Z6 ** -0.4  # log-linear and the power law (c = 0) are both exact here
    pca = {int(z): 0.6 * z ** -0.2 for z in Z6}  # a flatter curve: the PCA-relative prediction misses by a known amount
    rows = extrapolate(Z6[::-1], y[::-1], pca=pca)  # order of the input does not matter
    assert list(rows["latent_dim"]) == [40, 80] and list(rows["position"]) == ["2nd largest", "largest"]
    assert set(rows["fit_z"]) == {"2, 5, 10, 20"}
    np.testing.assert_allclose(rows["observed"], y[4:])
    np.testing.assert_allclose(rows["log_linear_rel_error"], 0.0, atol=1e-10)
    np.testing.assert_allclose(rows["power_law_rel_error"], 0.0, atol=1e-3)
    # ratio at z = 20 times PCA there: (z/20)^(−0.2) / (z/20)^(−0.4) − 1
    np.testing.assert_allclose(rows["pca_relative_rel_error"], (Z6[4:] / 20) ** 0.2 - 1, rtol=1e-10)
    assert (rows["power_law_status"] == "fitted").all()


def test_power_law_not_fittable_on_too_few_points_and_missing_pca_noted():
    z = np.array([2, 10, 20, 40])
    rows = extrapolate(z, 0.5 * z ** -0.4, pca={2: 0.3, 10: 0.2})
    assert len(rows) == 1 and rows.loc[0, "latent_dim"] == 40
    assert rows.loc[0, "power_law_status"].startswith("not fittable: 3 fitted points")
    assert np.isnan(rows.loc[0, "power_law"]) and np.isnan(rows.loc[0, "pca_relative"])
    assert "no PCA RMSE at z=20" in rows.loc[0, "note"]
    assert rows.loc[0, "log_linear_rel_error"] == pytest.approx(0.0, abs=1e-10)


def test_extrapolation_table_and_median_over_families():
    z = np.array([2, 10, 40])
    by_z = pd.concat([pd.DataFrame({"family": "exact", "latent_dim": z, "rmse_mean": 0.5 * z ** -0.4}),
                      pd.DataFrame({"family": "off", "latent_dim": z, "rmse_mean": [0.4, 0.2, 0.2]}),
                      pd.DataFrame({"family": "short", "latent_dim": z[:2], "rmse_mean": [0.4, 0.2]})])
    table = extrapolation_table(by_z)
    assert list(table["family"]) == ["exact", "off", "short"]
    assert table.set_index("family").loc["short", "note"].startswith("skipped: Expected at least 3")
    off = table.set_index("family").loc["off"]
    assert off["log_linear"] == pytest.approx(0.2 * 4 ** (np.log(0.5) / np.log(5)))  # the line through z = 2, 10
    summary = extrapolation_summary(table).set_index("predictor")
    expected = np.median([0.0, abs(off["log_linear_rel_error"])])
    assert summary.loc["log_linear", "median_abs_rel_error"] == pytest.approx(expected)
    assert summary.loc["log_linear", "n_families"] == 2
    assert summary.loc["power_law", "n_families"] == 0 and np.isnan(summary.loc["power_law", "median_abs_rel_error"])
    with pytest.raises(ValueError, match="average the seeds first"):
        extrapolation_table(pd.concat([by_z, by_z]))


def _correlated(n, r, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    return x, r * x + np.sqrt(1 - r * r) * rng.standard_normal(n)


def test_spearman_interval_contains_the_truth_on_monotone_data():
    x, y = _correlated(300, 0.8, 1)
    truth = 6 / np.pi * np.arcsin(0.8 / 2)  # Spearman's rho of a bivariate normal with correlation 0.8
    out = bootstrap_spearman(np.exp(x), y ** 3, n_boot=1000, seed=0)  # monotone transforms leave rho unchanged
    assert out["n"] == 300 and out["ci95_low"] < truth < out["ci95_high"]
    assert out["ci95_high"] - out["ci95_low"] < 0.15
    exact = bootstrap_spearman(np.arange(10.0), np.arange(10.0) ** 2, n_boot=200)
    assert exact["spearman"] == pytest.approx(1.0) and exact["ci95_low"] == pytest.approx(1.0)


def test_spearman_near_zero_on_independent_data_and_seeded():
    x, y = _correlated(300, 0.0, 2)
    out = bootstrap_spearman(x, y, n_boot=1000, seed=0)
    assert abs(out["spearman"]) < 0.15 and out["ci95_low"] < 0 < out["ci95_high"]
    assert bootstrap_spearman(x, y, n_boot=1000, seed=0) == out
    other = bootstrap_spearman(x, y, n_boot=1000, seed=1)  # the seed is used: other resamples, the same estimate
    assert other["spearman"] == out["spearman"] and other["ci95_low"] != out["ci95_low"]
    assert np.isnan(bootstrap_spearman([1, 2], [2, 1])["spearman"])
    with pytest.raises(ValueError, match="equal length"):
        bootstrap_spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_spearman([1, 2, 3], [1, 2, 3], n_boot=10)


def _cells(families=("a", "b", "c", "d"), zs=(2, 10, 40), seeds=(0, 1)):
    return pd.DataFrame([{"family": f, "latent_dim": z, "seed": s, "rank": i * 10 + j}
                         for i, f in enumerate(families) for j, z in enumerate(zs) for s in seeds])


def test_criterion_prediction_averages_seeds_and_notes_what_is_missing():
    runs = _cells()
    # seed 1 swaps the order of the id RMSE; only the mean over seeds follows `rank`
    runs["rmse_mean"] = np.where(runs["seed"] == 0, runs["rank"], 100 - 0.5 * runs["rank"])
    runs["n_params"] = 1000 + runs["latent_dim"]
    ood = pd.concat([_cells().assign(dataset=d, role="complementary") for d in ("letters", "fashion")])
    ood["rmse_mean"] = 2.0 * ood["rank"] + ood["seed"]
    gen = pd.concat([_cells().assign(mode="relative", source="perturbed", level=p) for p in (0.0, 0.1, 0.5)])
    gen["label_consistency"] = 1 - gen["rank"] / 100 - gen["level"]
    table = criterion_prediction(runs, ood=ood, latent=None, gen=gen, n_boot=200)
    rows = table.set_index(["predictor", "target"])
    assert rows.loc[("id_rmse", "ood_rmse (letters)"), "spearman"] == pytest.approx(1.0)
    assert rows.loc[("id_rmse", "ood_rmse (letters)"), "n_cells"] == 12
    assert rows.loc[("id_rmse", "label_consistency (relative, p=0.1)"), "spearman"] == pytest.approx(-1.0)
    assert rows.loc[("id_rmse", "trustworthiness"), "note"].startswith("skipped: latent_quality.csv missing")
    assert np.isnan(rows.loc[("n_params", "trustworthiness"), "spearman"])
    empty = criterion_prediction(pd.DataFrame())
    assert (empty["n_cells"] == 0).all() and empty["note"].str.startswith("skipped").all()
