#!/usr/bin/env bash
# ChatCachePolly benchmarks (BenchmarkDotNet, Release).
#
#   eng/bench.sh                 full suite (1 launch, 6 warmup, 15 iterations per benchmark), then --memory and --chart
#   eng/bench.sh --short         short suite (1 launch, 3 warmup, 6 x 150 ms iterations): a few minutes on 2 cores
#   eng/bench.sh --short --filter '*HitBenchmarks*'      any BenchmarkDotNet argument passes through
#   eng/bench.sh --memory        only the heap-growth / byte-cap report
#   eng/bench.sh --chart         only the chart, from the last RequestSizeScaling CSV
#
# Results: tests/ChatCachePolly.Benchmarks/BenchmarkDotNet.Artifacts/results/*-report-github.md and *-report.csv
# (';'-separated, Mean in ns, Allocated in B), memory-report.md next to them; chart: tests/ChatCachePolly.Benchmarks/out/.
# Numbers taken while other builds or tests run on the machine are preliminary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proj="$root/tests/ChatCachePolly.Benchmarks"
artifacts="$proj/BenchmarkDotNet.Artifacts"
results="$artifacts/results"
out="$proj/out"

dotnet build "$proj/ChatCachePolly.Benchmarks.csproj" -c Release -nologo -clp:ErrorsOnly -v q
bench=(dotnet "$proj/bin/Release/net10.0/ChatCachePolly.Benchmarks.dll")

memory() {
  mkdir -p "$results"
  "${bench[@]}" --memory | tee "$results/memory-report.md"
}

chart() {
  "${bench[@]}" --chart "$results/ChatCachePolly.Benchmarks.RequestSizeScalingBenchmarks-report.csv" "$out"
}

case "${1:-}" in
  --memory) memory; exit 0 ;;
  --chart) chart; exit 0 ;;
esac

args=("$@")
has_filter=false
for a in "${args[@]}"; do
  case "$a" in --filter|-f|--list|--info) has_filter=true ;; esac
done
if [[ "$has_filter" == false ]]; then
  args+=(--filter '*')
fi

status=0
(cd "$proj" && "${bench[@]}" "${args[@]}" --artifacts "$artifacts") || status=$?

if [[ "$has_filter" == false ]]; then
  memory
  chart || true
fi

echo "Results: $results"
exit $status
