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
    assert "rae is not detectably different (rae higher by 0.0010 [-0.0010, 0.0030])" in text
    assert "every other family is detectably higher, by at least 0.0100 (dae: [0.0080, 0.0120])" in text


def test_block_sentence_follows_the_table():
    swapped = findings.block_sentence(pairwise({**RMSE, "dae": 0.120}), higher_is_better=False, label="z = 2")
    assert "**dae** lowest" in swapped and "**cae**" not in swapped
    every_pair = findings.block_sentence(pairwise(RMSE, threshold=0.0005), higher_is_better=False, label="z = 2")
    assert "not detectably different" not in every_pair
    assert "every other family is detectably higher, by at least 0.0010 (rae: [-0.0010, 0.0030])" in every_pair
    two = findings.block_sentence(pairwise({"cae": 0.13, "rae": 0.14}), higher_is_better=False, label="z = 2")
    assert two == "z = 2: **cae** lowest; rae is detectably higher, by 0.0100 [0.0080, 0.0120]."
    no_pair = findings.block_sentence(pairwise(RMSE, threshold=1.0), higher_is_better=False, label="z = 2")
    assert "no family is detectably different from it" in no_pair and "detectably higher" not in no_pair


def test_block_sentence_higher_is_better_and_many_ties():
    auc = {"sae": 0.90, "rae": 0.89, "cae": 0.88, "dae": 0.87, "vae": 0.86, "fcae": 0.70}
    text = findings.block_sentence(pairwise(auc, threshold=0.05), higher_is_better=True, label="z = 10")
    assert "**sae** highest" in text
    # four tied families: named, then only the largest gap shown
    assert "rae, cae, dae and vae are not detectably different (up to 0.0400 [0.0380, 0.0420], vae)" in text
    assert "fcae is detectably lower, by 0.2000 [0.1980, 0.2020]" in text


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
    assert text.count("- z = 2: ") == 1 and "every other family is detectably higher" in text
    assert "Over seeds (2), no pair can be declared different" in text and "at least 8 seeds" in text
    # only seed blocks (no per-image values): the best is listed, untested, with the reason
    only = findings.criterion_finding("latent_structure", ranking("latent_structure", RMSE), seeds.assign(measure="trustworthiness"),
                                      latent_directions={"trustworthiness": False})
    assert "too few seeds for the test to decide" in only and "not detectably different" not in only
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


def test_generative_criteria_read_their_own_mode():
    table = pd.concat([pairwise(RMSE, mode="additive"), pairwise({**RMSE, "vae": 0.1}, mode="relative")],
                      ignore_index=True)
    section = findings.findings_section(ranking_by_criterion=pd.concat(
        [ranking("generative_additive", RMSE), ranking("generative_relative", {**RMSE, "vae": 0.1})]),
        pairwise={"generative": table})
    additive = section[section.index("**Generative capacity, additive"):section.index("**Generative capacity, relative")]
    relative = section[section.index("**Generative capacity, relative"):]
    assert "**cae** lowest" in additive and "**vae** lowest" in relative


def test_findings_section_without_any_table_says_what_cannot_be_tested():
    text = findings.findings_section()
    assert text.startswith("## Findings")
    for step in ("02 (latent sweep)", "05 (complementary data)", "04 (latent space)", "06 (generative capacity)"):
        assert f"cannot test: step {step} did not run" in text
    assert "**cannot test**: step 01 (architecture search) did not run" in text
    assert "**cannot test**: step 04 (latent space) did not run" in text
    assert "**cannot test**: step 07 (augmentation) did not run" in text


# ------------------------------------------------------------------ claim 1: depth


def architecture(rmse_by_depth: dict) -> pd.DataFrame:
    """Runs of step 01: depth → RMSE, or one RMSE per seed; z = 40 a little above z = 10."""
    return pd.DataFrame([{"family": "fcae", "depth": d, "latent_dim": z, "seed": s,
                          "rmse_mean": r + (0.001 if z == 40 else 0)}
                         for d, per_seed in rmse_by_depth.items() for z in (10, 40)
                         for s, r in enumerate(np.atleast_1d(per_seed))])


def test_depth_claim_reproduced_contradicted_or_untestable():
    three = findings.depth_claim(architecture({1: 0.14, 2: 0.13, 3: 0.12, 4: 0.15}))
    assert "**reproduced**" in three and "lowest at depth 3 (0.1205)" in three
    assert "the next, depth 2, is higher by 0.0100" in three and "One seed per cell" in three
    one = findings.depth_claim(architecture({1: 0.11, 2: 0.13, 3: 0.12}))
    assert "**contradicted**" in one and "lowest at depth 1 (0.1105); depth 3 is higher by 0.0100" in one
    assert "By depth: 1: 0.1105, 2: 0.1305, 3: 0.1205." in one
    assert "**cannot test**: step 01" in findings.depth_claim(None)
    assert "depth 3 was not searched (depths run: 1, 2)" in findings.depth_claim(architecture({1: 0.1, 2: 0.2}))


def test_depth_claim_with_seeds_tests_the_gap():
    clear = findings.depth_claim(architecture({1: [0.110, 0.112, 0.111], 3: [0.120, 0.121, 0.121]}))
    assert "**contradicted**" in clear and "Student-t 95 % over 3 seeds" in clear
    noisy = findings.depth_claim(architecture({1: [0.10, 0.13, 0.10], 3: [0.12, 0.11, 0.12]}))
    assert "**not reproduced**" in noisy and "depth 3 is higher by 0.0067" in noisy
    assert "not detectably worse" in noisy


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
    table = pd.concat([pairwise(values, z=100, measure=m) for m in findings.LATENT_DIRECTIONS], ignore_index=True)
    frame = pd.DataFrame([{"family": f, "latent_dim": 100, **{m: v for m in findings.LATENT_DIRECTIONS}}
                          for f, v in values.items()])
    frame["stress_scaled"] = 1 - frame["stress_scaled"]
    table.loc[table["measure"] == "stress_scaled", "diff"] *= -1  # lower is better for stress
    tied = findings.latent_claim(frame, pairwise=table)
    assert "**not reproduced**" in tied and "not detectably behind the best on any measure" in tied
    behind = findings.latent_claim(frame, pairwise=table.assign(reject=True))
    assert "**contradicted**" in behind and "detectably behind the best on trustworthiness" in behind


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
    assert "**contradicted**" in elsewhere and "p = 50 %" in elsewhere and "10 % is detectably lower" in elsewhere
    flat = findings.augmentation_claim(*augmentation({0.05: 0.70, 0.1: 0.701, 0.5: 0.70}, spread=0.01))
    assert "**not reproduced: no detectable peak**" in flat
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
    assert z16.startswith("**reproduced**") and z64.startswith("**not reproduced: no detectable peak**")


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
    from aelib.findings import _num

    assert _num(-1e-7) == "0.0000" and _num(-0.0) == "0.0000"
    assert _num(-0.00012) == "-0.0001" and _num(0.25) == "0.2500" and _num(float("nan")) == "–"
