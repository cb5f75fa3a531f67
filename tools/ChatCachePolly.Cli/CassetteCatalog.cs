using System.Globalization;
using System.Text.Json;
using ChatCachePolly.Storage.Cassettes;

namespace ChatCachePolly.Cli;

/// <summary>One recording as <c>chatcache cassettes list</c> shows it.</summary>
/// <param name="File">The path relative to the listed directory.</param>
/// <param name="Endpoint">The endpoint folder (<c>chat-completions</c>, <c>embeddings</c>, …), or <c>(unreadable)</c>.</param>
/// <param name="Model">The model the answer names, or <c>-</c>.</param>
/// <param name="Status">The recorded HTTP status.</param>
/// <param name="Shape"><c>json</c>, <c>stream (N events)</c> or <c>text</c>.</param>
/// <param name="Bytes">The size of the file.</param>
/// <param name="Recorded">When the provider answered (the answer's own <c>created</c>/<c>created_at</c>), else <see langword="null"/>.</param>
/// <param name="RecordedFrom">Where <paramref name="Recorded"/> comes from: <c>answer</c>, <c>git</c> (the last commit of the file) or <c>file</c> (its modification time).</param>
internal sealed record CassetteEntry(string File, string Endpoint, string Model, int Status, string Shape, long Bytes, DateTimeOffset? Recorded, string RecordedFrom = "answer");

/// <summary><c>chatcache cassettes list</c>: what each recording under a directory answers.</summary>
/// <remarks>
/// The recorded date is the provider's own timestamp in the answer when the file holds it. A recording written with stable
/// volatile values (the default) holds a fixed timestamp instead, so its date is the last commit of the file (one
/// <c>git log</c> for the whole directory), and outside a git work tree its modification time (which a checkout rewrites).
/// </remarks>
internal static class CassetteCatalog
{
    public static IReadOnlyList<CassetteEntry> List(string directory)
    {
        var entries = new List<CassetteEntry>();
        Dictionary<string, DateTimeOffset>? commits = null;
        foreach (string path in Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string file = Path.GetRelativePath(directory, path);
            byte[] bytes = File.ReadAllBytes(path);
            try
            {
                var recording = CassetteFile.Read(bytes);
                string shape = recording.EventEnds is { } ends ? $"stream ({ends.Length} events)" : "json";
                var (recorded, from) = RecordedAt(bytes) is { } answered
                    ? (answered, "answer")
                    : (commits ??= LastCommits(directory)).TryGetValue(file.Replace('\\', '/'), out var committed)
                        ? (committed, "git")
                        : (new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero), "file");
                entries.Add(new(file, CassetteFile.EndpointFolder(recording.Endpoint), recording.Model ?? "-", recording.Status, shape, bytes.LongLength, recorded, from));
            }
            catch (InvalidDataException)
            {
                entries.Add(new(file, "(unreadable)", "-", 0, "-", bytes.LongLength, null));
            }
        }

        return entries;
    }

    /// <summary>Writes the entries as an aligned table (or one JSON object per line).</summary>
    public static void Write(IReadOnlyList<CassetteEntry> entries, TextWriter output, bool json)
    {
        if (json)
        {
            foreach (var e in entries)
            {
                output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["file"] = e.File.Replace('\\', '/'),
                    ["endpoint"] = e.Endpoint,
                    ["model"] = e.Model,
                    ["status"] = e.Status,
                    ["shape"] = e.Shape,
                    ["bytes"] = e.Bytes,
                    ["recorded"] = e.Recorded?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                    ["recordedFrom"] = e.RecordedFrom,
                }));
            }

            return;
        }

        string[] header = ["ENDPOINT", "MODEL", "STATUS", "SHAPE", "SIZE", "RECORDED", "FILE"];
        var rows = entries.Select(e => new[]
        {
            e.Endpoint, e.Model, e.Status.ToString(CultureInfo.InvariantCulture), e.Shape, Size(e.Bytes),
            e.Recorded?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "-", e.File.Replace('\\', '/'),
        }).ToList();
        int[] widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        output.WriteLine(Row(header, widths));
        foreach (var row in rows)
        {
            output.WriteLine(Row(row, widths));
        }

        output.WriteLine($"{entries.Count} recording(s), {Size(entries.Sum(e => e.Bytes))}");
    }

    private static string Row(string[] cells, int[] widths) =>
        string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();

    private static string Size(long bytes) => bytes < 1024
        ? bytes.ToString(CultureInfo.InvariantCulture) + " B"
        : (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KB";

    /// <summary>The answer's <c>created</c> (chat, completions) or <c>created_at</c> (Responses, Anthropic-free), from the body or the first event that has one.</summary>
    private static DateTimeOffset? RecordedAt(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes.AsMemory(bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0));
            if (!document.RootElement.TryGetProperty("response", out var response))
            {
                return null;
            }

            if (response.TryGetProperty("body", out var body) && Created(body) is { } fromBody)
            {
                return fromBody;
            }

            // A body no layout rebuilds is kept as its exact text.
            if (response.TryGetProperty("bodyText", out var text) && text.ValueKind == JsonValueKind.String)
            {
                try
                {
                    using var exact = JsonDocument.Parse(text.GetString()!);
                    return Created(exact.RootElement);
                }
                catch (JsonException)
                {
                    return null;
                }
            }

            if (response.TryGetProperty("events", out var events) && events.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in events.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("data", out var data) && Created(data) is { } fromEvent)
                    {
                        return fromEvent;
                    }
                }
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    /// <summary>
    /// The date of the last commit of each file under <paramref name="directory"/>, by path relative to it (<c>/</c>-separated);
    /// empty outside a git work tree or without git.
    /// </summary>
    private static Dictionary<string, DateTimeOffset> LastCommits(string directory)
    {
        var commits = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("git")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory,
            };
            foreach (string argument in (ReadOnlySpan<string>)["log", "--format=%x01%cI", "--name-only", "--relative", "--", "."])
            {
                start.ArgumentList.Add(argument);
            }

            using var git = System.Diagnostics.Process.Start(start)!;
            var readError = git.StandardError.ReadToEndAsync();
            string output = git.StandardOutput.ReadToEnd();
            if (!git.WaitForExit(10_000) || git.ExitCode != 0)
            {
                return commits;
            }

            _ = readError.Result;
            DateTimeOffset current = default;
            foreach (string line in output.Split('\n'))
            {
                if (line.StartsWith('\u0001'))
                {
                    current = DateTimeOffset.Parse(line[1..], CultureInfo.InvariantCulture);
                }
                else if (line.Length > 0)
                {
                    commits.TryAdd(line.Trim(), current); // newest first: the first date seen is the last commit
                }
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or FormatException)
        {
            // No git: modification times instead.
        }

        return commits;
    }

    private static DateTimeOffset? Created(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (string name in (ReadOnlySpan<string>)["created", "created_at"])
        {
            if (value.TryGetProperty(name, out var created) && created.TryGetInt64(out long seconds) && seconds is > 0 and < 32503680000
                && seconds != CassetteVolatiles.Created)
            {
                return DateTimeOffset.FromUnixTimeSeconds(seconds);
            }
        }

        // Responses stream events carry the response object one level down.
        return value.TryGetProperty("response", out var inner) ? Created(inner) : null;
    }
}
