"""The analysis steps and the family notebooks run in lanes (processes at once); everything else in order."""
from __future__ import annotations

import json

import pytest

from aelib.study import cli, execution, planning


def _unit(step: str, families=("fcae",)) -> dict:
    return {"step": step, "out_dir": "unused", "parameters": {"families": list(families)}}


def test_phases_group_consecutive_analysis_steps_and_family_notebooks_only():
    steps = ["01_architecture", "02_latent_sweep", "03_reconstruction", "04_latent_space", "05_ood_reconstruction",
             "06_generative", "07_augmentation", "08_summary", "models/fcae", "models/vae"]
    parts = execution.phases([_unit(s) for s in steps])
    assert [[u["step"] for u in p] for p in parts] == [
        ["01_architecture"], ["02_latent_sweep"],
        ["03_reconstruction", "04_latent_space", "05_ood_reconstruction", "06_generative", "07_augmentation"],
        ["08_summary"], ["models/fcae", "models/vae"]]
    # 02 between two analysis steps cuts them apart: 04 reads what 02 trains
    parts = execution.phases([_unit(s) for s in ["03_reconstruction", "02_latent_sweep", "04_latent_space"]])
    assert [len(p) for p in parts] == [1, 1, 1]


def test_a_phase_takes_its_longest_unit_or_its_share_of_the_lanes():
    phase = [_unit("06_generative"), _unit("03_reconstruction")]
    longest = planning.unit_cost(phase[0])
    assert planning.phase_cost(phase, 2) == pytest.approx(longest)  # 06 alone outlasts 03
    assert planning.phase_cost(phase, 1) == pytest.approx(longest + planning.unit_cost(phase[1]))
    three = [_unit("04_latent_space"), _unit("05_ood_reconstruction"), _unit("03_reconstruction")]
    assert planning.phase_cost(three, 2) == pytest.approx(sum(map(planning.unit_cost, three)) / 2)


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_bad_lanes_are_refused_naming_what_was_received(monkeypatch, bad):
    monkeypatch.setenv("AELIB_LANES", bad)
    with pytest.raises(ValueError, match=f"AELIB_LANES.*{bad!r}"):
        execution.default_lanes()


def test_two_analysis_steps_run_at_once_and_share_the_model_they_both_need(tmp_path, capfd, monkeypatch):
    # 03 and 05 both analyse fcae z=2, which is not trained yet: one lane trains it, the other waits for it
    monkeypatch.setenv("AELIB_LANES", "2")
    code = cli.main(["run", "--out", str(tmp_path), "--steps", "03,05", "--families", "fcae", "--z", "2",
                     "--n-train", "300", "--n-test", "100", "--epochs", "1", "--seeds", "0"])
    out = capfd.readouterr().out
    assert code == 0
    assert "2 units at once, 2 at a time (1 thread(s) each): 05_ood_reconstruction, 03_reconstruction" in out
    logged = [json.loads(line) for line in (tmp_path / "provenance" / "steps.jsonl").read_text().splitlines()]
    assert sorted(e["step"] for e in logged) == ["03_reconstruction", "05_ood_reconstruction"]
    assert len({e["invocation"] for e in logged}) == 1 and all(e["status"] == "complete" for e in logged)
    trained = list((tmp_path / "runs" / "train").glob("fcae-*"))
    assert len(trained) == 1  # trained once, by one lane
    assert all((tmp_path / "tables" / f"{name}.csv").is_file() for name in ("reconstruction_spread", "ood_rmse"))
