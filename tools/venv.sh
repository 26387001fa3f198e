#!/usr/bin/env bash
# Ensures the pinned Python virtualenv exists and prints its path.
# The venv is keyed by the interpreter version and requirements.lock, so changing
# a pin builds a new one and an unchanged lock reuses the cached one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
pyver=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
key=$( (echo "$pyver"; cat "$here/requirements.lock") | sha256sum | cut -c1-16)
venv="$("$here/tools/cache-dir.sh")/venv/$key"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.lock" >&2
  touch "$venv/.complete"
fi
echo "$venv"
