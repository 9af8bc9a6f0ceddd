#!/usr/bin/env bash
# Run the test suite, setting up the environment first on a fresh machine; ruff checks aelib/ and tests/ first.
#   ./run_tests.sh            # the default suite
#   ./run_tests.sh -k data    # any pytest options
#   ./run_tests.sh -m "not slow"   # the fast loop (slow: notebooks, subprocesses, pdflatex)
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup_env.sh
export AELIB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=3
.venv/bin/python -m ruff check aelib tests  # the lint rules of pyproject.toml ([tool.ruff.lint])
exec .venv/bin/python -m pytest "$@"
