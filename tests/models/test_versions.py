"""Each family's implementation version goes with its code: a changed source without a decision fails here."""
import pytest

from aelib.models import list_models, versions


def test_every_family_has_a_version():
    assert set(list_models()) <= set(versions.VERSIONS) - {"shared"}
    for family in list_models():
        assert versions.family_version(family) == f"{versions.VERSIONS[family][0]}.{versions.VERSIONS['shared'][0]}"


def test_no_source_changed_without_its_version_being_looked_at():
    changed = versions.outdated()
    assert not changed, (
        "The source of " + ", ".join(f"{family} ({', '.join(versions.sources(family))})" for family in changed)
        + " changed since its implementation version was recorded in aelib/models/versions.py. If the change alters "
        "what a trained model computes, bump that family's version (stored runs are then retrained, never reused); "
        "either way, update its hash: `python -m aelib.models.versions` prints the table with the current hashes.")


def test_a_changed_family_source_is_caught(tmp_path, monkeypatch):
    """What happens when a family's code is edited and its version is not: the check above fails for it."""
    (tmp_path / "models").mkdir()
    for family in versions.VERSIONS:
        for name in versions.sources(family):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes((versions.PACKAGE / name).read_bytes())
    monkeypatch.setattr(versions, "PACKAGE", tmp_path)
    recorded_now = {f: (v, versions.source_hash(f)) for f, (v, _) in versions.VERSIONS.items()}
    monkeypatch.setattr(versions, "VERSIONS", recorded_now)
    assert versions.outdated() == {}
    fcae = tmp_path / "models" / "fcae.py"
    source = fcae.read_text()
    fcae.write_text(source + "\n# a comment, and a docstring reworded, change no code\n")
    assert versions.outdated() == {}
    fcae.write_text(source + "\nHIDDEN_ACTIVATION = 'tanh'\n")
    assert list(versions.outdated()) == ["fcae"]


def test_an_unknown_family_has_no_version():
    with pytest.raises(ValueError, match="No implementation version for family 'nope'"):
        versions.family_version("nope")
