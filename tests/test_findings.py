"""The report's findings in words (aelib.findings) on small constructed tables: no TensorFlow, no training."""
import itertools
import math
import os
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from aelib import findings
from aelib.criteria import LATENT_MEASURES


def pairwise(values: dict, *, threshold: float | None = 0.005, half: float = 0.002, z: int = 2,
             over: str = "test samples (seed 0)", **front) -> pd.DataFrame:
    """A pairwise table as aelib.stats.pairwise_table writes it: diff = a − b, interval diff ± half, and a pair
    detectable when |diff| > threshold; threshold None: one seed, nothing tested."""
    rows = []
    for a, b in itertools.combinations(values, 2):
        d = values[a] - values[b]
        tested = threshold is not None
        reject = tested and abs(d) > threshold
        rows.append({**front, "latent_dim": z, "family_a": a, "family_b": b, "n": 1000 if tested else 1, "diff": d,
                     "ci95_low": d - half if tested else np.nan, "ci95_high": d + half if tested else np.nan,
                     "p": (0.001 if reject else 0.5) if tested else np.nan,
                     "p_holm": (0.01 if reject else 1.0) if tested else np.nan, "reject": reject,
                     "decision": "…", "over": over if tested else "one seed"})
    return pd.DataFrame(rows)


def ranking(criterion: str, values: dict, *, better: str = "lower", over: str = "test samples (1000 images, seed 0)",
            intervals: bool = True) -> pd.DataFrame:
    order = sorted(values, key=lambda f: values[f], reverse=better == "higher")
    return pd.DataFrame([{"criterion": criterion, "family": f, "value": values[f], "rank": i + 1,
                          "rank_low": (i + 1 if intervals else np.nan), "rank_high": (i + 1 if intervals else np.nan),
                          "better": better, "over": over, "weight": 1.0} for i, f in enumerate(order)])


RMSE = {"cae": 0.130, "rae": 0.131, "dae": 0.140, "vae": 0.150}


# ------------------------------------------------------------------ per criterion


def test_block_sentence_names_best_ties_and_the_rest():
    text = findings.block_sentence(pairwise(RMSE), higher_is_better=False, label="z = 2", quantity="test RMSE")
    assert text.startswith("z = 2: **cae** lowest test RMSE")
    assert "rae is not distinguishable here (rae higher by 0.0010 [-0.0010, 0.0030])" in text
    assert "every other family is higher on these units, by at least 0.0100 (dae: [0.0080, 0.0120])" in text


def test_block_sentence_follows_the_table():
    swapped = findings.block_sentence(pairwise({**RMSE, "dae": 0.120}), higher_is_better=False, label="z = 2")
    assert "**dae** lowest" in swapped and "**cae**" not in swapped
    every_pair = findings.block_sentence(pairwise(RMSE, threshold=0.0005), higher_is_better=False, label="z = 2")
    assert "not distinguishable here" not in every_pair
    assert "every other family is higher on these units, by at least 0.0010 (rae: [-0.0010, 0.0030])" in every_pair
    two = findings.block_sentence(pairwise({"cae": 0.13, "rae": 0.14}), higher_is_better=False, label="z = 2")
    assert two == "z = 2: **cae** lowest; rae is higher on these units, by 0.0100 [0.0080, 0.0120]."
    no_pair = findings.block_sentence(pairwise(RMSE, threshold=1.0), higher_is_better=False, label="z = 2")
    assert "no family is distinguishable from it here" in no_pair and "on these units" not in no_pair


def test_block_sentence_higher_is_better_and_many_ties():
    auc = {"sae": 0.90, "rae": 0.89, "cae": 0.88, "dae": 0.87, "vae": 0.86, "fcae": 0.70}
    text = findings.block_sentence(pairwise(auc, threshold=0.05), higher_is_better=True, label="z = 10")
    assert "**sae** highest" in text
    # four tied families: named, then only the largest gap shown
    assert "rae, cae, dae and vae are not distinguishable here (up to 0.0400 [0.0380, 0.0420], vae)" in text
    assert "fcae is lower on these units, by 0.2000 [0.1980, 0.2020]" in text


