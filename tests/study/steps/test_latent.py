import numpy as np
import pandas as pd
import pytest

from aelib.study.steps.latent import class_probes, umap_embedding
from aelib.study.steps.latent import run as latent_space_step
from aelib.study.study import Study


def test_probes_on_separable_codes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    z = rng.normal(size=(120, 4)) * 0.1 + np.eye(4)[y] * 5
    acc = class_probes(z, y, z, y)
    assert acc["probe_logreg_accuracy"] == 1.0 and acc["probe_knn_accuracy"] == 1.0


def test_small_codes_are_drawn_directly():
    codes = np.arange(10, dtype="float32").reshape(5, 2)
    np.testing.assert_array_equal(umap_embedding(codes), codes)
    assert umap_embedding(codes[:, :1]).shape == (5, 2)


def test_latent_step_table_and_resume(tmp_path):
    study = Study(tmp_path, epochs=1, n_train=200, n_test=100)
    table = latent_space_step(study, families=["fcae"], z_values=[2], umap_z=[2], n_points=60, k=5, seeds=[0],
                              analysis_seed=None)
    expected = {"trustworthiness", "continuity", "stress_seed", "stress_raw", "stress_scaled", "neighborhood_hit",
                "neighborhood_hit_self", "shepard_goodness", "shepard_rho", "probe_logreg_accuracy",
                "probe_knn_accuracy", "umap_trustworthiness", "data_source"}
    assert expected <= set(table.columns) and len(table) == 1
    assert 0.0 <= table["trustworthiness"].iloc[0] <= 1.0
    again = latent_space_step(study, families=["fcae"], z_values=[2], umap_z=[2], n_points=60, k=5, seeds=[0],
                              analysis_seed=None)
    assert study.results[-1].status == "skipped"
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
    for name in ("latent_measures_vs_z.png", "latent_umap.png"):
        assert (tmp_path / "figures" / name).is_file()


def test_latent_step_rejects_bad_k(tmp_path):
    with pytest.raises(ValueError, match="k=50, n_points=60"):
        latent_space_step(Study(tmp_path), families=["fcae"], z_values=[2], k=50, n_points=60, umap_z=[], seeds=[0],
                          analysis_seed=None)


def test_latent_step_measures_every_seed_and_draws_one(tmp_path):
    study = Study(tmp_path, epochs=1, n_train=200, n_test=100)
    table = latent_space_step(study, families=["fcae"], z_values=[2], umap_z=[2], n_points=60, k=5, seeds=[0, 1],
                              analysis_seed=None)
    assert sorted(table["seed"]) == [0, 1]
    assert table["trustworthiness"].nunique() == 2  # two models, two measurements
    umapped = [r for r in study.results if r.metrics is not None and r.config.get("umap")]
    assert [r.config["seed"] for r in umapped] == [0]  # the figure shows the first seed's models only
    with pytest.raises(ValueError, match="seed=5, seeds=\\[0, 1\\]"):
        latent_space_step(study, families=["fcae"], z_values=[2], n_points=60, k=5, seeds=[0, 1], analysis_seed=5,
                          umap_z=[])


def test_an_analysis_step_trains_missing_models_through_the_pool_and_says_which_it_analysed(tmp_path, capsys):
    """An analysis on a store without its models trains them first (saying so), through train_specs,
    and names the run of every model it analysed; Study.model itself never trains."""
    from aelib.study.study import MissingModel

    study = Study(tmp_path, epochs=1, n_train=200, n_test=100, workers=1)
    with pytest.raises(MissingModel, match="fcae z=2 seed=0.*step 02"):
        study.model("fcae", 2, 0)
    assert not list((tmp_path / "runs").glob("train/*/metrics.json"))  # asking did not train
    latent_space_step(study, families=["fcae"], z_values=[2], umap_z=[], n_points=60, k=5, seeds=[0],
                      analysis_seed=None)
    out = capsys.readouterr().out
    key = study.store.path_for("train", study.spec("fcae", 2, 0).config()).relative_to(tmp_path)
    assert "1 of the 1 trained model(s) it analyses are not in the run store: training them first" in out
    assert f"fcae z=2 depth={study.depth} seed=0: {key}" in out
    trained = [r for r in study.results if r.kind == "train"]
    assert [r.status for r in trained] == ["complete"]
    latent_space_step(study, families=["fcae"], z_values=[2], umap_z=[], n_points=60, k=5, seeds=[0],
                      analysis_seed=None)
    assert "training them first" not in capsys.readouterr().out  # the second time: nothing missing


def test_latent_step_writes_the_pca_reference(tmp_path):
    """PCA at each z is measured on the same test subset as the models: one row per z in
    latent_quality_pca.csv, equal to the measures of PCA codes computed by hand; latent_quality.csv keeps
    the families' rows only."""
    from aelib.baselines import PCABaseline
    from aelib.metrics.projection import projection_quality

    study = Study(tmp_path, epochs=1, n_train=200, n_test=100)
    table = latent_space_step(study, families=["fcae"], z_values=[2, 3], umap_z=[], n_points=60, k=5, seeds=[0, 1],
                              analysis_seed=1)
    assert set(table["family"]) == {"fcae"}
    pca = pd.read_csv(tmp_path / "tables" / "latent_quality_pca.csv")
    assert list(pca.columns[:3]) == ["family", "latent_dim", "seed"]
    assert list(pca["family"]) == ["pca", "pca"] and list(pca["latent_dim"]) == [2, 3] and set(pca["seed"]) == {1}
    for col in ("trustworthiness", "continuity", "neighborhood_hit", "shepard_goodness", "probe_logreg_accuracy",
                "probe_knn_accuracy"):
        assert pca[col].between(0.0, 1.0).all(), col
    assert np.isfinite(pca["stress_scaled"]).all() and (pca["n"] == 60).all() and (pca["k"] == 5).all()
    x_test, y_test, _ = study.data("test", n=60)
    x_train, _, _ = study.data("train")
    codes = PCABaseline(3).fit(x_train).encode(x_test)
    by_hand = projection_quality(x_test.reshape(len(x_test), -1), codes, y_test, k=5, seed=1)
    row = pca[pca["latent_dim"] == 3].iloc[0]
    for col in ("trustworthiness", "continuity", "stress_scaled", "neighborhood_hit", "shepard_goodness"):
        assert row[col] == pytest.approx(by_hand[col], abs=1e-12), col


def test_pca_reference_leaves_out_a_z_it_cannot_fit(tmp_path, capsys):
    from aelib.study.steps.latent import pca_quality

    study = Study(tmp_path, epochs=1, n_train=100, n_test=100)
    rows = pca_quality(study, [2, 150], k=5, n_points=60)  # 150 components > 100 training images
    assert list(rows["latent_dim"]) == [2]
    assert "no PCA reference at z=150" in capsys.readouterr().out
