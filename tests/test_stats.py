"""Paired comparisons, Holm, rank intervals and the grouped ranking (aelib.stats, the ranking part of aelib.report)."""
import numpy as np
import pandas as pd
import pytest

from aelib import stats
from aelib.report import criterion_weights, generative_degradation, rank_table, ranking_sensitivity


def _noise(seed: int, n: int, scale: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, n)


# ------------------------------------------------------------------ mean over seeds


def test_t_interval_closed_form_and_small_samples():
    mean, low, high = stats.t_interval([1.0, 2.0, 3.0])  # s = 1; with 2 degrees of freedom t has a closed form
    t_975 = np.sqrt(2 * 0.95**2 / (1 - 0.95**2))
    assert mean == 2.0 and high - mean == pytest.approx(t_975 / np.sqrt(3), rel=1e-9)
    assert mean - low == pytest.approx(high - mean, rel=1e-12)
    assert np.isnan(stats.t_interval([0.7])[1:]).all() and stats.t_interval([0.7], one_value="mean") == (0.7, 0.7, 0.7)
    assert np.isnan(stats.t_interval([])).all() and np.isnan(stats.t_interval([np.nan, np.inf])).all()
    assert stats.t_interval([np.nan, 1.0, 3.0]) == stats.t_interval([1.0, 3.0])  # non-finite values are dropped
    assert stats.t_interval([np.inf, 1.0], finite_only=False)[0] == np.inf  # ... unless asked to keep them
    with pytest.raises(ValueError, match="confidence"):
        stats.t_interval([1.0, 2.0], confidence=95)


# ------------------------------------------------------------------ paired bootstrap


def test_paired_bootstrap_detects_a_known_difference_and_covers_it():
    base = 0.1 + _noise(0, 2000, 0.02)
    a = base + _noise(1, 2000, 0.005)
    b = base + 0.012 + _noise(2, 2000, 0.005)  # a is lower by 0.012 in expectation
    diff, low, high, p = stats.paired_bootstrap(a, b)
    assert low < -0.012 < high and low < diff < high
    assert high - low < 0.002  # paired: the shared base cancels
    assert p < 0.001


def test_paired_bootstrap_does_not_detect_a_difference_that_is_not_there():
    base = 0.1 + _noise(0, 2000, 0.02)
    a, b = base + _noise(3, 2000, 0.005), base + _noise(4, 2000, 0.005)  # the same distribution
    diff, low, high, p = stats.paired_bootstrap(a, b)
    assert low < 0 < high and p > 0.05


def test_few_seeds_never_detect_and_one_gives_no_interval():
    # all differences positive: a percentile bootstrap would exclude 0; the exact sign-flip test does not
    assert stats.paired_bootstrap([0.30, 0.31], [0.20, 0.20])[3] == pytest.approx(0.5)
    assert stats.paired_bootstrap([1.0] * 5, [0.0] * 5)[3] == pytest.approx(2 / 2 ** 5)
    assert stats.paired_bootstrap([1.0] * 6, [0.0] * 6)[3] == pytest.approx(2 / 2 ** 6)
    diff, low, high, p = stats.paired_bootstrap([0.3], [0.2])
    assert diff == pytest.approx(0.1) and np.isnan([low, high, p]).all()
    assert stats.paired_bootstrap(np.ones(50), np.ones(50))[3] == 1.0  # identical: p = 1