def test_block_best_is_found_from_any_anchor_and_disconnected_pairs_fail():
    table = pairwise(RMSE).iloc[::-1]  # the first row no longer starts from the best family
    assert findings.block_comparison(table, higher_is_better=False)["best"] == "cae"
    broken = pd.DataFrame([{"family_a": "cae", "family_b": "rae", "diff": -0.001, "ci95_low": 0, "ci95_high": 0,
                            "p": 0.5, "reject": False},
                           {"family_a": "dae", "family_b": "vae", "diff": -0.01, "ci95_low": 0, "ci95_high": 0,
                            "p": 0.5, "reject": False}])
    with pytest.raises(ValueError, match="unconnected"):
        findings.block_comparison(broken, higher_is_better=False)
    with pytest.raises(ValueError, match=r"missing \['reject'\]"):
        findings.block_comparison(pairwise(RMSE).drop(columns="reject"), higher_is_better=False)


def test_criterion_finding_per_z_and_ranking_line():
    table = pd.concat([pairwise({**RMSE, "rae": 0.120}, z=2), pairwise(RMSE, z=10)], ignore_index=True)
    text = findings.criterion_finding("reconstruction", ranking("reconstruction", RMSE), table,
                                      what="test RMSE, mean over z = 2, 10", over="test samples (1000 images, seed 0)")
    assert text.startswith("**Reconstruction** (test RMSE, mean over z = 2, 10; lower is better): **cae** ranks "
                           "first (0.13, rank interval 1–1 over test samples (1000 images, seed 0)); next rae (0.131)")
    assert "Best per z: rae at z = 2; cae at z = 10." in text
    assert "- z = 2: **rae** lowest test RMSE" in text and "- z = 10: **cae** lowest test RMSE" in text
    assert "mean over test samples (seed 0)" in text and "Holm-corrected at 5 % over the 6 pairs" in text


def test_seed_blocks_too_small_to_decide_are_said_so_not_read_as_ties():
    seeds = pairwise(RMSE, over="seeds").assign(n=2, p=0.5, p_holm=1.0, reject=False)
    samples = pairwise(RMSE)  # the same cell over test images: cae and rae tied, the rest detectably higher
    text = findings.criterion_finding("reconstruction", ranking("reconstruction", RMSE),
                                      pd.concat([seeds, samples], ignore_index=True))
    assert text.count("- z = 2: ") == 1 and "every other family is higher on these units" in text
    assert "Over seeds (2), no pair can be declared different" in text and "at least 8 seeds" in text
    # only seed blocks (no per-image values): the best is listed, untested, with the reason
    only = findings.criterion_finding("latent_structure", ranking("latent_structure", RMSE),
                                      seeds.assign(measure="trustworthiness"),
                                      latent_directions={"trustworthiness": False})
    assert "too few seeds for the test to decide" in only and "not distinguishable here" not in only
    # enough seeds: the seed block decides as before
    many = pairwise(RMSE, over="seeds").assign(n=12)
    assert "Over seeds" not in findings.criterion_finding("reconstruction", ranking("reconstruction", RMSE), many)


def test_criterion_finding_one_seed_is_untested_and_missing_step_is_named():
    table = pd.concat([pairwise(RMSE, threshold=None, z=z, measure=m) for z in (2, 40)
                       for m in ("trustworthiness", "stress_scaled")], ignore_index=True)
    text = findings.criterion_finding("latent_structure", ranking("latent_structure", RMSE, intervals=False,
                                                                  over="one seed: no interval"), table)
    assert "no difference is tested" in text and "detectably" not in text
    assert "(0.13; one seed: no interval)" in text
    # stress is lower-better, trustworthiness higher-better: the same numbers give opposite winners
    assert "stress_scaled **cae** (ahead of rae by 0.0010)" in text
    assert "trustworthiness **vae** (ahead of dae by 0.0100)" in text
    missing = findings.criterion_finding("ood_detection", ranking("reconstruction", RMSE))
    assert "cannot test: step 05 (complementary data) did not run" in missing


def test_smoothness_criteria_read_their_own_mode():
    table = pd.concat([pairwise(RMSE, mode="additive"), pairwise({**RMSE, "vae": 0.1}, mode="relative")],
                      ignore_index=True)
    section = findings.findings_section(ranking_by_criterion=pd.concat(
        [ranking("smoothness_additive", RMSE), ranking("smoothness_relative", {**RMSE, "vae": 0.1})]),
        pairwise={"smoothness": table})
    title = "**Smoothness / robustness under latent perturbation"
    start, end = section.index(f"{title}, additive"), section.index(f"{title}, relative")
    additive = section[start:end]
    relative = section[section.index(f"{title}, relative"):]
    assert "**cae** lowest RMSE slope against p" in additive and "**vae** lowest" in relative


