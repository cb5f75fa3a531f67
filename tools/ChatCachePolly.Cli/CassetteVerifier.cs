using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ChatCachePolly.Storage.Cassettes;

namespace ChatCachePolly.Cli;

/// <summary>One problem in one recording. <see cref="What"/> never quotes a secret: at most its kind and where it is.</summary>
internal sealed record CassetteFinding(string File, string What);

/// <summary>
/// <c>chatcache cassettes verify</c>: every recording under a directory parses (with the cache's own reader), is named after
/// its key (so the cache finds it), is the only recording of its key, and holds nothing that looks like a credential: API keys
/// (<c>sk-…</c>, <c>AIza…</c>), bearer tokens and JWTs anywhere in the text; credential, cookie and rate-limit headers and the
/// configured headers; secret-looking query values; configured JSON members (default <c>user</c>, <c>safety_identifier</c>)
/// that are not redacted.
/// </summary>
/// <remarks>
/// The patterns are deliberately broad (a false alarm costs a look, a committed key costs a rotation). Findings name the file,
/// the line or JSON path and the kind of value, never the value.
/// </remarks>
internal sealed partial class CassetteVerifier
{
    private readonly HashSet<string> _headers;
    private readonly HashSet<string> _members;

    public CassetteVerifier(IEnumerable<string>? redactedHeaders = null, IEnumerable<string>? redactedMembers = null)
    {
        _headers = new HashSet<string>(CassetteRedaction.BuiltInHeaders.Concat(redactedHeaders ?? []), StringComparer.OrdinalIgnoreCase);
        _members = new HashSet<string>(ChatCacheStrategyOptions.DefaultCassetteRedactedJsonMembers.Concat(redactedMembers ?? []), StringComparer.Ordinal);
    }

    /// <summary>Checks every <c>*.json</c> file under <paramref name="directory"/>, at any depth, in path order.</summary>
    public IReadOnlyList<CassetteFinding> Verify(string directory, out int files)
    {
        var findings = new List<CassetteFinding>();
        var byKey = new Dictionary<string, string>(StringComparer.Ordinal);
        files = 0;
        foreach (string path in Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            files++;
            string file = Path.GetRelativePath(directory, path);
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                findings.Add(new(file, $"cannot be read ({ex.GetType().Name})"));
                continue;
            }

            VerifyFile(file, path, bytes, findings, byKey);
        }

