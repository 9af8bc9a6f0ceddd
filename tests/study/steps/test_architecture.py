"""Step 01's table of runs: what the depth claim needs (aelib.findings.depth_claim chooses on validation RMSE)."""
from types import SimpleNamespace

from aelib.study.steps.common import RUN_COLUMNS, train_rows
from aelib.study.study import Study


def test_run_rows_keep_the_validation_rmse(tmp_path):
    study = Study(tmp_path, epochs=1, n_train=200, n_test=100)
    results = [SimpleNamespace(config=study.spec("fcae", 2, seed, depth=depth).config(),
                               metrics={"rmse_mean": 0.1 + depth / 100, "val_rmse": 0.11 + depth / 100,
                                        "n_train_used": 200, "data_source": "test"})
               for depth in (1, 3) for seed in (0, 1)]
    rows = train_rows(study, results)
    assert "val_rmse" in RUN_COLUMNS and rows["val_rmse"].tolist() == [0.12, 0.12, 0.14, 0.14]
    assert rows["depth"].tolist() == [1, 1, 3, 3] and rows["n_train_used"].eq(200).all()