def test_paired_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="same number"):
        stats.paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.paired_bootstrap([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="n_boot"):
        stats.paired_bootstrap([1.0, 2.0], [1.0, 2.0], n_boot=10)


def test_pairwise_table_decisions_match_the_single_comparison():
    base = 0.1 + _noise(0, 1000, 0.02)
    values = {"fcae": base, "vae": base + 0.012 + _noise(5, 1000, 0.002), "dae": base + _noise(6, 1000, 0.002)}
    table = stats.pairwise_table(values, over="test samples (one seed)")
    assert list(table.columns) == stats.PAIRWISE_COLUMNS
    assert list(zip(table["family_a"], table["family_b"])) == [("fcae", "vae"), ("fcae", "dae"), ("vae", "dae")]
    row = table.iloc[0]
    assert row["decision"].startswith("fcae lower than vae by 0.01") and row["reject"]
    assert (row["diff"], row["ci95_low"], row["ci95_high"], row["p"]) == pytest.approx(
        stats.paired_bootstrap(values["fcae"], values["vae"]))  # the same resamples and flips
    assert table.iloc[1]["decision"] == "no detectable difference" and not table.iloc[1]["reject"]
    assert table.iloc[2]["decision"].startswith("vae higher than dae by 0.01")
    assert (table["p_holm"] >= table["p"]).all() and set(table["over"]) == {"test samples (one seed)"}
    one = stats.pairwise_table({"fcae": [0.1], "vae": [0.2]}, over="seeds")
    assert one["decision"].tolist() == ["one seed: no interval"] and one["p"].isna().all()


def test_decision_text_format():
    assert stats.decision_text("fcae", "vae", -0.012, -0.016, -0.008, True, n=10) == \
        "fcae lower than vae by 0.0120 [0.0080, 0.0160]"
    assert stats.decision_text("fcae", "vae", -0.012, -0.016, -0.008, False, n=10) == "no detectable difference"


# ------------------------------------------------------------------ Holm


def test_holm_on_a_constructed_list():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005·4 = 0.02 ≤ .05, 0.01·3 = 0.03 ≤ .05, 0.03·2 = 0.06 > .05: stop
    assert stats.holm(p).tolist() == [True, False, False, True]
    np.testing.assert_allclose(stats.holm_adjusted(p), [0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.01, 0.02, 0.03], alpha=0.05).all()  # 0.03, 0.04, 0.03 (monotone): all ≤ .05
    # NaN (no test) is never rejected and does not count: m = 2 here
    assert stats.holm([0.01, np.nan, 0.04]).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="p-values in"):
        stats.holm([0.5, 1.5])


# ------------------------------------------------------------------ rank intervals


def test_rank_intervals_best_is_certain_and_ties_overlap():
    n = 300
    values = {"best": 0.05 + _noise(10, n, 0.01), "tie_a": 0.20 + _noise(11, n, 0.05),
              "tie_b": 0.20 + _noise(12, n, 0.05), "worst": 0.50 + _noise(13, n, 0.01)}
    table = stats.rank_intervals(values, lower_is_better=True).set_index("family")
    assert tuple(table.loc["best", ["rank", "rank_low", "rank_high"]]) == (1, 1, 1)
    assert tuple(table.loc["worst", ["rank", "rank_low", "rank_high"]]) == (4, 4, 4)
    for family in ("tie_a", "tie_b"):
        assert (table.loc[family, "rank_low"], table.loc[family, "rank_high"]) == (2, 3)
    flipped = stats.rank_intervals(values, lower_is_better=False).set_index("family")
    assert flipped.loc["worst", "rank"] == 1
    single = stats.rank_intervals({"a": [0.1], "b": [0.2]}, lower_is_better=True)
    assert single["rank"].tolist() == [1, 2] and single["rank_low"].isna().all()


def test_composite_rank_is_the_mean_of_measure_ranks():
    measures = {"trust": {"a": [0.9, 0.91, 0.9], "b": [0.8, 0.8, 0.81], "c": [0.7, 0.7, 0.7]},
                "stress": {"a": [0.3, 0.3, 0.3], "b": [0.1, 0.1, 0.11], "c": [0.2, 0.2, 0.2]}}
    table = stats.composite_rank_intervals(measures, higher_is_better={"trust": True, "stress": False})
    table = table.set_index("family")
    # a: ranks 1 and 3 → 2; b: 2 and 1 → 1.5; c: 3 and 2 → 2.5
    assert table["value"].to_dict() == {"a": 2.0, "b": 1.5, "c": 2.5}
    assert table["rank"].to_dict() == {"a": 2, "b": 1, "c": 3}
    with pytest.raises(ValueError, match="direction"):
        stats.composite_rank_intervals(measures, higher_is_better={"trust": True})


# ------------------------------------------------------------------ grouped criteria and the overall rank