def test_the_generative_criterion_is_worded_as_sample_quality():
    section = findings.findings_section(ranking_by_criterion=ranking("generative", RMSE),
                                        pairwise={"generative": pairwise(RMSE)})
    text = section[section.index("**Generative capacity"):]
    assert text.startswith("**Generative capacity (sample quality)**")
    assert "**cae** lowest Fréchet distance of GMM samples in the judge's features" in text
    assert "slope" not in text.split("\n\n**")[0]


def test_findings_section_without_any_table_says_what_cannot_be_tested():
    text = findings.findings_section()
    assert text.startswith("## Findings")
    for step in ("02 (latent sweep)", "05 (complementary data)", "04 (latent space)", "06 (generative capacity)"):
        assert f"cannot test: step {step} did not run" in text
    assert "**cannot test**: step 01 (architecture search) did not run" in text
    assert "**cannot test**: step 04 (latent space) did not run" in text
    assert "**cannot test**: step 07 (augmentation) did not run" in text


def test_excluded_families_are_named_never_ranked_and_pca_stands_beside():
    rows = ranking("ood_generalisation", RMSE)
    rows = pd.concat([rows.assign(excluded="", reference=False),
                      pd.DataFrame([{"criterion": "ood_generalisation", "family": "conae", "value": np.nan,
                                     "rank": np.nan, "better": "lower", "over": "not ranked: failed runs",
                                     "excluded": "conae z=2 seeds 0, 1", "reference": False},
                                    {"criterion": "ood_generalisation", "family": "pca", "value": 0.120,
                                     "rank": np.nan, "better": "lower", "over": "reference", "excluded": "",
                                     "reference": True}])], ignore_index=True)
    text = findings.criterion_finding("ood_generalisation", rows)
    assert "**cae** ranks first" in text and "next rae" in text
    assert "Not ranked here: conae — left out for failed runs (conae z=2 seeds 0, 1" in text
    assert "Reference (not ranked): **pca** 0.12, better than every ranked family (4)." in text
    behind = findings.criterion_finding("ood_generalisation", rows.assign(
        value=np.where(rows["family"] == "pca", 0.135, rows["value"])))
    assert "**pca** 0.135, 2 of the 4 ranked families do better" in behind


def ood_ratio(pca_at_8: float) -> pd.DataFrame:
    """``summary/ood_ratio.csv`` for two families and PCA at z = 2 and 8 on two data sets, one a stand-in."""
    rows = []
    for dataset, stand_in in (("fashion_mnist", False), ("emnist_letters", True)):
        for z, fcae, vae, pca in ((2, 0.33, 0.34, 0.31), (8, 0.30, 0.29, pca_at_8)):
            for family, value in (("fcae", fcae), ("vae", vae), ("pca", pca)):
                rows.append({"family": family, "latent_dim": z, "dataset": dataset, "ood_rmse": value,
                             "in_rmse": 0.2, "ratio": value / 0.2, "n_seeds": np.nan if family == "pca" else 3,
                             "stand_in": stand_in, "data_source": "font-stand-in" if stand_in else "idx-files"})
    return pd.DataFrame(rows)


def test_pca_finding_says_every_family_is_worse_than_pca_when_it_is():
    text = findings.pca_finding(ood_ratio(pca_at_8=0.27))
    assert ("- **fashion_mnist**: every family (2) is worse than PCA at z = 2, 8 (PCA 0.3100, 0.2700 against the "
            "best family's 0.3300 (fcae), 0.2900 (vae))") in text
    assert "- **emnist_letters** (stand-in: font-stand-in): every family (2) is worse than PCA" in text
    assert "mean over 3 seeds" in text and "not ranked" in text
    beaten = findings.pca_finding(ood_ratio(pca_at_8=0.295))
    assert "every family (2) is worse than PCA at z = 2 (" in beaten
    assert "at z = 8, 1 of 2 families beat PCA (0.2950): vae" in beaten
    assert findings.pca_finding(ood_ratio(0.27).query("family != 'pca'")) == "" and findings.pca_finding(None) == ""
    with pytest.raises(ValueError, match="ratio"):
        findings.pca_finding(ood_ratio(0.27).drop(columns="ratio"))


