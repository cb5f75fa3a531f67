using System.Globalization;

namespace ChatCachePolly.Strategy;

/// <summary>
/// The request's cache directives: the standard <c>Cache-Control</c> request header (RFC 9111 §5.2.1) merged with
/// <see cref="ChatCacheControl"/> from <see cref="HttpRequestMessage.Options"/>.
/// </summary>
internal readonly record struct CacheDirectives(bool NoCache, bool NoStore, TimeSpan? MaxAge, bool OnlyIfCached, TimeSpan? MaxStale = null, TimeSpan? StaleIfError = null)
{
    public bool AcceptsAge(TimeSpan age) => MaxAge is not TimeSpan max || age <= max;

    /// <summary>Gets whether an entry this far past its freshness may answer without going upstream (<c>max-stale</c>).</summary>
    public bool AcceptsStaleness(TimeSpan staleness) => MaxStale is TimeSpan max && staleness <= max;

    public static CacheDirectives Read(HttpRequestMessage request)
    {
        bool hasHeader = request.Headers.NonValidated.TryGetValues("Cache-Control", out var values);
        bool hasOption = request.Options.TryGetValue(ChatCacheControl.OptionsKey, out var control);
        if (!hasHeader && !hasOption)
        {
            return default;
        }

        bool noCache = control?.NoCache ?? false;
        bool noStore = control?.NoStore ?? false;
        bool onlyIfCached = control?.OnlyIfCached ?? false;
        TimeSpan? maxAge = control?.MaxAge;
        TimeSpan? maxStale = control?.MaxStale;
        TimeSpan? staleIfError = control?.StaleIfError;

        if (hasHeader)
        {
            foreach (var value in values)
            {
                foreach (var range in value.AsSpan().Split(','))
                {
                    var directive = value.AsSpan()[range].Trim();
                    if (directive.Equals("no-cache", StringComparison.OrdinalIgnoreCase))
                    {
                        noCache = true;
                    }
                    else if (directive.Equals("no-store", StringComparison.OrdinalIgnoreCase))
                    {
                        noStore = true;
                    }
                    else if (directive.Equals("only-if-cached", StringComparison.OrdinalIgnoreCase))
                    {
                        onlyIfCached = true;
                    }
                    else if (directive.StartsWith("max-age=", StringComparison.OrdinalIgnoreCase)
                        && TryParseSeconds(directive["max-age=".Length..], out var seconds))
                    {
                        maxAge = Stricter(maxAge, seconds);
                    }
                    else if (directive.Equals("max-stale", StringComparison.OrdinalIgnoreCase))
                    {
                        maxStale = Stricter(maxStale, TimeSpan.MaxValue);
                    }
                    else if (directive.StartsWith("max-stale=", StringComparison.OrdinalIgnoreCase)
                        && TryParseSeconds(directive["max-stale=".Length..], out var stale))
                    {
                        maxStale = Stricter(maxStale, stale);
                    }
                    else if (directive.StartsWith("stale-if-error=", StringComparison.OrdinalIgnoreCase)
                        && TryParseSeconds(directive["stale-if-error=".Length..], out var ifError))
                    {
                        staleIfError = Stricter(staleIfError, ifError);
                    }
                }
            }
        }

        return new CacheDirectives(noCache, noStore, maxAge, onlyIfCached, maxStale, staleIfError);
    }

    /// <summary>When the header and <see cref="ChatCacheControl"/> both set a limit, the smaller one (the stricter) wins.</summary>
    private static TimeSpan Stricter(TimeSpan? current, TimeSpan candidate) => current is TimeSpan existing && existing < candidate ? existing : candidate;

    private static bool TryParseSeconds(ReadOnlySpan<char> text, out TimeSpan value)
    {
        text = text.Trim('"');
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds))
        {
            value = TimeSpan.FromSeconds(Math.Min(seconds, (long)TimeSpan.MaxValue.TotalSeconds - 1));
            return true;
        }

        value = default;
        return false;
    }
}