def _criteria():
    families = ["fcae", "vae", "dae", "sae"]
    return {"reconstruction": pd.Series([0.10, 0.20, 0.15, 0.30], index=families),
            "ood_generalisation": pd.Series([0.20, 0.10, 0.30, 0.25], index=families),
            "ood_detection": pd.Series([0.60, 0.90, 0.70, 0.80], index=families),
            "latent_structure": pd.Series([2.0, 1.0, 3.0, 4.0], index=families)}


BETTER = {"reconstruction": False, "ood_generalisation": False, "ood_detection": True, "latent_structure": False}


def test_ood_rmse_and_auroc_stay_separate_and_are_never_averaged():
    ranking = rank_table(_criteria(), BETTER)
    assert {"rank_ood_generalisation", "rank_ood_detection", "mean_rank", "rank_overall"} <= set(ranking.columns)
    assert not [c for c in ranking if "ood" in c and "generalisation" not in c and "detection" not in c]
    reversed_auroc = {**_criteria(), "ood_detection": -_criteria()["ood_detection"]}
    again = rank_table(reversed_auroc, BETTER)
    pd.testing.assert_frame_equal(ranking.set_index("family")[["mean_rank", "rank_overall"]].sort_index(),
                                  again.set_index("family")[["mean_rank", "rank_overall"]].sort_index())
    ranks = ranking.set_index("family")
    expected = ranks[["rank_reconstruction", "rank_ood_generalisation", "rank_latent_structure"]].mean(axis=1)
    pd.testing.assert_series_equal(ranks["mean_rank"], expected, check_names=False)
    with pytest.raises(ValueError, match="never averaged"):
        criterion_weights(list(BETTER), {"ood_generalisation": 1.0, "ood_detection": 1.0})
    sensitivity = ranking_sensitivity(ranking)
    assert {"rank_without_reconstruction", "rank_without_ood_generalisation", "rank_without_latent_structure",
            "rank_with_ood_detection_for_ood_generalisation", "max_shift"} <= set(sensitivity.columns)
    assert "rank_without_ood_detection" not in sensitivity  # weight 0: leaving it out changes nothing


def test_modes_of_one_group_share_its_weight():
    weights = criterion_weights(["reconstruction", "smoothness_relative", "smoothness_additive"],
                                {"reconstruction": 1.0, "smoothness": 1.0})
    assert weights == {"reconstruction": 1.0, "smoothness_relative": 0.5, "smoothness_additive": 0.5}
    # by default generation is judged on samples; the perturbation slopes (smoothness) are described, weight 0
    weights = criterion_weights(["generative", "smoothness_relative", "smoothness_additive"])
    assert weights == {"generative": 1.0, "smoothness_relative": 0.0, "smoothness_additive": 0.0}
    assert criterion_weights(["rmse", "hit"]) == {"rmse": 1.0, "hit": 1.0}  # undeclared: weight 1


def test_rank_table_keeps_intervals_next_to_each_rank():
    intervals = {"reconstruction": pd.DataFrame({"family": ["fcae", "vae", "dae", "sae"], "rank_low": [1, 2, 1, 4],
                                                 "rank_high": [2, 3, 3, 4]})}
    ranking = rank_table(_criteria(), BETTER, intervals=intervals).set_index("family")
    assert (ranking.loc["dae", "rank_reconstruction_low"], ranking.loc["dae", "rank_reconstruction_high"]) == (1, 3)
    assert "rank_ood_detection_low" not in ranking


# ------------------------------------------------------------------ generative degradation


def test_degradation_uses_p_above_zero_relative_to_zero():
    levels = [0.0, 0.5, 1.0]
    assert stats.degradation_slope(levels, [0.10, 0.15, 0.20]) == pytest.approx(0.1)
    # a worse reconstruction at p = 0 shifts every level alike: the slope does not see it
    assert stats.degradation_slope(levels, [0.40, 0.45, 0.50]) == pytest.approx(0.1)
    assert stats.degradation_slope([0.0, 0.0, 1.0], [0.1, 0.3, 0.5]) == pytest.approx(0.3)  # p = 0 only the origin
    for bad in ([0.5, 1.0], [0.0]):
        with pytest.raises(ValueError, match="p = 0"):
            stats.degradation_slope(bad, [0.1] * len(bad))


