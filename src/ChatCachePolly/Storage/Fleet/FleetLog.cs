using Microsoft.Extensions.Logging;

namespace ChatCachePolly.Storage.Fleet;

/// <summary>Log messages of the fleet. Partition hashes only; never a key, a value or an exception message.</summary>
internal static partial class FleetLog
{
    [LoggerMessage(EventId = 3120, EventName = "ChatCacheFleetChannelRestored", Level = LogLevel.Information,
        Message = "Chat cache fleet channel is back for partition {PartitionHash}: invalidations may have been missed, so this instance dropped its local copies.")]
    public static partial void ChannelRestored(ILogger logger, string partitionHash);

    [LoggerMessage(EventId = 3121, EventName = "ChatCacheFleetLeadEndFailed", Level = LogLevel.Warning,
        Message = "Chat cache fleet could not end a lead in partition {PartitionHash} ({ExceptionType}); its lease expires by itself.")]
    public static partial void LeadEndFailed(ILogger logger, string exceptionType, string partitionHash);
}
