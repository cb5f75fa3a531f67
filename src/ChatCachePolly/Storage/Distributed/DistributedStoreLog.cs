using Microsoft.Extensions.Logging;

namespace ChatCachePolly.Storage.Distributed;

/// <summary>
/// Log messages of the distributed store. Never a full key, never a value, never an exception message (client libraries put
/// keys in them): the partition appears as its hash prefix, an entry as its 12-character key fingerprint.
/// </summary>
internal static partial class DistributedStoreLog
{
    [LoggerMessage(EventId = 3100, EventName = "ChatCacheStoreCallFailed", Level = LogLevel.Warning,
        Message = "Chat cache distributed store {Operation} failed ({ExceptionType}) for partition {PartitionHash}; the cache steps aside for this call.")]
    public static partial void CallFailed(ILogger logger, string operation, string exceptionType, string partitionHash);

    [LoggerMessage(EventId = 3101, EventName = "ChatCacheStoreCallTimedOut", Level = LogLevel.Warning,
        Message = "Chat cache distributed store {Operation} timed out after {TimeoutMs} ms for partition {PartitionHash}; the cache steps aside for this call.")]
    public static partial void CallTimedOut(ILogger logger, string operation, double timeoutMs, string partitionHash);

    [LoggerMessage(EventId = 3102, EventName = "ChatCacheStoreCircuitOpened", Level = LogLevel.Warning,
        Message = "Chat cache distributed store circuit opened for partition {PartitionHash}: store calls are skipped for {BreakDurationMs} ms, then probed.")]
    public static partial void CircuitOpened(ILogger logger, string partitionHash, double breakDurationMs);

    [LoggerMessage(EventId = 3103, EventName = "ChatCacheStoreCircuitHalfOpened", Level = LogLevel.Information,
        Message = "Chat cache distributed store circuit half-open for partition {PartitionHash}: probing the store.")]
    public static partial void CircuitHalfOpened(ILogger logger, string partitionHash);

    [LoggerMessage(EventId = 3104, EventName = "ChatCacheStoreCircuitClosed", Level = LogLevel.Information,
        Message = "Chat cache distributed store circuit closed for partition {PartitionHash}: the store answers again.")]
    public static partial void CircuitClosed(ILogger logger, string partitionHash);

    [LoggerMessage(EventId = 3105, EventName = "ChatCacheStoreCallSkipped", Level = LogLevel.Debug,
        Message = "Chat cache distributed store {Operation} skipped for partition {PartitionHash}: the circuit is open.")]
    public static partial void CallSkipped(ILogger logger, string operation, string partitionHash);

    [LoggerMessage(EventId = 3106, EventName = "ChatCacheStoreCorruptEntry", Level = LogLevel.Warning,
        Message = "Chat cache distributed store found an unreadable entry {KeyFingerprint} in partition {PartitionHash}; removed and treated as a miss.")]
    public static partial void CorruptEntry(ILogger logger, string keyFingerprint, string partitionHash);

    [LoggerMessage(EventId = 3107, EventName = "ChatCacheStoreUnknownEntryVersion", Level = LogLevel.Debug,
        Message = "Chat cache distributed store found entry {KeyFingerprint} in partition {PartitionHash} written in another format version; treated as a miss.")]
    public static partial void UnknownEntryVersion(ILogger logger, string keyFingerprint, string partitionHash);
}
