"""The shared argument checks."""
import re

import numpy as np
import pytest

from aelib.checks import check_float, check_int
from aelib.training import TrainConfig


def test_check_int_accepts_python_and_numpy_integers():
    assert check_int("n", 3) == 3 and type(check_int("n", np.int64(3))) is int
    assert check_int("seed", 0, 0) == 0


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
def test_check_int_names_what_it_received(value):
    with pytest.raises(ValueError, match=rf"Expected n >= 1 \(an integer\)\. Received: n={value!r}"):
        check_int("n", value)


def test_train_config_takes_numpy_integers_from_tables():
    config = TrainConfig(epochs=np.int64(5), batch_size=np.int32(64))
    assert (config.epochs, config.batch_size) == (5, 64) and type(config.epochs) is int


def test_check_float_accepts_python_and_numpy_numbers_within_bounds():
    assert check_float("p", 0) == 0.0 and type(check_float("p", np.float32(0.5), minimum=0, maximum=1)) is float
    assert check_float("lr", np.int64(3), above=0) == 3.0
    assert check_float("ratio", 0.0, minimum=0, below=1) == 0.0 and check_float("factor", 1, above=0, maximum=1) == 1.0


@pytest.mark.parametrize("bounds, value, message", [
    ({"minimum": 0}, -1, "Expected beta >= 0 (a finite number). Received: beta=-1"),
    ({"above": 0}, 0.0, "Expected beta > 0 (a finite number). Received: beta=0.0"),
    ({"maximum": 1}, 2, "Expected beta <= 1 (a finite number). Received: beta=2"),
    ({"minimum": 0, "below": 1}, 1.0, "Expected 0 <= beta < 1. Received: beta=1.0"),
    ({"above": 0, "maximum": 1}, 0, "Expected 0 < beta <= 1. Received: beta=0"),
    ({"minimum": 0, "maximum": 1, "note": "a fraction"}, None,
     "Expected 0 <= beta <= 1 (a fraction). Received: beta=None"),
    ({}, float("inf"), "Expected beta to be a finite number. Received: beta=inf"),
    ({"minimum": 0}, float("nan"), "Received: beta=nan"),
    ({"minimum": 0}, True, "Received: beta=True"),
    ({"minimum": 0}, "0.1", "Received: beta='0.1'"),
])
def test_check_float_names_what_it_received(bounds, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_float("beta", value, **bounds)


def test_check_float_takes_one_bound_a_side():
    with pytest.raises(ValueError, match="at most one lower and one upper bound"):
        check_float("x", 0.5, minimum=0, above=0)
