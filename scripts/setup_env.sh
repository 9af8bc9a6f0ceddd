#!/usr/bin/env bash
# Create .venv from requirements.txt (first time, or when requirements.txt or
# pyproject.toml change), install aelib into it (editable), and install the
# Debian packages the offline data need. Safe to run again.
# PYTHON=/path/to/python3.x picks the interpreter (default: python3; 3.10 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
  echo "setup: error: no Python interpreter '$py'. aelib needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2
  exit 1
fi
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: error: aelib needs Python 3.10 or newer; $py is Python $("$py" -c 'import platform; print(platform.python_version())')." \
       "Install a newer Python and point PYTHON at it, e.g. PYTHON=python3.11 ./run_all.sh" >&2
  exit 1
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  while read -r pkg; do
    [ -z "$pkg" ] && continue
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < <(grep -v '^\s*#' apt-packages.txt | sed 's/\s*#.*//')
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages for the offline data and pdflatex: ${missing[*]}"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "setup: warning: could not install ${missing[*]}; Fashion-MNIST and the letters stand-in need them," \
              "and the LaTeX table test is skipped without pdflatex" >&2
  fi
elif ! [ -d /usr/share/datasets/fashion-mnist ]; then
  echo "setup: note: install the Debian packages in apt-packages.txt (as root) for offline Fashion-MNIST and letters" >&2
fi

# The stamp: a hash of requirements.txt and pyproject.toml (dependencies, entry points, package data).
stamp=.venv/.requirements.sha
want=$("$py" -c 'import hashlib, sys; print(hashlib.sha1(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest())' \
       requirements.txt pyproject.toml)
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup: .venv has a Python older than 3.10; recreating it with $py"
  "$py" -m venv --clear .venv
fi
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements.txt (first run: a few minutes)"
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt  # the tested versions
  .venv/bin/python -m pip install -q -e .  # aelib and the `aelib` command; its declared dependencies are met above
  echo "$want" > "$stamp"
fi
