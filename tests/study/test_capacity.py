"""Architectures at matched capacity, study side: each is trained at fcae's parameter count (within 10 %) beside
fcae's own run, and the table shows the budget, the width chosen and the native count."""
import json

import pandas as pd

from aelib.study.capacity import MATCHED_COLUMNS, matched
from aelib.study.study import Study

TINY = {"n_train": 200, "n_test": 100, "epochs": 1}


def test_matched_table_sizes_cae_to_fcae_s_budget(tmp_path):
    study = Study(tmp_path, workers=1, depth=1, **TINY)
    table = matched(study, families=["cae"], z_values=[2], seeds=[0])
    assert list(table.columns) == MATCHED_COLUMNS
    rows = table.set_index("family")
    assert rows.loc["fcae", "params"] == rows.loc["fcae", "budget"] == rows.loc["cae", "budget"]
    assert abs(rows.loc["cae", "params_ratio"] - 1) <= 0.10
    assert json.loads(rows.loc["cae", "width"])["filters"][1] == 2 * json.loads(rows.loc["cae", "width"])["filters"][0]
    assert rows.loc["cae", "native_params"] < 0.5 * rows.loc["cae", "budget"]  # natively far smaller at z = 2
    assert rows["rmse_mean"].between(0, 1).all() and rows["val_rmse"].between(0, 1).all()
    written = pd.read_csv(tmp_path / "tables" / "architectures_matched.csv")
    assert sorted(written["family"]) == ["cae", "fcae"]
