"""Tuning stage: the declared grid is trained, validation RMSE picks the value,
and the choice reaches every later step (unless the user fixed the option)."""
import json

import pandas as pd
import pytest

from aelib.study.steps.sweep import run as latent_sweep
from aelib.study.study import Study
from aelib.study.tuning import check_grids, tune

TINY = {"n_train": 200, "n_test": 100, "epochs": 2}
GRID = {"vae": ("beta", [0.5, 2.0])}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuning")
    study = Study(out, **TINY)
    table = tune(study, families=["vae", "fcae"], z=2, grids=GRID)
    return out, study, table


def test_the_value_with_the_lowest_validation_rmse_is_chosen(tuned):
    out, study, table = tuned
    assert list(table["family"]) == ["vae", "vae"]  # fcae has no grid and one learning rate: nothing to tune
    assert sorted(table["value"]) == [0.5, 2.0]
    assert table["val_rmse"].notna().all()
    best = table.loc[table["val_rmse"].idxmin()]
    assert table["chosen"].tolist() == [i == best.name for i in table.index]
    choices = pd.read_csv(out / "tables" / "tuned_options.csv", dtype={"base_setting": str})
    assert json.loads(choices.set_index("family").loc["vae", "options"]) == {"beta": best["value"]}


def test_later_steps_use_the_choice_and_reuse_its_run(tuned):
    out, study, table = tuned
    best = float(table.loc[table["val_rmse"].idxmin(), "value"])
    later = Study(out, **TINY)
    assert later.tuned == {"vae": {"beta": best}}
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
    assert other.tuned == {}
    assert dict(other.spec("vae", 2).options)["beta"] == 1.0  # the family default


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="no option 'gamma'"):
        check_grids({"vae": ("gamma", [1.0])})
    with pytest.raises(ValueError, match="Known families"):
        check_grids({"nope": ("beta", [1.0])})
    with pytest.raises(ValueError, match="at least one value"):
        check_grids({"vae": ("beta", [])})