def test_generative_degradation_ranks_each_mode_and_leaves_prior_samples_out():
    rows = []
    for family, p0, slope in (("fcae", 0.05, 0.20), ("vae", 0.15, 0.02)):  # fcae reconstructs better, degrades faster
        for mode in ("relative", "additive"):
            for level in (0.0, 0.5, 1.0):
                rows.append({"family": family, "latent_dim": 2, "seed": 0, "mode": mode, "source": "perturbed",
                             "level": level, "rmse_mean": p0 + slope * level})
    rows.append({"family": "vae", "latent_dim": 2, "seed": 0, "mode": None, "source": "prior", "level": np.nan,
                 "rmse_mean": 9.9})
    table = generative_degradation(pd.DataFrame(rows))
    assert len(table) == 4 and set(table["mode"]) == {"relative", "additive"}
    slopes = table.set_index(["family", "mode"])["rmse_slope"]
    assert slopes[("fcae", "relative")] == pytest.approx(0.20) and slopes[("vae", "additive")] == pytest.approx(0.02)
    from aelib.report.comparisons import _smoothness_criteria

    ranked, pairwise = _smoothness_criteria(table)
    assert [r["name"] for r in ranked] == ["smoothness_additive", "smoothness_relative"]
    for r in ranked:
        assert r["table"].set_index("family")["rank"].to_dict() == {"fcae": 2, "vae": 1}
        assert r["over"] == "one seed: no interval"
    assert all(set(block["decision"]) == {"one seed: no interval"} for block in pairwise)


def _scored_samples(real: np.ndarray, decoders: dict, seeds=(0, 1, 2)) -> pd.DataFrame:
    """generative_samples rows: each decoder's GMM samples (a function of a seed) scored against ``real``."""
    from aelib.metrics.generative import frechet_distance
    from aelib.metrics.samples import sample_scores

    rows = []
    for family, decode in decoders.items():
        for z in (2, 8):
            for seed in seeds:
                fake = decode(seed + 10 * z)
                rows.append({"family": family, "latent_dim": z, "seed": seed, "sampler": "gmm",
                             "frechet": frechet_distance(fake, real), **sample_scores(real, fake, k=5),
                             "n_samples": len(fake), "k": 5, "n_components": 10})
    return pd.DataFrame(rows)


def test_a_decoder_that_ignores_its_code_ranks_last_on_generation_and_first_on_the_slope():
    from aelib.report.comparisons import _generative_criterion, _smoothness_criteria

    real = np.random.default_rng(0).normal(size=(300, 8))  # the judge's features of real test images
    decoders = {  # features of decoded samples: like the real ones, shifted a little, or one image repeated
        "good": lambda s: np.random.default_rng(s).normal(size=(300, 8)),
        "blurry": lambda s: np.random.default_rng(s).normal(0.5, 0.7, size=(300, 8)),
        "constant": lambda s: np.repeat(real.mean(axis=0, keepdims=True) + 0.1, 300, axis=0)}
    samples = _scored_samples(real, decoders)
    ranked, pairwise = _generative_criterion(samples)
    assert ranked["name"] == "generative" and ranked["better"] == "lower"
    assert ranked["table"].set_index("family")["rank"].to_dict() == {"good": 1, "blurry": 2, "constant": 3}
    assert ranked["over"] == "seeds (3: 0, 1, 2)" and ranked["table"]["rank_low"].notna().all()
    assert "Fréchet distance of GMM samples in the judge's features" in ranked["what"]
    assert "precision and recall (k-NN balls, k = 5)" in ranked["what"]
    constant = samples[samples["family"] == "constant"]
    assert (constant["recall"] == 0).all() and (constant["coverage"] < 0.05).all()
    assert {b["latent_dim"].iloc[0] for b in pairwise} == {2, 8} and {b["sampler"].iloc[0] for b in pairwise} == {"gmm"}
    # its RMSE does not move under perturbation: first on the slope, which therefore weighs 0
    slopes = pd.DataFrame([{"family": f, "mode": "additive", "latent_dim": z, "seed": s, "rmse_slope": slope}
                           for f, slope in (("good", 0.2), ("blurry", 0.15), ("constant", 0.0)) for z in (2, 8)
                           for s in (0, 1, 2)])
    (smooth,), _ = _smoothness_criteria(slopes)
    assert smooth["table"].set_index("family")["rank"]["constant"] == 1
    ranking = rank_table({"generative": ranked["table"].set_index("family")["value"],
                          "smoothness_additive": smooth["table"].set_index("family")["value"]},
                         {"generative": False, "smoothness_additive": False}).set_index("family")
    assert ranking.loc["constant", "rank_overall"] == 3 and ranking.loc["good", "rank_overall"] == 1


