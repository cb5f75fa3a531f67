namespace ChatCachePolly.DocsTests;

/// <summary>
/// Every ```csharp block of README.md and docs/**/*.md must be a contiguous run of lines (compared trimmed, with whitespace
/// collapsed and blank lines ignored) of a "// &lt;snippet:NAME&gt;" region under docs/snippets, which this project compiles.
/// So a code block that is edited in a Markdown file without its snippet, or that never compiled, fails here.
/// </summary>
public sealed class SnippetCoverageTests
{
    [Fact]
    public void Every_csharp_block_of_the_docs_is_a_compiled_snippet()
    {
        var regions = DocFiles.SnippetRegions().Select(r => (Region: r, Lines: DocFiles.Normalize(r.Code))).ToList();
        var known = regions.SelectMany(r => r.Lines).ToHashSet(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var block in DocFiles.CSharpBlocks())
        {
            var lines = DocFiles.Normalize(block.Code);
            if (lines.Length == 0)
            {
                failures.Add($"{block.File}({block.Line}): empty C# block.");
                continue;
            }

            if (regions.Exists(r => DocFiles.Contains(r.Lines, lines)))
            {
                continue;
            }

            string? missing = lines.FirstOrDefault(line => !known.Contains(line));
            failures.Add(missing is null
                ? $"{block.File}({block.Line}): every line exists in some snippet, but not as one contiguous run of a single region."
                : $"{block.File}({block.Line}): not in any snippet region; first unknown line: {missing}");
        }

        Assert.True(
            failures.Count == 0,
            "C# blocks in the docs must be copied from a '// <snippet:NAME>' region under docs/snippets (compiled by this project):"
            + Environment.NewLine + string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public void Every_snippet_region_is_shown_in_the_docs()
    {
        var blocks = DocFiles.CSharpBlocks().Select(b => DocFiles.Normalize(b.Code)).Where(b => b.Length > 0).ToList();
        var orphans = DocFiles.SnippetRegions()
            .Where(r => !blocks.Exists(b => DocFiles.Contains(DocFiles.Normalize(r.Code), b)))
            .Select(r => $"{r.File}({r.Line}): snippet '{r.Name}'")
            .ToList();

        Assert.True(orphans.Count == 0, "Snippet regions no document shows (remove them or show them):" + Environment.NewLine + string.Join(Environment.NewLine, orphans));
    }

    [Fact]
    public void Snippet_names_are_unique()
    {
        var duplicates = DocFiles.SnippetRegions().GroupBy(r => r.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.Empty(duplicates);
    }

    [Fact]
    public void The_extractor_finds_the_readme_blocks()
    {
        // Guards the check itself: if the fence parsing broke, every other test here would pass vacuously.
        var readme = DocFiles.CodeBlocks(Path.Combine(DocFiles.RepositoryRoot, "README.md")).ToList();
        Assert.Contains(readme, b => b.Language == "csharp" && b.Code.Contains("AddChatCache(ctx)", StringComparison.Ordinal));
        Assert.Contains(readme, b => b.Language == "csharp" && b.Code.Contains("AddChatCachedOpenAI", StringComparison.Ordinal));
        Assert.Contains(readme, b => b.Language == "bash" && b.Code.Contains("bash eng/test.sh", StringComparison.Ordinal));
        Assert.True(DocFiles.SnippetRegions().Count >= 10);
    }

    [Fact]
    public void Normalization_dedents_and_ignores_blank_lines_but_not_code()
    {
        string[] region = DocFiles.Normalize("        a(1,  2);\n\n        b();\n        c();\n");
        Assert.True(DocFiles.Contains(region, DocFiles.Normalize("a(1, 2);\nb();")));
        Assert.True(DocFiles.Contains(region, DocFiles.Normalize("b();\n\n   c();")));
        Assert.False(DocFiles.Contains(region, DocFiles.Normalize("a(1, 2);\nc();")));
        Assert.False(DocFiles.Contains(region, DocFiles.Normalize("a(1,2);")));
    }
}
