using Microsoft.Extensions.Logging;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>Log messages of the cassette store. Never a body or a credential.</summary>
internal static partial class CassetteLog
{
    [LoggerMessage(EventId = 3200, EventName = "ChatCacheCassetteWriteFailed", Level = LogLevel.Warning,
        Message = "Chat cache could not write the cassette recording {KeyFingerprint} to {Path} ({ExceptionType}); the response was returned without being recorded.")]
    public static partial void WriteFailed(ILogger logger, string keyFingerprint, string path, string exceptionType);
}
