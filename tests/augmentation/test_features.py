"""Tests of aelib.augmentation.features: the feature cache and Inception v3."""

from __future__ import annotations

import numpy as np
import pytest

from aelib.augmentation.features import cached_features, inception_features


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


def test_cached_features_keys_files_by_name_size_and_mtime(tmp_path, art_folder, write_image):
    images, _ = art_folder
    paths = sorted(images.glob("*.png"))
    calls = []

    def fake(ps):
        calls.append(len(ps))
        return np.array([[p.stat().st_size] for p in ps], dtype=np.float32)

    cached_features(paths, fake, model_name="m", cache_dir=tmp_path / "c")
    cached_features(paths, fake, model_name="m", cache_dir=tmp_path / "c")
    assert calls == [len(paths)]
    write_image(paths[0], 99, size=(20, 20))  # a changed file invalidates the cache
    cached_features(paths, fake, model_name="m", cache_dir=tmp_path / "c")
    assert calls == [len(paths), len(paths)]


def test_inception_v3_random_weights_gives_2048_features_and_caches(tmp_path, monkeypatch, write_image):
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"img{i}.png")
        write_image(paths[-1], i, size=(60, 90))
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

