"""The family contract covers every family: each registered family has its test file, ``test_<family>.py``,
which runs the shared harness (``tests/models/harness.py``: shapes, finite loss with every term logged, save and
reload, seeded runs repeat) on it, and no family test file names a family that is not registered."""
import ast
from pathlib import Path

import pytest

from aelib.families import FAMILIES
from aelib.models import list_models

HERE = Path(__file__).parent
HARNESS = ("run_family_test", "run_seeded_training_test")


def _family_and_calls(path: Path) -> tuple[str | None, set[str]]:
    """The ``FAMILY`` a test file declares and the names of the functions it calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    family = next((node.value.value for node in tree.body if isinstance(node, ast.Assign)
                   and [getattr(t, "id", None) for t in node.targets] == ["FAMILY"]
                   and isinstance(node.value, ast.Constant)), None)
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return family, calls


@pytest.mark.parametrize("family", list_models())
def test_every_family_runs_the_contract_in_its_own_test_file(family):
    path = HERE / f"test_{family}.py"
    assert path.is_file(), f"family {family!r} has no test file {path.name}: add one that calls {HARNESS}"
    declared, calls = _family_and_calls(path)
    assert declared == family, f"{path.name} declares FAMILY = {declared!r}, expected {family!r}"
    missing = [name for name in HARNESS if name not in calls]
    assert not missing, f"{path.name} does not call {missing} from tests/models/harness.py"


def test_every_family_test_file_is_a_registered_family():
    """A test file that declares a ``FAMILY`` is named after it, and tests a registered family."""
    declared = {p.name: _family_and_calls(p)[0] for p in HERE.glob("test_*.py")}
    declared = {name: family for name, family in declared.items() if family is not None}
    assert all(name == f"test_{family}.py" for name, family in declared.items()), declared
    assert set(declared.values()) == set(list_models()) == set(FAMILIES)
