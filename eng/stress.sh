#!/usr/bin/env bash
# Stress: runs the whole suite (eng/test.sh) N times in a row while the machine is loaded, to shake out timing-dependent
# failures (races, timeouts that only fire on a busy box). Stops at the first failing run and keeps its log.
#
#   eng/stress.sh                       20 runs, load = stress-ng --cpu <cores>, CHATCACHE_STRESS_ITERATIONS=50
#   eng/stress.sh --runs 5              5 runs
#   eng/stress.sh --iterations 200      concurrency tests repeat their scenario 200 times per run
#   eng/stress.sh --load suite          load with a second, concurrent copy of the suite instead of stress-ng
#   eng/stress.sh --load none           no extra load (just the repeated runs)
#
# Concurrency tests read CHATCACHE_STRESS_ITERATIONS (1 when unset, as in a normal eng/test.sh run) and repeat their
# scenario that many times. The load is started before the first run and stopped when the script ends. stress-ng comes from
# Debian's stress-ng package: installed with apt-get when missing and this machine allows it, otherwise --load suite is
# used.
# Prints one line per run ("run 3/20: PASS in 212 s: Tests: N passed, ...") and a final summary line; the exit code is
# non-zero when a run failed. Logs: $STRESS_LOG_DIR (default /tmp/chatcache-stress.<pid>), one file per run; the logs of
# passing runs are deleted, the failing run's log is kept and its path printed.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=20
iterations=50
load=stress-ng
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:-}; shift ;;
    --iterations) iterations=${2:-}; shift ;;
    --load) load=${2:-}; shift ;;
    *) echo "usage: eng/stress.sh [--runs N] [--iterations N] [--load stress-ng|suite|none]" >&2; exit 3 ;;
  esac
  shift
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ && "$iterations" =~ ^[1-9][0-9]*$ && "$load" =~ ^(stress-ng|suite|none)$ ]]; then
  echo "usage: eng/stress.sh [--runs N] [--iterations N] [--load stress-ng|suite|none]" >&2
  exit 3
fi

logs=${STRESS_LOG_DIR:-/tmp/chatcache-stress.$$}
mkdir -p "$logs"
export CHATCACHE_STRESS_ITERATIONS=$iterations

if [ "$load" = "stress-ng" ] && ! command -v stress-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "stress-ng missing: installing it (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng; } >"$logs/apt.log" 2>&1
  fi
  if ! command -v stress-ng >/dev/null 2>&1; then
    echo "warning: stress-ng unavailable; loading the machine with a second copy of the suite instead" >&2
    load=suite
  fi
fi

load_pid=""
stop_load() {
  if [ -n "$load_pid" ]; then
    kill -- "-$load_pid" 2>/dev/null || kill "$load_pid" 2>/dev/null
    wait "$load_pid" 2>/dev/null
    load_pid=""
  fi
}
trap stop_load EXIT
trap 'exit 130' INT TERM

# The main runs build into the usual bin/ directories; the loading copy must not write there at the same time, so it builds
# the solution once into its own output and artifacts directories, then runs that build's tests over and over.
start_load() {
  case "$load" in
    stress-ng)
      setsid stress-ng --cpu "$(nproc)" --cpu-method all --timeout 0 >"$logs/load.log" 2>&1 &
      load_pid=$!
      ;;
    suite)
      setsid bash -c '
        set -u
        dotnet build ChatCachePolly.sln -c Release -v q -nologo --artifacts-path "$1/load-artifacts" >/dev/null 2>&1 || exit 1
        while true; do
          dotnet test ChatCachePolly.sln -c Release --no-build -v q -nologo --artifacts-path "$1/load-artifacts" >/dev/null 2>&1
        done' load "$logs" >"$logs/load.log" 2>&1 &
      load_pid=$!
      ;;
  esac
}

echo "stress: $runs runs of eng/test.sh, load: $load, CHATCACHE_STRESS_ITERATIONS=$iterations, logs in $logs"
start_load
passed=0
total_start=$SECONDS
for run in $(seq 1 "$runs"); do
  log="$logs/run-$run.log"
  start=$SECONDS
  bash eng/test.sh >"$log" 2>&1
  status=$?
  summary=$(grep -E '^Tests: ' "$log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    echo "run $run/$runs: PASS in $((SECONDS - start)) s: ${summary:-no summary}"
    rm -f "$log"
  else
    echo "run $run/$runs: FAIL (exit $status) in $((SECONDS - start)) s: ${summary:-no summary}"
    grep -E '\[FAIL\]|error [A-Z]+[0-9]+:' "$log" | head -n 20 | sed 's/^/  /'
    echo "stress: FAIL at run $run of $runs ($passed passed) in $((SECONDS - total_start)) s; log kept: $log"
    exit 1
  fi
done

echo "stress: PASS $passed/$runs runs in $((SECONDS - total_start)) s (load: $load, CHATCACHE_STRESS_ITERATIONS=$iterations)"
if [ -z "${STRESS_LOG_DIR:-}" ]; then rm -rf "$logs"; fi
exit 0
