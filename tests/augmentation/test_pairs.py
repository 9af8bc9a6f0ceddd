"""Tests of aelib.augmentation.pairs: pair draws, the symmetric pair model and its fixed-budget training."""

from __future__ import annotations

import numpy as np
import pytest

from aelib.augmentation.pairs import PairModelTrainer, build_pair_model, draw_pairs, pair_scores, update_schedule


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

