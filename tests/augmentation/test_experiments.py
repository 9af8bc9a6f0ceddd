"""Tests of aelib.augmentation.experiments: pairs with extra samples, argument checks, settings."""

from __future__ import annotations

import numpy as np
import pytest

from aelib.augmentation.experiments import augmented_pairs, check_arguments, settings
from aelib.augmentation.pairs import draw_pairs
from aelib.augmentation.synthetic import top_up_sources


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



@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"source": "wikiart"}, "source='wikiart'"),
        ({"perturbations": (0.1, 1.5)}, "p=1.5"),
        ({"thresholds": (5, 0)}, "threshold=0"),
        ({"seeds": ()}, r"seeds=\(\)"),
        ({"seeds": (1, 1)}, r"seeds=\(1, 1\)"),
        ({"latent_dims": 0}, "latent_dim=0"),
        ({"latent_dims": (16, 0)}, "latent_dim=0"),
        ({"latent_dims": ()}, r"latent_dims=\(\)"),
        ({"sizes": {"pair_updates": 0}}, "pair_updates=0"),
        ({"sizes": {"pair_epochs": 0}}, "pair_epochs=0"),
        ({"sizes": {"bogus": 1}}, "bogus"),
        ({"sizes": {"min_works": 3}}, "min_works >= min_test_works"),
        ({"quick": 1}, "quick=1"),
        ({"source": "painter_by_numbers"}, "image_dir"),
    ],
)
def test_check_arguments_names_what_it_received(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_arguments(**kwargs)


def test_check_arguments_fills_the_sizes_and_says_how_to_get_painter_data(tmp_path):
    args = check_arguments(latent_dims=8, seeds=[2, 0], perturbations=[0.1, 0.1, 0.0], sizes={"pair_epochs": 3})
    assert args.latent_dims == (8,) and args.seeds == (2, 0) and args.perturbations == (0.1, 0.0)
    assert args.sizes["pair_epochs"] == 3 and args.sizes["max_works"] == 120  # the quick sizes fill the rest
    assert check_arguments(quick=False).sizes["max_works"] == 200
    with pytest.raises(FileNotFoundError, match="painter-by-numbers"):
        check_arguments(source="painter_by_numbers", image_dir=tmp_path / "x", csv_path=tmp_path / "y.csv")


def test_settings_share_equal_computations():
    listed = settings([3, 6], [0.0, 0.1], [10, 20])
    assert listed[0] == ("baseline", None, None, ("none",))
    assert [s[2] for s in listed if s[0] == "topup_duplicate"] == [10.0, 20.0]
    assert len(listed) == 1 + 2 + 2 * (2 + 2 + 2)
    keys = {(s[0], s[1], s[2]): s[3] for s in listed}
    for z in (3, 6):  # exp. 1 at p = 0.1 and exp. 2 at t = 20 are the same computation
        assert keys[("topup_perturbation", z, 0.1)] == keys[("topup_threshold", z, 20.0)]
    # The duplicate control always runs at the top-up target of experiment 1.
    assert [s[2] for s in settings([3], [0.1], [5]) if s[0] == "topup_duplicate"] == [5.0, 20.0]
