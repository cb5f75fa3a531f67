#!/usr/bin/env bash
# Packs the shipping packages (ChatCachePolly, ChatCachePolly.OpenAI, ChatCachePolly.Redis, ChatCachePolly.Anthropic) and their
# symbols packages, and the chatcache tool (ChatCachePolly.Tool), into artifacts/packages.
# Deterministic (ContinuousIntegrationBuild), every warning is an error (compiler, analyzers, NU5xxx pack warnings), then
# each package is opened and checked: id, version, license, readme, repository + commit, XML docs, a Source Link map in
# the symbols package's PDB, the core's build targets, and the Redis package's exact dependency on the core. Prints the package sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

out=artifacts/packages
rm -rf "$out"
mkdir -p "$out"

# Source Link. With a GitHub 'origin' the SDK's Source Link reads the remote and commit from git. Without one (a CI clone of a
# local path, a worktree with no remote) it would silently leave the source link empty, so map the repository root to
# RepositoryUrl at HEAD instead (see SourceLinkCommit in Directory.Build.props).
# The repository URL is never made up: REPOSITORY_URL (https://github.com/owner/name) when set, else the GitHub remote; with
# neither, the packages carry the commit but no repository URL, and the PDBs embed every source instead of a Source Link.
origin=$(git remote get-url origin 2>/dev/null || true)
repository_url=${REPOSITORY_URL:-}
sourcelink=()
case "$origin" in
  https://github.com/* | git@github.com:* | ssh://git@github.com/*)
    echo "Source Link: from the git remote $origin" ;;
  *)
    commit=$(git rev-parse HEAD)
    sourcelink=("-p:SourceLinkCommit=$commit")
    if [ -n "$repository_url" ]; then
      sourcelink+=("-p:RepositoryUrl=$repository_url")
      echo "Source Link: no GitHub 'origin' remote (${origin:-none}); mapping sources to $repository_url at $commit"
    else
      echo "Source Link: no GitHub 'origin' remote and no REPOSITORY_URL; no repository URL, sources embedded in the PDBs (commit $commit)"
    fi ;;
esac
export CHECK_REPOSITORY_URL=$([ -n "$repository_url" ] || [[ "$origin" == *github.com* ]] && echo 1 || echo 0)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for project in src/ChatCachePolly/ChatCachePolly.csproj src/ChatCachePolly.OpenAI/ChatCachePolly.OpenAI.csproj src/ChatCachePolly.Redis/ChatCachePolly.Redis.csproj src/ChatCachePolly.Anthropic/ChatCachePolly.Anthropic.csproj tools/ChatCachePolly.Cli/ChatCachePolly.Cli.csproj; do
  dotnet pack "$project" -c Release -warnaserror -p:ContinuousIntegrationBuild=true "${sourcelink[@]}" -o "$out" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "error: dotnet pack $project failed" >&2; exit 1; }
done
if grep -E -i ': warning [A-Z]+[0-9]+|warning :' "$log" >/dev/null; then
  echo "error: pack printed warnings:" >&2
  grep -E -i ': warning [A-Z]+[0-9]+|warning :' "$log" | sort -u >&2
  exit 1
fi

python3 - "$out" <<'PY'
import re, sys, zipfile, pathlib
out = pathlib.Path(sys.argv[1])
import os
with_url = os.environ.get("CHECK_REPOSITORY_URL") == "1"
failures = []
def check(cond, what):
    if not cond: failures.append(what)
