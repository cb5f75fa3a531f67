using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ChatCachePolly.Loopback.Internal;

/// <summary>One SSE event: optional <c>event:</c> name and the <c>data:</c> payload.</summary>
internal sealed record SseEvent(string? Name, byte[] Data);

/// <summary>Per-request state plus the response writers that apply latency options and faults.</summary>
internal sealed class LoopbackExchange(HttpContext http, LoopbackServerOptions options, LoopbackFault? fault, long startTimestamp, CancellationToken cancellationToken)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly TimeSpan GraceBeforeDrop = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan ClientHangUpTimeout = TimeSpan.FromSeconds(2);
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public HttpContext Http { get; } = http;

    public LoopbackServerOptions Options { get; } = options;

    public LoopbackFault? Fault { get; } = fault;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Unix seconds from <see cref="LoopbackServerOptions.TimeProvider"/>.</summary>
    public long Created => Options.TimeProvider.GetUtcNow().ToUnixTimeSeconds();

    private bool Is(LoopbackFaultKind kind) => Fault is not null && Fault.Kind == kind;

    private TimeSpan SlowStreamDelay => Is(LoopbackFaultKind.SlowStream) ? Fault!.Duration : TimeSpan.Zero;

    public Task DelayAsync(TimeSpan delay) =>
        delay > TimeSpan.Zero ? Task.Delay(delay, Options.TimeProvider, CancellationToken) : Task.CompletedTask;

    public Task WriteErrorAsync(int status, string message, string type, string? param, string? code) =>
        WriteErrorAsync(status, ErrorBodies.CreateUtf8(message, type, param, code));

    public Task WriteErrorAsync(int status, string body, TimeSpan? retryAfter = null) =>
        WriteErrorAsync(status, Encoding.UTF8.GetBytes(body), retryAfter);

    public async Task WriteErrorAsync(int status, byte[] body, TimeSpan? retryAfter = null)
    {
        var response = Http.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        ApplyOpenAIHeaders(exhaustedTokens: status == StatusCodes.Status429TooManyRequests);
        if (retryAfter is { } wait)
        {
            response.Headers.RetryAfter = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, CancellationToken).ConfigureAwait(false);
    }

    /// <summary>A successful non-streaming JSON response after <c>TimeToFirstToken + PerTokenDelay × tokens</c>.</summary>
    public async Task WriteJsonAsync(byte[] body, int completionTokens)
    {
        var perToken = Options.PerTokenDelay + SlowStreamDelay;
        await DelayAsync(Options.TimeToFirstToken + (perToken * Math.Max(completionTokens, 0))).ConfigureAwait(false);

        if (Is(LoopbackFaultKind.ErrorEventMidStream))
        {
            await WriteErrorAsync(StatusCodes.Status500InternalServerError, ErrorBodies.ServerError).ConfigureAwait(false);
            return;
        }

        var response = Http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        ApplyOpenAIHeaders(exhaustedTokens: false);

        if (Is(LoopbackFaultKind.EndStreamMidStream))
        {
            // Half a body that says it is whole: the client sees a clean, truncated response.
            response.ContentLength = body.Length / 2;
            await response.Body.WriteAsync(body.AsMemory(0, body.Length / 2), CancellationToken).ConfigureAwait(false);
            return;
        }

        if (Is(LoopbackFaultKind.DropConnectionMidStream))
        {
            // Chunked headers + half a body, then a reset: the client sees a truncated response.
            await response.StartAsync(CancellationToken).ConfigureAwait(false);
            await response.Body.WriteAsync(body.AsMemory(0, body.Length / 2), CancellationToken).ConfigureAwait(false);
            await response.Body.FlushAsync(CancellationToken).ConfigureAwait(false);
            await DropConnectionAsync().ConfigureAwait(false);
            return;
        }

        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, CancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A <c>text/event-stream</c> response: waits <c>TimeToFirstToken</c>, then writes and flushes every event,
    /// waiting <c>PerTokenDelay</c> (+ slow-stream delay) between events, and finally <c>data: [DONE]</c> when
    /// <paramref name="doneTerminator"/> is set. Drop/error faults cut the stream after <c>AfterEvents</c> events.
    /// </summary>
    public async Task StreamAsync(IReadOnlyList<SseEvent> events, bool doneTerminator, Func<int, SseEvent> errorEvent)
    {
        await DelayAsync(Options.TimeToFirstToken).ConfigureAwait(false);

        var response = Http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        ApplyOpenAIHeaders(exhaustedTokens: false);
        if (Fault is { Kind: LoopbackFaultKind.DropConnectionMidStream or LoopbackFaultKind.ErrorEventMidStream or LoopbackFaultKind.EndStreamMidStream } cut)
        {
            // Tells a client which response carries the cut stream (a cache's followers get copies of these headers).
            response.Headers[LoopbackFault.ResponseHeader] = cut.Kind.ToString();
        }

        Http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(CancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(CancellationToken).ConfigureAwait(false);

        var between = Options.PerTokenDelay + SlowStreamDelay;
        for (var i = 0; i <= events.Count; i++)
        {
            if (Fault is { Kind: LoopbackFaultKind.DropConnectionMidStream } drop && i == Math.Min(drop.AfterEvents, events.Count))
            {
                await DropConnectionAsync().ConfigureAwait(false);
                return;
            }

            if (Fault is { Kind: LoopbackFaultKind.ErrorEventMidStream } error && i == Math.Min(error.AfterEvents, events.Count))
            {
                await WriteEventAsync(errorEvent(i)).ConfigureAwait(false);
                return;
            }

            if (Fault is { Kind: LoopbackFaultKind.EndStreamMidStream } end && i == Math.Min(end.AfterEvents, events.Count))
            {
                return;
            }

            if (i == events.Count)
            {
                break;
            }

            if (i > 0)
            {
                await DelayAsync(between).ConfigureAwait(false);
            }

            await WriteEventAsync(events[i]).ConfigureAwait(false);
        }

        if (doneTerminator)
        {
            await response.Body.WriteAsync(Done, CancellationToken).ConfigureAwait(false);
            await response.Body.FlushAsync(CancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Cuts the connection mid-response so that the client reliably sees the bytes already written and then a broken
    /// stream. A bare <see cref="HttpContext.Abort"/> races with the data still in flight (the reset can make the client
    /// discard unread bytes, even the headers), so: give Kestrel a moment to hand the flushed bytes to the socket, half-close
    /// the socket (FIN after the data; the chunked body never terminates), wait briefly for the client to notice and hang
    /// up, then <see cref="HttpContext.Abort"/>.
    /// </summary>
    internal async Task DropConnectionAsync()
    {
        try
        {
            // Real time on purpose: a fake TimeProvider must not be able to stall the drop.
            await Task.Delay(GraceBeforeDrop, CancellationToken).ConfigureAwait(false);
            if (Http.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
            {
                socket.Shutdown(SocketShutdown.Send);
                await Task.Delay(ClientHangUpTimeout, CancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The client hung up (expected) or the server is stopping.
        }
        catch (SocketException)
        {
            // Already gone.
        }
        catch (ObjectDisposedException)
        {
            // Already gone.
        }

        Http.Abort();
    }

    private async Task WriteEventAsync(SseEvent sse)
    {
        var body = Http.Response.Body;
        if (sse.Name is not null)
        {
            await body.WriteAsync(EventPrefix, CancellationToken).ConfigureAwait(false);
            await body.WriteAsync(Encoding.UTF8.GetBytes(sse.Name + "\n"), CancellationToken).ConfigureAwait(false);
        }

        await body.WriteAsync(DataPrefix, CancellationToken).ConfigureAwait(false);
        await body.WriteAsync(sse.Data, CancellationToken).ConfigureAwait(false);
        await body.WriteAsync(EventEnd, CancellationToken).ConfigureAwait(false);
        await body.FlushAsync(CancellationToken).ConfigureAwait(false);
    }

    private void ApplyOpenAIHeaders(bool exhaustedTokens)
    {
        if (!Options.IncludeRateLimitHeaders)
        {
            return;
        }

        var headers = Http.Response.Headers;
        var elapsed = (long)Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        headers["access-control-expose-headers"] = "X-Request-ID";
        headers["openai-organization"] = "user-loopback";
        headers["openai-processing-ms"] = elapsed.ToString(CultureInfo.InvariantCulture);
        headers["openai-project"] = "proj_loopback";
        headers["openai-version"] = "2020-10-01";
        headers["x-ratelimit-limit-requests"] = "10000";
        headers["x-ratelimit-limit-tokens"] = "200000";
        headers["x-ratelimit-remaining-requests"] = "9999";
        headers["x-ratelimit-remaining-tokens"] = exhaustedTokens ? "0" : "199968";
        headers["x-ratelimit-reset-requests"] = "6ms";
        headers["x-ratelimit-reset-tokens"] = exhaustedTokens ? "180ms" : "9ms";
        headers["x-request-id"] = Ids.RequestId();
    }
}