def test_the_generative_criterion_ranks_the_gmm_sampler_only():
    from aelib.report.comparisons import _generative_criterion

    rows = [{"family": f, "latent_dim": 2, "seed": 0, "sampler": sampler, "frechet": value}
            for f, sampler, value in (("fcae", "gmm", 30.0), ("vae", "gmm", 40.0), ("vae", "prior", 10.0))]
    ranked, _ = _generative_criterion(pd.DataFrame(rows))
    assert ranked["table"].set_index("family")["value"].to_dict() == {"fcae": 30.0, "vae": 40.0}
    assert ranked["over"] == "one seed: no interval"
    assert _generative_criterion(pd.DataFrame()) == (None, [])


# ------------------------------------------------------------------ seeds


def test_with_several_seeds_intervals_and_comparisons_are_over_seeds():
    from aelib.report.comparisons import _latent_criterion, _reconstruction_criterion

    families, seeds = ["fcae", "vae", "dae"], [0, 1, 2]
    rows = [{"family": f, "depth": 3, "latent_dim": z, "seed": s, "rmse_mean": 0.1 + 0.05 * i + 0.001 * s,
             "trustworthiness": 0.9 - 0.1 * i + 0.001 * s, "stress_scaled": 0.1 + 0.1 * i}
            for i, f in enumerate(families) for z in (2, 8) for s in seeds]
    frame = pd.DataFrame(rows)

    class Samples:  # per-sample RMSE of seed 0's models
        def train(self, family, z, seed, depth=None):
            return 0.1 + 0.05 * families.index(family) + _noise(seed + z, 100, 0.01)

    ranked, pairwise = _reconstruction_criterion(frame, Samples())
    assert ranked["over"].startswith("seeds (3: 0, 1, 2)")
    assert ranked["table"].set_index("family")["rank"].to_dict() == {"fcae": 1, "vae": 2, "dae": 3}
    assert ranked["table"]["rank_low"].notna().all()
    blocks = pd.concat(pairwise)
    assert set(blocks["over"]) == {"test samples (seed 0)", "seeds"}
    by_seeds = blocks[blocks["over"] == "seeds"]
    assert set(by_seeds["n"]) == {3} and not by_seeds["reject"].any()  # 3 seeds: the sign-flip test cannot reach 5 %
    ranked, pairwise = _latent_criterion(frame)
    assert ranked["over"].startswith("seeds (3: 0, 1, 2)") and ranked["table"]["rank_high"].notna().all()
    assert {b["measure"].iloc[0] for b in pairwise} == {"trustworthiness", "stress_scaled"}


# ------------------------------------------------------------------ the summary's ranking from a study's files


