"""Tests of aelib.augmentation.dataset: the per-class split and the standardised features."""

from __future__ import annotations

import numpy as np

from aelib.augmentation.artworks import long_tail_counts
from aelib.augmentation.dataset import holdout_split, standardized_split


def test_long_tail_and_holdout_split():
    counts = long_tail_counts(10, 60, 5)
    assert counts[0] == 60 and counts[-1] == 5 and np.all(np.diff(counts) <= 0)
    labels = np.repeat(np.arange(10), counts)
    train, test = holdout_split(labels, test_fraction=0.25, min_test=2, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    n_test = np.bincount(labels[test], minlength=10)
    assert n_test.min() >= 2 and n_test[0] == 15
    assert np.bincount(labels[train], minlength=10).min() >= 2



def test_standardized_split_uses_the_training_works_only():
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, 2.0, size=(40, 5)).astype(np.float32)
    features[:, 4] = 1.5  # a constant feature (a dead ReLU) stays 0 instead of being divided by 0
    labels = np.repeat([0, 1], 20)
    train, test = holdout_split(labels, test_fraction=0.25, min_test=2, seed=0)
    x_tr, y_tr, x_te, y_te = standardized_split(features, labels, train, test)
    assert x_tr.dtype == np.float32 and x_tr.shape == (len(train), 5) and x_te.shape == (len(test), 5)
    np.testing.assert_allclose(x_tr[:, :4].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x_tr[:, :4].std(axis=0), 1, atol=1e-5)
    assert np.all(x_tr[:, 4] == 0) and np.all(x_te[:, 4] == 0)
    np.testing.assert_array_equal(y_tr, labels[train])
    np.testing.assert_array_equal(y_te, labels[test])