def test_findings_section_puts_pca_after_ood_generalisation_and_names_stand_ins():
    table = pd.concat([pairwise(RMSE, z=2, dataset=d) for d in ("emnist_letters", "fashion_mnist")])
    text = findings.findings_section(ranking_by_criterion=ranking("ood_generalisation", RMSE),
                                     pairwise={"ood_generalisation": table}, ood_ratio=ood_ratio(0.27))
    assert "- z = 2, emnist_letters (stand-in: font-stand-in): **cae** lowest RMSE" in text
    assert "- z = 2, fashion_mnist: **cae** lowest RMSE" in text
    ood = text.index("**OOD generalisation**")
    assert ood < text.index("Against PCA fitted on the training data") < text.index("**OOD detection**")


# ------------------------------------------------------------------ claim 1: depth


def architecture(rmse_by_depth: dict, *, val_offset: dict | None = None, n_train: int = 4000) -> pd.DataFrame:
    """Runs of step 01: depth → test RMSE, or one per seed; z = 40 a little above z = 10. Validation RMSE is the
    test RMSE plus ``val_offset[depth]`` (0 by default); None: a table from before runs kept it."""
    rows = pd.DataFrame([{"family": "fcae", "depth": d, "latent_dim": z, "seed": s,
                          "rmse_mean": r + (0.001 if z == 40 else 0), "n_train_used": n_train}
                         for d, per_seed in rmse_by_depth.items() for z in (10, 40)
                         for s, r in enumerate(np.atleast_1d(per_seed))])
    if val_offset is not None:
        rows["val_rmse"] = rows["rmse_mean"] + rows["depth"].map(val_offset).fillna(0.0)
    return rows


def test_depth_claim_with_one_seed_is_not_tested_against_noise():
    three = findings.depth_claim(architecture({1: 0.14, 2: 0.13, 3: 0.12, 4: 0.15}, val_offset={}))
    assert "**not tested against noise**" in three and "**reproduced**" not in three
    assert "validation RMSE, mean over z = 10, 40, is lowest at depth 3 (0.1205)" in three
    assert "on 4,000 training images" in three and "the seed used 60,000" in three
    one = findings.depth_claim(architecture({1: 0.11, 2: 0.13, 3: 0.12}, val_offset={}))
    assert "**not tested against noise**" in one and "lowest at depth 1 (0.1105); depth 3 is higher by 0.0100" in one
    assert "Validation RMSE by depth: 1: 0.1105, 2: 0.1305, 3: 0.1205" in one
    assert "**cannot test**: step 01" in findings.depth_claim(None)
    assert "depth 3 was not searched (depths run: 1, 2)" in findings.depth_claim(
        architecture({1: 0.1, 2: 0.2}, val_offset={}))


def test_depth_claim_without_validation_rmse_cannot_test():
    text = findings.depth_claim(architecture({1: [0.110, 0.112], 3: [0.120, 0.121]}))
    assert "**cannot test**" in text and "would select on the test set" in text
    assert "Test RMSE of fcae by depth" in text and "**contradicted**" not in text


def test_depth_claim_with_seeds_tests_the_gap_and_names_the_training_size():
    clear = findings.depth_claim(architecture({1: [0.110, 0.112, 0.111], 3: [0.120, 0.121, 0.121]}, val_offset={},
                                              n_train=54000))
    assert "**contradicted** (on 54,000 training images" in clear and "Student-t 95 % over 3 seeds" in clear
    noisy = findings.depth_claim(architecture({1: [0.10, 0.13, 0.10], 3: [0.12, 0.11, 0.12]}, val_offset={}))
    assert "**not reproduced** (on 4,000 training images" in noisy and "depth 3 is higher by 0.0067" in noisy
    assert "the interval includes 0" in noisy
    # chosen on validation, never on test: depth 1 has the lower test RMSE, depth 3 the lower validation RMSE
    chosen = findings.depth_claim(architecture({1: [0.110, 0.111], 3: [0.115, 0.116]}, val_offset={1: 0.02}))
    assert "**reproduced** (on 4,000 training images" in chosen and "lowest at depth 3" in chosen
    assert "the next, depth 1, is higher by -0.0050 [" in chosen and "(the interval includes 0)" in chosen


# ------------------------------------------------------------------ claim 2: latent space


def latent(z: int, vae_best: bool) -> pd.DataFrame:
    base = {"vae": 0.95 if vae_best else 0.80, "cae": 0.90, "dae": 0.85}
    return pd.DataFrame([{"family": f, "latent_dim": z, "seed": 0, "trustworthiness": v, "continuity": v,
                          "neighborhood_hit": v, "stress_scaled": 1 - v, "shepard_goodness": v}
                         for f, v in base.items()])


