"""TensorFlow's C++ start-up lines and tfds' half-prepared-folder warnings stay off the screen."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _stderr(code: str, **env) -> str:
    environ = {**os.environ, "AELIB_OFFLINE": "1", **env}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.mark.slow
def test_importing_the_models_and_loading_data_prints_no_tensorflow_start_up_lines():
    err = _stderr("import aelib.models, aelib.training; from aelib.data import load_dataset; "
                  "load_dataset('mnist', 'test', n=50)",
                  TF_CPP_MIN_LOG_LEVEL="3")
    for noise in ("I0000", "absl::InitializeLog", "oneDNN", "dataset_info.json"):
        assert noise not in err, err[-2000:]


def test_a_failing_import_still_raises_and_descriptor_2_comes_back():
    from aelib._quiet import stderr_to_devnull

    before = os.fstat(2)
    with pytest.raises(ImportError, match="^broken$"):
        with stderr_to_devnull():
            assert os.path.samestat(os.fstat(2), os.stat(os.devnull))  # inside: the null device
            raise ImportError("broken")
    assert os.path.samestat(os.fstat(2), before)  # after: the same file as before, not the null device
