#!/usr/bin/env bash
# Prints the per-user cache root shared by every clone of this project.
# Everything built or installed for the tests lives below it, keyed by its pins,
# so a fresh clone (as in CI) reuses what an earlier clone on the same machine built.
set -euo pipefail
echo "${OSOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/openstack-operator}"
