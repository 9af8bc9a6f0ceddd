"""The regularisers at work, study side: each regularised family's activity measures beside fcae's, from the run
store (fcae trained first where missing)."""
import math

import pandas as pd

from aelib.study import regularisation
from aelib.study.study import Study

TINY = {"n_train": 200, "n_test": 100, "epochs": 1}


def test_activity_table_sets_each_measure_beside_fcae_s(tmp_path):
    study = Study(tmp_path, workers=1, **TINY)
    study.train_grid("sweep", ["dae", "aae"], [2])  # the step's models; fcae is trained by the measures
    table = regularisation.activity(study, families=["fcae", "dae", "aae", "sae"], z_values=[2], seeds=[0],
                                    n_points=40)
    assert list(table.columns) == regularisation.ACTIVITY_COLUMNS
    # sae has no trained model in the store: it is left out, not trained here
    assert sorted(zip(table["family"], table["measure"])) == [("aae", "mmd_to_prior"), ("dae", "corrupted_rmse")]
    assert all(math.isfinite(v) and v >= 0 for v in (*table["value"], *table["fcae_value"]))
    written = pd.read_csv(tmp_path / "tables" / "regulariser_activity.csv")
    assert len(written) == 2 and set(written["latent_dim"]) == {2}
    trained = [r.config["family"] for r in study.results if r.kind == "train" and r.status != "skipped"]
    assert sorted(trained) == ["aae", "dae", "fcae"]
    again = Study(tmp_path, workers=1, **TINY)
    table_again = regularisation.activity(again, families=["dae", "aae"], z_values=[2], seeds=[0], n_points=40)
    assert {r.status for r in again.results} == {"skipped"}  # everything reused from the store
    pd.testing.assert_frame_equal(table_again.reset_index(drop=True), table.reset_index(drop=True))
