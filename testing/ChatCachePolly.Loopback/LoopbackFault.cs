using ChatCachePolly.Loopback.Internal;

namespace ChatCachePolly.Loopback;

/// <summary>The kind of a <see cref="LoopbackFault"/>.</summary>
public enum LoopbackFaultKind
{
    /// <summary>Answer with an HTTP status code and an OpenAI-style error body instead of the normal response.</summary>
    Status,

    /// <summary>Answer 429 with a <c>Retry-After</c> header (whole seconds, rounded up).</summary>
    TooManyRequests,

    /// <summary>Write some SSE events, then abort the TCP connection (<c>HttpContext.Abort()</c>).</summary>
    DropConnectionMidStream,

    /// <summary>Wait an extra delay between SSE events.</summary>
    SlowStream,

    /// <summary>Write some SSE events, then an error event, then end the stream normally (no <c>[DONE]</c>).</summary>
    ErrorEventMidStream,

    /// <summary>Wait before processing the request, then respond normally.</summary>
    Delay,

    /// <summary>
    /// Write some SSE events, then end the response normally with neither an error event nor the stream's terminal event
    /// (<c>[DONE]</c>, <c>response.completed</c>): a stream cut short that looks clean on the wire.
    /// </summary>
    EndStreamMidStream,
}

/// <summary>
/// A one-shot fault for <see cref="LoopbackOpenAIServer.EnqueueFault"/>. Faults are consumed one per request in FIFO order;
/// a fault with a <see cref="PathFilter"/> only applies to (and is only consumed by) a request whose path ends with it, and one
/// with a <see cref="BodyFilter"/> only to a request whose body contains it.
/// </summary>
public sealed class LoopbackFault
{
    private LoopbackFault(LoopbackFaultKind kind)
    {
        Kind = kind;
    }

    /// <summary>
    /// The response header (<c>x-loopback-fault: {Kind}</c>) on a streamed response that the fault cuts short
    /// (<see cref="LoopbackFaultKind.DropConnectionMidStream"/>, <see cref="LoopbackFaultKind.ErrorEventMidStream"/>,
    /// <see cref="LoopbackFaultKind.EndStreamMidStream"/>), so a client can tell which response carries the cut stream.
    /// </summary>
    public const string ResponseHeader = "x-loopback-fault";

    /// <summary>What the fault does.</summary>
    public LoopbackFaultKind Kind { get; private init; }

    /// <summary>HTTP status for <see cref="LoopbackFaultKind.Status"/> and <see cref="LoopbackFaultKind.TooManyRequests"/> (0 otherwise).</summary>
    public int StatusCode { get; private init; }

    /// <summary>Error body for status faults (the fixture-shaped OpenAI error JSON unless a custom body was given).</summary>
    public string? Body { get; private init; }

    /// <summary><c>Retry-After</c> of a <see cref="LoopbackFaultKind.TooManyRequests"/> fault.</summary>
    public TimeSpan? RetryAfter { get; private init; }

    /// <summary>Number of SSE events written before the connection drop / error event.</summary>
    public int AfterEvents { get; private init; }

    /// <summary>The delay of <see cref="LoopbackFaultKind.Delay"/> or the per-event delay of <see cref="LoopbackFaultKind.SlowStream"/>.</summary>
    public TimeSpan Duration { get; private init; }

    /// <summary>When set, the fault only applies to a request whose path ends with this value (ordinal, case-insensitive).</summary>
    public string? PathFilter { get; private init; }

    /// <summary>When set, the fault only applies to a request whose body contains this value (ordinal).</summary>
    public string? BodyFilter { get; private init; }

    /// <summary>Respond with <paramref name="status"/> and <paramref name="body"/> (default: the OpenAI error JSON for that status).</summary>
    public static LoopbackFault Status(int status, string? body = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(status, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 599);
        return new LoopbackFault(LoopbackFaultKind.Status) { StatusCode = status, Body = body ?? ErrorBodies.ForStatus(status) };
    }

