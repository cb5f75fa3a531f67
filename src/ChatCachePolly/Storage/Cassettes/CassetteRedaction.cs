using System.Collections.Frozen;
using System.Text;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// What never reaches a cassette file: credential, cookie and rate-limit headers, the configured extra headers and
/// <see cref="ChatCacheStrategyOptions.AdditionalKeyHeaders"/>, secret-looking query parameters, and the configured JSON members
/// (replaced by <c>"[redacted]"</c>).
/// </summary>
internal sealed class CassetteRedaction
{
    /// <summary>Headers never written, whatever the options say.</summary>
    internal static readonly string[] BuiltInHeaders =
        ["authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie", "ocp-apim-subscription-key"];

    /// <summary>Query parameters whose values are never written (the URL in the file is for review; the key used the real one).</summary>
    internal static readonly string[] SecretQueryParameters =
        ["api-key", "api_key", "apikey", "key", "code", "sig", "signature", "token", "access_token", "client_secret", "password"];

    private readonly FrozenSet<string> _headers;
    private readonly FrozenSet<string> _members;

    public CassetteRedaction(IEnumerable<string>? headers, IEnumerable<string>? additionalKeyHeaders, IEnumerable<string>? members, bool stableVolatileValues = false)
    {
        StableVolatileValues = stableVolatileValues;
        _headers = BuiltInHeaders
            .Concat(headers ?? [])
            .Concat(additionalKeyHeaders ?? [])
            .Select(static h => h.Trim())
            .Where(static h => h.Length > 0)
            .ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _members = (members ?? []).Where(static m => m.Length > 0).ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// Whether recordings hold stable values in place of the answer's volatile ones (ids, timestamps, request ids:
    /// <see cref="CassetteVolatiles"/>), per <see cref="ChatCacheStrategyOptions.CassetteStableVolatileValues"/>.
    /// </summary>
    public bool StableVolatileValues { get; }

    /// <summary>Redacts nothing but the built-in headers (reading files, comparing forms).</summary>
    public static CassetteRedaction None { get; } = new(null, null, null);

    /// <summary>Creates the redaction the options ask for.</summary>
    public static CassetteRedaction From(ChatCacheStrategyOptions options) => new(
        options.CassetteRedactedHeaders,
        options.AdditionalKeyHeaders,
        (IEnumerable<string>?)options.CassetteRedactedJsonMembers ?? ChatCacheStrategyOptions.DefaultCassetteRedactedJsonMembers,
        options.CassetteStableVolatileValues);

    public bool IsRedactedHeader(string name) =>
        _headers.Contains(name) || name.StartsWith("x-ratelimit-", StringComparison.OrdinalIgnoreCase);

    public bool IsRedactedMember(string name) => _members.Count != 0 && _members.Contains(name);

    /// <summary>Headers whose value is how long the call took: dropped, so re-recording the same answer changes nothing.</summary>
    public static bool IsTimingHeader(string name) => name.Equals("openai-processing-ms", StringComparison.OrdinalIgnoreCase);

    /// <summary>The URL as written to the file: no user info, secret-looking query values replaced.</summary>
    public string Url(Uri uri)
    {
        var url = new StringBuilder().Append(uri.Scheme).Append("://").Append(uri.Authority).Append(uri.AbsolutePath);
        string query = uri.Query;
        if (query.Length > 1)
        {
            char separator = '?';
            foreach (string part in query[1..].Split('&'))
            {
                int equals = part.IndexOf('=', StringComparison.Ordinal);
                string name = equals < 0 ? part : part[..equals];
                bool secret = Array.Exists(SecretQueryParameters, p => p.Equals(Uri.UnescapeDataString(name), StringComparison.OrdinalIgnoreCase))
                    || _headers.Contains(Uri.UnescapeDataString(name));
                url.Append(separator).Append(secret && equals >= 0 ? name + "=" + Uri.EscapeDataString(CassetteFile.Redacted) : part);
                separator = '&';
            }
        }

        return url.ToString();
    }
}
