import itertools

import numpy as np
import pandas as pd
import pytest

from aelib.baselines import PCABaseline
from aelib.metrics.scaling import fit_power_law, held_out_check, held_out_predictions, power_law
from aelib.report import rank_table, write_table


@pytest.mark.parametrize("a,b,c", [(0.3, 0.5, 0.05), (1.0, 1.2, 0.1), (0.1, 0.3, 0.0)])
def test_power_law_fit_recovers_known_parameters(a, b, c):
    z = np.array([1, 2, 3, 5, 10, 20, 40, 80, 160, 320])
    fit = fit_power_law(z, power_law(z, a, b, c))
    assert fit["a"] == pytest.approx(a, rel=1e-3)
    assert fit["b"] == pytest.approx(b, rel=1e-3)
    assert fit["c"] == pytest.approx(c, abs=1e-4)
    assert fit["r2"] == pytest.approx(1.0)
    check = held_out_check(z, power_law(z, a, b, c))
    assert check["heldout_max_abs_rel_error"] < 1e-3


def test_held_out_predictions_one_row_per_z_and_catch_a_bad_point():
    z = np.array([2, 5, 10, 20, 40])
    y = power_law(z, 0.3, 0.5, 0.05)
    y[2] *= 1.5  # z = 10 off the law: its prediction from the others misses by about a third
    rows = held_out_predictions(z, y)
    assert list(rows["latent_dim"]) == list(z)
    np.testing.assert_allclose(rows["observed"], y)
    worst = rows.loc[rows["rel_error"].idxmax()]
    assert worst["latent_dim"] == 10 and worst["rel_error"] == pytest.approx(1 / 3, abs=0.05)
    assert held_out_check(z, y)["heldout_max_abs_rel_error"] == pytest.approx(rows["rel_error"].max())
    assert held_out_predictions(z[:3], y[:3]).empty


def test_power_law_needs_three_points():
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([1, 2], [0.3, 0.2])
    assert held_out_check([1, 2, 3], [0.3, 0.2, 0.1])["heldout_n"] == 0


def test_rank_table_directions():
    ranks = rank_table({"rmse": pd.Series({"a": 0.1, "b": 0.2}), "hit": pd.Series({"a": 0.5, "b": 0.9})},
                       {"rmse": False, "hit": True})
    row = ranks.set_index("family")
    assert row.loc["a", "rank_rmse"] == 1 and row.loc["b", "rank_hit"] == 1
    assert set(ranks.columns) >= {"mean_rank", "rank_overall"}


def test_tables_in_three_formats(tmp_path):
    paths = write_table(pd.DataFrame({"family": ["fcae"], "rmse": [0.123456]}), tmp_path / "t", caption="A table")
    assert [p.suffix for p in paths] == [".csv", ".tex", ".md"]
    tex = paths[1].read_text()
    assert "\\toprule" in tex and "0.1235" in tex and "A table" in tex
    assert "fcae" in paths[2].read_text()


def test_pca_baseline_is_exact_at_full_rank():
    x = np.random.default_rng(0).random((50, 4, 4, 1))
    pca = PCABaseline(16, clip=False).fit(x)
    np.testing.assert_allclose(pca.reconstruct(x), x, atol=1e-5)
    assert pca.encode(x).shape == (50, 16)
    with pytest.raises(ValueError, match="does not fit PCA"):
        PCABaseline(17).fit(x)


def test_report_lists_invocations_and_skips_a_cut_line(tmp_path):
    import json

    from aelib.report import invocation_lines

    assert invocation_lines(tmp_path / "missing.jsonl") == []
    log = tmp_path / "invocations.jsonl"
    record = {"invocation": "vm-1-x", "finished": "2026-01-01 10:00:00", "argv": ["run", "--steps", "02"],
              "seconds": 125.4,
              "steps": [{"step": "02_latent_sweep", "status": "complete", "seconds": 120.0},
                        {"step": "models/vae", "status": "failed", "seconds": 3.0}]}
    log.write_text(json.dumps(record) + "\n" + '{"finished": "2026-01-01 11:0')  # the second was cut by a kill
    lines = invocation_lines(log)
    table = "\n".join(lines)
    assert "2026-01-01 10:00:00" in table and "run --steps 02" in table and "2 min 05 s" in table
    assert "02 (complete), vae (failed)" in table and "11:0" not in table and "`vm-1-x`" in table


