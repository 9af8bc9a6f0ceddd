import pytest

from aelib.architectures import AUGMENTATION_WIDTHS, SEED_PRESETS, hidden_widths, widths_for

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


@pytest.mark.parametrize("args,match", [((1, 3), "input_dim"), ((784, -1), "depth"), ((784, 2.0), "depth"), ((4, 9), "no room")])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        hidden_widths(*args)
