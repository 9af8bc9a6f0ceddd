"""Tuning stage: the declared grid (with its unregularised value) is trained, the rule that keeps the regulariser
chooses, the regularisation path is measured, and the choice reaches every later step (unless the user fixed the
option)."""
import json
import math

import pandas as pd
import pytest

from aelib.study.steps.sweep import run as latent_sweep
from aelib.study.study import Study
from aelib.study.tuning import (
    DEFAULT_GRIDS,
    RULE_LOWEST,
    RULE_STRONGEST,
    STRENGTH_OPTIONS,
    TOLERANCE,
    check_grids,
    choose,
    strongest_within_tolerance,
    tune,
)

TINY = {"n_train": 200, "n_test": 100, "epochs": 2}
GRID = {"vae": ("beta", [0.0, 2.0])}


# ----- the rule on constructed tables ------------------------------------------------------------------------------
def test_the_rule_picks_the_strongest_value_within_the_tolerance():
    values = [0.0, 0.5, 1.0, 2.0]
    assert TOLERANCE == 0.05
    assert strongest_within_tolerance(values, [0.100, 0.103, 0.1049, 0.106]) == 2  # 2.0 is 6 % worse
    assert strongest_within_tolerance(values, [0.100, 0.099, 0.098, 0.1050]) == 3  # at the bound counts
    assert strongest_within_tolerance(values, [0.100, 0.2, 0.3, 0.4]) == 0  # nothing within: unregularised
    assert strongest_within_tolerance(values, [0.100, 0.101, 0.102, math.nan]) == 2  # a failed run is skipped
    assert strongest_within_tolerance([1.0, 0.0, 0.5], [0.104, 0.1, 0.2]) == 0  # order of the grid does not matter
    assert strongest_within_tolerance(values, [0.1, 0.2, 0.3, 0.4], tolerance=3.0) == 3