def test_report_opens_with_convergence_and_marks_runs_that_hit_the_cap():
    from aelib.report import capped_cells, convergence_section, mark_capped

    runs = pd.DataFrame({"family": ["fcae", "fcae", "vae"], "latent_dim": [2, 40, 2], "seed": [0, 0, 0],
                         "depth": [3, 3, 3], "stopped_by": ["early_stopping", "epoch_cap", "early_stopping"],
                         "epochs_run": [40, 300, 55], "best_epoch": [34, 300, 49]})
    text = convergence_section(runs)
    assert text.startswith("**2 of 3 distinct training runs converged**")
    assert "**1 run did not converge** (1 row in the tables)" in text
    assert "epoch_cap" in text
    capped = capped_cells(runs)
    assert capped == {("fcae", 40)}
    rows = mark_capped(pd.DataFrame({"family": ["fcae", "fcae", "vae"], "latent_dim": [2, 40, 40], "x": [1, 2, 3]}),
                       capped)
    assert list(rows["family"]) == ["fcae", "fcae†", "vae"]
    wide = mark_capped(pd.DataFrame({"family": ["fcae", "vae"], "z=2": [0.1, 0.2], "z=40": [0.3, 0.4]}), capped)
    assert list(wide["family"]) == ["fcae†", "vae"]
    assert mark_capped(wide, set()) is wide
    tuning = pd.DataFrame({"family": ["conae", "conae"], "stopped_by": ["early_stopping", "epoch_cap"]})
    assert mark_capped(tuning, set())["family"].tolist() == ["conae", "conae†"]  # a row's own stop marks it


# ------------------------------------------------------------------ summarize_study on a fabricated results folder


def _summarize(study, families, monkeypatch):
    from aelib.study.steps.summary import run as summarize_study

    monkeypatch.setenv("AELIB_SUMMARY_WAIT", "0")  # nothing else works on the folder: never wait
    return summarize_study(study, families=families, z_values=[2, 8], chosen_z=[2, 8], complementary=(),
                           profile="quick")


def test_summary_of_a_complete_study_writes_the_report_tables_and_ranking(fresh_fake_study, monkeypatch, capsys):
    study, families = fresh_fake_study
    ranking = _summarize(study, families, monkeypatch).set_index("family")
    out = study.out_dir / "summary"
    for stem in ("rmse_by_z", "ood_rmse", "ood_auroc", "latent_quality", "generative", "ranking",
                 "ranking_by_criterion", "ranking_sensitivity", "pairwise_reconstruction"):
        assert sorted(p.suffix for p in out.glob(f"{stem}.*")) == [".csv", ".md", ".tex"], stem
    assert (study.figures / "ranking.png").is_file() and (study.figures / "summary_rmse_vs_z.png").is_file()
    assert "INCOMPLETE" not in capsys.readouterr().out

    # the ranking returned is the one written, its overall rank the weighted mean of the criterion ranks
    written = pd.read_csv(out / "ranking.csv").set_index("family")
    assert written["rank_overall"].to_dict() == ranking["rank_overall"].to_dict() == {"fcae": 1, "dae": 2, "vae": 3}
    weights = {"reconstruction": 1, "ood_generalisation": 1, "ood_detection": 0, "latent_structure": 1,
               "generative": 1, "smoothness_relative": 0}
    mean = sum(w * ranking[f"rank_{c}"] for c, w in weights.items()) / sum(weights.values())
    np.testing.assert_allclose(ranking["mean_rank"], mean)
    assert ranking.loc["vae", "rank_reconstruction"] == 3
    assert (ranking.get("criteria_missing", pd.Series(0)) == 0).all()  # every family has every criterion

    # the tables carry the step tables' numbers
    by_z = pd.read_csv(study.tables / "rmse_by_z.csv").set_index(["family", "latent_dim"])
    shown = pd.read_csv(out / "rmse_by_z.csv").set_index("family")
    for (family, z), row in by_z.iterrows():
        half = (row["rmse_mean_ci95_high"] - row["rmse_mean_ci95_low"]) / 2
        assert shown.loc[family, f"z={z}"] == f"{row['rmse_mean']:.4f} ± {half:.4f}"
    pca = shown.loc["pca (baseline)", ["z=2", "z=8"]].astype(float)
    assert 0 < pca["z=8"] < pca["z=2"] < 1  # PCA of the study's own data: more components, lower RMSE
    auroc = pd.read_csv(out / "ood_auroc.csv").set_index(["family", "dataset"])
    assert auroc.loc[("vae", "fashion_mnist"), "z=8"] == pytest.approx(0.7)
    assert auroc.loc[("dae", "emnist_letters"), "z=2"] == pytest.approx(0.8)
    latent = pd.read_csv(out / "latent_quality.csv").set_index(["family", "latent_dim"])
    assert latent.loc[("vae", 2), "trustworthiness"] == pytest.approx(0.8) and (latent["n_seeds"] == 1).all()
    generative = pd.read_csv(out / "generative.csv").set_index(["family", "latent_dim", "level"])
    assert generative.loc[("dae", 8, 1.0), "rmse_mean"] == pytest.approx(0.3)

    report = (study.out_dir / "REPORT.md").read_text()
    assert report.startswith("# Autoencoder comparison — profile `quick`")
    assert "**6 of 6 distinct training runs converged**" in report and "## Incomplete study" not in report
    assert report.index("## Findings") < report.index("## Overall ranking") < report.index("## Reconstruction")
    assert "_Step 07 has not written augmentation_summary.csv yet._" in report  # the one step not fabricated


