import pandas as pd
import pytest


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from aelib.study.study import Study

    return Study(tmp_path_factory.mktemp("study"), epochs=1, n_train=200, n_test=100)


def test_generative_step_end_to_end_and_resume(study):
    from aelib.study.steps.generative import GENERATIVE_COLUMNS
    from aelib.study.steps.generative import run as generative_step

    levels = (0.0, 0.5, 1.0)
    table = generative_step(study, families=["fcae"], z_values=[2], levels=levels, n_samples=50,
                            classifier_epochs=1, n_images=4, modes=["relative"], seeds=[0])
    assert list(table.columns) == GENERATIVE_COLUMNS
    assert len(table) == 3 and list(table["level"]) == list(levels)
    assert table.groupby(["family", "latent_dim", "seed", "level"]).size().max() == 1
    assert table["label_consistency"].between(0, 1).all() and (table["frechet"] >= 0).all()
    assert table["rmse_to_reconstruction"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert table["rmse_to_reconstruction"].iloc[-1] > 0
    assert table["classifier_test_accuracy"].between(0, 1).all()
    for stem in ("generative_rmse_vs_p", "generative_label_consistency_vs_p", "generative_frechet_vs_p",
                 "generative_grid_fcae_z2_relative", "generative_samples_fcae_gmm"):
        assert (study.figures / f"{stem}.png").is_file()

    # generation judged on samples: one gmm row per (family, z, seed), scored against the 100 test images
    from aelib.study.steps.generative_samples import JUDGE_COLUMNS, SAMPLE_COLUMNS

    samples = pd.read_csv(study.tables / "generative_samples.csv", dtype={"setting": str})
    assert list(samples.columns) == SAMPLE_COLUMNS
    assert len(samples) == 1 and samples["sampler"].iloc[0] == "gmm"
    row = samples.iloc[0]
    assert row["n_samples"] == 100 and row["n_reference"] == 100 and row["k"] == 5 and row["n_components"] == 10
    assert row["frechet"] > 0 and all(0 <= row[c] <= 1 for c in ("precision", "recall", "coverage",
                                                                 "class_entropy", "max_class_share"))
    judge = pd.read_csv(study.tables / "judge.csv")
    assert list(judge.columns) == JUDGE_COLUMNS and len(judge) == 1
    floor = judge.iloc[0]
    assert floor["floor_n_samples"] == 100 and floor["n_validation"] == 20 and floor["n_train"] == 180
    assert 0 <= floor["test_accuracy"] <= 1 and floor["epochs_run"] == 1 and floor["stopped_by"] == "epoch_cap"
    # real training images against real test images: close in the judge's features, whatever its accuracy
    assert floor["frechet_real"] < row["frechet"] or floor["recall_real"] > row["recall"]

    start = len(study.results)
    again = generative_step(study, families=["fcae"], z_values=[2], levels=levels, n_samples=50,
                            classifier_epochs=1, n_images=4, modes=["relative"], seeds=[0])
    assert {r.status for r in study.results[start:]} == {"skipped"}
    pd.testing.assert_frame_equal(again, table)


def test_families_with_a_prior_get_prior_samples_too(study):
    from aelib.study.steps.generative import run as generative_step

    generative_step(study, families=["vae"], z_values=[2], levels=(0.0, 1.0), n_samples=50, classifier_epochs=1,
                    n_images=4, modes=["additive"], seeds=[0], n_generated=60, n_components=3, k=3)
    samples = pd.read_csv(study.tables / "generative_samples.csv", dtype={"setting": str})
    vae = samples[samples["family"] == "vae"].set_index("sampler")
    assert sorted(vae.index) == ["gmm", "prior"]
    assert vae.loc["gmm", "n_components"] == 3 and pd.isna(vae.loc["prior", "n_components"])
    assert (vae["n_samples"] == 60).all() and (vae["k"] == 3).all() and (vae["n_reference"] == 100).all()
    for sampler in ("gmm", "prior"):
        assert (study.figures / f"generative_samples_vae_{sampler}.png").is_file()
    judge = pd.read_csv(study.tables / "judge.csv")
    assert judge["floor_n_samples"].iloc[0] == 60 and judge["k"].iloc[0] == 3  # the floor at this step's n and k
    with pytest.raises(ValueError, match="n_generated > k=5"):
        generative_step(study, families=["vae"], z_values=[2], levels=(0.0,), n_samples=50, classifier_epochs=1,
                        modes=["additive"], seeds=[0], n_generated=5)
