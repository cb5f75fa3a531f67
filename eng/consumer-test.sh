#!/usr/bin/env bash
# Consumer test: packs both packages into artifacts/packages (eng/pack.sh; skipped with CONSUMER_TEST_SKIP_PACK=1 when they
# are already there), creates a fresh project in a temporary directory from tests/consumer/, restores ChatCachePolly* from
# that local folder ONLY (package source mapping; fresh global packages folder; the machine's folder as a fallback without
# any ChatCachePolly package in it), runs the README one-liner and AddChatCachedOpenAI on every promised path (chat,
# embeddings, Responses; streamed and not; SDK and IChatClient) against counting in-process upstreams, and fails unless
# each path sees a miss then a hit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

feed="$root/artifacts/packages"
if [ "${CONSUMER_TEST_SKIP_PACK:-0}" != "1" ]; then
  bash eng/pack.sh
fi
nupkg=$(ls "$feed"/ChatCachePolly.[0-9]*.nupkg 2>/dev/null | head -n 1 || true)
[ -n "$nupkg" ] || { echo "error: no ChatCachePolly package in $feed (run eng/pack.sh)" >&2; exit 1; }
version=$(basename "$nupkg" .nupkg)
version=${version#ChatCachePolly.}
[ -f "$feed/ChatCachePolly.OpenAI.$version.nupkg" ] || { echo "error: no ChatCachePolly.OpenAI.$version.nupkg in $feed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
app="$work/Consumer"
packages="$work/packages"
machine="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
fallback="$work/fallback"
mkdir -p "$app" "$packages" "$fallback" "$machine"
# The machine's package folder is reused read-only as a fallback, so that nothing already restored is downloaded again -
# but through a folder of links to every package except ChatCachePolly*: a ChatCachePolly package restored there before
# (a user's own pack-and-restore experiment, an earlier run) can never stand in for the one just packed.
for dir in "$machine"/*/; do
  [ -d "$dir" ] || continue
  id=$(basename "$dir")
  case "$id" in chatcachepolly*) continue ;; esac
  ln -s "${dir%/}" "$fallback/$id"
done
sed "s|@VERSION@|$version|g" tests/consumer/Consumer.csproj.in > "$app/Consumer.csproj"
sed -e "s|@FEED@|$feed|g" -e "s|@PACKAGES@|$packages|g" -e "s|@FALLBACK@|$fallback|g" tests/consumer/nuget.config.in > "$app/nuget.config"
cp tests/consumer/Program.cs "$app/Program.cs"
cp -r tests/consumer/fixtures "$app/fixtures"
echo "Consumer project: $app (ChatCachePolly $version from $feed only)"

(
  cd "$app"
  # Outside the repository: none of its Directory.Build.props / Directory.Packages.props apply.
  dotnet restore --configfile nuget.config
  dotnet build -c Release --no-restore
)

# The packages really came from the local feed: extracted into the fresh folder, byte-identical to what was packed.
for id in ChatCachePolly ChatCachePolly.OpenAI; do
  lower=$(echo "$id" | tr '[:upper:]' '[:lower:]')
  sha_file="$packages/$lower/$version/$lower.$version.nupkg.sha512"
  [ -f "$sha_file" ] || { echo "error: $id $version was not restored into $packages" >&2; exit 1; }
  expected=$(openssl dgst -sha512 -binary "$feed/$id.$version.nupkg" | base64 -w0)
  [ "$(cat "$sha_file")" = "$expected" ] || { echo "error: restored $id differs from $feed/$id.$version.nupkg" >&2; exit 1; }
  echo "restored $id $version from the local feed (sha512 matches the packed file)"
done

output=$(dotnet "$app/bin/Release/net10.0/Consumer.dll" "$app") || { echo "$output"; echo "error: consumer test failed" >&2; exit 1; }
echo "$output"
for id in ChatCachePolly ChatCachePolly.OpenAI; do
  lower=$(echo "$id" | tr '[:upper:]' '[:lower:]')
  cmp -s "$app/bin/Release/net10.0/$id.dll" "$packages/$lower/$version/lib/net10.0/$id.dll" \
    || { echo "error: the $id.dll the consumer ran is not the packaged one" >&2; exit 1; }
done
echo "The consumer ran the packaged assemblies."

# The chatcache tool as a user installs it: from the packed package (local feed only), run on the recording the consumer
# just made next to its project file.
dotnet tool install ChatCachePolly.Tool --version "$version" --tool-path "$work/tool" --configfile "$app/nuget.config"
"$work/tool/chatcache" cassettes verify "$app/recordings" || { echo "error: chatcache cassettes verify failed on the consumer's recording" >&2; exit 1; }
"$work/tool/chatcache" cassettes list "$app/recordings"
echo "The packaged chatcache tool verified the consumer's recording."
