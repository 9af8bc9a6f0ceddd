"""The methods document is in the repository, and what the project cites points into it.

docs/methods.md keeps the section numbers of the study description it restates (§1 families … §7 data), so a
reference "docs/methods.md §N" (or §N.M) must name one of its headings. Nothing the package, the notebooks or
the README say may point out of the repository (``../shared``) or at the seed's own study file.
"""
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
METHODS = REPO / "docs" / "methods.md"
# What a reader of the package, the notebooks or the README sees.
SCANNED = ("aelib", "notebooks", "README.md")
# Where references to the methods document are checked (the notebook generator and the docs too).
CITING = (*SCANNED, "scripts", "docs")
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".txt", ".toml", ".cfg", ".json", ".tex", ".sh"}

# "docs/methods.md §4.7", also across a string literal's line break ("docs/methods.md "\n    "§3"), and lists
# ("§2, §4, §6", "§3 and §4.4").
REFERENCE = re.compile(r"docs/methods\.md\s*(?:[\"']\s*\n\s*[rRfF]?[\"']\s*)?§(\d+(?:\.\d+)?)"
                       r"((?:\s*(?:,|and)\s*§\d+(?:\.\d+)?)*)")
HEADING = re.compile(r"^#{2,4}\s+(\d+(?:\.\d+)?)[.\s]", re.MULTILINE)


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    return path.read_text(encoding="utf-8")


def _files(roots) -> list[Path]:
    files = []
    for root in roots:
        path = REPO / root
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [p for p in candidates if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
                  and ".ipynb_checkpoints" not in p.parts]
    return files


def sections() -> set[str]:
    """The numbers of docs/methods.md's headings ("1", "4", "4.7")."""
    return set(HEADING.findall(METHODS.read_text(encoding="utf-8")))


def references(text: str) -> list[str]:
    """Every section number ``text`` cites in docs/methods.md."""
    found = []
    for first, rest in REFERENCE.findall(text):
        found += [first, *re.findall(r"§(\d+(?:\.\d+)?)", rest)]
    return found


def test_the_methods_document_keeps_the_study_descriptions_numbering():
    numbers = sections()
    assert {str(n) for n in range(1, 8)} <= numbers  # §1 families … §7 data sources
    assert {"4.4", "4.5", "4.6", "4.7", "4.8"} <= numbers  # the analyses by methodology step, then the gates
    text = METHODS.read_text(encoding="utf-8")
    for needed in ("2/(n k (2n − 3k − 1))", "α* = ΣΔoΔq / ΣΔq²", "(ρ + 1)/2",
                   "this project's interpretation", "z′ⱼ = zⱼ + uⱼ σⱼ", "Gaussian mixture", "Holm"):
        assert needed in text, needed


def test_reference_patterns_find_what_they_should():
    assert references('see docs/methods.md §4.7, and docs/methods.md §2, §4 and §6') == ["4.7", "2", "4", "6"]
    assert references('"... (docs/methods.md "\n                 "§3)."') == ["3"]
    assert references("docs/methods.md, the document") == []


def test_every_reference_to_the_methods_document_names_a_section():
    known = sections()
    bad = {str(path.relative_to(REPO)): sorted(set(refs) - known)
           for path in _files(CITING) for refs in [references(_text(path))] if set(refs) - known}
    assert not bad, f"references to sections docs/methods.md does not have: {bad} (it has {sorted(known)})"


def test_the_readme_points_at_the_methods_document():
    assert "docs/methods.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_nothing_points_out_of_the_repository():
    """On Colab or after `pip install` there is no ../shared: nothing a reader sees may send them there."""
    found = [str(p.relative_to(REPO)) for p in _files(SCANNED) if "../shared" in _text(p)]
    assert not found, f"these files refer to ../shared, outside the repository: {found}"


# RED UNTIL THE REFERENCES ARE REWRITTEN: the modules under aelib/ still cite the seed's study file ("STUDY.md
# §N"), which is not in the repository. Rewriting them to "docs/methods.md §N" (same section numbers) is one
# sed over aelib/ at the end of the change; this test stays red until then, on purpose.
def test_no_reference_to_the_seed_study_file():
    found = {str(p.relative_to(REPO)): _text(p).count("STUDY.md") for p in _files(SCANNED) if "STUDY.md" in _text(p)}
    assert not found, (f"{len(found)} files cite STUDY.md, which is not in the repository; cite docs/methods.md "
                       f"(same § numbers) instead: {found}")


@pytest.mark.parametrize("text, expected", [("docs/methods.md §9", {"9"}), ("docs/methods.md §4.9", {"4.9"})])
def test_a_reference_to_a_missing_section_is_caught(text, expected):
    assert set(references(text)) - sections() == expected
