using System.Globalization;

namespace ChatCachePolly.Strategy;

/// <summary>
/// The request's cache directives: the standard <c>Cache-Control</c> request header (RFC 9111 §5.2.1) merged with
/// <see cref="ChatCacheControl"/> from <see cref="HttpRequestMessage.Options"/>.
/// </summary>
/// <remarks>
/// <para>How the directives combine (RFC 9111 §5.2.1), on every path that answers from an entry - a fresh hit, <c>max-stale</c>,
/// stale-while-revalidate, stale-if-error and a follower reading what was stored meanwhile:</para>
/// <list type="bullet">
/// <item><c>max-age=N</c> bounds the entry's age: an entry older than N seconds is never served, fresh or stale.</item>
/// <item><c>min-fresh=N</c> asks for an entry that stays fresh at least N more seconds: a stale entry is never served.</item>
/// <item><c>max-stale[=N]</c> lets a stale entry (up to N seconds past its freshness) answer without going upstream, within the
/// two bounds above: with <c>max-age</c> it relaxes freshness, not age.</item>
/// </list>
/// </remarks>
internal readonly record struct CacheDirectives(bool NoCache, bool NoStore, TimeSpan? MaxAge, bool OnlyIfCached, TimeSpan? MaxStale = null, TimeSpan? StaleIfError = null, TimeSpan? MinFresh = null)
{
    /// <summary>Gets whether <paramref name="entry"/> may answer this request at <paramref name="now"/> by any path (<c>max-age</c>, <c>min-fresh</c>).</summary>
    public bool Allows(Storage.CacheEntry entry, DateTimeOffset now) =>
        (MaxAge is not TimeSpan max || entry.Age(now) <= max)
        && (MinFresh is not TimeSpan minFresh || entry.FreshUntil - now >= minFresh);

    /// <summary>Gets whether an entry this far past its freshness may answer without going upstream (<c>max-stale</c>).</summary>
    public bool AcceptsStaleness(TimeSpan staleness) => MaxStale is TimeSpan max && staleness <= max;

    public static CacheDirectives Read(HttpRequestMessage request) =>
        Read(request, request.Options.TryGetValue(ChatCacheControl.OptionsKey, out var control) ? control : null);

    /// <summary>As <see cref="Read(HttpRequestMessage)"/>, with the request's <see cref="ChatCacheControl"/> already read (or null).</summary>
    public static CacheDirectives Read(HttpRequestMessage request, ChatCacheControl? control)
    {
        bool hasHeader = request.Headers.NonValidated.TryGetValues("Cache-Control", out var values);
        bool hasOption = control is not null;
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
        TimeSpan? minFresh = control?.MinFresh;

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
                    else if (directive.StartsWith("min-fresh=", StringComparison.OrdinalIgnoreCase)
                        && TryParseSeconds(directive["min-fresh=".Length..], out var fresh))
                    {
                        minFresh = minFresh is TimeSpan existing && existing > fresh ? existing : fresh; // the larger one is stricter
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

        return new CacheDirectives(noCache, noStore, maxAge, onlyIfCached, maxStale, staleIfError, minFresh);
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
