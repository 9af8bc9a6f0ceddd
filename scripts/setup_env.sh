#!/usr/bin/env bash
# Create .venv from requirements.txt (first time, or when requirements change)
# and install the Debian packages the offline data need. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  while read -r pkg; do
    [ -z "$pkg" ] && continue
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < <(grep -v '^\s*#' apt-packages.txt | sed 's/\s*#.*//')
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages for the offline data: ${missing[*]}"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || echo "setup: warning: could not install ${missing[*]}; Fashion-MNIST and the letters stand-in need them" >&2
  fi
elif ! [ -d /usr/share/datasets/fashion-mnist ]; then
  echo "setup: note: install the Debian packages in apt-packages.txt (as root) for offline Fashion-MNIST and letters" >&2
fi

stamp=.venv/.requirements.sha
want=$(cat requirements.txt pyproject.toml | sha1sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements.txt (first run: a few minutes)"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