def test_latent_claim_at_z_100():
    good = findings.latent_claim(pd.concat([latent(2, False), latent(100, True)]))
    assert "**reproduced**" in good and "vae has the best mean rank over the measures at z = 100" in good
    bad = findings.latent_claim(pd.concat([latent(2, True), latent(100, False)]))
    assert "**contradicted**" in bad and "cae, not vae, has the best mean rank" in bad
    assert "trustworthiness: best cae (0.9000), vae 3 of 3 (0.8000)" in bad


def test_latent_claim_without_z_100_reports_the_largest_z():
    text = findings.latent_claim(pd.concat([latent(2, True), latent(40, False)]))
    assert "**cannot test at z = 100** (step 04 ran z = 2, 40). At the largest z run, 40:" in text
    assert "neighborhood_hit: best cae (0.9000), vae 3 of 3 (0.8000)" in text
    assert "**cannot test**: step 04" in findings.latent_claim(pd.DataFrame())


def test_latent_claim_uses_the_holm_decisions_when_tested():
    values = {"cae": 0.90, "vae": 0.899, "dae": 0.80}
    table = pd.concat([pairwise(values, z=100, measure=m) for m in LATENT_MEASURES], ignore_index=True)
    frame = pd.DataFrame([{"family": f, "latent_dim": 100, **{m: v for m in LATENT_MEASURES}}
                          for f, v in values.items()])
    frame["stress_scaled"] = 1 - frame["stress_scaled"]
    table.loc[table["measure"] == "stress_scaled", "diff"] *= -1  # lower is better for stress
    tied = findings.latent_claim(frame, pairwise=table)
    assert "**not reproduced**" in tied and "no measure puts it behind the best" in tied
    behind = findings.latent_claim(frame, pairwise=table.assign(reject=True))
    assert "**contradicted**" in behind and "vae is behind the best on trustworthiness, continuity" in behind


# ------------------------------------------------------------------ claim 3: augmentation


def augmentation(auc_by_p: dict, *, spread: float, seeds: int = 4, base: float = 0.70):
    """Per-seed results and the summary as aelib.augmentation writes them (Student-t over seeds)."""
    rng = np.random.default_rng(1)
    rows = [{"experiment": "baseline", "value": np.nan, "seed": s, "auc": base} for s in range(seeds)]
    rows += [{"experiment": "topup_perturbation", "value": p, "seed": s, "auc": a + spread * rng.standard_normal()}
             for p, a in auc_by_p.items() for s in range(seeds)]
    results = pd.DataFrame(rows)
    summary = []
    for (experiment, value), part in results.groupby(["experiment", "value"], dropna=False, sort=False):
        delta = part["auc"].to_numpy() - base
        half = st.t.ppf(0.975, seeds - 1) * delta.std(ddof=1) / math.sqrt(seeds)
        summary.append({"experiment": experiment, "value": value, "n_seeds": seeds, "auc_mean": part["auc"].mean(),
                        "auc_delta_mean": delta.mean(), "auc_delta_ci95_low": delta.mean() - half,
                        "auc_delta_ci95_high": delta.mean() + half})
    return pd.DataFrame(summary), results


