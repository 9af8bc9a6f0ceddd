"""Checking tables: compile ``.tex`` files in the thesis preamble with pdflatex, report errors and overfull lines."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PREAMBLE = r"""\documentclass{report}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[a4paper,textwidth=16cm,vmargin=2.5cm]{geometry}
\usepackage{booktabs,longtable,multirow,siunitx,graphicx,xcolor,amsmath,array}
"""


@dataclass
class TableCheck:
    """What compiling one ``.tex`` file gave: LaTeX errors and the largest overfull line (pt)."""
    path: Path
    errors: list[str]
    overfull_pt: float

    @property
    def ok(self) -> bool:
        return not self.errors


def pdflatex() -> str | None:
    """The pdflatex executable, or None when it is not installed."""
    return shutil.which("pdflatex")


def check_tables(paths: Sequence[str | Path], *, timeout: float = 300.0,
                 pdf: str | Path | None = None) -> list[TableCheck]:
    """Compile every ``.tex`` in ``paths`` in one document with :data:`PREAMBLE`; per file, its errors and overfull.
    ``pdf``: where to keep the compiled document (to look at), if anywhere.

    Raises:
        FileNotFoundError: pdflatex is not installed, or a path does not exist.
    """
    exe = pdflatex()
    if exe is None:
        raise FileNotFoundError("pdflatex not found: install texlive-latex-recommended, texlive-latex-extra, "
                                "texlive-science and texlive-fonts-recommended (apt-packages.txt)")
    paths = [Path(p).resolve() for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"No such table file(s): {missing}")
    body = "".join(f"\\typeout{{AELIB-TABLE {i}}}\n\\input{{{p.as_posix()}}}\n\\clearpage\n"
                   for i, p in enumerate(paths))
    document = PREAMBLE + "\\begin{document}\n" + body + "\\typeout{AELIB-TABLE END}\n\\end{document}\n"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tables.tex").write_text(document, encoding="utf-8")
        for _ in range(2):  # longtable settles its column widths over two runs (the .aux file)
            subprocess.run([exe, "-interaction=nonstopmode", "-no-shell-escape", "tables.tex"], cwd=tmp,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout / 2, check=False)
        log = (Path(tmp) / "tables.log").read_text(encoding="latin-1", errors="replace")
        if pdf is not None and (Path(tmp) / "tables.pdf").is_file():
            shutil.copyfile(Path(tmp) / "tables.pdf", pdf)
    results = [TableCheck(p, [], 0.0) for p in paths]
    current = None
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"AELIB-TABLE (\d+|END)", line)
        if m:
            current = None if m.group(1) == "END" else results[int(m.group(1))]
            continue
        if current is None:
            if line.startswith("!"):
                results[0].errors.append("(preamble) " + line)
            continue
        if line.startswith("!"):
            current.errors.append(" ".join([line] + lines[i + 1:i + 3]).strip())
        m = re.search(r"Overfull \\hbox \(([\d.]+)pt too wide\)", line)
        if m:
            current.overfull_pt = max(current.overfull_pt, float(m.group(1)))
    if not any("AELIB-TABLE END" in line for line in lines):
        results[-1].errors.append("pdflatex stopped before the end of the document")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aelib.latex TABLE.tex [...]``: compile the tables, print each one's result; exit status 1 when
    one fails or is wider than the text, 2 on a usage error."""
    paths = list(argv if argv is not None else sys.argv[1:])
    if not paths or any(p in ("-h", "--help") for p in paths):
        print("usage: python -m aelib.latex TABLE.tex [...]  (compiles each table in a thesis preamble; "
              "exit 1 when one fails or is wider than the text)", file=sys.stderr)
        return 2
    try:
        checks = check_tables(paths)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"aelib.latex: {err}", file=sys.stderr)
        return 2
    bad = 0
    for check in checks:
        status = "ok" if check.ok and check.overfull_pt <= 1.0 else "FAIL"
        bad += status != "ok"
        print(f"{status:4}  {check.path}  overfull {check.overfull_pt:.1f}pt" +
              ("".join(f"\n      {e}" for e in check.errors)))
    return 1 if bad else 0
