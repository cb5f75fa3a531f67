#!/usr/bin/env bash
# Native AOT smoke test: publishes samples/ChatCachePolly.AotSmoke with PublishAot for linux-x64 (both libraries rooted, so
# every member is analysed, TrimmerSingleWarn=false), fails on any trim/AOT warning that is not in the sample's
# known-aot-warnings.txt (and on any listed one that no longer occurs), then runs the native binary: a miss and a hit through
# AddChatCache + ResilienceHandler (plain and streamed) and through AddChatCachedOpenAI's ChatClient, over an in-process
# upstream. Installs clang and zlib1g-dev (native AOT prerequisites on Linux) when missing and possible.
set -euo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

project=samples/ChatCachePolly.AotSmoke/ChatCachePolly.AotSmoke.csproj
baseline=samples/ChatCachePolly.AotSmoke/known-aot-warnings.txt
out=artifacts/aot-smoke

if ! command -v clang >/dev/null 2>&1 || [ ! -e /usr/include/zlib.h ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing clang and zlib1g-dev (Debian packages) for native AOT..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang zlib1g-dev >/dev/null
  else
    echo "warning: clang or zlib1g-dev missing and cannot be installed here; native AOT linking may fail." >&2
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
rm -rf "$out"
start=$SECONDS
# ILC warnings are compared with the baseline below instead of failing ILC outright, so that the report names every one.
dotnet publish "$project" -c Release -r linux-x64 -o "$out" -p:IlcTreatWarningsAsErrors=false 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "error: AOT publish failed" >&2; exit 1; }
echo "AOT publish: $((SECONDS - start)) s, native binary $(stat -c %s "$out/ChatCachePolly.AotSmoke") bytes"

python3 - "$log" "$baseline" <<'PY'
import re, sys
log = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
known = {l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")}
seen, other = set(), set()
for line in log:
    m = re.search(r"\b(?:warning|error) (IL\d{4}): ([^:\s]+)", line)
    if m:
        seen.add(f"{m.group(1)} {m.group(2)}")
    elif re.search(r"(: |^)warning [A-Z]+\d+|warning :", line):
        other.add(line.strip())
unexpected, fixed = sorted(seen - known), sorted(known - seen)
print(f"trim/AOT warnings: {len(seen)} ({len(seen & known)} known in {sys.argv[2]}, {len(unexpected)} new), other warnings: {len(other)}")
for w in sorted(seen & known): print(f"  known: {w}")
for w in unexpected: print(f"error: new trim/AOT warning: {w}", file=sys.stderr)
for w in fixed: print(f"error: {w} no longer occurs: delete it from {sys.argv[2]}", file=sys.stderr)
for w in sorted(other): print(f"error: {w}", file=sys.stderr)
sys.exit(1 if unexpected or fixed or other else 0)
PY

"$out/ChatCachePolly.AotSmoke"
