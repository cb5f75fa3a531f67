using System.Text;
using System.Text.RegularExpressions;

namespace ChatCachePolly.DocsTests;

/// <summary>A fenced code block of a Markdown file.</summary>
internal sealed record CodeBlock(string File, int Line, string Language, string Code);

/// <summary>A <c>// &lt;snippet:NAME&gt;</c> … <c>// &lt;/snippet:NAME&gt;</c> region of a snippet source file.</summary>
internal sealed record SnippetRegion(string File, int Line, string Name, string Code);

/// <summary>Finds the repository's documentation, its code blocks and the compiled snippet regions.</summary>
internal static partial class DocFiles
{
    /// <summary>Languages of the fenced blocks that must be compiled.</summary>
    private static readonly string[] CSharpLanguages = ["csharp", "cs", "c#"];

    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The snippet source folder: every *.cs file under it may hold regions.</summary>
    public static string SnippetsDirectory => Path.Combine(RepositoryRoot, "docs", "snippets");

    /// <summary>README.md and every Markdown file under docs/ (build output excluded).</summary>
    public static IEnumerable<string> MarkdownFiles()
    {
        yield return Path.Combine(RepositoryRoot, "README.md");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(RepositoryRoot, "docs"), "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (!IsBuildOutput(file))
            {
                yield return file;
            }
        }
    }

    public static IEnumerable<CodeBlock> CSharpBlocks() =>
        MarkdownFiles().SelectMany(CodeBlocks).Where(b => CSharpLanguages.Contains(b.Language, StringComparer.OrdinalIgnoreCase));

    /// <summary>The fenced code blocks of one Markdown file (``` or ~~~ fences, possibly indented inside list items).</summary>
    public static IEnumerable<CodeBlock> CodeBlocks(string file)
    {
        var lines = File.ReadAllLines(file);
        for (int i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success)
            {
                continue;
            }

            string fence = open.Groups["fence"].Value;
            string language = open.Groups["info"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? string.Empty;
            var code = new StringBuilder();
            int start = i + 1;
            for (i++; i < lines.Length; i++)
            {
                var close = Fence().Match(lines[i]);
                if (close.Success && close.Groups["info"].Length == 0
                    && close.Groups["fence"].Value[0] == fence[0] && close.Groups["fence"].Length >= fence.Length)
                {
                    break;
                }

                code.AppendLine(lines[i]);
            }

            yield return new CodeBlock(Relative(file), start, language, code.ToString());
        }
    }

    /// <summary>Every snippet region of every *.cs file under docs/snippets.</summary>
    public static IReadOnlyList<SnippetRegion> SnippetRegions()
    {
        var regions = new List<SnippetRegion>();
        foreach (var file in Directory.EnumerateFiles(SnippetsDirectory, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (IsBuildOutput(file))
            {
                continue;
            }

            var lines = File.ReadAllLines(file);
            var open = new Dictionary<string, (int Line, StringBuilder Code)>(StringComparer.Ordinal);
            for (int i = 0; i < lines.Length; i++)
            {
                var marker = Marker().Match(lines[i]);
                if (!marker.Success)
                {
                    foreach (var region in open.Values)
                    {
                        region.Code.AppendLine(lines[i]);
                    }

                    continue;
                }

                string name = marker.Groups["name"].Value;
                if (marker.Groups["close"].Success)
                {
                    if (!open.Remove(name, out var region))
                    {
                        throw new InvalidDataException($"{Relative(file)}({i + 1}): '</snippet:{name}>' closes a region that is not open.");
                    }

                    regions.Add(new SnippetRegion(Relative(file), region.Line, name, region.Code.ToString()));
                }
                else if (!open.TryAdd(name, (i + 1, new StringBuilder())))
                {
                    throw new InvalidDataException($"{Relative(file)}({i + 1}): '<snippet:{name}>' is already open.");
                }
            }

            if (open.Count > 0)
            {
                throw new InvalidDataException($"{Relative(file)}: region(s) never closed: {string.Join(", ", open.Keys)}.");
            }
        }

        return regions;
    }

    /// <summary>
    /// The comparable form of code: each line trimmed (which also dedents) with inner runs of whitespace collapsed to one
    /// space, empty lines dropped. Everything else - comments included - must match.
    /// </summary>
    public static string[] Normalize(string code) =>
        [.. code.ReplaceLineEndings("\n").Split('\n')
            .Select(line => Whitespace().Replace(line.Trim(), " "))
            .Where(line => line.Length > 0)];

    /// <summary>Whether <paramref name="block"/> is a contiguous run of the lines of <paramref name="region"/>.</summary>
    public static bool Contains(string[] region, string[] block)
    {
        if (block.Length == 0 || block.Length > region.Length)
        {
            return false;
        }

        for (int start = 0; start + block.Length <= region.Length; start++)
        {
            if (region.AsSpan(start, block.Length).SequenceEqual(block))
            {
                return true;
            }
        }

        return false;
    }

    public static string Relative(string path) => Path.GetRelativePath(RepositoryRoot, path).Replace('\\', '/');

    private static bool IsBuildOutput(string path)
    {
        var parts = Path.GetRelativePath(RepositoryRoot, path).Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        return parts.Contains("bin") || parts.Contains("obj");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ChatCachePolly.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No ChatCachePolly.sln above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"^\s*(?<fence>`{3,}|~{3,})\s*(?<info>[^`]*?)\s*$")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^\s*//\s*<(?<close>/)?snippet:(?<name>[A-Za-z0-9_.-]+)>\s*$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
