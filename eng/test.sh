#!/usr/bin/env bash
# Runs the whole test suite. This is the README's test command and exactly what CI (.ci/run) runs.
# Installs what the tests need when it is missing (redis-server for the distributed-store tests), restores, builds in
# Release and runs every test project, then prints one summary line: "Tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

bash eng/install-redis.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet test ChatCachePolly.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# VSTest prints one line per test assembly:
#   "Passed!  - Failed:     0, Passed:   331, Skipped:     0, Total:   331, Duration: ... - X.dll (net10.0)"
summary=$(grep -E '^(Passed|Failed)!  - Failed:' "$log" | awk -F'[:,]' '
  { failed += $2; passed += $4; skipped += $6; assemblies++ }
  END { printf "%d %d %d %d", passed, failed, skipped, assemblies }')
read -r passed failed skipped assemblies <<<"${summary:-0 0 0 0}"

if [ "$status" -eq 0 ] && [ "$assemblies" -eq 0 ]; then
  echo "error: no test assembly reported results" >&2
  status=1
fi

echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"
