#!/usr/bin/env bash
# The test run of `make test` (after its static checks): two pytest runs side by side. The integration tiers spend
# most of their time waiting on a control plane, its operators and Helm; meanwhile the unit and conformance tiers
# compute and the real-node tier (a cluster of its own, parts built in the background by `make test`) runs:
#   main: the integration tests that share one deployment, in the foreground
#   side: tests/unit and tests/conformance (they need only helm: they run while the control plane builds on a cold
#         machine), then the integration modules below (a control plane of their own), then tests/realnode; its
#         output is kept and printed when the main run ends
# Niced, the unit tier took four times as long (starved by the integration tiers, not only by the build): no nice.
# The exit status is non-zero if either run failed. Ctrl-C or a TERM stops both, clusters torn down
# (tests/conftest.py turns a TERM into pytest's KeyboardInterrupt).
set -uo pipefail
cd "$(dirname "$0")/.."
py="$(tools/venv.sh)/bin/python"
# Integration modules that deploy no shared deployment, only their own objects and clouds: they balance the two
# runs (the main run is the longer one). A new module runs in the main run unless it is named here.
beside=(test_chart test_cli_parity test_cluster_smoke test_crds test_explain test_helm_recovery test_image
        test_nodes test_rbac test_upgrade)
side_integration=() main_ignores=()
for module in "${beside[@]}"; do
  side_integration+=("tests/integration/$module.py")
  main_ignores+=("--ignore=tests/integration/$module.py")
done
side_log=$(mktemp "${TMPDIR:-/tmp}/osop-side-tests.XXXXXX")
side_run() {  # each tier a pytest of its own, so that the integration control plane is down before the real node's
  local rc=0 child=""
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
  for tier in unit conformance integration realnode; do
    case $tier in
      unit|conformance) set -- "$py" -m pytest -p no:cacheprovider --durations=10 "tests/$tier" ;;
      integration) set -- "$py" -m pytest -p no:cacheprovider --durations=10 "${side_integration[@]}" ;;
      realnode) set -- "$py" -m pytest -p no:cacheprovider --durations=10 tests/realnode ;;
    esac
    "$@" &
    child=$!
    wait "$child" || rc=1
  done
  return $rc
}
side_run >"$side_log" 2>&1 &
side=$!
trap 'kill -TERM "$side" 2>/dev/null; wait "$side"; cat "$side_log"; rm -f "$side_log"; exit 130' INT TERM
"$py" -m pytest --durations=25 tests/integration "${main_ignores[@]}"
main_rc=$?
wait "$side"
side_rc=$?
trap - INT TERM
echo "======== tests/unit, tests/conformance, ${#beside[@]} integration modules and tests/realnode, run beside the tests above ========"
cat "$side_log"
rm -f "$side_log"
echo "shared-deployment integration: exit $main_rc; unit, conformance, other integration and realnode: exit $side_rc"
[ "$main_rc" -eq 0 ] && [ "$side_rc" -eq 0 ]
