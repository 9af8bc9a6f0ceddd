"""Plain text as LaTeX: escaping cells and captions, and estimating how wide a text is set."""
from __future__ import annotations

import re
import unicodedata

_UNICODE = {
    "±": r"$\pm$", "−": r"$-$", "×": r"$\times$", "·": r"$\cdot$", "≤": r"$\le$", "≥": r"$\ge$", "≈": r"$\approx$",
    "→": r"$\to$", "←": r"$\leftarrow$", "‖": r"$\|$", "∞": r"$\infty$", "√": r"$\surd$", "∈": r"$\in$",
    "α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$", "δ": r"$\delta$", "ε": r"$\varepsilon$", "λ": r"$\lambda$",
    "μ": r"$\mu$", "ρ": r"$\rho$", "σ": r"$\sigma$", "τ": r"$\tau$", "Δ": r"$\Delta$", "Σ": r"$\Sigma$",
    "†": r"\dag{}", "‡": r"\ddag{}", "…": r"\dots{}", "–": "--", "—": "---", "\u2009": r"\,", "\u00a0": "~",
    "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}", "¹": r"\textsuperscript{1}",
    "⁻": r"\textsuperscript{$-$}",
    "‘": "`", "’": "'", "“": "``", "”": "''", "°": r"\textdegree{}",
}
_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}"}


def _char(c: str) -> str:
    if c in _SPECIAL:
        return _SPECIAL[c]
    if c in _UNICODE:
        return _UNICODE[c]
    if ord(c) < 128 or (ord(c) < 256 and unicodedata.category(c).startswith("L")):
        return c  # ASCII, and the Latin-1 letters T1 fonts have
    plain = unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
    return "".join(_SPECIAL.get(p, p) for p in plain)


def escape(text) -> str:
    """Plain text (a table cell) as LaTeX: every special character escaped, unicode symbols mapped."""
    return "".join(_char(c) for c in str(text))


def caption_text(text: str) -> str:
    """A caption as LaTeX. Plain text is escaped as :func:`escape` does, but ``$…$`` stays math, already escaped
    characters (``\\%``, ``\\_``, …) and commands (``\\textbf{…}``) stay as written, and ``^{…}``/``^x`` outside
    math become superscripts, so "a z^{-b}", "95\\%" and "rmse_mean" all compile."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "$":
            end = text.find("$", i + 1)
            if end > i:
                out.append(text[i:end + 1])
                i = end + 1
                continue
            out.append(r"\$")
        elif c == "\\" and i + 1 < n:
            m = re.match(r"\\([a-zA-Z]+)(\{[^{}]*\})*", text[i:])
            if m:  # a command and its arguments, as written
                out.append(m.group(0))
                i += len(m.group(0))
                continue
            out.append(text[i:i + 2] if text[i + 1] in "%_&#${} ," else r"\textbackslash{}")
            i += 2 if text[i + 1] in "%_&#${} ," else 1
            continue
        elif c == "^":
            m = re.match(r"\^(\{[^{}]*\}|[A-Za-z0-9+\-−]+)", text[i:])
            if m:
                inner = m.group(1).strip("{}").replace("−", "-")
                out.append("$^{" + re.sub(r"[^A-Za-z0-9+\-*/.,() ]", "", inner) + "}$")
                i += len(m.group(0))
                continue
            out.append(_char(c))
        else:
            out.append(_char(c))
        i += 1
    return "".join(out)


# ------------------------------------------------------------------ widths


# Computer Modern roman widths at 10 pt (em = 10 pt), for estimating how wide a column is set.
_LOWER = dict(zip("abcdefghijklmnopqrstuvwxyz", [5.0, 5.56, 4.44, 5.56, 4.44, 3.06, 5.0, 5.56, 2.78, 3.06, 5.28, 2.78,
                                                  8.33, 5.56, 5.0, 5.56, 5.28, 3.92, 3.94, 3.89, 5.56, 5.28, 7.22,
                                                  5.28, 5.28, 4.44]))
_OTHER = {" ": 3.33, ".": 2.78, ",": 2.78, ":": 2.78, ";": 2.78, "(": 3.89, ")": 3.89, "[": 2.78, "]": 2.78,
          "-": 3.33, "/": 5.0, "'": 2.78, "=": 7.78, "+": 7.78, "*": 5.0, "%": 8.33, "?": 4.72, "!": 2.78,
          "M": 9.17, "W": 10.28, "m": 8.33, "w": 7.22, "±": 7.78, "−": 7.78, "×": 7.78, "†": 4.44, "\u2009": 1.67,
          "–": 5.0, "—": 10.0, "<": 7.78, ">": 7.78, "≥": 7.78, "≤": 7.78, "…": 10.0, "·": 2.78}


def text_width(text: str, size_pt: float = 10.0, *, bold: bool = False) -> float:
    """Estimated width in pt of plain ``text`` set in Computer Modern at ``size_pt`` (slightly generous)."""
    width = 0.0
    for c in str(text):
        if c in _LOWER:
            width += _LOWER[c]
        elif c in _OTHER:
            width += _OTHER[c]
        elif c.isdigit():
            width += 5.0
        elif c.isupper():
            width += 7.5
        else:
            width += 5.5
    return width * size_pt / 10.0 * (1.12 if bold else 1.0) * 1.03