def test_augmentation_claim_verdicts():
    peak = augmentation({0.05: 0.72, 0.1: 0.80, 0.5: 0.71}, spread=0.002)
    text = findings.augmentation_claim(*peak)
    assert "**reproduced**" in text and "the highest mean AUC is at p = 10 %" in text
    elsewhere = findings.augmentation_claim(*augmentation({0.05: 0.72, 0.1: 0.74, 0.5: 0.80}, spread=0.002))
    assert "**contradicted**" in elsewhere and "p = 50 %" in elsewhere
    assert "10 % is lower (paired interval over seeds excludes 0)" in elsewhere
    flat_tables = augmentation({0.05: 0.70, 0.1: 0.701, 0.5: 0.70}, spread=0.01)
    flat = findings.augmentation_claim(*flat_tables)
    # nothing found, and the seed's effect size is not recorded: no interval can rule it out
    assert "**underpowered: no detectable peak**" in flat and "the seed's effect in AUC is not recorded" in flat
    row = flat_tables[0].set_index("value").loc[0.1]
    low, high = row["auc_delta_ci95_low"], row["auc_delta_ci95_high"]
    mde = (high - low) / 2 * (1 + st.t.ppf(0.8, 3) / st.t.ppf(0.975, 3))  # 4 seeds: 3 degrees of freedom
    assert f"Minimum detectable effect at 4 seeds: {mde:.4f} AUC (p = 10 % minus baseline" in flat
    # an interval narrower than the effect the seed reports: then finding nothing is "not reproduced"
    assert "**not reproduced: no detectable peak**" in findings.augmentation_claim(*flat_tables, seed_effect=0.05)
    assert "**underpowered: no detectable peak**" in findings.augmentation_claim(*flat_tables, seed_effect=0.001)
    stand_in = [t.assign(stand_in=True, data_source="standin-letters") for t in flat_tables]
    assert "**underpowered: no detectable peak** (offline stand-in data: standin-letters):" in \
        findings.augmentation_claim(*stand_in)
    # the same peak without the per-seed results: only the baseline comparison is available
    assert "not available (per-seed results missing)" in findings.augmentation_claim(peak[0])


def test_augmentation_claim_is_judged_at_each_feature_z():
    peak_summary, peak_results = augmentation({0.05: 0.72, 0.1: 0.80, 0.5: 0.71}, spread=0.002)
    flat_summary, flat_results = augmentation({0.05: 0.70, 0.1: 0.701, 0.5: 0.70}, spread=0.01)

    def at(frame, z):  # the baseline has no feature autoencoder, so no z
        return frame.assign(latent_dim=np.where(frame["experiment"] == "baseline", np.nan, z))

    summary = pd.concat([at(peak_summary, 16), at(flat_summary, 64)[lambda f: f["experiment"] != "baseline"]])
    results = pd.concat([at(peak_results, 16), at(flat_results, 64)[lambda f: f["experiment"] != "baseline"]])
    text = findings.augmentation_claim(summary, results)
    z16, z64 = text.split("feature autoencoder z = 16: ")[1], text.split("feature autoencoder z = 64: ")[1]
    assert z16.startswith("**reproduced**") and z64.startswith("**underpowered: no detectable peak**")


def test_minimum_detectable_effect_is_2_8_standard_errors_with_many_seeds():
    se = 0.01
    half = st.t.ppf(0.975, 999) * se  # the interval of a mean difference over 1000 seeds
    assert findings.minimum_detectable_effect(-half, half, 1000) == pytest.approx(2.8 * se, rel=0.01)
    few = st.t.ppf(0.975, 4) * se  # 5 seeds, the same standard error: Student-t quantiles, a larger effect
    assert findings.minimum_detectable_effect(-few, few, 5) == pytest.approx((st.t.ppf(0.975, 4) + st.t.ppf(0.8, 4))
                                                                             * se)
    assert findings.minimum_detectable_effect(-few, few, 5) > 3.5 * se
    assert math.isnan(findings.minimum_detectable_effect(-half, half, 1))


def test_augmentation_claim_cannot_test():
    assert "**cannot test**: step 07 (augmentation) did not run" in findings.augmentation_claim(None)
    summary, _ = augmentation({0.1: 0.8}, spread=0.01)
    other = summary.assign(experiment=summary["experiment"].replace("topup_perturbation", "one_per_original"))
    assert "did not run the `topup_perturbation` experiment" in findings.augmentation_claim(other)
    with pytest.raises(ValueError, match="auc_mean"):
        findings.augmentation_claim(summary.drop(columns="auc_mean"))


# ------------------------------------------------------------------ reading a results folder


def test_read_tables_ignores_leftovers_of_an_earlier_summary(tmp_path):
    (tmp_path / "summary").mkdir()
    ranking("reconstruction", RMSE).to_csv(tmp_path / "summary" / "ranking_by_criterion.csv", index=False)
    pairwise(RMSE).to_csv(tmp_path / "summary" / "pairwise_reconstruction.csv", index=False)
    old = tmp_path / "summary" / "pairwise_generative.csv"
    pairwise(RMSE, mode="additive").to_csv(old, index=False)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    tables = findings.read_tables(tmp_path, since=time.time() - 60)
    assert list(tables["pairwise"]) == ["reconstruction"] and tables["architecture"].empty
    text = findings.findings_section(**tables)
    assert "- z = 2: **cae** lowest test RMSE" in text
    assert "**cannot test**: step 07" in text
    with pytest.raises(ValueError, match="not a folder"):
        findings.read_tables(tmp_path / "nowhere")


