#!/usr/bin/env bash
# Soak: mixed requests through the full pipeline (cache → retry → timeout) against the in-process Kestrel loopback, every answer
# verified against its own question; progress lines every few seconds and one VERDICT line per run.
#
#   eng/soak.sh            1,000,000 requests with the memory store, then 1,000,000 with Redis; after each, the stream race
#                          with 2,000 bursts
#   eng/soak.sh --short    20,000 requests with the memory store, then 20,000 with Redis, each followed by the stream race with
#                          200 bursts (CI-sized, about a minute and a half)
#   eng/soak.sh --memory-only | --redis-only   (combinable with --short); extra arguments after -- go to the tool (both modes)
#   eng/soak.sh --no-stream-race | --stream-race-only   skip the stream race / run only the stream race
#
# The stream race (the tool's --mode stream-race; see the header of tools/ChatCachePolly.Soak/Program.cs) sends bursts of
# identical streamed requests that collapse onto one upstream stream, read by early-breaking, slow, idle and full readers,
# over clean and cut upstream streams, and fails on any truncated answer served or partial entry stored.
#
# The Redis run starts its own throw-away redis-server on a free loopback port (no persistence) and stops it afterwards.
# Exit code: non-zero when any run fails (a wrong or failed answer, or memory growth after warm-up over the threshold), or when
# redis-server is missing and CI=true (otherwise the Redis run is skipped with a warning).
set -uo pipefail
cd "$(dirname "$0")/.."

requests=1000000
bursts=2000
max_seconds=1800
race_max_seconds=900
runs="memory redis"
modes="mixed stream-race"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --short) requests=20000; bursts=200; max_seconds=300; race_max_seconds=120 ;;
    --memory-only) runs="memory" ;;
    --redis-only) runs="redis" ;;
    --no-stream-race) modes="mixed" ;;
    --stream-race-only) modes="stream-race" ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: eng/soak.sh [--short] [--memory-only|--redis-only] [--no-stream-race|--stream-race-only] [-- tool arguments]" >&2; exit 3 ;;
  esac
  shift
done

dotnet build tools/ChatCachePolly.Soak/ChatCachePolly.Soak.csproj -c Release -v q -nologo || exit 1
tool=tools/ChatCachePolly.Soak/bin/Release/net10.0/ChatCachePolly.Soak.dll

status=0
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; fi
}
trap cleanup EXIT

for store in $runs; do
  args=(--requests "$requests" --max-seconds "$max_seconds" --store "$store")
  if [ "$store" = "redis" ]; then
    if ! command -v redis-server >/dev/null 2>&1; then
      if [ "${CI:-}" = "true" ]; then echo "error: redis-server not installed (CI=true)" >&2; status=1; continue; fi
      echo "warning: redis-server not installed; skipping the Redis soak" >&2
      continue
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode yes --maxmemory 512mb --maxmemory-policy allkeys-lru >/tmp/chatcache-soak-redis.$port.log 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
      sleep 0.1
    done
    args+=(--redis "127.0.0.1:$port")
  fi

  for mode in $modes; do
    if [ "$mode" = "mixed" ]; then
      echo "=== soak: $store, $requests requests ==="
      dotnet "$tool" "${args[@]}" "${extra[@]}"
    else
      echo "=== soak: $store, stream race, $bursts bursts ==="
      dotnet "$tool" --mode stream-race --bursts "$bursts" "${args[@]}" --max-seconds "$race_max_seconds" "${extra[@]}"
    fi
    rc=$?
    [ $rc -ne 0 ] && status=$rc
  done

  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; redis_pid=""; fi
done

exit $status