def test_the_rule_needs_the_unregularised_value():
    with pytest.raises(ValueError, match="unregularised value 0"):
        strongest_within_tolerance([0.5, 1.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="unregularised value 0"):
        strongest_within_tolerance([0.0, 1.0], [math.nan, 0.1])
    with pytest.raises(ValueError, match="one validation RMSE per value"):
        strongest_within_tolerance([0.0, 1.0], [0.1])


def test_choose_takes_each_value_s_best_learning_rate_and_marks_the_rule():
    part = pd.DataFrame({"family": "sae", "option": "beta", "value": [0.0, 0.0, 0.01, 0.01, 0.03, 0.03],
                         "learning_rate": [1e-3, 3e-3] * 3,
                         "val_rmse": [0.110, 0.100, 0.108, 0.104, 0.200, 0.106]})
    out = choose(part)
    assert out.index[out["chosen"]].tolist() == [3]  # 0.03's best (0.106) is 6 % worse; 0.01's best is within
    assert (out["reference_val_rmse"] == 0.100).all() and (out["rule"] == RULE_STRONGEST).all()
    assert out["val_rmse_ratio"].tolist() == pytest.approx([1.1, 1.0, 1.08, 1.04, 2.0, 1.06])
    assert out["within_tolerance"].tolist() == [False, True, False, True, False, False]
    other = choose(pd.DataFrame({"family": "dae", "option": "corruption", "value": ["gaussian", "masking"],
                                 "learning_rate": 1e-3, "val_rmse": [0.2, 0.1]}))
    assert other["chosen"].tolist() == [False, True] and (other["rule"] == RULE_LOWEST).all()


def test_every_default_grid_holds_its_unregularised_value_and_the_default():
    from aelib.models import model_options

    grids = check_grids(DEFAULT_GRIDS)
    assert {"vae", "sae", "conae", "dae", "aae", "mae", "mmae"} <= set(grids)
    for family, (option, values) in grids.items():
        assert option in STRENGTH_OPTIONS and 0.0 in values and sorted(values) == values
        assert model_options(family)[option] in values, family
        assert 3 <= len(values) <= 4
    assert 0.75 in grids["mae"][1]  # He et al.'s ratio


# ----- the stage, end to end --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuning")
    study = Study(out, **TINY)
    table = tune(study, families=["vae", "fcae"], z=2, grids=GRID)
    return out, study, table


def test_the_rule_s_choice_is_written_with_the_zero_value(tuned):
    out, study, table = tuned
    assert list(table["family"]) == ["vae", "vae"]  # fcae has no grid and one learning rate: nothing to tune
    assert sorted(table["value"]) == [0.0, 2.0]
    assert table["val_rmse"].notna().all()
    rmse = table.set_index("value")["val_rmse"]
    expected = 2.0 if rmse[2.0] <= (1 + TOLERANCE) * rmse[0.0] else 0.0
    assert table.loc[table["chosen"], "value"].tolist() == [expected]
    assert table["val_rmse_ratio"].tolist() == pytest.approx((table["val_rmse"] / rmse[0.0]).tolist())
    written = pd.read_csv(out / "tables" / "tuning.csv")
    assert {"reference_val_rmse", "val_rmse_ratio", "within_tolerance", "rule", "chosen"} <= set(written.columns)
    assert 0.0 in written["value"].tolist()
    choices = pd.read_csv(out / "tables" / "tuned_options.csv", dtype={"base_setting": str})
    assert json.loads(choices.set_index("family").loc["vae", "options"]) == {"beta": expected}


def test_the_regularisation_path_is_measured_on_validation_data(tuned):
    out, _, table = tuned
    path = pd.read_csv(out / "tables" / "regularisation_path.csv")
    assert sorted(path["value"]) == [0.0, 2.0] and set(path["option"]) == {"beta"}
    merged = path.merge(table, on=["family", "value"], suffixes=("", "_tuning"))
    assert merged["val_rmse"].tolist() == pytest.approx(merged["val_rmse_tuning"].tolist(), rel=1e-5)
    assert path["probe_knn_accuracy"].between(0, 1).all()
    for measure in ("kl_per_dimension", "active_units", "mmd_to_prior"):
        assert path[measure].notna().all(), measure
    assert path["chosen"].astype(str).eq("True").sum() == 1
    assert (out / "figures" / "regularisation_path.png").is_file()


def test_later_steps_use_the_choice_and_reuse_its_run(tuned):
    out, study, table = tuned
    best = float(table.loc[table["chosen"], "value"].iloc[0])
    later = Study(out, **TINY)
    assert later.settings.tuned == {"vae": {"beta": best}}
    assert "step 01" in later.settings.tuned_source and "vae" in later.settings.describe()
    assert dict(later.spec("vae", 2).options)["beta"] == best
    results = later.train_grid("sweep", ["vae"], [2])
    assert results[0].status == "skipped"  # the tuning run of the chosen value is the sweep's run
    by_z = latent_sweep(later, families=["vae"], z_values=[2], seeds=[0])
    assert len(by_z) == 1


def test_user_options_win_and_are_not_tuned(tuned):
    out, _, _ = tuned
    fixed = Study(out, family_options={"vae": {"beta": 4.0}}, **TINY)
    assert dict(fixed.spec("vae", 2).options)["beta"] == 4.0
    assert tune(fixed, families=["vae"], z=2, grids=GRID).empty


def test_choices_hold_only_for_the_settings_they_were_made_under(tuned):
    out, _, _ = tuned
    other = Study(out, **{**TINY, "epochs": 3})
    assert other.settings.tuned == {}
    assert dict(other.spec("vae", 2).options)["beta"] == 1.0  # the family default


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="no option 'gamma'"):
        check_grids({"vae": ("gamma", [1.0])})
    with pytest.raises(ValueError, match="Known families"):
        check_grids({"nope": ("beta", [1.0])})
    with pytest.raises(ValueError, match="at least one value"):
        check_grids({"vae": ("beta", [])})
    with pytest.raises(ValueError, match=r"unregularised value 0 in the grid of vae.beta.*Received: \[0.5, 2.0\]"):
        check_grids({"vae": ("beta", [0.5, 2.0])})
