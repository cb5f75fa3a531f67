using ChatCachePolly.Keys;

namespace ChatCachePolly.Http;

/// <summary>
/// <c>Cache-Status</c> response header values (RFC 9211). Every response that passed through the strategy carries one:
/// <c>hit</c>, or <c>fwd=</c> with the reason the request went upstream, <c>stored</c> when its response was stored, and a
/// short non-reversible <c>key=</c> fingerprint so two requests can be compared from logs.
/// </summary>
internal static class CacheStatus
{
    public const string HeaderName = "Cache-Status";

    public const string CacheName = "ChatCachePolly";

    public const string OnlyIfCachedMiss = CacheName + "; fwd=miss; detail=only-if-cached";

    /// <summary>Length of <see cref="ChatCacheKey.Fingerprint"/>: 12 lowercase hex characters (the first 6 digest bytes).</summary>
    public const int FingerprintLength = 12;

    private const string HitPrefix = CacheName + "; hit; key=";

    /// <summary>
    /// A fresh hit: <c>ChatCachePolly; hit; key=</c> and the key's fingerprint, formatted straight into the one string a hit
    /// allocates (entries keep their key, not this string).
    /// </summary>
    public static string Hit(ChatCacheKey key) =>
        string.Create(HitPrefix.Length + FingerprintLength, key, static (span, k) =>
        {
            HitPrefix.CopyTo(span);
            WriteFingerprint(k, span[HitPrefix.Length..]);
        });

    /// <summary>An expired entry served on purpose: <c>…; hit; stale</c>, with why it was allowed.</summary>
    public static string StaleHit(ChatCacheKey key, string detail) => $"{CacheName}; hit; stale; key={key.Fingerprint}; detail={detail}";

    /// <summary>A follower answered by the upstream call of an identical request already in flight.</summary>
    public static string Collapsed(string keyFingerprint) => $"{CacheName}; fwd=miss; collapsed; key={keyFingerprint}";

    /// <summary>A follower answered with its leader's final failure: the upstream status it got, or none for an exception.</summary>
    public static string Collapsed(string keyFingerprint, int forwardStatus) => forwardStatus == 0
        ? Collapsed(keyFingerprint)
        : $"{CacheName}; fwd=miss; fwd-status={forwardStatus}; collapsed; key={keyFingerprint}";

    public static string Bypass(string detail) => $"{CacheName}; fwd=bypass; detail={detail}";

    public static string Forward(string fwd, bool stored, string keyFingerprint, int? forwardStatus = null, string? detail = null)
    {
        var status = forwardStatus is int code ? $"; fwd-status={code}" : string.Empty;
        var storedPart = stored ? "; stored" : string.Empty;
        var detailPart = detail is null ? string.Empty : $"; detail={detail}";
        return $"{CacheName}; fwd={fwd}{status}{storedPart}; key={keyFingerprint}{detailPart}";
    }

    /// <summary>Writes the key's fingerprint (the characters of <see cref="ChatCacheKey.Fingerprint"/>) without allocating.</summary>
    private static void WriteFingerprint(ChatCacheKey key, Span<char> destination)
    {
        Span<byte> digest = stackalloc byte[ChatCacheKey.Size];
        key.CopyTo(digest);
        Convert.TryToHexStringLower(digest[..(FingerprintLength / 2)], destination, out _);
    }

    /// <summary>Precomputed bypass values, so pass-through costs no formatting.</summary>
    public static class Bypasses
    {
        public static readonly string Disabled = Bypass("disabled");
        public static readonly string NotCacheable = Bypass("not-cacheable");
        public static readonly string RequestTooLarge = Bypass("request-too-large");
        public static readonly string RequestLengthUnknown = Bypass("request-length-unknown");
        public static readonly string InvalidBody = Bypass("invalid-body");
        public static readonly string Streaming = Bypass("stream");
        public static readonly string Stateful = Bypass("stateful");
        public static readonly string Error = Bypass("error");
        public static readonly string InvalidTags = Bypass("invalid-tags");

        public static string For(RequestVerdict verdict) => verdict switch
        {
            RequestVerdict.TooLarge => RequestTooLarge,
            RequestVerdict.UnknownLength => RequestLengthUnknown,
            RequestVerdict.InvalidBody => InvalidBody,
            RequestVerdict.UnsupportedStream => Streaming,
            RequestVerdict.Stateful => Stateful,
            _ => NotCacheable,
        };
    }
}