def test_summary_of_a_partial_study_says_what_is_missing_and_ranks_a_family_without_a_criterion_last(
        fresh_fake_study, monkeypatch, capsys):
    study, families = fresh_fake_study
    (study.tables / "latent_quality.csv").unlink()  # step 04 not run
    path = study.tables / "generative.csv"
    generative = pd.read_csv(path, dtype={"setting": str})
    generative[generative["family"] != "fcae"].to_csv(path, index=False)  # fcae's part of step 06 not finished
    path = study.tables / "generative_samples.csv"
    samples = pd.read_csv(path, dtype={"setting": str})
    samples[samples["family"] != "fcae"].to_csv(path, index=False)
    ranking = _summarize(study, families, monkeypatch).set_index("family")
    assert "summary: INCOMPLETE: fcae lacks 2 of 2 rows of generative" in capsys.readouterr().out
    report = (study.out_dir / "REPORT.md").read_text()
    incomplete = report[report.index("## Incomplete study"):report.index("## Findings")]
    assert "1 family lacks rows that other families have (fcae)" in incomplete and "all (no rows)" in incomplete
    assert "latent_quality" not in incomplete  # a step that did not run is not a partial set
    assert "_Step 04 has not written latent_quality.csv yet._" in report
    assert "cannot test: step 04 (latent space) did not run" in report
    assert not (study.out_dir / "summary" / "latent_quality.csv").exists()
    assert "fcae" not in set(pd.read_csv(study.out_dir / "summary" / "generative.csv")["family"])
    assert not [c for c in ranking if c.startswith("rank_latent")]
    # fcae has the best mean rank over the criteria it has (reconstruction 1, OOD 2), yet ranks after both
    # families that have them all
    assert ranking.loc["fcae", "criteria_missing"] == 1 and np.isnan(ranking.loc["fcae", "generative"])
    assert ranking.loc["fcae", "mean_rank"] == 1.5 and ranking["mean_rank"].idxmin() == "fcae"
    assert ranking["rank_overall"].to_dict() == {"dae": 1, "vae": 2, "fcae": 3}


def test_summary_of_an_empty_folder_and_bad_latent_sizes(tmp_path, monkeypatch):
    from aelib.study.steps.summary import run as summarize_study
    from aelib.study.study import Study

    study = Study(tmp_path / "empty", epochs=1, n_train=200, n_test=100)
    with pytest.raises(ValueError, match=r"Received: z_values=\[0\]"):  # refused before anything is written
        summarize_study(study, families=["fcae"], z_values=[0], chosen_z=[2], complementary=(), profile="quick")
    assert not (study.out_dir / "summary").exists() and not (study.out_dir / "REPORT.md").exists()
    assert _summarize(study, ["fcae", "vae"], monkeypatch).empty
    report = (study.out_dir / "REPORT.md").read_text()
    assert "_No training runs recorded yet._" in report and "_no criteria available yet_" in report
    assert "figures/ranking.png" not in report  # no ranking, no figure, no link to one
    for step, table in (("02", "rmse_by_z"), ("04", "latent_quality"), ("05", "ood_rmse"), ("06", "generative")):
        assert f"_Step {step} has not written {table}.csv yet._" in report


# ------------------------------------------------------------------ failed runs, convergence, PCA beside OOD


