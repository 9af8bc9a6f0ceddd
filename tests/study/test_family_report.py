"""A family's story from the study's tables (aelib.study.family_report): which runs each part needs, that a part
reads what is there and runs a step only for the cells that are missing, and the closing line on ranks."""
import functools

import pandas as pd
import pytest

from aelib.study import family_report, steps
from aelib.study.family_report import FamilyReport, strengths_line


def test_each_part_takes_the_profiles_step_parameters_with_the_notebooks_z_and_seeds(fake_study):
    study, _ = fake_study
    report = FamilyReport(study, "fcae", profile="quick", z_values=[2, 8], seeds=[0],
                          step_options={"06_generative": {"n_samples": 50}})
    latent = report.step_params("04_latent_space")
    assert latent["families"] == ["fcae"] and latent["z_values"] == [2, 8]  # the sweep's grid: every z asked for
    assert latent["umap_z"] == [2, 40, 100] and latent["k"] == 7  # the profile's, so the run keys are the study's
    generative = report.step_params("06_generative")
    assert generative["z_values"] == [2] and generative["n_samples"] == 50  # its own grid [2, 40] within [2, 8]
    assert "profile" not in generative and "epochs" not in generative  # only what its run() takes
    assert report.cells("03_reconstruction") == {(2, 0), (8, 0)}
    assert FamilyReport(study, "fcae", profile="quick", z_values=[2], seeds=[3]).step_params(
        "03_reconstruction")["grid_seed"] == 3  # the profile's seed 0 is not among the seeds


def test_bad_arguments_are_refused_naming_what_was_received(fake_study):
    study, _ = fake_study
    with pytest.raises(ValueError, match="Could not interpret family identifier: 'fcea'"):
        FamilyReport(study, "fcea", profile="quick", z_values=[2], seeds=[0])
    with pytest.raises(ValueError, match=r"Received: seeds=\[0, 0\]"):
        FamilyReport(study, "fcae", profile="quick", z_values=[2], seeds=[0, 0])
    with pytest.raises(ValueError, match=r"Received: \['07_augmentation'\]"):
        FamilyReport(study, "fcae", profile="quick", z_values=[2], seeds=[0], step_options={"07_augmentation": {}})
    with pytest.raises(ValueError, match="Unknown profile 'fast'"):
        FamilyReport(study, "fcae", profile="fast", z_values=[2], seeds=[0])


def test_a_part_reads_the_tables_and_runs_nothing_when_its_cells_are_there(fake_study, monkeypatch):
    study, _ = fake_study

    for step in ("02_latent_sweep", "04_latent_space"):
        @functools.wraps(steps.module(step).run)  # the same signature: the report passes what run() takes
        def never(*args, **kwargs):
            raise AssertionError("a step ran although its table had every cell")

        monkeypatch.setattr(steps.module(step), "run", never)
    report = FamilyReport(study, "vae", profile="quick", z_values=[2, 8], seeds=[0])
    rmse = report.rmse_against_z()
    assert list(rmse["latent_dim"]) == [2, 8] and rmse["rmse_mean"].gt(0.2).all()  # vae's rows, not fcae's
    measures = report.latent_measures()
    trust = measures[measures["measure"] == "trustworthiness"]
    assert list(trust["mean"]) == pytest.approx([0.8, 0.8]) and set(trust["better"]) == {"higher"}  # 0.9 − 0.1 · 1
    assert set(measures["measure"]) == {"trustworthiness", "continuity", "stress_scaled", "neighborhood_hit",
                                        "shepard_goodness"}
    assert (study.out_dir / "figures" / "models" / "vae" / "latent_measures_vs_z.png").is_file()
    assert report.ran == []


def test_a_missing_cell_runs_that_step_for_the_family_alone_away_from_the_studys_figures(fresh_fake_study,
                                                                                         monkeypatch):
    study, _ = fresh_fake_study
    calls = []

    @functools.wraps(steps.module("02_latent_sweep").run)
    def record(study_, **params):
        calls.append((params, study_.figures))

    monkeypatch.setattr(steps.module("02_latent_sweep"), "run", record)
    figures = study.figures
    report = FamilyReport(study, "dae", profile="quick", z_values=[2, 8, 16], seeds=[0])
    rows = report.ensure("02_latent_sweep")
    (params, drawn_in), = calls
    assert params == {"families": ["dae"], "z_values": [2, 8, 16], "seeds": [0]}
    assert drawn_in == study.out_dir / "figures" / "models" / "dae" / "steps" and study.figures == figures
    assert report.ran == ["02_latent_sweep"] and set(rows["latent_dim"]) == {2, 8}


def test_standing_reads_the_summarys_ranks_and_says_what_they_mean(fresh_fake_study, capsys):
    study, _ = fresh_fake_study
    report = FamilyReport(study, "fcae", profile="quick", z_values=[2, 8], seeds=[0])
    assert report.standing().empty and "step 08) has not run" in capsys.readouterr().out
    rows = [("reconstruction", "fcae", 1, 1, 2), ("reconstruction", "vae", 3, 3, 3), ("reconstruction", "dae", 2, 1, 2),
            ("latent_structure", "fcae", 3, 3, 3), ("latent_structure", "vae", 1, 1, 1),
            ("latent_structure", "dae", 2, 2, 2)]
    frame = pd.DataFrame(rows, columns=["criterion", "family", "rank", "rank_low", "rank_high"]).assign(
        value=0.1, better="lower", over="seeds (2: 0, 1)", weight=1.0)
    (study.out_dir / "summary").mkdir()
    frame.to_csv(study.out_dir / "summary" / "ranking_by_criterion.csv", index=False)
    table = report.standing()
    assert list(table["rank"]) == [1, 3] and list(table["of"]) == [3, 3]
    assert list(table["criterion (what is ranked)"]) == ["Reconstruction", "Latent structure"]
    line = capsys.readouterr().out
    assert "strong on reconstruction (rank 1 of 3, interval 1–2)" not in line  # the interval reaches rank 2
    assert "weak on latent structure (rank 3 of 3, interval 3–3)" in line


def test_the_strengths_line_needs_the_whole_interval_in_a_third():
    ranks = pd.DataFrame({"criterion": ["reconstruction", "ood_detection", "generative_additive"],
                          "rank": [1, 11, 6], "rank_low": [1, 10, 2], "rank_high": [3, 11, 10], "of": [11, 11, 11]})
    line = strengths_line("Variational AE", ranks)
    assert line.startswith("Variational AE: strong on reconstruction (rank 1 of 11, interval 1–3); weak on ood "
                           "detection (rank 11 of 11, interval 10–11)")
    assert "generative" not in line  # its interval spans the middle
    one_seed = ranks.assign(rank_low=float("nan"), rank_high=float("nan"))  # no interval: the rank alone decides
    assert "strong on reconstruction (rank 1 of 11, interval 1–1)" in strengths_line("x", one_seed)
    smooth = strengths_line("x", ranks.assign(criterion=["smoothness_additive", "ood_detection", "generative"]))
    assert "in the best third on no criterion" in smooth  # smoothness is described, not a strength
    assert "descriptors, not merits: smoothness" in smooth


def test_the_notebook_parameters_are_the_sweeps():
    from aelib.study.planning import model_notebook_parameters
    from aelib.study.profiles import MATCHED_PARAMETERS, step_parameters

    sweep = {k: v for k, v in step_parameters("thesis", "02_latent_sweep").items() if k not in MATCHED_PARAMETERS}
    assert model_notebook_parameters("thesis") == sweep
    assert family_report.MODEL_NOTEBOOK_STEP == "02_latent_sweep"
