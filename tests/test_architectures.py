import pytest

from aelib.architectures import (
    AUGMENTATION_WIDTHS,
    SEED_PRESETS,
    WIDTH_RULES,
    hidden_widths,
    interpolated_widths,
    widths_for,
    widths_rule_used,
)

SEED_TABLE = {  # STUDY.md §2, widths before z for d = 784
    1: [392],
    2: [523, 260],
    3: [588, 392, 196],
    4: [627, 470, 313, 156],
    5: [654, 524, 394, 264, 134],
    6: [672, 560, 448, 336, 224, 112],
}


@pytest.mark.parametrize("depth", range(1, 7))
def test_seed_presets_reproduced_exactly(depth):
    assert list(widths_for(784, depth)) == SEED_TABLE[depth]
    assert list(SEED_PRESETS[depth]) == SEED_TABLE[depth]


def test_augmentation_widths():
    assert widths_for(2048, 3) == AUGMENTATION_WIDTHS == (1536, 1024, 512)
    assert hidden_widths(2048, 3) == (1536, 1024, 512)


@pytest.mark.parametrize("depth", range(1, 7))
def test_rule_is_within_a_few_units_of_the_seed(depth):
    rule = hidden_widths(784, depth)
    assert len(rule) == depth
    assert all(abs(a - b) <= 4 for a, b in zip(rule, SEED_TABLE[depth]))
    assert list(rule) == sorted(rule, reverse=True)


def test_rule_exact_where_the_step_is_whole():
    assert hidden_widths(784, 3) == (588, 392, 196)
    assert hidden_widths(784, 6) == (672, 560, 448, 336, 224, 112)
    assert hidden_widths(100, 0) == ()


@pytest.mark.parametrize("args,match",
                         [((1, 3), "input_dim"), ((784, -1), "depth"), ((784, 2.0), "depth"), ((4, 9), "no room")])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        hidden_widths(*args)


# ----- the widths option: "seed", "interpolate", "auto" -----------------------------------
@pytest.mark.parametrize("depth", range(1, 7))
@pytest.mark.parametrize("latent_dim", [None, 2, 700])
def test_seed_rule_keeps_the_presets_whatever_the_code(depth, latent_dim):
    assert list(widths_for(784, depth, latent_dim=latent_dim, rule="seed")) == SEED_TABLE[depth]


def test_interpolation_falls_linearly_from_input_to_code():
    # 784 → z = 700 in 4 equal steps of 21: 763, 742, 721, then the code.
    assert widths_for(784, 3, latent_dim=700, rule="interpolate") == (763, 742, 721)
    # Steps of (784 - 10) / 3 = 258; rounded, not truncated: 100 → 8 in steps of 30.67 gives 69.33, 38.67.
    assert interpolated_widths(784, 2, 10) == (526, 268)
    assert interpolated_widths(100, 2, 8) == (69, 39)
    assert interpolated_widths(784, 0, 5) == ()
    widths = interpolated_widths(784, 6, 300)
    assert list(widths) == sorted(widths, reverse=True) and min(widths) > 300


@pytest.mark.parametrize(
    "depth, latent_dim, used",
    [(3, 10, "seed"), (3, 196, "seed"), (3, 197, "interpolate"), (6, 112, "seed"), (6, 113, "interpolate"),
     (1, 392, "seed"), (1, 393, "interpolate"), (0, 700, "seed"), (3, None, "seed")],
)
def test_auto_switches_when_a_preset_layer_would_cap_the_code(depth, latent_dim, used):
    assert widths_rule_used(784, depth, latent_dim=latent_dim) == used
    widths = widths_for(784, depth, latent_dim=latent_dim)
    if used == "seed":
        assert widths == widths_for(784, depth, rule="seed")
    else:
        assert widths == interpolated_widths(784, depth, latent_dim)
        assert min(widths) >= latent_dim


def test_auto_on_feature_vectors_keeps_the_augmentation_preset_for_small_codes():
    assert widths_for(2048, 3, latent_dim=64) == AUGMENTATION_WIDTHS
    assert widths_rule_used(2048, 3, latent_dim=600) == "interpolate"
    assert widths_for(2048, 3, latent_dim=600) == (1686, 1324, 962)


def test_explicit_rules_are_reported_as_given():
    for rule in ("seed", "interpolate"):
        assert widths_rule_used(784, 3, latent_dim=10, rule=rule) == rule
    assert set(WIDTH_RULES) == {"auto", "seed", "interpolate"}


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rule": "linear", "latent_dim": 4},
      "Expected widths in ('auto', 'seed', 'interpolate'). Received: widths='linear'"),
     ({"rule": "interpolate"}, "pass latent_dim. Received: latent_dim=None"),
     ({"latent_dim": 0}, "Received: latent_dim=0")],
)
def test_bad_width_rules(kwargs, match):
    import re

    with pytest.raises(ValueError, match=re.escape(match)):
        widths_for(784, 3, **kwargs)