def test_convergence_counts_early_stopping_and_the_gates():
    from aelib.report import convergence_section

    trained = pd.DataFrame({
        "family": ["conae", "conae", "fcae", "vae", "fcae"], "depth": [3, 3, 3, 3, 1], "latent_dim": [2, 2, 2, 2, 10],
        "seed": [0, 1, 0, 0, 0], "stopped_by": ["early_stopping"] * 3 + ["epoch_cap", "early_stopping"],
        "rmse_mean": [0.2566, 0.2567, 0.20, 0.21, 0.30], "mean_image_rmse": [0.2563] * 4 + [0.25],
        "gate_beats_mean_image": [False, False, True, True, None],  # step 01's run has no gate column value
        "epochs_run": [17, 20, 40, 300, 50], "best_epoch": [10, 12, 34, 300, 44]})
    text = convergence_section(trained)
    assert text.startswith("**1 of 5 distinct training runs converged** (stopped by early stopping **and** passing "
                           "the sanity gates): 4 of 5 early-stopped")
    assert "; 1 of those pass the gates; 3 fail `beats_mean_image`: conae z=2 seeds 0, 1; fcae depth 1 z=10 seed 0" \
        in text
    assert "left out of every ranking" in text and "**1 run did not converge**" in text
    passing = trained.assign(gate_beats_mean_image=True, rmse_mean=0.2)
    assert "**4 of 5 distinct training runs converged**" in convergence_section(passing)
    assert "4 of those pass the gates." in convergence_section(passing)


def _ranked_tables(fail: bool = True):
    """Step tables of fcae, vae and dae at z = 2 and 8, two seeds: dae fails beats_mean_image at z = 2 (both seeds)
    when ``fail``; otherwise it would rank second everywhere."""
    from aelib.gates import add_gates

    level = {"fcae": 0.10, "dae": 0.12, "vae": 0.16}
    sweep, ood, latent, gen = [], [], [], []
    for family, z, seed in itertools.product(level, (2, 8), (0, 1)):
        rmse = level[family] + 0.01 * seed - 0.005 * (z == 8)
        if fail and family == "dae" and z == 2:
            rmse = 0.2570  # the mean image's 0.2563, or worse: a collapsed model
        key = {"family": family, "latent_dim": z, "seed": seed}
        sweep.append({**key, "depth": 3, "rmse_mean": rmse, "mean_image_rmse": 0.2563, "stopped_by": "early_stopping"})
        for dataset in ("emnist_letters", "fashion_mnist"):
            ood.append({**key, "dataset": dataset, "role": "complementary",
                        "rmse_mean": 2 * level[family] + 0.01 * seed, "auroc": 0.9 - level[family],
                        "stand_in": dataset == "emnist_letters",
                        "data_source": "font-stand-in" if dataset == "emnist_letters" else "idx-files"})
        latent.append({**key, "trustworthiness": 1 - level[family], "stress_scaled": level[family] + 0.001 * seed})
        for p in (0.0, 0.5, 1.0):
            gen.append({**key, "mode": "relative", "source": "perturbed", "level": p,
                        "rmse_mean": 0.1 + level[family] * p + 0.001 * seed})
    runs = add_gates(pd.DataFrame(sweep), {2: 0.23, 8: 0.19})
    pca = pd.DataFrame([{"family": "pca", "latent_dim": z, "dataset": d, "role": role, "rmse_mean": v}
                        for z in (2, 8) for d, role, v in (("mnist", "in-distribution", 0.2),
                                                           ("emnist_letters", "complementary", 0.15),
                                                           ("fashion_mnist", "complementary", 0.18))])
    return runs, pd.DataFrame(ood), pd.DataFrame(latent), pd.DataFrame(gen), pca


class _NoSamples:  # no per-sample files: intervals over seeds
    def train(self, *args, **kwargs):
        return None

    def ood(self, *args, **kwargs):
        return None


def _rank(out, runs, ood, latent, gen, pca=None):
    from aelib.report import ranking_and_comparisons

    return ranking_and_comparisons(out, sweep_runs=runs, ood=ood, latent=latent, generative=gen,
                                   samples=_NoSamples(), families=["fcae", "vae", "dae"], chosen_z=[2, 8], pca=pca)


