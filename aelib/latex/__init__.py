"""LaTeX tables for the thesis: readable, compiling, and no wider than the text.

:func:`table_latex` turns a result table (the frame its CSV holds) into the
text of a ``.tex`` file to ``\\input``, through pandas' ``Styler.to_latex``:

- family keys become display names ("Contractive AE"), column names headers;
- each column gets its own precision (RMSE to 4 decimals, ranks and counts as
  integers, p-values in %), a value with its interval columns one cell
  ("0.2128 ± 0.0030" when the interval is symmetric, "3 [2, 4]" when not);
- the best value per column is bold where the column has a direction (lower
  or higher is better), compared within each z, data set, mode, … block;
- constant descriptive columns (data source, stand-in, interval) move to the
  caption, which is escaped (``_``, ``^``, ``%``, unicode) and says what the
  bold and the ± mean;
- the layout is chosen to fit :data:`TEXT_WIDTH_PT` (16 cm): smaller type
  (down to ``\\footnotesize``, 8 pt), long text in wrapping columns, then the
  columns split over several tables; long tables become ``longtable``.

The preamble the tables need is :data:`PREAMBLE` (booktabs and longtable;
array for wrapping columns). :func:`check_tables` compiles ``.tex`` files in
that preamble with pdflatex and reports errors and overfull lines, so that
``python -m aelib.latex results/quick/summary/*.tex`` checks a study's tables.

Modules: :mod:`~aelib.latex.text` (escaping, text widths), :mod:`~aelib.latex.columns` (what each column is),
:mod:`~aelib.latex.layout` (the layout engine), :mod:`~aelib.latex.tables` (table specifications and
:func:`table_latex`), :mod:`~aelib.latex.check` (compiling with pdflatex).
"""
from aelib.families import display_name as family_name
from aelib.latex.check import PREAMBLE, TableCheck, check_tables, main, pdflatex
from aelib.latex.tables import LONG_TABLE_ROWS, SPECS, TEXT_WIDTH_PT, Spec, table_latex
from aelib.latex.text import caption_text, escape, text_width

__all__ = ["LONG_TABLE_ROWS", "PREAMBLE", "SPECS", "TEXT_WIDTH_PT", "Spec", "TableCheck", "caption_text",
           "check_tables", "escape", "family_name", "main", "pdflatex", "table_latex", "text_width"]
