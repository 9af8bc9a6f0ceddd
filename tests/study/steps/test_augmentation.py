"""Tests of step 07 (aelib.study.steps.augmentation): the experiments through the study's grid, tables, resume."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest

from aelib.augmentation import dataset, experiments
from aelib.augmentation.pairs import PairModelTrainer
from aelib.study.steps import augmentation
from aelib.study.steps.augmentation import evaluate_plan, plan_experiments
from aelib.study.study import Study

TINY = {
    "n_classes": 5,
    "max_works": 20,
    "min_works": 5,
    "extractor": {"n_train": 300, "epochs": 1, "feature_dim": 32},
    "fcae_epochs": 2,
    "pair_epochs": 1,
    "pair_hidden": 8,
    "test_pairs_per_item": 2,
}


def _write_image(path, seed: int, size=(24, 20)) -> None:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def test_run_takes_the_parameters_of_the_notebook():
    """notebooks/07_augmentation.ipynb calls run(study, source=..., ...) with these names (and no sizes)."""
    assert list(inspect.signature(augmentation.run).parameters) == [
        "study", "source", "image_dir", "csv_path", "aug_latent_dim", "aug_seeds", "perturbations", "thresholds"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"source": "wikiart"}, "source='wikiart'"),
        ({"perturbations": (0.1, 1.5)}, "p=1.5"),
        ({"aug_seeds": ()}, r"seeds=\(\)"),
        ({"aug_latent_dim": [0]}, "latent_dim=0"),
        ({"source": "painter_by_numbers"}, "image_dir"),
    ],
)
def test_step_rejects_bad_arguments_before_writing(tmp_path, kwargs, match):
    study = Study(tmp_path, workers=1)
    params = {"source": "standin", "image_dir": None, "csv_path": None, "aug_latent_dim": [3], "aug_seeds": [0],
              "perturbations": [0.1], "thresholds": [5], **kwargs}
    with pytest.raises(ValueError, match=match):
        augmentation.run(study, **params)
    assert not (tmp_path / "augmentation").exists() and not (tmp_path / "runs" / "augmentation").exists()


def test_step_missing_painter_data_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="painter-by-numbers"):
        augmentation.run(Study(tmp_path, workers=1), source="painter_by_numbers", image_dir=str(tmp_path / "x"),
                         csv_path=str(tmp_path / "y.csv"), aug_latent_dim=[3], aug_seeds=[0], perturbations=[0.1],
                         thresholds=[5])
    assert not (tmp_path / "augmentation").exists()


class _SpyTrainer(PairModelTrainer):
    """Records, for every fit, the updates really made and whether a positive pair joins identical vectors."""

    fits: list = []

    def fit(self, features, pairs, y, **kwargs):
        model = super().fit(features, pairs, y, **kwargs)
        positives = pairs[np.asarray(y) == 1]
        same_vector = np.all(features[positives[:, 0]] == features[positives[:, 1]], axis=1)
        updates = int(model.optimizer.iterations.numpy())
        self.fits.append({"updates": updates, "identical_positives": int(same_vector.sum())})
        return model


def test_tiny_standin_study_end_to_end_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(_SpyTrainer, "fits", [])
    monkeypatch.setattr(experiments, "PairModelTrainer", _SpyTrainer)
    study = Study(tmp_path, workers=1)
    args = dict(
        latent_dims=(3, 6),
        seeds=(0, 1),
        perturbations=(0.0, 0.1),
        thresholds=(10, 20),
        out_dir=tmp_path / "augmentation",
        sizes=TINY,
        progress=False,
    )
    out = evaluate_plan(study, plan_experiments(**args))
    results, summary = out["results"], out["summary"]
    n_settings = 1 + 2 + 2 * (2 + 2 + 2)  # baseline, duplicates at t = 10, 20, and per z the three experiments
    assert len(results) == 2 * n_settings
    for col in ("experiment", "latent_dim", "value", "seed", "auc", "auc_rare", "n_synthetic", "n_updates"):
        assert col in results.columns
    assert results["stand_in"].all() and (results["data_source"] == "standin-letters-fashioncnn").all()
    assert results["auc"].between(0, 1).all()
    assert set(results["experiment"]) == {
        "baseline",
        "topup_duplicate",
        "topup_perturbation",
        "topup_threshold",
        "one_per_original",
    }
    # Equal updates: every condition, augmented or not, trains the pair model for the same number of updates.
    assert results["n_updates"].nunique() == 1 and results["n_updates"].iloc[0] >= 1
    assert {f["updates"] for f in _SpyTrainer.fits} == {int(results["n_updates"].iloc[0])}
    assert len(_SpyTrainer.fits) == 2 * (1 + 2 + 2 * (2 + 1 + 2))  # shared computations trained once
    per_item = results[results["experiment"] == "one_per_original"]
    assert (per_item["n_train_pairs"] > results.loc[results["experiment"] == "baseline", "n_train_pairs"].max()).all()
    # No self-pairs: a duplicate is never a positive partner of its own source (identical vectors).
    assert sum(f["identical_positives"] for f in _SpyTrainer.fits) == 0
    # z swept: autoencoder rows carry their z, the control and the baseline none.
    ae = results["experiment"].isin(["topup_perturbation", "topup_threshold", "one_per_original"])
    assert set(results.loc[ae, "latent_dim"]) == {3, 6} and results.loc[~ae, "latent_dim"].isna().all()
    assert (results.loc[ae, "fcae_test_rmse"] > 0).all()
    assert (results.loc[results["experiment"] == "baseline", "n_synthetic"] == 0).all()
    assert (per_item["n_synthetic"] == per_item["n_train_works"]).all()
    # The duplicate control tops up with the same counts as the synthetic top-up at the same threshold.
    dup = results[results["experiment"] == "topup_duplicate"].set_index(["seed", "value"])["n_synthetic"]
    syn = results[(results["experiment"] == "topup_threshold") & (results["latent_dim"] == 3)]
    pd.testing.assert_series_equal(dup, syn.set_index(["seed", "value"])["n_synthetic"], check_names=False)
    assert (dup > 0).all()
    # exp. 1 at p = 0.1 and exp. 2 at t = 20 are the same computation
    for z in (3, 6):
        r = results[results["latent_dim"] == z]
        e1 = r[(r["experiment"] == "topup_perturbation") & (r["value"] == 0.1)].set_index("seed")["auc"]
        e2 = r[(r["experiment"] == "topup_threshold") & (r["value"] == 20)].set_index("seed")["auc"]
        pd.testing.assert_series_equal(e1, e2, check_names=False)

    assert len(summary) == n_settings
    for col in (
        "latent_dim",
        "auc_mean",
        "auc_ci95_low",
        "auc_ci95_high",
        "auc_delta_mean",
        "auc_delta_ci95_low",
        "auc_delta_ci95_high",
        "auc_vs_duplicate_mean",
        "n_updates",
        "ci_method",
        "data_source",
        "stand_in",
    ):
        assert col in summary.columns
    assert summary["ci_method"].str.contains("over seeds").all()
    assert (summary["n_updates"] == results["n_updates"].iloc[0]).all()
    assert (summary["auc_ci95_low"] <= summary["auc_mean"]).all() and (
        summary["auc_mean"] <= summary["auc_ci95_high"]
    ).all()
    control = summary[summary["experiment"] == "topup_duplicate"]
    assert control["value"].tolist() == [10.0, 20.0] and control["latent_dim"].isna().all()
    assert control["auc_delta_mean"].notna().all() and control["auc_vs_duplicate_mean"].isna().all()
    # Paired differences: the delta is the mean of per-seed differences to the baseline.
    base = results[results["experiment"] == "baseline"].set_index("seed")["auc"]
    d20 = results[(results["experiment"] == "topup_duplicate") & (results["value"] == 20)].set_index("seed")["auc"]
    assert control.loc[control["value"] == 20, "auc_delta_mean"].item() == pytest.approx((d20 - base).mean())
    topups = summary[summary["experiment"].isin(["topup_perturbation", "topup_threshold"])]
    assert topups["auc_vs_duplicate_mean"].notna().all()
    s1 = results[(results["experiment"] == "topup_perturbation") & (results["latent_dim"] == 6)]
    s1 = s1[s1["value"] == 0.0].set_index("seed")["auc"]
    row = topups[(topups["experiment"] == "topup_perturbation") & (topups["latent_dim"] == 6) & (topups["value"] == 0)]
    assert row["auc_vs_duplicate_mean"].item() == pytest.approx((s1 - d20).mean())
    for name in (
        "augmentation_results.csv",
        "augmentation_summary.csv",
        "augmentation_class_counts.csv",
        "augmentation_provenance.json",
    ):
        assert (tmp_path / "augmentation" / name).is_file()
    assert len(pd.read_csv(tmp_path / "augmentation" / "augmentation_results.csv")) == 2 * n_settings
    assert {p.suffix for p in out["figures"]} == {".png", ".pdf"} and len(out["figures"]) == 6
    provenance = json.loads((tmp_path / "augmentation" / "augmentation_provenance.json").read_text())
    assert provenance["stand_in"] is True and "stand-in" in provenance["description"]
    assert provenance["latent_dims"] == [3, 6] and provenance["n_updates"] == results["n_updates"].iloc[0]

    # Resume: every row is stored, so nothing is trained again.
    def no_training(*a, **k):
        raise AssertionError("a finished setting was recomputed")

    monkeypatch.setattr(experiments, "PairModelTrainer", no_training)
    again = evaluate_plan(study, plan_experiments(**args))
    pd.testing.assert_frame_equal(again["results"], results)
    assert {r.status for r in again["runs"]} == {"skipped"}
    # The runs are the study's: one per feature autoencoder (seed, z) and one per results row (seed, setting).
    assert len(list((tmp_path / "runs" / "augmentation_fcae").iterdir())) == 2 * 2
    assert len(list((tmp_path / "runs" / "augmentation").iterdir())) == 2 * n_settings


def test_painter_by_numbers_path_reads_folder_and_runs(tmp_path, monkeypatch):
    """The real path's wiring (reader → features → study) with a fake feature
    function in place of Inception v3, whose ImageNet weights are not available offline."""
    images = tmp_path / "train"
    images.mkdir()
    rows = []
    for a, n in enumerate([9, 7, 5, 4, 2]):  # the last artist falls below min_works_per_artist=4
        for i in range(n):
            name = f"a{a}_{i}.jpg"
            _write_image(images / name, 100 * a + i)
            rows.append({"filename": name, "artist": f"Artist {a}"})
    rows.append({"filename": "missing.jpg", "artist": "Artist 0"})
    csv = tmp_path / "train_info.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)

    def fake_inception(paths, **kwargs):
        from PIL import Image

        rng = np.random.default_rng(0)
        means = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32).mean(axis=(0, 1)) for p in paths])
        return np.hstack([means, rng.normal(size=(len(paths), 13))]).astype(np.float32)

    monkeypatch.setattr(dataset, "inception_features", fake_inception)
    plan = plan_experiments(
        source="painter_by_numbers",
        image_dir=images,
        csv_path=csv,
        latent_dims=3,
        seeds=(0,),
        perturbations=(0.1,),
        thresholds=(5,),
        out_dir=tmp_path / "out",
        sizes={"fcae_epochs": 1, "pair_epochs": 1, "pair_hidden": 4},
        progress=False,
    )
    out = evaluate_plan(Study(tmp_path / "study", workers=1), plan)
    results = out["results"]
    assert (results["data_source"] == "painter_by_numbers").all() and not results["stand_in"].any()
    report = out["provenance"]["data"]["reader_report"]
    assert report["n_missing_files"] == 1 and report["n_artists_below_min_works"] == 1
    assert out["provenance"]["n_works"] == 25 and out["provenance"]["n_classes"] == 4