def test_a_run_failing_the_gate_is_never_ranked_and_listed_in_excluded(tmp_path):
    runs, ood, latent, gen, _ = _ranked_tables()
    ranking, sections = _rank(tmp_path, runs, ood, latent, gen)
    by_criterion = pd.read_csv(tmp_path / "ranking_by_criterion.csv")
    assert set(by_criterion["criterion"]) == {"reconstruction", "ood_generalisation", "ood_detection",
                                              "latent_structure", "smoothness_relative"}
    dae = by_criterion[by_criterion["family"] == "dae"]
    assert len(dae) == 5 and dae["rank"].isna().all() and dae["value"].isna().all()
    assert set(dae["excluded"]) == {"dae z=2 seeds 0, 1"}
    others = by_criterion[by_criterion["family"] != "dae"]
    assert others["excluded"].isna().all() and set(others["rank"]) == {1, 2}
    assert others.set_index(["criterion", "family"])["rank"][("reconstruction", "vae")] == 2  # dae does not take 2
    ranks = ranking.set_index("family")
    assert np.isnan(ranks.loc["dae", "rank_overall"]) and ranks.loc["dae", "excluded"] == "dae z=2 seeds 0, 1"
    assert ranks.loc["fcae", "rank_overall"] == 1 and ranks.loc["vae", "rank_overall"] == 2
    # the failed cell leaves dae out of its paired comparisons; its passing cell keeps it
    pairs = pd.read_csv(tmp_path / "pairwise_reconstruction.csv")
    at = {z: set(p["family_a"]) | set(p["family_b"]) for z, p in pairs.groupby("latent_dim")}
    assert at == {2: {"fcae", "vae"}, 8: {"fcae", "vae", "dae"}}
    text = "\n".join(sections)
    assert "**Left out of the ranking**" in text and "Here: dae z=2 seeds 0, 1 (fails beats_mean_image)" in text
    # without the failure dae is ranked like the others and nothing is excluded
    ranking, sections = _rank(tmp_path / "passing", *_ranked_tables(fail=False)[:4])
    assert ranking.set_index("family")["rank_reconstruction"].to_dict() == {"fcae": 1, "dae": 2, "vae": 3}
    assert "excluded" not in ranking and "No run was left out" in "\n".join(sections)


def test_non_finite_values_leave_a_family_out_of_that_criterion_only(tmp_path):
    runs, ood, latent, gen, _ = _ranked_tables(fail=False)
    broken = (ood["family"] == "vae") & (ood["latent_dim"] == 8) & (ood["seed"] == 1)
    ood.loc[broken & (ood["dataset"] == "fashion_mnist"), "rmse_mean"] = np.inf
    _rank(tmp_path, runs, ood, latent, gen)
    table = pd.read_csv(tmp_path / "ranking_by_criterion.csv").set_index(["criterion", "family"])
    assert table.loc[("ood_generalisation", "vae"), "excluded"] == "vae z=8 seed 1"
    assert np.isnan(table.loc[("ood_generalisation", "vae"), "rank"])
    assert table.loc[("reconstruction", "vae"), "rank"] == 3 and table.loc[("ood_detection", "vae"), "rank"] == 3


def test_pca_is_a_reference_row_of_ood_generalisation_and_the_ood_ratio(tmp_path):
    from aelib.report import ood_ratio_table
    from aelib.report.results import OOD_RATIO_COLUMNS

    runs, ood, latent, gen, pca = _ranked_tables()
    ranking, sections = _rank(tmp_path, runs, ood, latent, gen, pca=pca)
    table = pd.read_csv(tmp_path / "ranking_by_criterion.csv")
    reference = table[table["reference"]]
    assert list(reference["family"]) == ["pca"] and list(reference["criterion"]) == ["ood_generalisation"]
    assert reference["value"].iloc[0] == pytest.approx((0.15 + 0.18) / 2) and reference["rank"].isna().all()
    assert "pca" not in set(ranking["family"])  # a reference, never in the overall ranking
    assert "**pca** (reference, not ranked) 0.1650: better than every ranked family (2)" in "\n".join(sections)
    without, _ = _rank(tmp_path / "without", runs, ood, latent, gen)
    pd.testing.assert_series_equal(without["rank_ood_generalisation"], ranking["rank_ood_generalisation"])
    criteria = pd.read_csv(tmp_path / "ranking_criteria.csv").set_index("criterion")["what is ranked"]
    assert "emnist_letters (stand-in: font-stand-in), fashion_mnist" in criteria["ood_generalisation"]

    ratio = ood_ratio_table(runs, ood, pca)
    assert list(ratio.columns) == OOD_RATIO_COLUMNS
    assert list(ratio.columns[:7]) == ["family", "latent_dim", "dataset", "ood_rmse", "in_rmse", "ratio", "n_seeds"]
    cells = ratio.set_index(["family", "latent_dim", "dataset"])
    assert ("dae", 2, "fashion_mnist") not in cells.index  # both of its runs there fail the gate
    fcae = cells.loc[("fcae", 8, "fashion_mnist")]
    assert fcae["n_seeds"] == 2 and fcae["ood_rmse"] == pytest.approx(0.205)
    assert fcae["in_rmse"] == pytest.approx(0.10) and fcae["ratio"] == pytest.approx(2.05)
    assert cells.loc[("pca", 2, "emnist_letters"), "ratio"] == pytest.approx(0.75)
    assert np.isnan(cells.loc[("pca", 2, "emnist_letters"), "n_seeds"])
    assert cells.loc[("fcae", 2, "emnist_letters"), "stand_in"] and not fcae["stand_in"]
