import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aelib.metrics.ood import roc_auc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=300)
    scores = rng.integers(0, 6, size=300) + 0.5 * labels  # many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    continuous = rng.normal(size=300) + labels
    assert roc_auc(labels.astype(bool), continuous) == pytest.approx(roc_auc_score(labels, continuous), abs=1e-12)


def test_roc_auc_extremes_and_errors():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [1.0, 1.0]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from aelib.study.study import Study

    return Study(tmp_path_factory.mktemp("study"), epochs=1, n_train=200, n_test=100)


def test_ood_step_end_to_end_and_resume(study):
    from aelib.study.ood import OOD_COLUMNS, ood_step

    table = ood_step(study, families=["fcae"], z_values=[2], n_ood=50, n_images=4)
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
    again = ood_step(study, families=["fcae"], z_values=[2], n_ood=50, n_images=4)
    assert {r.status for r in study.results[start:]} == {"skipped"}
    pd.testing.assert_frame_equal(again, table)
    assert len(pd.read_csv(study.tables / "ood_rmse.csv")) == 3


def test_generative_step_end_to_end_and_resume(study):
    from aelib.study.generative import GENERATIVE_COLUMNS, generative_step

    levels = (0.0, 0.5, 1.0)
    table = generative_step(study, families=["fcae"], z_values=[2], levels=levels, n_samples=50,
                            classifier_epochs=1, n_images=4)
    assert list(table.columns) == GENERATIVE_COLUMNS
    assert len(table) == 3 and list(table["level"]) == list(levels)
    assert table.groupby(["family", "latent_dim", "seed", "level"]).size().max() == 1
    assert table["label_consistency"].between(0, 1).all() and (table["frechet"] >= 0).all()
    assert table["rmse_to_reconstruction"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert table["rmse_to_reconstruction"].iloc[-1] > 0
    assert table["classifier_test_accuracy"].between(0, 1).all()
    for stem in ("generative_rmse_vs_p", "generative_label_consistency_vs_p", "generative_frechet_vs_p",
                 "generative_grid_fcae_z2_relative"):
        assert (study.figures / f"{stem}.png").is_file()

    start = len(study.results)
    again = generative_step(study, families=["fcae"], z_values=[2], levels=levels, n_samples=50,
                            classifier_epochs=1, n_images=4)
    assert {r.status for r in study.results[start:]} == {"skipped"}
    pd.testing.assert_frame_equal(again, table)


def test_ood_step_evaluates_every_seed(study):
    from aelib.study.ood import ood_step

    table = ood_step(study, families=["fcae"], z_values=[2], n_ood=50, n_images=4, seeds=[0, 1])
    assert len(table) == 6 and sorted(table["seed"].unique()) == [0, 1]
    per_seed = table[table["dataset"] == "mnist"].set_index("seed")["rmse_mean"]
    assert per_seed[0] != per_seed[1]  # two trained models
    with pytest.raises(ValueError, match="Expected distinct training seeds"):
        ood_step(study, families=["fcae"], z_values=[2], n_ood=50, seeds=[1, 1])
