"""Compare the tables of two results folders cell by cell (the refactoring check of issue 15).

    python benchmarks/compare_tables.py BEFORE AFTER

Every CSV under ``tables/``, ``summary/`` and ``augmentation/`` of BEFORE is
read beside the same file of AFTER; columns that measure time or name a
folder (``*seconds*``, ``wall*``, ``run_dir``, ``when``) are left out, since
they differ between any two runs. Everything else must be equal: the same
rows in the same order, the same columns, and the same values to the last
digit (floats compared as written, NaN equal to NaN). Prints one line per file
and exits 1 when any file differs or is missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

FOLDERS = ("tables", "summary", "augmentation")
VOLATILE = ("seconds", "wall", "run_dir", "when", "elapsed")


def _volatile(column: str) -> bool:
    return any(word in column for word in VOLATILE)


def compare(before: Path, after: Path) -> list[str]:
    """One line per CSV: ``same``, or what differs."""
    lines = []
    for folder in FOLDERS:
        for old_path in sorted((before / folder).glob("*.csv")):
            new_path = after / folder / old_path.name
            name = f"{folder}/{old_path.name}"
            if not new_path.is_file():
                lines.append(f"MISSING {name}")
                continue
            old, new = (pd.read_csv(p, dtype=str, keep_default_na=False) for p in (old_path, new_path))
            old = old[[c for c in old.columns if not _volatile(c)]]
            new = new[[c for c in new.columns if not _volatile(c)]]
            if list(old.columns) != list(new.columns):
                lines.append(f"DIFFERS {name}: columns {sorted(set(old.columns) ^ set(new.columns))} "
                             f"or their order")
            elif old.shape != new.shape:
                lines.append(f"DIFFERS {name}: {old.shape} rows × columns before, {new.shape} after")
            else:
                cells = (old.values != new.values)
                if cells.any():
                    rows, cols = cells.nonzero()
                    first = (f"row {rows[0]} {old.columns[cols[0]]}: "
                             f"{old.iat[rows[0], cols[0]]!r} → {new.iat[rows[0], cols[0]]!r}")
                    lines.append(f"DIFFERS {name}: {int(cells.sum())} cells, e.g. {first}")
                else:
                    lines.append(f"same    {name} ({len(old)} rows, {len(old.columns)} columns compared)")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    lines = compare(Path(argv[0]), Path(argv[1]))
    print("\n".join(lines))
    differ = [line for line in lines if not line.startswith("same")]
    print(f"{len(lines) - len(differ)} of {len(lines)} tables equal" + (f"; {len(differ)} differ" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
