namespace ChatCachePolly.Tests.Cassettes;

/// <summary>A fresh temporary cassette directory, deleted at the end of the test.</summary>
internal sealed class CassetteDirectory : IDisposable
{
    public CassetteDirectory() => System.IO.Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ccp-cassettes-" + Guid.NewGuid().ToString("N"));

    /// <summary>Every recording file, relative to the directory, sorted.</summary>
    public string[] Files => System.IO.Directory.Exists(Path)
        ? [.. System.IO.Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories).Select(f => System.IO.Path.GetRelativePath(Path, f).Replace('\\', '/')).Order(StringComparer.Ordinal)]
        : [];

    /// <summary>Every file's text, concatenated (for secret scans).</summary>
    public string AllText => string.Concat(System.IO.Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories).Select(File.ReadAllText));

    public string Single() => System.IO.Path.Combine(Path, Assert.Single(Files));

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