def test_numbers_in_the_text_never_read_minus_zero():
    from aelib.findings.wording import fmt_num

    assert fmt_num(-1e-7) == "0.0000" and fmt_num(-0.0) == "0.0000"
    assert fmt_num(-0.00012) == "-0.0001" and fmt_num(0.25) == "0.2500" and fmt_num(float("nan")) == "–"


def test_declared_comparisons_are_the_only_detectably_and_say_their_seeds():
    rows = pd.DataFrame({
        "criterion": ["reconstruction"] * 4, "latent_dim": [2, 2, 2, 2],
        "family": ["dae", "vae", "dae", "vae"], "reference": ["fcae", "fcae", "pca", "pca"],
        "estimate": [-0.01, 0.002, -0.03, -0.005], "ci_low": [-0.012, -0.001, -0.032, -0.009],
        "ci_high": [-0.008, 0.005, -0.028, -0.001], "p_value": [0.001, 0.4, 0.001, 0.2],
        "p_adjusted": [0.003, 0.4, 0.003, 0.4],
        "decision": ["better", "not distinguishable", "better", "not distinguishable"],
        "over": ["3 seeds × 1000 test images, two-stage bootstrap"] * 4})
    ranking = pd.DataFrame({"criterion": ["reconstruction"] * 3, "family": ["dae", "fcae", "vae"],
                            "value": [0.1, 0.11, 0.112], "rank": [1, 2, 3], "better": ["lower"] * 3})
    text = findings.criterion_finding("reconstruction", ranking, comparisons=rows)
    assert "- z = 2: against fcae — detectably better: dae (-0.0100 [-0.0120, -0.0080]); not distinguishable at " \
           "3 seeds: vae (interval half-widths up to 0.0030)" in text
    assert "against pca — detectably better: dae" in text
    assert text.count("detectably") == 3  # two decisions and the rule's own sentence
    other = findings.criterion_finding("reconstruction", ranking, comparisons=rows.assign(criterion="generative"))
    assert "Declared comparisons" not in other


def test_depth_claim_cites_the_data_size_experiment():
    by_size = pd.DataFrame({"n_train": [4000] * 3 + [15000] * 3, "latent_dim": [10] * 6, "depth": [1, 2, 3] * 2,
                            "val_rmse": [0.10, 0.11, 0.12, 0.09, 0.085, 0.086],
                            "val_rmse_min": [0.099, 0.109, 0.119, 0.089, 0.084, 0.0845],
                            "val_rmse_max": [0.101, 0.111, 0.121, 0.091, 0.086, 0.0875], "n_seeds": [2] * 6})
    text = findings.depth_claim(None, by_size=by_size)
    assert "4,000 images, z = 10: depth 1; 15,000 images, z = 10: depth 2" in text
    assert "its seed range overlaps the chosen depth's in 1 of 2 cells" in text
    assert "has not run beside this study" in findings.depth_claim(None)


def test_objective_and_architecture_findings():
    from aelib.findings.capacity import matched_finding, objectives_finding

    comparisons = pd.DataFrame({"criterion": ["reconstruction"] * 3 + ["generative"], "latent_dim": [2, 2, 2, 2],
                                "family": ["dae", "vae", "cae", "dae"], "reference": ["fcae"] * 4,
                                "decision": ["better", "not distinguishable", "worse", "worse"]})
    text = objectives_finding(comparisons)
    assert "- z = 2: detectably better than fcae: dae; not distinguishable from fcae: vae." in text  # no cae
    matched = pd.DataFrame({"family": ["cae", "cae"], "latent_dim": [2, 40], "n_seeds": [3, 3],
                            "rmse_matched": [0.2, 0.07], "fcae_rmse": [0.21, 0.08], "seeds_below_fcae": [3, 3],
                            "params": [100, 200], "rmse_native": [0.19, 0.06]})
    assert "cae — below fcae at every z and seed at the same size: its lead is its design" in matched_finding(matched)
    assert "mixed" in matched_finding(matched.assign(seeds_below_fcae=[3, 0]))
    assert "not run" in matched_finding(None)
    one = matched_finding(matched.assign(n_seeds=[1, 1], seeds_below_fcae=[1, 1]))
    assert "below fcae at the same size in the 2 runs made (one seed per z: not tested against seed noise)" in one