for pid in ["ChatCachePolly", "ChatCachePolly.OpenAI", "ChatCachePolly.Redis", "ChatCachePolly.Anthropic"]:
    nupkgs = [p for p in out.glob(pid + ".*.nupkg") if re.fullmatch(re.escape(pid) + r"\.\d[^/]*\.nupkg", p.name)]
    check(len(nupkgs) == 1, f"{pid}: expected one .nupkg, found {[p.name for p in nupkgs]}")
    if len(nupkgs) != 1: continue
    nupkg = nupkgs[0]; snupkg = nupkg.with_suffix(".snupkg")
    with zipfile.ZipFile(nupkg) as z:
        names = set(z.namelist())
        nuspec = z.read(pid + ".nuspec").decode("utf-8")
        for f in [f"lib/net10.0/{pid}.dll", f"lib/net10.0/{pid}.xml", "README.md"]:
            check(f in names, f"{nupkg.name}: missing {f}")
        check(not any(n.endswith(".pdb") for n in names), f"{nupkg.name}: a PDB belongs in the .snupkg")
        check("# " + pid in z.read("README.md").decode("utf-8"), f"{nupkg.name}: README.md is not {pid}'s PACKAGE.md")
    for pattern, what in ([(f"<id>{re.escape(pid)}</id>", "id"), (r'<license type="expression">MIT</license>', "MIT license"),
                          (r"<readme>README.md</readme>", "readme"), (r"<description>.{40,}</description>", "description"),
                          (r"<tags>.*polly.*</tags>", "tags"),
                          (r'<repository type="git"[^>]* commit="[0-9a-f]{40}"', "repository commit")]
                          + ([(r'<repository type="git" url="https://github.com/[^"]+"', "repository url")] if with_url else [])):
        check(re.search(pattern, nuspec, re.S), f"{nupkg.name}: nuspec has no {what}")
    if pid == "ChatCachePolly":
        # The test project's folder for cassettes (issue 29); buildTransitive flows through the add-on packages too
        # (eng/consumer-test.sh references only ChatCachePolly.OpenAI and checks it).
        for f in ["buildTransitive/ChatCachePolly.targets", "build/ChatCachePolly.targets"]:
            check(f in names, f"{nupkg.name}: missing {f}")
    else:
        core = re.search(r'<dependency id="ChatCachePolly" version="([^"]+)"', nuspec)
        check(core, f"{nupkg.name}: no dependency on ChatCachePolly")
        version = nupkg.name[len(pid) + 1:-len(".nupkg")]
        if core and pid == "ChatCachePolly.Redis":
            # Builds on the core's internals: exactly its own version.
            check(core.group(1) == f"[{version}]", f"{nupkg.name}: depends on ChatCachePolly {core.group(1)}, not exactly [{version}]")
    check(snupkg.exists(), f"{pid}: no symbols package {snupkg.name}")
    if snupkg.exists() and with_url:
        with zipfile.ZipFile(snupkg) as z:
            pdb = z.read(f"lib/net10.0/{pid}.pdb")
        check(re.search(rb'\{"documents":\{"/_/\*":"https://raw\.githubusercontent\.com/[^"]+/[0-9a-f]{40}/\*"\}\}', pdb),
              f"{snupkg.name}: the PDB has no Source Link map to a commit (or non-deterministic paths)")
    print(f"checked {nupkg.name} + {snupkg.name}: id, license, readme, repository commit, XML docs" + (", repository URL, Source Link" if with_url else " (no repository URL given: sources embedded)"))
# The chatcache .NET tool: a tool package whose command is chatcache, with its readme and the library it reads.
tools = [p for p in out.glob("ChatCachePolly.Tool.*.nupkg") if re.fullmatch(r"ChatCachePolly\.Tool\.\d[^/]*\.nupkg", p.name)]
check(len(tools) == 1, f"ChatCachePolly.Tool: expected one .nupkg, found {[p.name for p in tools]}")
for tool in tools:
    with zipfile.ZipFile(tool) as z:
        names = set(z.namelist())
        settings = [n for n in names if n.endswith("/DotnetToolSettings.xml")]
        check(settings and 'Name="chatcache"' in z.read(settings[0]).decode("utf-8"), f"{tool.name}: no chatcache command in DotnetToolSettings.xml")
        check(any(n.endswith("/ChatCachePolly.Cli.dll") for n in names) and any(n.endswith("/ChatCachePolly.dll") for n in names), f"{tool.name}: the tool or the library it reads is missing")
        check("README.md" in names and "# ChatCachePolly.Tool" in z.read("README.md").decode("utf-8"), f"{tool.name}: README.md is not the tool's PACKAGE.md")
        check("<packageType name=\"DotnetTool\" />" in z.read("ChatCachePolly.Tool.nuspec").decode("utf-8"), f"{tool.name}: not a DotnetTool package")
    print(f"checked {tool.name}: a .NET tool (command chatcache) with its readme and the library it reads")
if failures:
    print("\n".join("error: " + f for f in failures), file=sys.stderr); sys.exit(1)
PY

echo "Packages (bytes):"
ls -l "$out" | awk 'NR > 1 { printf "  %9d  %s\n", $5, $9 }'
