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
                 "generative_grid_fcae_z2_relative"):
        assert (study.figures / f"{stem}.png").is_file()

    start = len(study.results)
    again = generative_step(study, families=["fcae"], z_values=[2], levels=levels, n_samples=50,
                            classifier_epochs=1, n_images=4, modes=["relative"], seeds=[0])
    assert {r.status for r in study.results[start:]} == {"skipped"}
    pd.testing.assert_frame_equal(again, table)
