"""Tests of aelib.augmentation: reader, feature cache, pairs, top-up rule, and a tiny study."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aelib.augmentation import (
    PairModelTrainer,
    augmented_pairs,
    cached_features,
    draw_pairs,
    holdout_split,
    inception_features,
    long_tail_counts,
    read_artworks,
    run_augmentation_study,
    synthesize,
    top_up_counts,
    top_up_sources,
    update_schedule,
)
from aelib.augmentation import experiments as exp_module
from aelib.augmentation.pairs import build_pair_model, pair_scores

# ------------------------------------------------------------------------ helpers


def _write_image(path, seed: int, size=(40, 32), fmt=None) -> None:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)


@pytest.fixture
def art_folder(tmp_path):
    """Three artists (4, 3, 1 works), one corrupt JPEG, one CSV row without a file."""
    images = tmp_path / "train"
    images.mkdir()
    rows = []
    works = {"Alice": 4, "Bob": 3, "Carol": 1}
    k = 0
    for artist, n in works.items():
        for _ in range(n):
            name = f"{k}.png" if k % 2 else f"{k}.jpg"
            _write_image(images / name, k)
            rows.append({"filename": name, "artist": artist, "title": f"t{k}", "style": "s", "genre": "g", "date": ""})
            k += 1
    (images / "broken.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    rows.append({"filename": "broken.jpg", "artist": "Alice", "title": "x", "style": "", "genre": "", "date": ""})
    rows.append({"filename": "gone.jpg", "artist": "Bob", "title": "y", "style": "", "genre": "", "date": ""})
    csv = tmp_path / "train_info.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return images, csv


# ------------------------------------------------------------------------- reader


def test_read_artworks_skips_and_counts_bad_rows(art_folder):
    images, csv = art_folder
    works = read_artworks(images, csv, min_works=2)
    r = works.report
    assert r["n_rows"] == 10
    assert r["n_unreadable"] == 1 and r["unreadable"][0]["filename"] == "broken.jpg"
    assert r["n_missing_files"] == 1 and r["missing_files"] == ["gone.jpg"]
    assert r["n_artists_below_min_works"] == 1 and r["n_works_of_dropped_artists"] == 1  # Carol
    assert len(works) == r["n_works"] == 7
    assert works.artist_names == ["Alice", "Bob"]
    assert np.bincount(works.labels).tolist() == [4, 3]
    assert all(p.is_file() for p in works.paths)
    json.dumps(r)  # the report is JSON-able for provenance


def test_read_artworks_missing_inputs_say_how_to_get_data(tmp_path, art_folder):
    images, csv = art_folder
    with pytest.raises(FileNotFoundError, match=r"(?s)nope\.csv.*painter-by-numbers"):
        read_artworks(images, tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match=r"(?s)no_such_dir.*painter-by-numbers"):
        read_artworks(tmp_path / "no_such_dir", csv)


def test_read_artworks_nothing_readable_names_the_folder(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"garbage")
    csv = tmp_path / "train_info.csv"
    pd.DataFrame({"filename": ["a.jpg", "b.jpg"], "artist": ["X", "Y"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=str(images)):
        read_artworks(images, csv)


# ----------------------------------------------------------------------- features


def test_cached_features_second_call_reads_the_cache(tmp_path):
    calls = []

    def fake(x):
        calls.append(len(x))
        return np.asarray(x, dtype=np.float32).reshape(len(x), -1)[:, :3] * 2

    x = np.random.default_rng(0).random((5, 4, 4)).astype(np.float32)
    first = cached_features(x, fake, model_name="fake-v1", cache_dir=tmp_path)
    second = cached_features(x, fake, model_name="fake-v1", cache_dir=tmp_path)
    assert calls == [5]
    np.testing.assert_array_equal(first, second)
    cached_features(x, fake, model_name="fake-v2", cache_dir=tmp_path)  # other model → other key
    cached_features(x + 0.5, fake, model_name="fake-v1", cache_dir=tmp_path)  # other images → other key
    assert calls == [5, 5, 5]
    assert len(list(tmp_path.glob("features-*.npz"))) == 3


def test_cached_features_keys_files_by_name_size_and_mtime(tmp_path, art_folder):
    images, _ = art_folder
    paths = sorted(images.glob("*.png"))
    calls = []

    def fake(ps):
        calls.append(len(ps))
        return np.array([[p.stat().st_size] for p in ps], dtype=np.float32)

    cached_features(paths, fake, model_name="m", cache_dir=tmp_path / "c")
    cached_features(paths, fake, model_name="m", cache_dir=tmp_path / "c")
    assert calls == [len(paths)]
    _write_image(paths[0], 99, size=(20, 20))  # a changed file invalidates the cache
    cached_features(paths, fake, model_name="m", cache_dir=tmp_path / "c")
    assert calls == [len(paths), len(paths)]


def test_inception_v3_random_weights_gives_2048_features_and_caches(tmp_path, monkeypatch):
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"img{i}.png")
        _write_image(paths[-1], i, size=(60, 90))
    feats = inception_features(
        paths,
        weights=None,
        input_size=75,
        batch_size=2,
        chunk_size=1,
        workers=2,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    assert feats.shape == (2, 2048) and feats.dtype == np.float32 and np.all(np.isfinite(feats))
    assert len(list((tmp_path / "c").glob("features-inception_v3-random*.npz"))) == 2  # one file per chunk

    import keras

    def no_model(*args, **kwargs):
        raise AssertionError("InceptionV3 rebuilt although the features are cached")

    monkeypatch.setattr(keras.applications, "InceptionV3", no_model)
    again = inception_features(
        paths, weights=None, input_size=75, chunk_size=1, cache_dir=tmp_path / "c", progress=False
    )
    np.testing.assert_array_equal(feats, again)


def test_inception_features_rejects_small_inputs(tmp_path):
    with pytest.raises(ValueError, match="input_size=64"):
        inception_features(np.zeros((1, 64, 64, 3), np.uint8), weights=None, input_size=64)


# -------------------------------------------------------------------------- pairs


def test_draw_pairs_balanced_without_self_pairs_and_seeded():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 2 + [3])  # class 3 has one item: negatives only
    pairs, y = draw_pairs(labels, pairs_per_item=3, seed=7)
    assert (y == 1).sum() == (y == 0).sum() == 3 * 11  # 11 items in classes with >= 2 items
    assert np.all(pairs[:, 0] != pairs[:, 1])
    same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    np.testing.assert_array_equal(same, y == 1)
    assert not np.any(pairs[y == 1] == 11)  # the singleton is never in a positive pair
    again, y_again = draw_pairs(labels, pairs_per_item=3, seed=7)
    np.testing.assert_array_equal(pairs, again)
    np.testing.assert_array_equal(y, y_again)
    assert not np.array_equal(pairs, draw_pairs(labels, pairs_per_item=3, seed=8)[0])


def test_draw_pairs_partners_cover_the_class():
    labels = np.repeat([5, 9], [4, 4])
    pairs, y = draw_pairs(labels, pairs_per_item=200, seed=0)
    for anchor in range(8):
        partners = set(pairs[(pairs[:, 0] == anchor) & (y == 1), 1])
        assert partners == set(np.flatnonzero(labels == labels[anchor])) - {anchor}


def test_draw_pairs_groups_are_never_positive_partners():
    labels = np.array([0] * 3 + [1] * 4 + [0] * 5 + [1] * 2)
    groups = np.array([0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 1, 1, 3, 3])
    pairs, y = draw_pairs(labels, pairs_per_item=300, seed=0, groups=groups)
    for anchor in range(len(labels)):
        partners = set(pairs[(pairs[:, 0] == anchor) & (y == 1), 1])
        assert partners == set(np.flatnonzero((labels == labels[anchor]) & (groups != groups[anchor])))
    np.testing.assert_array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], y == 1)
    # Without groups the draw is the plain one: each item is its own group.
    plain = draw_pairs(labels, pairs_per_item=2, seed=4)
    own = draw_pairs(labels, pairs_per_item=2, seed=4, groups=np.arange(len(labels)) * 10)
    np.testing.assert_array_equal(plain[0], own[0])
    with pytest.raises(ValueError, match=r"groups of shape \(3,\)"):
        draw_pairs(labels, groups=[0, 1, 2])
    with pytest.raises(ValueError, match="admissible"):  # two classes, each one original and its copies
        draw_pairs([0, 0, 1, 1], groups=[0, 0, 2, 2])


def test_augmented_pairs_never_join_a_synthetic_sample_to_its_source():
    y_train = np.repeat([0, 1, 2], [6, 3, 2])
    sources = top_up_sources(y_train, 6, seed=0)  # class 1: 3 extra, class 2: 4 extra
    n = len(y_train)
    pairs, y, groups = augmented_pairs(y_train, sources, pairs_per_item=50, seed=1)
    np.testing.assert_array_equal(groups[n:], sources)
    positives = pairs[y == 1]
    for a, b in positives:
        assert groups[a] != groups[b]
        if a >= n:
            assert b != sources[a - n]
        if b >= n:
            assert a != sources[b - n]
    # Synthetic samples still take part: they anchor positives with other originals of their class.
    synthetic_anchored = positives[positives[:, 0] >= n]
    assert len(synthetic_anchored) == 50 * len(sources)
    assert (np.concatenate([y_train, y_train[sources]])[synthetic_anchored[:, 1]] == y_train[sources].repeat(50)).all()
    # The unrestricted draw would have made synthetic–source pairs here.
    loose, loose_y = draw_pairs(np.concatenate([y_train, y_train[sources]]), pairs_per_item=50, seed=1)
    loose_pos = loose[(loose_y == 1) & (loose[:, 0] >= n)]
    assert np.any(loose_pos[:, 1] == sources[loose_pos[:, 0] - n])
    with pytest.raises(ValueError, match="sources"):
        augmented_pairs(y_train, [n], pairs_per_item=1)


def test_update_schedule_is_whole_batches_of_seeded_passes():
    schedule = update_schedule(10, n_updates=7, batch_size=4, seed=0)
    assert schedule.shape == (7, 4)
    seen = np.bincount(schedule.ravel(), minlength=10)
    assert seen.min() == 2 and seen.max() == 3  # 28 draws over 10 pairs: every pair 2 or 3 times
    np.testing.assert_array_equal(np.sort(schedule.ravel()[:10]), np.arange(10))  # first pass: a permutation
    np.testing.assert_array_equal(schedule, update_schedule(10, n_updates=7, batch_size=4, seed=0))
    assert not np.array_equal(schedule, update_schedule(10, n_updates=7, batch_size=4, seed=1))  # the seed is used
    with pytest.raises(ValueError, match="n_updates=0"):
        update_schedule(10, n_updates=0, batch_size=4)


def test_pair_trainer_gives_every_condition_the_same_updates_from_the_same_start():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 6)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 10)
    small, y_small = draw_pairs(labels[:15], pairs_per_item=1, seed=0)
    large, y_large = draw_pairs(labels, pairs_per_item=4, seed=0)
    assert len(large) > 4 * len(small)
    trainer = PairModelTrainer(6, seed=3, hidden=4, batch_size=8, learning_rate=1e-2)
    start = [w.copy() for w in trainer.model.get_weights()]
    iterations = []
    for pairs, y in ((small, y_small), (large, y_large)):
        model = trainer.fit(features, pairs, y, n_updates=5, seed=1)
        iterations.append(int(model.optimizer.iterations.numpy()))
    assert iterations == [5, 5]  # same updates whatever the number of pairs
    trained = [w.copy() for w in trainer.model.get_weights()]
    assert not all(np.allclose(a, b) for a, b in zip(start, trained))
    trainer.fit(features, large, y_large, n_updates=5, seed=1)  # restarts from the same state: same result
    for a, b in zip(trained, trainer.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # The default: `epochs` passes over the pairs, in whole batches.
    model = PairModelTrainer(6, seed=3, hidden=4, batch_size=8, epochs=2).fit(features, small, y_small)
    assert int(model.optimizer.iterations.numpy()) == 2 * int(np.ceil(len(small) / 8))
    with pytest.raises(ValueError, match=r"shape \(n, 6\)"):
        trainer.fit(features[:, :5], small, y_small, n_updates=1)


@pytest.mark.parametrize("labels", [np.zeros(5, int), np.arange(5)])
def test_draw_pairs_needs_two_classes_and_a_pair(labels):
    with pytest.raises(ValueError):
        draw_pairs(labels)


def test_pair_model_is_symmetric():
    features = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    model = build_pair_model(5, hidden=8, seed=3)
    pairs = np.array([[0, 1], [2, 5], [3, 4]])
    np.testing.assert_allclose(
        pair_scores(model, features, pairs), pair_scores(model, features, pairs[:, ::-1]), rtol=1e-6
    )


# ------------------------------------------------------------------------ top-up


def test_top_up_counts_reaches_target_and_leaves_common_classes():
    labels = np.array(["a"] * 25 + ["b"] * 3 + ["c"] * 20 + ["d"] * 19 + ["e"])
    counts = top_up_counts(labels, 20)
    assert counts == {"a": 0, "b": 17, "c": 0, "d": 1, "e": 19}
    sources = top_up_sources(labels, 20, seed=0)
    after = pd.Series(np.concatenate([labels, labels[sources]])).value_counts()
    assert after["a"] == 25 and after["c"] == 20  # untouched
    assert after["b"] == after["d"] == after["e"] == 20  # exactly the target
    b_sources = sources[labels[sources] == "b"]
    assert np.bincount(b_sources - 25).tolist() in ([6, 6, 5], [6, 5, 6], [5, 6, 6])  # originals used evenly
    with pytest.raises(ValueError, match="target=0"):
        top_up_counts(labels, 0)


def test_synthetic_samples_decode_perturbed_codes_of_their_class():
    from aelib.models import build_model
    from aelib.perturbation import perturb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 16)).astype(np.float32)
    labels = np.repeat([0, 1, 2], [8, 3, 1])
    model = build_model("fcae", input_shape=(16,), latent_dim=4, output_activation="linear", seed=0)
    codes = model.encode(x)
    sources = top_up_sources(labels, 5, seed=1)
    assert sorted(labels[sources].tolist()) == [1, 1, 2, 2, 2, 2]
    synthetic = synthesize(model, codes, sources, max_fraction=0.2, seed=3)
    expected = model.decode(perturb(codes[sources], 0.2, seed=3))
    np.testing.assert_allclose(synthetic, expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(synthetic, model.decode(codes[sources]), atol=1e-4)  # really perturbed
    with pytest.raises(ValueError, match="max_fraction"):
        synthesize(model, codes, sources, max_fraction=1.5)


# ------------------------------------------------------------------------- split


def test_long_tail_and_holdout_split():
    counts = long_tail_counts(10, 60, 5)
    assert counts[0] == 60 and counts[-1] == 5 and np.all(np.diff(counts) <= 0)
    labels = np.repeat(np.arange(10), counts)
    train, test = holdout_split(labels, test_fraction=0.25, min_test=2, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    n_test = np.bincount(labels[test], minlength=10)
    assert n_test.min() >= 2 and n_test[0] == 15
    assert np.bincount(labels[train], minlength=10).min() >= 2


# ------------------------------------------------------------------------- study

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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"source": "wikiart"}, "source='wikiart'"),
        ({"perturbations": (0.1, 1.5)}, "p=1.5"),
        ({"thresholds": (5, 0)}, "threshold=0"),
        ({"seeds": ()}, r"seeds=\(\)"),
        ({"latent_dims": 0}, "latent_dim=0"),
        ({"latent_dims": (16, 0)}, "latent_dim=0"),
        ({"latent_dims": ()}, r"latent_dims=\(\)"),
        ({"sizes": {"pair_updates": 0}}, "pair_updates=0"),
        ({"sizes": {"pair_epochs": 0}}, "pair_epochs=0"),
        ({"sizes": {"bogus": 1}}, "bogus"),
        ({"source": "painter_by_numbers"}, "image_dir"),
    ],
)
def test_study_rejects_bad_arguments_before_writing(tmp_path, kwargs, match):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match):
        run_augmentation_study(out_dir=out, progress=False, **kwargs)
    assert not out.exists()


def test_study_missing_painter_data_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="painter-by-numbers"):
        run_augmentation_study(
            source="painter_by_numbers",
            image_dir=tmp_path / "x",
            csv_path=tmp_path / "y.csv",
            out_dir=tmp_path / "out",
            progress=False,
        )


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
    monkeypatch.setattr(exp_module, "PairModelTrainer", _SpyTrainer)
    args = dict(
        latent_dims=(3, 6),
        seeds=(0, 1),
        perturbations=(0.0, 0.1),
        thresholds=(10, 20),
        out_dir=tmp_path,
        sizes=TINY,
        progress=False,
    )
    out = run_augmentation_study(**args)
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
        assert (tmp_path / name).is_file()
    assert len(pd.read_csv(tmp_path / "augmentation_results.csv")) == 2 * n_settings
    assert {p.suffix for p in out["figures"]} == {".png", ".pdf"} and len(out["figures"]) == 6
    provenance = json.loads((tmp_path / "augmentation_provenance.json").read_text())
    assert provenance["stand_in"] is True and "stand-in" in provenance["description"]
    assert provenance["latent_dims"] == [3, 6] and provenance["n_updates"] == results["n_updates"].iloc[0]

    # Resume: every row is stored, so nothing is trained again.
    def no_training(*a, **k):
        raise AssertionError("a finished setting was recomputed")

    monkeypatch.setattr(exp_module, "PairModelTrainer", no_training)
    again = run_augmentation_study(**args)
    pd.testing.assert_frame_equal(again["results"], results)


def test_painter_by_numbers_path_reads_folder_and_runs(tmp_path, monkeypatch):
    """The real path's wiring (reader → features → study) with a fake feature
    function in place of Inception v3, whose ImageNet weights are not available offline."""
    images = tmp_path / "train"
    images.mkdir()
    rows = []
    for a, n in enumerate([9, 7, 5, 4, 2]):  # the last artist falls below min_works_per_artist=4
        for i in range(n):
            name = f"a{a}_{i}.jpg"
            _write_image(images / name, 100 * a + i, size=(24, 20))
            rows.append({"filename": name, "artist": f"Artist {a}"})
    rows.append({"filename": "missing.jpg", "artist": "Artist 0"})
    csv = tmp_path / "train_info.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)

    def fake_inception(paths, **kwargs):
        from PIL import Image

        rng = np.random.default_rng(0)
        means = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32).mean(axis=(0, 1)) for p in paths])
        return np.hstack([means, rng.normal(size=(len(paths), 13))]).astype(np.float32)

    monkeypatch.setattr(exp_module, "inception_features", fake_inception)
    out = run_augmentation_study(
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
    results = out["results"]
    assert (results["data_source"] == "painter_by_numbers").all() and not results["stand_in"].any()
    report = out["provenance"]["data"]["reader_report"]
    assert report["n_missing_files"] == 1 and report["n_artists_below_min_works"] == 1
    assert out["provenance"]["n_works"] == 25 and out["provenance"]["n_classes"] == 4
