"""Tests of aelib.augmentation: reader, feature cache, pairs, AUC, top-up rule, and a tiny study."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aelib.augmentation import (
    cached_features,
    draw_pairs,
    holdout_split,
    inception_features,
    long_tail_counts,
    read_artworks,
    roc_auc,
    run_augmentation_study,
    synthesize,
    top_up_counts,
    top_up_sources,
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


# ---------------------------------------------------------------------------- AUC


@pytest.mark.parametrize("seed", range(4))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=200)
    scores = rng.integers(0, 6, size=200) + 0.5 * y  # few distinct values → many ties
    assert roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    continuous = rng.normal(size=200) + y
    assert roc_auc(y, continuous) == pytest.approx(roc_auc_score(y, continuous), abs=1e-12)


def test_roc_auc_closed_forms_and_errors():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 2], [0.2, 0.3])


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
        ({"latent_dim": 0}, "latent_dim=0"),
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


def test_tiny_standin_study_end_to_end_and_resumes(tmp_path, monkeypatch):
    args = dict(
        latent_dim=4,
        seeds=(0, 1),
        perturbations=(0.0, 0.1),
        thresholds=(10, 20),
        out_dir=tmp_path,
        sizes=TINY,
        progress=False,
    )
    out = run_augmentation_study(**args)
    results, summary = out["results"], out["summary"]
    n_settings = 1 + 2 + 2 + 2
    assert len(results) == 2 * n_settings
    for col in ("experiment", "value", "seed", "auc", "auc_rare", "n_synthetic", "data_source", "stand_in"):
        assert col in results.columns
    assert results["stand_in"].all() and (results["data_source"] == "standin-letters-fashioncnn").all()
    assert results["auc"].between(0, 1).all()
    assert set(results["experiment"]) == {"baseline", "topup_perturbation", "topup_threshold", "one_per_original"}
    assert (results.loc[results["experiment"] == "baseline", "n_synthetic"] == 0).all()
    per_item = results[results["experiment"] == "one_per_original"]
    assert (per_item["n_synthetic"] == per_item["n_train_works"]).all()
    # exp. 1 at p = 0.1 and exp. 2 at t = 20 are the same computation
    e1 = results[(results["experiment"] == "topup_perturbation") & (results["value"] == 0.1)].set_index("seed")["auc"]
    e2 = results[(results["experiment"] == "topup_threshold") & (results["value"] == 20)].set_index("seed")["auc"]
    pd.testing.assert_series_equal(e1, e2, check_names=False)

    assert len(summary) == n_settings
    for col in ("auc_mean", "auc_ci95_low", "auc_ci95_high", "auc_delta_mean", "ci_method", "data_source", "stand_in"):
        assert col in summary.columns
    assert (summary["auc_ci95_low"] <= summary["auc_mean"]).all() and (
        summary["auc_mean"] <= summary["auc_ci95_high"]
    ).all()
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

    # Resume: every row is stored, so nothing is trained again.
    def no_training(*a, **k):
        raise AssertionError("a finished setting was recomputed")

    monkeypatch.setattr(exp_module, "train_pair_model", no_training)
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
        latent_dim=3,
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
