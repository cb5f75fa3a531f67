using Microsoft.Extensions.Logging;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// The strategy's logs (source-generated). Hits, misses and stores are Debug so a busy production service stays quiet;
/// explained misses are Information because they are asked for; a store failure is a Warning. Keys appear only as their short
/// fingerprint; secrets and bodies never appear.
/// </summary>
internal static partial class ChatCacheLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "Chat cache hit for client {Client} ({Endpoint}), key {Key}, age {AgeSeconds:F0} s{Stale}")]
    public static partial void Hit(ILogger logger, string client, string endpoint, string key, double ageSeconds, string stale);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Chat cache miss for client {Client} ({Endpoint}), key {Key}: {Forward}")]
    public static partial void Miss(ILogger logger, string client, string endpoint, string key, string forward);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Chat cache miss explained for client {Client}: {Forward}; {Explanation}")]
    public static partial void MissExplained(ILogger logger, string client, string forward, string explanation);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Debug, Message = "Chat cache stored the response for client {Client} ({Endpoint}), key {Key}, {Bytes} bytes")]
    public static partial void Stored(ILogger logger, string client, string endpoint, string key, int bytes);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Debug, Message = "Chat cache did not store the response for client {Client} ({Endpoint}), key {Key}: {Reason}")]
    public static partial void NotStored(ILogger logger, string client, string endpoint, string key, string reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Chat cache store failed for client {Client}, key {Key}; the response was returned without being stored")]
    public static partial void StoreFailed(ILogger logger, string client, string key);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Trace, Message = "Request for client {Client} passed through the chat cache: {Detail}")]
    public static partial void Bypassed(ILogger logger, string client, string detail);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "Request for client {Client} ({Endpoint}) collapsed onto the identical request in flight, key {Key}")]
    public static partial void Collapsed(ILogger logger, string client, string endpoint, string key);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "A chat cache callback ({Callback}) for client {Client} threw; the cache went on without it")]
    public static partial void CallbackFailed(ILogger logger, string client, string callback, Exception exception);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Chat cache client {Client} did not record a cassette: {Reason}; it would have been written to {Path}")]
    public static partial void CassetteNotRecorded(ILogger logger, string client, string reason, string path);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Chat cache client {Client} served a hit of model {Model}, which has no entry in ModelPrices: its cost saved is not counted (logged once per model)")]
    public static partial void Unpriced(ILogger logger, string client, string model);
}
