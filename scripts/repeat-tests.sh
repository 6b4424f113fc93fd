#!/usr/bin/env bash
# Run the given tests N times in a row (default 20) and report how many rounds passed: the check
# for a test that was once flaky. Usage: scripts/repeat-tests.sh [-n N] TEST [TEST...]
#   e.g. scripts/repeat-tests.sh -n 20 tests/web/test_console.py tests/engine/test_recorder.py
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=20
if [ "${1:-}" = "-n" ]; then rounds=$2; shift 2; fi
[ $# -gt 0 ] || { echo "usage: $0 [-n N] TEST [TEST...]" >&2; exit 2; }
passed=0
log=$(mktemp)
for round in $(seq 1 "$rounds"); do
    if .venv/bin/pytest -q -p no:cacheprovider "$@" > "$log" 2>&1; then
        passed=$((passed + 1))
        echo "round $round: passed"
    else
        echo "round $round: FAILED"; tail -30 "$log"
    fi
done
rm -f "$log"
echo "$passed of $rounds rounds passed: $*"
[ "$passed" -eq "$rounds" ]
