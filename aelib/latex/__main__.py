"""``python -m aelib.latex TABLE.tex [...]``: compile result tables and report errors and overfull lines."""
from aelib.latex.check import main

raise SystemExit(main())
