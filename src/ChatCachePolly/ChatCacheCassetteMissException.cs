namespace ChatCachePolly;

/// <summary>
/// In <see cref="ChatCacheCassetteMode.Replay"/> mode, a request has no recording (or cannot be recorded at all), so it is
/// neither answered nor sent. The message names the request (endpoint, model, key fingerprint), the file it would have been
/// recorded to, and how to record it.
/// </summary>
public sealed class ChatCacheCassetteMissException : ChatCacheCassetteException
{
    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteMissException"/> class.</summary>
    public ChatCacheCassetteMissException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteMissException"/> class with a message.</summary>
    /// <param name="message">The message.</param>
    public ChatCacheCassetteMissException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteMissException"/> class with a message and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ChatCacheCassetteMissException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ChatCacheCassetteMissException"/> class for one request.</summary>
    /// <param name="message">The message.</param>
    /// <param name="recordingPath">The file the request would have been recorded to, or <see langword="null"/> when it cannot be recorded.</param>
    /// <param name="endpoint">The request's method and path, for example <c>POST /v1/chat/completions</c>.</param>
    /// <param name="model">The request's <c>model</c>, when it has one.</param>
    /// <param name="keyFingerprint">The fingerprint of the request's cache key (as in <c>Cache-Status; key=</c>), when it has one.</param>
    public ChatCacheCassetteMissException(string message, string? recordingPath, string endpoint, string? model, string? keyFingerprint)
        : base(message, recordingPath)
    {
        Endpoint = endpoint;
        Model = model;
        KeyFingerprint = keyFingerprint;
    }

    /// <summary>Gets the request's method and path, for example <c>POST /v1/chat/completions</c>.</summary>
    public string? Endpoint { get; }

    /// <summary>Gets the request's <c>model</c>, when it has one.</summary>
    public string? Model { get; }

    /// <summary>Gets the fingerprint of the request's cache key, when it has one (a request the cache cannot key has none).</summary>
    public string? KeyFingerprint { get; }
}
