"""The shared argument check."""
import numpy as np
import pytest

from aelib.checks import check_int
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