    /// <summary>Respond 429 with <c>Retry-After</c> (seconds, rounded up), the rate-limit body and exhausted <c>x-ratelimit-remaining-tokens</c>.</summary>
    public static LoopbackFault TooManyRequests(TimeSpan retryAfter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retryAfter, TimeSpan.Zero);
        return new LoopbackFault(LoopbackFaultKind.TooManyRequests) { StatusCode = 429, Body = ErrorBodies.RateLimit, RetryAfter = retryAfter };
    }

    /// <summary>Respond 500 with the OpenAI <c>server_error</c> body.</summary>
    public static LoopbackFault ServerError() => Status(500);

    /// <summary>
    /// Streaming: send the headers and <paramref name="afterEvents"/> SSE events, then abort the connection.
    /// Non-streaming: send the headers and the first half of the JSON body, then abort.
    /// </summary>
    public static LoopbackFault DropConnectionMidStream(int afterEvents)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterEvents);
        return new LoopbackFault(LoopbackFaultKind.DropConnectionMidStream) { AfterEvents = afterEvents };
    }

    /// <summary>Streaming: wait <paramref name="perEventDelay"/> (on top of <see cref="LoopbackServerOptions.PerTokenDelay"/>) between SSE events. Non-streaming: per completion token.</summary>
    public static LoopbackFault SlowStream(TimeSpan perEventDelay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perEventDelay, TimeSpan.Zero);
        return new LoopbackFault(LoopbackFaultKind.SlowStream) { Duration = perEventDelay };
    }

    /// <summary>
    /// Streaming: after <paramref name="afterEvents"/> events write an error event (chat/completions: <c>data: {"error":{...}}</c>;
    /// Responses: <c>event: error</c>) and end the response without <c>[DONE]</c>. Non-streaming: respond 500.
    /// </summary>
    public static LoopbackFault ErrorEventMidStream(int afterEvents)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterEvents);
        return new LoopbackFault(LoopbackFaultKind.ErrorEventMidStream) { AfterEvents = afterEvents };
    }

    /// <summary>
    /// Streaming: after <paramref name="afterEvents"/> events end the response normally, without an error event and without the
    /// terminal event (chat/completions: <c>[DONE]</c>; Responses: <c>response.completed</c>). Non-streaming: a <c>200</c>
    /// whose <c>Content-Length</c> body is the first half of the JSON.
    /// </summary>
    public static LoopbackFault EndStreamMidStream(int afterEvents)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterEvents);
        return new LoopbackFault(LoopbackFaultKind.EndStreamMidStream) { AfterEvents = afterEvents };
    }

    /// <summary>Wait <paramref name="delay"/> before handling the request, then respond normally.</summary>
    public static LoopbackFault Delay(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new LoopbackFault(LoopbackFaultKind.Delay) { Duration = delay };
    }

    /// <summary>Returns a copy of this fault that only applies to requests whose path ends with <paramref name="path"/>.</summary>
    public LoopbackFault ForPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Copy(path, BodyFilter);
    }

    /// <summary>
    /// Returns a copy of this fault that only applies to requests whose body contains <paramref name="text"/>, for example a
    /// question asked only once: so that concurrent requests to the same path each get their own fault.
    /// </summary>
    public LoopbackFault ForBodyContaining(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return Copy(PathFilter, text);
    }

    internal bool Matches(string path, string body) =>
        (PathFilter is null || path.EndsWith(PathFilter, StringComparison.OrdinalIgnoreCase))
        && (BodyFilter is null || body.Contains(BodyFilter, StringComparison.Ordinal));

    /// <inheritdoc />
    public override string ToString() => (PathFilter, BodyFilter) switch
    {
        (null, null) => Kind.ToString(),
        (_, null) => $"{Kind} ({PathFilter})",
        (null, _) => $"{Kind} (body containing '{BodyFilter}')",
        _ => $"{Kind} ({PathFilter}, body containing '{BodyFilter}')",
    };

    private LoopbackFault Copy(string? pathFilter, string? bodyFilter) => new(Kind)
    {
        StatusCode = StatusCode,
        Body = Body,
        RetryAfter = RetryAfter,
        AfterEvents = AfterEvents,
        Duration = Duration,
        PathFilter = pathFilter,
        BodyFilter = bodyFilter,
    };
}
