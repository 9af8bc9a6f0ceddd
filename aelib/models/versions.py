"""Each family's implementation version, part of every trained run's key.

A stored model is reused only for the implementation that trained it: a run's
key (``aelib.study.runs.TrainSpec.config``) holds its family's version and the
version of the code all families share. Beside each version is a hash of the
source it stands for; ``tests/models/test_versions.py`` fails when a source
changes and its hash here does not, so a change of the code is always a
decision:

- it changes what a trained model computes: bump the version (old runs are then
  retrained, never reused) and update the hash;
- it does not (a rename, a refactoring): update the hash only.

The hash is of the code's syntax tree without docstrings, so comments, docstrings
and line wrapping change nothing.

Print the current hashes with ``python -m aelib.models.versions``.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # aelib/

#: The code every family is built from: its changes concern every family (key ``"shared"``).
SHARED_SOURCES = ("models/base.py", "models/blocks.py", "architectures.py", "losses.py")

#: ``{family: (version, source hash)}``; ``"shared"``: :data:`SHARED_SOURCES`. A family's source is
#: ``aelib/models/<family>.py``.
VERSIONS: dict[str, tuple[int, str]] = {
    "shared": (1, "63948b511717"),
    "vanilla": (1, "cd6e94b91102"),
    "fcae": (1, "1b2604377212"),
    "dae": (1, "42e28e2c576c"),
    "cae": (1, "2cc7ae43164d"),
    "vae": (1, "948c616b868d"),
    "aae": (1, "5cae45cb9895"),
    "rae": (2, "049556b8738a"),
    "sae": (1, "abb545f1014c"),
    "conae": (4, "38f3704e8af2"),
    "mae": (3, "ac695a2e7949"),
    "mmae": (1, "8b4ac43191f2"),
}


def sources(family: str) -> tuple[str, ...]:
    """The files (relative to ``aelib/``) whose code ``family``'s version stands for."""
    return SHARED_SOURCES if family == "shared" else (f"models/{family}.py",)


def _code(source: str) -> str:
    """The code of ``source`` as a canonical string: its syntax tree without docstrings or positions."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def source_hash(family: str) -> str:
    """The first 12 hex digits of the SHA-256 of the code of ``family``'s sources (:func:`_code`)."""
    digest = hashlib.sha256()
    for name in sources(family):
        digest.update(name.encode() + b"\0")
        digest.update(_code((PACKAGE / name).read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:12]


def family_version(family: str) -> str:
    """``"<family version>.<shared version>"``: the implementation that a run of ``family`` is trained with.

    Raises:
        ValueError: ``family`` has no version here (a new family: add it to :data:`VERSIONS`).
    """
    if family not in VERSIONS or family == "shared":
        raise ValueError(f"No implementation version for family {family!r}: add it to VERSIONS in "
                         f"{Path(__file__).name} (python -m aelib.models.versions prints its hash). "
                         f"Families with one: {', '.join(k for k in VERSIONS if k != 'shared')}.")
    return f"{VERSIONS[family][0]}.{VERSIONS['shared'][0]}"


def outdated() -> dict[str, tuple[str, str]]:
    """``{family: (hash recorded, hash now)}`` of every entry whose source changed since its hash was recorded."""
    return {family: (recorded, source_hash(family)) for family, (_, recorded) in VERSIONS.items()
            if source_hash(family) != recorded}


def main() -> None:
    """Print :data:`VERSIONS` with the current hashes, ready to paste (versions unchanged: bump them by hand)."""
    print("VERSIONS: dict[str, tuple[int, str]] = {")
    for family, (version, recorded) in VERSIONS.items():
        note = "" if source_hash(family) == recorded else f"  # changed (was {recorded}): bump the version?"
        print(f'    "{family}": ({version}, "{source_hash(family)}"),{note}')
    print("}")


if __name__ == "__main__":
    main()
