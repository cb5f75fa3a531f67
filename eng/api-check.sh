#!/usr/bin/env bash
# Proves that the public API files guard the shipping libraries: in a scratch copy of the repository, makes accidental API
# changes and requires each build to FAIL with the expected analyzer error.
#   1. ChatCachePolly: an internal type made public (EndpointKind)        -> RS0016 (symbol not declared in PublicAPI.*.txt)
#   2. ChatCachePolly: a declared public member that no longer exists      -> RS0017 (same as deleting a public member)
#   3. ChatCachePolly.OpenAI: a new public member on ChatCachedOpenAIOptions -> RS0016
#   4. ChatCachePolly: a member of the 1.0 baseline (PublicAPI.Shipped.txt) changed: set made init -> RS0017
# Each build runs with TreatWarningsAsErrors=false, so it is the csproj's WarningsAsErrors RS0016;RS0017 that fails it.
# The real tree is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Only what the two libraries need to build; no bin/obj.
tar -C "$root" --exclude=bin --exclude=obj -cf - Directory.Build.props Directory.Packages.props .editorconfig src | tar -C "$scratch" -xf -

failures=0
# expect_failure <name> <project> <code> <text the error must mention>
expect_failure() {
  local name=$1 project=$2 code=$3 mention=$4 log
  log=$(mktemp)
  # TreatWarningsAsErrors=false: RS0016/RS0017 must fail the build on their own (WarningsAsErrors in the csproj).
  if dotnet build "$scratch/$project" -c Release -p:TreatWarningsAsErrors=false >"$log" 2>&1; then
    echo "FAIL: $name: the build succeeded, so the public API change was not caught"
    failures=$((failures + 1))
  elif grep -E "error $code: .*$mention" "$log" >/dev/null; then
    echo "ok:   $name: build failed with $(grep -E -o "error $code: [^[]*" "$log" | sort -u | head -n 1)"
  else
    echo "FAIL: $name: the build failed, but not with $code mentioning '$mention':"
    grep -E ' error ' "$log" | sort -u | head -n 10
    failures=$((failures + 1))
  fi
  rm -f "$log"
}

core=src/ChatCachePolly
openai=src/ChatCachePolly.OpenAI

# 1. An internal type made public by accident.
cp "$scratch/$core/Keys/EndpointKind.cs" "$scratch/endpointkind.bak"
sed -i 's/^internal enum EndpointKind/public enum EndpointKind/' "$scratch/$core/Keys/EndpointKind.cs"
grep -q '^public enum EndpointKind' "$scratch/$core/Keys/EndpointKind.cs" || { echo "error: api-check could not edit EndpointKind.cs" >&2; exit 1; }
expect_failure "internal type made public" "$core/ChatCachePolly.csproj" RS0016 "EndpointKind"
cp "$scratch/endpointkind.bak" "$scratch/$core/Keys/EndpointKind.cs"

# 2. A declared public member removed from the code (declared in the file, absent from the assembly).
cp "$scratch/$core/PublicAPI.Unshipped.txt" "$scratch/unshipped.bak"
echo 'ChatCachePolly.ChatCacheStrategyOptions.ApiCheckRemovedMember.get -> bool' >> "$scratch/$core/PublicAPI.Unshipped.txt"
expect_failure "public member removed" "$core/ChatCachePolly.csproj" RS0017 "ApiCheckRemovedMember"
cp "$scratch/unshipped.bak" "$scratch/$core/PublicAPI.Unshipped.txt"

# 3. A new, documented public member in the OpenAI package.
sed -i 's|^    public int MaxRetryAttempts { get; set; } = DefaultMaxRetryAttempts;|&\n\n    /// <summary>Gets or sets an undeclared option.</summary>\n    public bool ApiCheckAddedMember { get; set; }|' "$scratch/$openai/ChatCachedOpenAIOptions.cs"
grep -q 'ApiCheckAddedMember' "$scratch/$openai/ChatCachedOpenAIOptions.cs" || { echo "error: api-check could not edit ChatCachedOpenAIOptions.cs" >&2; exit 1; }
expect_failure "public member added" "$openai/ChatCachePolly.OpenAI.csproj" RS0016 "ApiCheckAddedMember"

# 4. A shipped member changed (the 1.0 baseline, PublicAPI.Shipped.txt): a settable option made init-only.
cp "$scratch/$core/ChatCacheStrategyOptions.cs" "$scratch/options.bak"
sed -i 's/^    public bool ExplainMisses { get; set; }/    public bool ExplainMisses { get; init; }/' "$scratch/$core/ChatCacheStrategyOptions.cs"
grep -q 'ExplainMisses { get; init; }' "$scratch/$core/ChatCacheStrategyOptions.cs" || { echo "error: api-check could not edit ChatCacheStrategyOptions.cs" >&2; exit 1; }
grep -q '^ChatCachePolly.ChatCacheStrategyOptions.ExplainMisses.set -> void$' "$scratch/$core/PublicAPI.Shipped.txt" || { echo "error: ExplainMisses.set is not in PublicAPI.Shipped.txt" >&2; exit 1; }
expect_failure "shipped member changed" "$core/ChatCachePolly.csproj" RS0017 "ExplainMisses"
cp "$scratch/options.bak" "$scratch/$core/ChatCacheStrategyOptions.cs"

if [ "$failures" -ne 0 ]; then
  echo "API check: $failures case(s) not caught" >&2
  exit 1
fi
echo "API check: every accidental public API change failed the build (RS0016/RS0017 are errors)."