        return findings;
    }

    private void VerifyFile(string file, string path, byte[] bytes, List<CassetteFinding> findings, Dictionary<string, string> byKey)
    {
        try
        {
            var recording = CassetteFile.Read(bytes);
            string key = recording.Key.ToString();
            if (!CassetteChatCacheStore.TryNameKey(path, out string? named))
            {
                findings.Add(new(file, "its name does not end with its key's first 32 hex digits ({model}-{key}.json): the cache never finds it"));
            }
            else if (!key.StartsWith(named, StringComparison.Ordinal))
            {
                findings.Add(new(file, $"its name says key {named}, the file holds key {key[..32]}: the cache never finds it (renamed, or copied from another recording?)"));
            }
            else if (!byKey.TryAdd(named, file))
            {
                findings.Add(new(file, $"records the same key as {byKey[named]}: only one of them is ever read"));
            }
        }
        catch (InvalidDataException ex)
        {
            findings.Add(new(file, $"is not a recording: {ex.Message}"));
        }

        // Secrets are looked for in every file, a broken one too (it is committed all the same).
        string text = Encoding.UTF8.GetString(bytes);
        ScanText(file, text, findings);
        try
        {
            using var document = JsonDocument.Parse(bytes.AsMemory(bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            ScanStructure(file, document.RootElement, findings);
        }
        catch (JsonException)
        {
            // Reported above as not a recording; the text scan covered it.
        }
    }

    private static void ScanText(string file, string text, List<CassetteFinding> findings)
    {
        foreach (var (pattern, kind) in TextPatterns)
        {
            foreach (Match match in pattern.Matches(text))
            {
                int line = 1 + text.AsSpan(0, match.Index).Count('\n');
                findings.Add(new(file, $"line {line}: something like {kind}"));
            }
        }
    }

    private static readonly (Regex Pattern, string Kind)[] TextPatterns =
    [
        (ApiKey(), "an API key (sk-…)"),
        (GoogleApiKey(), "a Google API key (AIza…)"),
        (BearerToken(), "a bearer token"),
        (Jwt(), "a JSON Web Token (eyJ….eyJ….…)"),
    ];

    private void ScanStructure(string file, JsonElement root, List<CassetteFinding> findings)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (string part in (ReadOnlySpan<string>)["request", "response"])
        {
            if (!root.TryGetProperty(part, out var message) || message.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            if (message.TryGetProperty("headers", out var headers) && headers.ValueKind == JsonValueKind.Object)
            {
                foreach (var header in headers.EnumerateObject())
                {
                    if (_headers.Contains(header.Name) || header.Name.StartsWith("x-ratelimit-", StringComparison.OrdinalIgnoreCase))
                    {
                        findings.Add(new(file, $"{part}.headers: '{header.Name}' is written (the cache never writes it: edited by hand?)"));
                    }
                }
            }

            if (message.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String && Uri.TryCreate(url.GetString(), UriKind.Absolute, out var uri))
            {
                ScanQuery(file, part, uri, findings);
            }

            if (message.TryGetProperty("body", out var body))
            {
                ScanMembers(file, $"{part}.body", body, findings);
            }

            if (message.TryGetProperty("events", out var events) && events.ValueKind == JsonValueKind.Array)
            {
                int index = 0;
                foreach (var item in events.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("data", out var data))
                    {
                        ScanMembers(file, $"{part}.events[{index}].data", data, findings);
                    }
                    else if (item.ValueKind == JsonValueKind.String)
                    {
                        ScanEventText(file, $"{part}.events[{index}]", item.GetString()!, findings);
                    }

                    index++;
                }
            }
        }
    }

    private void ScanQuery(string file, string part, Uri uri, List<CassetteFinding> findings)
    {
        string query = uri.Query;
        if (query.Length <= 1)
        {
            return;
        }

        foreach (string pair in query[1..].Split('&'))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                continue;
            }

            string name = Uri.UnescapeDataString(pair[..equals]);
            string value = Uri.UnescapeDataString(pair[(equals + 1)..]);
            bool secret = Array.Exists(CassetteRedaction.SecretQueryParameters, p => p.Equals(name, StringComparison.OrdinalIgnoreCase)) || _headers.Contains(name);
            if (secret && value.Length > 0 && value != CassetteFile.Redacted)
            {
                findings.Add(new(file, $"{part}.url: the query value of '{name}' is not redacted"));
            }
        }
    }

    /// <summary>A string event in its exact text: its <c>data:</c> lines that hold JSON are scanned like structured ones.</summary>
    private void ScanEventText(string file, string path, string text, List<CassetteFinding> findings)
    {
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith("data:", StringComparison.Ordinal) && line[5..].TrimStart() is { Length: > 0 } data && data[0] == '{')
            {
                try
                {
                    using var document = JsonDocument.Parse(data);
                    ScanMembers(file, path, document.RootElement, findings);
                }
                catch (JsonException)
                {
                    // Not JSON: nothing structured to check.
                }
            }
        }
    }

    private void ScanMembers(string file, string path, JsonElement value, List<CassetteFinding> findings)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var member in value.EnumerateObject())
                {
                    string here = $"{path}.{member.Name}";
                    if (_members.Contains(member.Name) && !IsRedactedValue(member.Value))
                    {
                        findings.Add(new(file, $"{here} is not redacted (a {Kind(member.Value)})"));
                    }
                    else
                    {
                        ScanMembers(file, here, member.Value, findings);
                    }
                }

                break;
            case JsonValueKind.Array:
                int index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    ScanMembers(file, $"{path}[{index++}]", item, findings);
                }

                break;
        }
    }

    /// <summary>What the cache writes for a redacted member: a placeholder of the value's own type (or a null it kept).</summary>
    internal static bool IsRedactedValue(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.False => true,
        JsonValueKind.String => value.ValueEquals(CassetteFile.Redacted),
        JsonValueKind.Number => value.TryGetDecimal(out decimal d) && d == 0,
        JsonValueKind.Object => !value.EnumerateObject().Any(),
        JsonValueKind.Array => value.GetArrayLength() == 0,
        _ => false,
    };

    private static string Kind(JsonElement value) => value.ValueKind.ToString().ToLowerInvariant();

    [GeneratedRegex(@"\bsk-[A-Za-z0-9][A-Za-z0-9_-]{19,}")]
    private static partial Regex ApiKey();

    [GeneratedRegex(@"\bAIza[0-9A-Za-z_-]{35}")]
    private static partial Regex GoogleApiKey();

    [GeneratedRegex(@"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{8,}")]
    private static partial Regex BearerToken();

    [GeneratedRegex(@"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")]
    private static partial Regex Jwt();
}
