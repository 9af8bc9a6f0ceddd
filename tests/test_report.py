import numpy as np
import pandas as pd
import pytest

from aelib.baselines import PCABaseline
from aelib.report import fit_power_law, held_out_check, held_out_predictions, power_law, rank_table, write_table


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
    record = {"finished": "2026-01-01 10:00:00", "argv": ["run", "--steps", "02"], "seconds": 125.4,
              "steps": [{"step": "02_latent_sweep", "status": "complete", "seconds": 120.0}]}
    log.write_text(json.dumps(record) + "\n" + '{"finished": "2026-01-01 11:0')  # the second was cut by a kill
    lines = invocation_lines(log)
    table = "\n".join(lines)
    assert "2026-01-01 10:00:00" in table and "run --steps 02" in table and "2 min 05 s" in table
    assert "02 (complete)" in table and "11:0" not in table


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
    rows = mark_capped(pd.DataFrame({"family": ["fcae", "fcae", "vae"], "latent_dim": [2, 40, 40], "x": [1, 2, 3]}), capped)
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
    return summarize_study(study, families=families, z_values=[2, 8], chosen_z=[2, 8], complementary=(), profile="quick")


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
               "generative_relative": 1}
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
    assert ranking.loc["fcae", "criteria_missing"] == 1 and np.isnan(ranking.loc["fcae", "generative_relative"])
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