def test_summary_ranking_and_pairwise_tables_from_the_study_files(fake_study):
    from aelib.report import ranking_and_comparisons, ranking_overview
    from aelib.study.steps.summary_inputs import ranking_inputs

    study, families = fake_study
    out = study.out_dir / "summary"
    ranking, sections = ranking_and_comparisons(out, **ranking_inputs(study), families=families, chosen_z=[2, 8])
    ranks = ranking.set_index("family")
    for criterion in ("reconstruction", "ood_generalisation", "ood_detection", "latent_structure", "generative",
                      "smoothness_relative"):
        assert f"rank_{criterion}" in ranks
    assert ranks.loc["vae", "rank_reconstruction"] == 3 and ranks.loc["vae", "rank_reconstruction_low"] == 3
    assert ranks.loc["fcae", "rank_reconstruction_low"] == 1 and ranks.loc["dae", "rank_reconstruction_high"] == 2
    assert np.isnan(ranks.loc["fcae", "rank_ood_detection_low"])  # one seed of a global measure: no interval
    by_criterion = pd.read_csv(out / "ranking_by_criterion.csv")
    over = by_criterion.groupby("criterion")["over"].first()
    assert over["reconstruction"].startswith("test samples (100 images, seed 0")
    assert over["ood_generalisation"].startswith("test samples (100 complementary images")
    assert over["latent_structure"] == "one seed: no interval"
    pairwise = pd.read_csv(out / "pairwise_reconstruction.csv")
    assert set(pairwise["latent_dim"]) == {2, 8} and set(pairwise["over"]) == {"test samples (seed 0)"}
    at2 = pairwise[pairwise["latent_dim"] == 2].set_index(["family_a", "family_b"])["decision"]
    assert at2[("fcae", "vae")].startswith("fcae lower than vae by 0.06")
    for name in ("ood_generalisation", "ood_detection", "latent_structure", "generative", "smoothness"):
        assert (out / f"pairwise_{name}.csv").is_file()
    assert set(pd.read_csv(out / "pairwise_latent_structure.csv")["measure"]) >= {"trustworthiness", "stress_scaled"}
    sensitivity = pd.read_csv(out / "ranking_sensitivity.csv")
    assert {"rank_without_reconstruction", "rank_with_ood_detection_for_ood_generalisation"} <= set(sensitivity)
    text = "\n".join(sections)
    assert "## Paired comparisons" in text and "## Ranking with uncertainty" in text
    overview = ranking_overview(ranking)
    assert "[1–2]" in overview and "RANKING_WEIGHTS" in overview
    weights = by_criterion.groupby("criterion")["weight"].first()
    assert weights["ood_detection"] == 0.0 and weights["smoothness_relative"] == 0.0 and weights["generative"] == 1.0
    assert ranks.loc["fcae", "rank_generative"] == 1 and ranks.loc["dae", "rank_generative"] == 3  # gmm Fréchet


def test_standardised_composite_weighs_measures_by_effect_size_not_rank():
    """Measure a separates the families by 0.0004 under seed noise of ±0.01, measure b by 0.3: a mean of ranks
    calls it a tie (one place each), the composite standardised over families and seeds follows b."""
    a = {"x": [0.9104, 0.8904, 0.9004], "y": [0.9100, 0.8900, 0.9000]}  # x ahead by 0.0004 in every seed
    b = {"x": [0.50, 0.52, 0.51], "y": [0.80, 0.82, 0.81]}
    ranks = stats.composite_rank_intervals({"a": a, "b": b}, higher_is_better={"a": True, "b": True}, n_boot=200)
    assert ranks.set_index("family")["value"].tolist() == [1.5, 1.5]
    table = stats.standardised_composite({"a": a, "b": b}, higher_is_better={"a": True, "b": True}, n_boot=200)
    by = table.set_index("family")
    assert by.loc["y", "rank"] == 1 and by.loc["x", "rank"] == 2
    # b: the families sit about ±1 sd apart; a: 0.0004 against an sd of about 0.008, a few hundredths
    assert by.loc["y", "value"] == pytest.approx(0.5 * (0.99 - 0.025), abs=0.02)
    assert by.loc["y", "value"] == pytest.approx(-by.loc["x", "value"])
    flipped = stats.standardised_composite({"a": a, "b": b}, higher_is_better={"a": True, "b": False}, n_boot=200)
    assert flipped.set_index("family").loc["x", "rank"] == 1


def test_a_reference_row_is_scored_on_the_composites_own_scales():
    measures = {"a": {"f": [1.0, 3.0], "g": [5.0, 7.0]}, "b": {"f": [0.2, 0.2], "g": [0.1, 0.1]}}
    directions = {"a": True, "b": False}
    scales = stats.measure_scales(measures, higher_is_better=directions)
    assert scales["a"] == pytest.approx((4.0, np.sqrt(5.0))) and scales["b"] == pytest.approx((0.15, 0.05))
    # a family's own mean values give its own composite score back
    table = stats.standardised_composite(measures, higher_is_better=directions).set_index("family")
    own = stats.standardised_score({"a": 2.0, "b": 0.2}, scales, higher_is_better=directions)
    assert own == pytest.approx(table.loc["f", "value"])
    with pytest.raises(ValueError, match=r"Received: \['a'\]"):
        stats.standardised_score({"a": 2.0}, scales, higher_is_better=directions)
