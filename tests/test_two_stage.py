"""The two-stage (seeds, then images) bootstrap of aelib.two_stage: coverage, pairing, ranks, Holm decisions."""
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from aelib import stats, two_stage

DELTA = 0.3  # the true difference a − b in the simulated data sets


def _seeds_and_images(rng, n_seeds: int, n_units: int, delta: float = DELTA) -> tuple[np.ndarray, np.ndarray]:
    """a − b = delta + a seed effect (sd 0.5, shared by all images of that seed) + image noise (sd 1)."""
    b = rng.normal(0.0, 1.0, (n_seeds, n_units))
    a = b + delta + rng.normal(0.0, 0.5, (n_seeds, 1)) + rng.normal(0.0, 1.0, (n_seeds, n_units))
    return a, b


def test_imports_no_tensorflow_and_no_study():
    code = ("import sys, aelib.two_stage, aelib.rank_tests; "
            "print(any(m in sys.modules for m in ('tensorflow', 'keras', 'aelib.study')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


# ------------------------------------------------------------------ coverage: why two stages


def test_two_stage_interval_covers_and_images_only_interval_does_not():
    """With seed-to-seed variation, resampling only the images ignores it: the interval is far too narrow."""
    rng = np.random.default_rng(2024)
    n_sims, n_boot = 300, 300
    two, one, widths = 0, 0, []
    for i in range(n_sims):
        a, b = _seeds_and_images(rng, 8, 50)
        result = two_stage.two_stage_difference(a, b, n_boot=n_boot, seed=i)
        two += result["ci_low"] <= DELTA <= result["ci_high"]
        widths.append(result["ci_high"] - result["ci_low"])
        boot = stats.bootstrap_means({"d": (a - b).mean(axis=0)}, n_boot=n_boot, seed=i)["d"].to_numpy()
        low, high = np.quantile(boot, [0.025, 0.975])
        one += low <= DELTA <= high
    assert 0.88 <= two / n_sims <= 0.99
    assert one / n_sims < 0.7
    true_sd = np.sqrt(0.5**2 / 8 + 1.0 / (8 * 50))
    assert np.median(widths) == pytest.approx(2 * 1.96 * true_sd, rel=0.25)  # about the right width


# ------------------------------------------------------------------ resampling


def test_resamples_are_seeds_then_images_within_each_drawn_seed():
    """The count-weight implementation equals the literal nested loop over the same draws."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 7))
    n_boot, seed = 120, 11
    draws = np.random.default_rng(seed)
    seeds = draws.integers(0, 3, size=(n_boot, 3))
    units = draws.integers(0, 7, size=(n_boot, 3, 7))
    literal = [np.mean([x[seeds[r, j], units[r, j]].mean() for j in range(3)]) for r in range(n_boot)]
    boot = two_stage.two_stage_bootstrap_means({"x": x}, n_boot=n_boot, seed=seed)["x"].to_numpy()
    np.testing.assert_allclose(boot, literal, rtol=1e-12)
    # and in chunks: every resample draws n_seeds × n_units cells
    for weights in two_stage._two_stage_weights(4, 600_000, 3, 0):
        assert weights.shape[1] == 4 * 600_000 and np.all(weights.sum(axis=1) == 4 * 600_000)


def test_paired_differences_cancel_what_the_families_share():
    rng = np.random.default_rng(1)
    b = rng.normal(0.2, 0.05, (4, 200)) + rng.normal(0, 0.3, (4, 1))
    same = two_stage.two_stage_difference(b, b.copy(), n_boot=500)
    assert same["estimate"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0 and same["p_value"] == 1
    shifted = two_stage.two_stage_difference(b + 0.25, b, n_boot=500)
    assert shifted["estimate"] == pytest.approx(0.25, rel=1e-12)
    assert shifted["ci_low"] == pytest.approx(0.25, rel=1e-9) and shifted["ci_high"] == pytest.approx(0.25, rel=1e-9)
    assert shifted["p_bootstrap"] == pytest.approx(2 / 501)  # every resample on one side: the +1 correction's floor
    assert shifted["p_value"] < 1e-6  # the same difference in every seed: the t-test over seeds rejects
    assert (shifted["n_seeds"], shifted["n_units"]) == (4, 200)
    worse = two_stage.two_stage_difference(b - 0.25, b, n_boot=500)
    assert worse["ci_high"] < 0 and worse["p_bootstrap"] == pytest.approx(2 / 501) and worse["p_value"] < 1e-6


def test_deterministic_reference_is_broadcast_over_seeds():
    rng = np.random.default_rng(2)
    a, reference = rng.normal(1.0, 0.2, (3, 80)), rng.normal(0.9, 0.2, 80)
    tiled = two_stage.two_stage_difference(a, np.tile(reference, (3, 1)), n_boot=300, seed=4)
    assert two_stage.two_stage_difference(a, reference, n_boot=300, seed=4) == pytest.approx(tiled, rel=1e-12)
    assert two_stage.two_stage_difference(a, reference[None, :], n_boot=300, seed=4) == pytest.approx(tiled,
                                                                                                    rel=1e-12)
    means = two_stage.two_stage_means({"ae": a, "pca": reference}, n_boot=300)
    assert means["n_seeds"].tolist() == [3, 1] and means["n_units"].tolist() == [80, 80]
    assert means["mean"].tolist() == pytest.approx([a.mean(), reference.mean()])
    assert (means["ci_low"] < means["mean"]).all() and (means["mean"] < means["ci_high"]).all()


def test_one_seed_resamples_the_images_only():
    rng = np.random.default_rng(3)
    v = rng.normal(0.0, 1.0, 400)
    two = two_stage.two_stage_means({"x": v[None, :]}, n_boot=2000).iloc[0]
    one = np.quantile(stats.bootstrap_means({"x": v}, n_boot=2000)["x"], [0.025, 0.975])
    assert two["ci_high"] - two["ci_low"] == pytest.approx(one[1] - one[0], rel=0.15)
    assert two["ci_high"] - two["ci_low"] == pytest.approx(2 * 1.96 * v.std() / 20, rel=0.15)
    lone = two_stage.two_stage_difference([[0.3]], [[0.1]], n_boot=100)
    assert lone["estimate"] == pytest.approx(0.2) and np.isnan([lone["ci_low"], lone["ci_high"],
                                                                lone["p_value"]]).all()
    # with seed variation, the same images over several seeds give a much wider interval than over one seed
    a, b = _seeds_and_images(np.random.default_rng(8), 6, 400)
    wide = two_stage.two_stage_difference(a, b, n_boot=500)
    narrow = two_stage.two_stage_difference(a[:1], b[:1], n_boot=500)
    assert wide["ci_high"] - wide["ci_low"] > 2 * (narrow["ci_high"] - narrow["ci_low"])


# ------------------------------------------------------------------ ranks


def test_rank_intervals_are_points_for_separated_families_and_wide_for_ties():
    rng = np.random.default_rng(6)
    values = {"good": rng.normal(0.0, 1.0, (5, 100)), "mid": rng.normal(10.0, 1.0, (5, 100)),
              "bad": rng.normal(20.0, 1.0, (5, 100)), "pca": np.full(100, 30.0)}
    table = two_stage.two_stage_rank_intervals(values, lower_is_better=True, n_boot=300)
    assert table.columns.tolist() == ["family", "value", "rank", "rank_low", "rank_high"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    assert (table["rank_low"] == table["rank"]).all() and (table["rank_high"] == table["rank"]).all()
    flipped = two_stage.two_stage_rank_intervals(values, lower_is_better=False, n_boot=300)
    assert flipped["rank"].tolist() == [4, 3, 2, 1]
    twins = {"x": rng.normal(0.0, 1.0, (5, 100)), "y": rng.normal(0.0, 1.0, (5, 100))}
    close = two_stage.two_stage_rank_intervals(twins, lower_is_better=True, n_boot=300)
    assert close["rank_low"].tolist() == [1, 1] and close["rank_high"].tolist() == [2, 2]
    tied = two_stage.two_stage_rank_intervals({"x": np.ones((2, 5)), "y": np.ones(5)}, lower_is_better=True,
                                              n_boot=100)
    assert tied["rank"].tolist() == [1, 1]  # ties share the smaller rank


# ------------------------------------------------------------------ declared comparisons and Holm


def test_declared_comparisons_pairs_every_family_with_every_other_reference():
    rng = np.random.default_rng(7)
    values = {f: rng.normal(level, 0.1, (3, 60)) for f, level in [("fcae", 1.0), ("vae", 1.2), ("dae", 1.0)]}
    references = {"pca": rng.normal(1.1, 0.1, 60), "fcae": values["fcae"]}
    table = two_stage.declared_comparisons(values, references, criterion="rmse", latent_dim=8,
                                           over="3 seeds × 60 test images (two-stage bootstrap)", n_boot=300)
    assert table.columns.tolist() == two_stage.COMPARISON_COLUMNS
    assert len(table) == 3 * 2 - 1
    assert list(zip(table["family"], table["reference"])) == [("fcae", "pca"), ("vae", "pca"), ("vae", "fcae"),
                                                              ("dae", "pca"), ("dae", "fcae")]
    assert table["p_adjusted"].isna().all() and (table["decision"] == "").all()
    assert (table["criterion"] == "rmse").all() and (table["latent_dim"] == 8).all()
    row = table.iloc[1]  # the same resamples as a lone comparison with the same seed
    alone = two_stage.two_stage_difference(values["vae"], references["pca"], n_boot=300)
    assert row["estimate"] == pytest.approx(values["vae"].mean() - references["pca"].mean())
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        (alone["ci_low"], alone["ci_high"], alone["p_value"]))
    only_self = two_stage.declared_comparisons({"pca": references["pca"]}, {"pca": references["pca"]},
                                               criterion="rmse", latent_dim=8, over="", n_boot=100)
    assert only_self.empty and only_self.columns.tolist() == two_stage.COMPARISON_COLUMNS
    decided = two_stage.holm_decisions(table)
    assert decided.set_index(["family", "reference"])["decision"].to_dict() == {
        ("fcae", "pca"): "better", ("vae", "pca"): "worse", ("vae", "fcae"): "worse",
        ("dae", "pca"): "better", ("dae", "fcae"): "not distinguishable"}


def test_holm_decisions_match_a_hand_example():
    table = pd.DataFrame({
        "criterion": ["rmse"] * 4 + ["accuracy"] * 2,
        "estimate": [-0.1, 0.2, -0.3, 0.4, 0.1, -0.1],
        "ci_low": [-0.2, 0.1, -0.4, -0.1, 0.05, -0.2],
        "ci_high": [-0.05, 0.3, -0.2, 0.9, 0.2, -0.01],
        "p_value": [0.01, 0.04, 0.03, 0.5, 0.01, 0.02],
    })
    out = two_stage.holm_decisions(table, lower_is_better={"rmse": True, "accuracy": False})
    # rmse: sorted 0.01, 0.03, 0.04, 0.5 → 4·0.01, max(…, 3·0.03), max(…, 2·0.04), max(…, 0.5); accuracy: 2·0.01, 0.02
    assert out["p_adjusted"].tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5, 0.02, 0.02])
    assert out["decision"].tolist() == ["better", "not distinguishable", "not distinguishable",
                                        "not distinguishable", "better", "worse"]
    assert "p_adjusted" not in table.columns  # a copy
    # no groups: one Holm over all six: sorted 0.01, 0.01, 0.02, 0.03, 0.04, 0.5 times 6, 5, 4, 3, 2, 1, running max
    pooled = two_stage.holm_decisions(table.assign(criterion="rmse"), by=[])
    assert pooled["p_adjusted"].tolist() == pytest.approx([0.06, 0.09, 0.09, 0.5, 0.06, 0.08])
    assert (pooled["decision"] == "not distinguishable").all()
    # rejected by Holm but the interval holds 0: not distinguishable
    clash = two_stage.holm_decisions(table.assign(ci_low=-1.0, ci_high=1.0),
                                     lower_is_better={"rmse": True, "accuracy": False})
    assert (clash["decision"] == "not distinguishable").all()
    with pytest.raises(ValueError, match="accuracy"):
        two_stage.holm_decisions(table, lower_is_better={"rmse": True})
    with pytest.raises(ValueError, match="Missing: \\['p_value'\\]"):
        two_stage.holm_decisions(table.drop(columns="p_value"))
    with pytest.raises(ValueError, match="alpha"):
        two_stage.holm_decisions(table, alpha=5)


# ------------------------------------------------------------------ design


def test_detectable_difference_needs_two_seeds_and_shrinks_as_one_over_root_n():
    def with_unit_spread(n_seeds: int) -> np.ndarray:
        means = np.random.default_rng(n_seeds).normal(size=n_seeds)
        means = (means - means.mean()) / means.std(ddof=1)  # per-seed means with sd exactly 1
        noise = np.random.default_rng(0).normal(size=(n_seeds, 30))
        return means[:, None] + noise - noise.mean(axis=1, keepdims=True)

    assert np.isnan(two_stage.detectable_difference(np.ones((1, 10))))
    assert np.isnan(two_stage.detectable_difference(np.ones(10)))
    d4, d16 = two_stage.detectable_difference(with_unit_spread(4)), two_stage.detectable_difference(
        with_unit_spread(16))
    assert d4 == pytest.approx((1.959964 + 0.841621) * np.sqrt(2 / 4), rel=1e-6)
    assert d4 / d16 == pytest.approx(2.0, rel=1e-9)
    assert two_stage.detectable_difference(with_unit_spread(4), power=0.9) > d4
    with pytest.raises(ValueError, match="power"):
        two_stage.detectable_difference(with_unit_spread(4), power=80)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("values, message", [
    ({}, "non-empty dict"),
    ({"a": [[1.0, 2.0], [1.0]]}, "ragged"),
    ({"a": [[1.0, np.nan]]}, "finite values for 'a'"),
    ({"a": np.ones((0, 5))}, "at least one seed and one unit for 'a'"),
    ({"a": np.ones((2, 0))}, "at least one seed and one unit"),
    ({"a": np.ones((2, 3, 4))}, "shape \\(2, 3, 4\\)"),
    ({"a": np.ones((2, 5)), "b": np.ones((2, 6))}, "same units .* 'b': \\(2, 6\\)"),
    ({"a": np.ones((3, 5)), "b": np.ones((2, 5))}, "same seeds .*'a': \\(3, 5\\), 'b': \\(2, 5\\)"),
])
def test_bad_values_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        two_stage.two_stage_means(values, n_boot=100)


def test_bad_arguments_are_refused():
    a = np.ones((2, 5))
    with pytest.raises(ValueError, match="n_boot"):
        two_stage.two_stage_difference(a, a, n_boot=50)
    with pytest.raises(ValueError, match="confidence"):
        two_stage.two_stage_means({"a": a}, confidence=95)
    with pytest.raises(ValueError, match="seed"):
        two_stage.two_stage_rank_intervals({"a": a}, lower_is_better=True, seed=-1)
    with pytest.raises(ValueError, match="for 'b'"):
        two_stage.two_stage_difference(a, np.ones((2, 4)) * np.inf)
    with pytest.raises(ValueError, match="reference 'pca'"):
        two_stage.declared_comparisons({"ae": a}, {"pca": np.ones(6)}, criterion="rmse", latent_dim=2, over="")
    with pytest.raises(ValueError, match="reference"):
        two_stage.declared_comparisons({"ae": a}, {}, criterion="rmse", latent_dim=2, over="")


def test_the_decisions_test_over_three_seeds_keeps_its_level_where_the_bootstrap_p_does_not():
    """No true difference, a seed effect (sd 0.5) and image noise (sd 1): over 400 data sets of 3 seeds × 200
    images, the paired t-test over seeds rejects at 5 % about 5 % of the time; the bootstrap p far more often."""
    rng = np.random.default_rng(11)
    t_rejects = boot_rejects = 0
    for _ in range(400):
        a = rng.normal(0, 0.5, (3, 1)) + rng.normal(0, 1, (3, 200))
        b = rng.normal(0, 0.5, (3, 1)) + rng.normal(0, 1, (3, 200))
        out = two_stage.two_stage_difference(a, b, n_boot=200, seed=1)
        t_rejects += out["p_value"] <= 0.05
        boot_rejects += out["p_bootstrap"] <= 0.05
    assert 0.02 <= t_rejects / 400 <= 0.09
    assert boot_rejects / 400 > 0.15
    assert math.isnan(two_stage.two_stage_difference(a[:1], b[:1], n_boot=100)["p_value"])  # one seed: no test
