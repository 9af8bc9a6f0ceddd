"""REPORT's capacity part: the objective families' parameter counts against fcae's, and the architectures at
matched capacity against fcae seed by seed."""
import pandas as pd
import pytest

from aelib.report.capacity import backbone_table, capacity_matched_section, matched_table

RUNS = pd.DataFrame({
    "family": ["fcae", "fcae", "dae", "vae", "cae", "fcae", "fcae", "cae", "cae"],
    "latent_dim": [2, 2, 2, 2, 2, 40, 40, 40, 40],
    "seed": [0, 1, 0, 0, 0, 0, 1, 0, 1],
    "n_params": [1000, 1000, 1000, 1040, 5000, 2000, 2000, 9000, 9000],
    "rmse_mean": [0.20, 0.22, 0.21, 0.23, 0.18, 0.10, 0.12, 0.09, 0.09],
})
MATCHED = pd.DataFrame({
    "family": ["fcae", "fcae", "cae", "cae"], "latent_dim": [40, 40, 40, 40], "seed": [0, 1, 0, 1],
    "params": [2000, 2000, 2050, 2050], "budget": [2000] * 4, "native_params": [None, None, 9000, 9000],
    "rmse_mean": [0.10, 0.12, 0.11, 0.115],
})


def test_backbone_ratios_are_against_fcae_at_the_same_z():
    table = backbone_table(RUNS).set_index(["family", "latent_dim"])
    assert table.loc[("vae", 2), "params_ratio"] == pytest.approx(1.04)
    assert ("cae", 2) not in table.index  # an architecture, not an objective family


def test_matched_rows_compare_each_seed_with_fcae_s_same_seed():
    table = matched_table(MATCHED, RUNS)
    (row,) = table.itertuples()
    assert row.family == "cae" and row.n_seeds == 2
    assert row.seeds_below_fcae == 1  # 0.11 > 0.10 in seed 0, 0.115 < 0.12 in seed 1
    assert row.params_ratio == pytest.approx(1.025)
    assert row.rmse_native == pytest.approx(0.09)


def test_section_names_the_widest_backbone_gap_and_each_matched_verdict(tmp_path):
    text = capacity_matched_section(MATCHED, RUNS, tmp_path)
    assert "within 4.0% of fcae's" in text and "vae at z = 2" in text
    assert "cae, z = 40: 0.1125 at 2,050 parameters against fcae's 0.1100: below fcae in 1 of 2 seeds" in text
    assert (tmp_path / "architectures_matched_by_z.csv").is_file()
    assert "_No architectures at matched capacity" in capacity_matched_section(pd.DataFrame(), RUNS, tmp_path)


def test_latent_reference_puts_pca_on_the_families_standardised_scale(tmp_path):
    import numpy as np

    from aelib.criteria import LATENT_MEASURES
    from aelib.report.comparisons import _latent_reference
    from aelib.report.results import latent_section

    measures = list(LATENT_MEASURES)
    per_measure = {m: {"fcae": [0.8, 0.82], "vae": [0.6, 0.62]} for m in measures}  # mean 0.71, sd ≈ 0.1005
    pca = pd.DataFrame([{"family": "pca", "latent_dim": 2, **{m: 0.71 + 0.1005 for m in measures}}])
    row = _latent_reference(pca, per_measure, [(2,)], measures)
    sd = np.std([0.8, 0.82, 0.6, 0.62])
    signs = [1 if LATENT_MEASURES[m] else -1 for m in measures]
    assert row["value"].iloc[0] == pytest.approx(np.mean(signs) * 0.1005 / sd, rel=1e-6)
    assert _latent_reference(pca, per_measure, [(2,), (40,)], measures) is None  # PCA lacks z = 40: no reference
    latent = pd.DataFrame([{"family": "fcae", "latent_dim": 2, "seed": s, **{m: 0.8 for m in measures}}
                           for s in (0, 1)])
    text = latent_section(latent, tmp_path, ["fcae"], [2], set(), "data", pca_latent=pca)
    assert "| pca " in text and "a reference, not ranked" in text
