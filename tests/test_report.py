import numpy as np
import pandas as pd
import pytest

from aelib.baselines import PCABaseline
from aelib.report import fit_power_law, held_out_check, held_out_predictions, power_law, rank_table, write_table


@pytest.mark.parametrize("a,b,c", [(0.3, 0.5, 0.05), (1.0, 1.2, 0.1), (0.1, 0.3, 0.0)])
def test_power_law_fit_recovers_known_parameters(a, b, c):
    z = np.array([1, 2, 3, 5, 10, 20, 40, 80, 160, 320])
    fit = fit_power_law(z, power_law(z, a, b, c))
    assert fit["a"] == pytest.approx(a, rel=1e-3)
    assert fit["b"] == pytest.approx(b, rel=1e-3)
    assert fit["c"] == pytest.approx(c, abs=1e-4)
    assert fit["r2"] == pytest.approx(1.0)
    check = held_out_check(z, power_law(z, a, b, c))
    assert check["heldout_max_abs_rel_error"] < 1e-3


def test_held_out_predictions_one_row_per_z_and_catch_a_bad_point():
    z = np.array([2, 5, 10, 20, 40])
    y = power_law(z, 0.3, 0.5, 0.05)
    y[2] *= 1.5  # z = 10 off the law: its prediction from the others misses by about a third
    rows = held_out_predictions(z, y)
    assert list(rows["latent_dim"]) == list(z)
    np.testing.assert_allclose(rows["observed"], y)
    worst = rows.loc[rows["rel_error"].idxmax()]
    assert worst["latent_dim"] == 10 and worst["rel_error"] == pytest.approx(1 / 3, abs=0.05)
    assert held_out_check(z, y)["heldout_max_abs_rel_error"] == pytest.approx(rows["rel_error"].max())
    assert held_out_predictions(z[:3], y[:3]).empty


def test_power_law_needs_three_points():
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([1, 2], [0.3, 0.2])
    assert held_out_check([1, 2, 3], [0.3, 0.2, 0.1])["heldout_n"] == 0


def test_rank_table_directions():
    ranks = rank_table({"rmse": pd.Series({"a": 0.1, "b": 0.2}), "hit": pd.Series({"a": 0.5, "b": 0.9})},
                       {"rmse": False, "hit": True})
    row = ranks.set_index("family")
    assert row.loc["a", "rank_rmse"] == 1 and row.loc["b", "rank_hit"] == 1
    assert set(ranks.columns) >= {"mean_rank", "rank_overall"}


def test_tables_in_three_formats(tmp_path):
    paths = write_table(pd.DataFrame({"family": ["fcae"], "rmse": [0.123456]}), tmp_path / "t", caption="A table")
    assert [p.suffix for p in paths] == [".csv", ".tex", ".md"]
    tex = paths[1].read_text()
    assert "\\toprule" in tex and "0.1235" in tex and "A table" in tex
    assert "fcae" in paths[2].read_text()


def test_pca_baseline_is_exact_at_full_rank():
    x = np.random.default_rng(0).random((50, 4, 4, 1))
    pca = PCABaseline(16, clip=False).fit(x)
    np.testing.assert_allclose(pca.reconstruct(x), x, atol=1e-5)
    assert pca.encode(x).shape == (50, 16)
    with pytest.raises(ValueError, match="does not fit PCA"):
        PCABaseline(17).fit(x)


def test_report_lists_invocations_and_skips_a_cut_line(tmp_path):
    import json

    from aelib.report import _invocations

    assert _invocations(tmp_path / "missing.jsonl") == []
    log = tmp_path / "invocations.jsonl"
    record = {"finished": "2026-01-01 10:00:00", "argv": ["run", "--steps", "02"], "seconds": 125.4,
              "steps": [{"step": "02_latent_sweep", "status": "complete", "seconds": 120.0}]}
    log.write_text(json.dumps(record) + "\n" + '{"finished": "2026-01-01 11:0')  # the second was cut by a kill
    lines = _invocations(log)
    table = "\n".join(lines)
    assert "2026-01-01 10:00:00" in table and "run --steps 02" in table and "2 min 05 s" in table
    assert "02 (complete)" in table and "11:0" not in table


def test_report_opens_with_convergence_and_marks_runs_that_hit_the_cap():
    from aelib.report import _capped_cells, _convergence_section, _marked

    runs = pd.DataFrame({"family": ["fcae", "fcae", "vae"], "latent_dim": [2, 40, 2], "seed": [0, 0, 0],
                         "depth": [3, 3, 3], "stopped_by": ["early_stopping", "epoch_cap", "early_stopping"],
                         "epochs_run": [40, 300, 55], "best_epoch": [34, 300, 49]})
    text = _convergence_section(runs)
    assert text.startswith("**2 of 3 distinct training runs converged**")
    assert "**1 run did not converge** (1 row in the tables)" in text
    assert "epoch_cap" in text
    capped = _capped_cells(runs)
    assert capped == {("fcae", 40)}
    rows = _marked(pd.DataFrame({"family": ["fcae", "fcae", "vae"], "latent_dim": [2, 40, 40], "x": [1, 2, 3]}), capped)
    assert list(rows["family"]) == ["fcae", "fcae†", "vae"]
    wide = _marked(pd.DataFrame({"family": ["fcae", "vae"], "z=2": [0.1, 0.2], "z=40": [0.3, 0.4]}), capped)
    assert list(wide["family"]) == ["fcae†", "vae"]
    assert _marked(wide, set()) is wide
