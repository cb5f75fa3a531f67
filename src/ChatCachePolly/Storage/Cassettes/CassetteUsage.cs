using System.Collections.Concurrent;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// Which recordings a process used (read or wrote), per cassette directory, so that the ones no test used can be listed and
/// pruned. Opt in with the environment variable <c>CHATCACHE_CASSETTE_UNUSED_REPORT</c> set to a file path: when the process
/// exits, that file lists, one full path per line, every recording under the directories in use that this process never read
/// or wrote.
/// </summary>
internal static class CassetteUsage
{
    /// <summary>The environment variable naming the report file.</summary>
    public const string ReportVariable = "CHATCACHE_CASSETTE_UNUSED_REPORT";

    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> Used = new(PathComparer);
    private static int s_hooked;

    private static StringComparer PathComparer => OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>Registers a directory in use (and, the first time, the exit report when it is asked for).</summary>
    public static void Register(string directory)
    {
        Used.GetOrAdd(directory, static _ => new ConcurrentDictionary<string, byte>(PathComparer));
        if (Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 } && Interlocked.Exchange(ref s_hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += static (_, _) => WriteReport(Environment.GetEnvironmentVariable(ReportVariable));
        }
    }

    /// <summary>Marks a recording as used by this process.</summary>
    public static void MarkUsed(string directory, string path) =>
        Used.GetOrAdd(directory, static _ => new ConcurrentDictionary<string, byte>(PathComparer)).TryAdd(Path.GetFullPath(path), 0);

    /// <summary>Forgets what this process used under <paramref name="directory"/> (tests: a new run over the same recordings).</summary>
    internal static void Forget(string directory)
    {
        if (Used.TryGetValue(Path.GetFullPath(directory), out var used))
        {
            used.Clear();
        }
    }

    /// <summary>The recordings under the directories in use that this process did not use, sorted.</summary>
    public static IReadOnlyList<string> Unused()
    {
        var unused = new List<string>();
        foreach (var (directory, used) in Used)
        {
            if (!Directory.Exists(directory))
            {
                continue;
            }

            foreach (string path in Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories))
            {
                if (CassetteChatCacheStore.TryNameKey(path, out _) && !used.ContainsKey(Path.GetFullPath(path)))
                {
                    unused.Add(path);
                }
            }
        }

        unused.Sort(StringComparer.Ordinal);
        return unused;
    }

    /// <summary>Writes the unused recordings to <paramref name="reportPath"/>, one per line (an empty file when all were used).</summary>
    public static void WriteReport(string? reportPath)
    {
        if (string.IsNullOrWhiteSpace(reportPath))
        {
            return;
        }

        try
        {
            string full = CassettePaths.Resolve(reportPath); // a relative report path lands next to the test project too
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllLines(full, Unused());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A report that cannot be written must not fail the process at exit.
        }
    }
}
