using ChatCachePolly.Storage.Cassettes;

namespace ChatCachePolly.Cli;

/// <summary>What <c>chatcache cassettes prune</c> did (or, in a dry run, would do).</summary>
/// <param name="Deleted">The recordings deleted (or to delete), relative to the directory.</param>
/// <param name="Skipped">Report lines left alone, each with the reason.</param>
internal sealed record PruneResult(IReadOnlyList<string> Deleted, IReadOnlyList<string> Skipped);

/// <summary>
/// <c>chatcache cassettes prune DIR --unused REPORT</c>: deletes the recordings an unused-recordings report lists
/// (<c>CHATCACHE_CASSETTE_UNUSED_REPORT</c>, written when a test run exits), then the folders that became empty.
/// </summary>
/// <remarks>
/// Only recordings are deleted: a listed path outside <c>DIR</c>, a file that is not named like a recording, or one that no
/// longer exists is skipped and reported. The report must come from a run of the whole suite: a recording that a test left
/// out of that run needed is listed too.
/// </remarks>
internal static class CassettePruner
{
    public static PruneResult Prune(string directory, string report, bool dryRun)
    {
        string root = Path.GetFullPath(directory);
        string prefix = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var deleted = new List<string>();
        var skipped = new List<string>();
        foreach (string line in File.ReadLines(report))
        {
            string listed = line.Trim();
            if (listed.Length == 0)
            {
                continue;
            }

            string full = Path.GetFullPath(listed, root);
            if (!full.StartsWith(prefix, comparison))
            {
                skipped.Add($"{listed}: not under {directory}");
            }
            else if (!full.EndsWith(".json", comparison) || !CassetteChatCacheStore.TryNameKey(full, out _))
            {
                skipped.Add($"{listed}: not named like a recording");
            }
            else if (!File.Exists(full))
            {
                skipped.Add($"{listed}: no longer exists");
            }
            else
            {
                if (!dryRun)
                {
                    File.Delete(full);
                }

                deleted.Add(Path.GetRelativePath(root, full));
            }
        }

        if (!dryRun)
        {
            RemoveEmptyFolders(root);
        }

        return new PruneResult(deleted, skipped);
    }

    private static void RemoveEmptyFolders(string root)
    {
        foreach (string folder in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(static f => f.Length))
        {
            if (!Directory.EnumerateFileSystemEntries(folder).Any())
            {
                Directory.Delete(folder);
            }
        }
    }
}
