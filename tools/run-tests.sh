#!/usr/bin/env bash
# The test run of `make test` (after its static checks): two pytest runs side by side. The conformance and
# integration tiers spend most of their time waiting on a control plane, its operators and Helm; meanwhile the unit
# tier computes and the real-node tier (a cluster of its own, parts built at low priority by `make test`) runs:
#   main: tests/conformance tests/integration, in the foreground
#   side: tests/unit, then tests/realnode; its output is kept and printed when the main run ends
# The exit status is non-zero if either run failed. Ctrl-C or a TERM stops both, clusters torn down
# (tests/conftest.py turns a TERM into pytest's KeyboardInterrupt).
set -uo pipefail
cd "$(dirname "$0")/.."
py="$(tools/venv.sh)/bin/python"
side_log=$(mktemp "${TMPDIR:-/tmp}/osop-side-tests.XXXXXX")
"$py" -m pytest -p no:cacheprovider --durations=10 tests/unit tests/realnode >"$side_log" 2>&1 &
side=$!
trap 'kill -TERM "$side" 2>/dev/null; wait "$side"; cat "$side_log"; rm -f "$side_log"; exit 130' INT TERM
"$py" -m pytest --durations=25 tests/conformance tests/integration
main_rc=$?
wait "$side"
side_rc=$?
trap - INT TERM
echo "================ tests/unit and tests/realnode, run beside the tests above ================"
cat "$side_log"
rm -f "$side_log"
echo "conformance and integration: exit $main_rc; unit and realnode: exit $side_rc"
[ "$main_rc" -eq 0 ] && [ "$side_rc" -eq 0 ]
