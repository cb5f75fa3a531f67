namespace ChatCachePolly;

/// <summary>
/// A cassette store (<see cref="ChatCacheStoreKind.Cassette"/>) cannot answer a request as configured: a recording file that
/// no longer parses, or (as <see cref="ChatCacheCassetteMissException"/>) no recording in <see cref="ChatCacheCassetteMode.Replay"/>
/// mode. Thrown through whatever client sent the request (<c>HttpClient</c>, the OpenAI SDK, <c>IChatClient</c>).
/// </summary>
public class ChatCacheCassetteException : InvalidOperationException
{
    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteException"/> class.</summary>
    public ChatCacheCassetteException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteException"/> class with a message.</summary>
    /// <param name="message">The message.</param>
    public ChatCacheCassetteException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteException"/> class with a message and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ChatCacheCassetteException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteException"/> class for a recording file.</summary>
    /// <param name="message">The message.</param>
    /// <param name="recordingPath">The full path of the recording file concerned.</param>
    /// <param name="innerException">The cause, if any.</param>
    public ChatCacheCassetteException(string message, string? recordingPath, Exception? innerException = null)
        : base(message, innerException)
    {
        RecordingPath = recordingPath;
    }

    /// <summary>Gets the full path of the recording file concerned (the file that would have held the recording, for a miss).</summary>
    public string? RecordingPath { get; }
}
