import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from aelib.study.study import Study

    return Study(tmp_path_factory.mktemp("study"), epochs=1, n_train=200, n_test=100)


def test_ood_step_end_to_end_and_resume(study):
    from aelib.study.steps.ood import OOD_COLUMNS
    from aelib.study.steps.ood import run as ood_step

    table = ood_step(study, families=["fcae"], z_values=[2], n_ood=50, n_images=4,
                     complementary=["emnist_letters", "fashion_mnist"], seeds=[0])
    assert list(table.columns) == OOD_COLUMNS
    assert len(table) == 3 and table.groupby(["family", "latent_dim", "seed", "dataset"]).size().max() == 1
    by_set = table.set_index("dataset")
    assert by_set.loc["mnist", "role"] == "in-distribution" and np.isnan(by_set.loc["mnist", "auroc"])
    comp = by_set.loc[["emnist_letters", "fashion_mnist"]]
    assert (comp["role"] == "complementary").all() and comp["auroc"].between(0, 1).all()
    assert (comp["n_eval"] == 50).all() and bool(by_set.loc["emnist_letters", "stand_in"])
    assert (study.figures / "ood_rmse_vs_z.png").is_file() and (study.figures / "ood_auroc_vs_z.png").is_file()
    assert (study.figures / "ood_reconstructions_fcae_fashion_mnist.png").is_file()

    start = len(study.results)
    again = ood_step(study, families=["fcae"], z_values=[2], n_ood=50, n_images=4,
                     complementary=["emnist_letters", "fashion_mnist"], seeds=[0])
    assert {r.status for r in study.results[start:]} == {"skipped"}
    pd.testing.assert_frame_equal(again, table)
    assert len(pd.read_csv(study.tables / "ood_rmse.csv")) == 3


def test_ood_step_evaluates_every_seed(study):
    from aelib.study.steps.ood import run as ood_step

    table = ood_step(study, families=["fcae"], z_values=[2], n_ood=50, n_images=4, seeds=[0, 1],
                     complementary=["emnist_letters", "fashion_mnist"])
    assert len(table) == 6 and sorted(table["seed"].unique()) == [0, 1]
    per_seed = table[table["dataset"] == "mnist"].set_index("seed")["rmse_mean"]
    assert per_seed[0] != per_seed[1]  # two trained models
    with pytest.raises(ValueError, match="Expected distinct training seeds"):
        ood_step(study, families=["fcae"], z_values=[2], n_ood=50, seeds=[1, 1],
                 complementary=["emnist_letters", "fashion_mnist"])
