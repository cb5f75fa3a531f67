using System.Net;
using ChatCachePolly.Http;
using Polly;

namespace ChatCachePolly.Coalescing;

/// <summary>
/// A leader's final failure, shared with its collapsed followers: the exception it ended with, or a snapshot of the error
/// response (status, headers, body) from which each follower gets its own response.
/// </summary>
/// <remarks>
/// The followers asked the same question with the same credentials at the same moment, so the upstream's answer to the leader
/// - after the leader's retries and timeout - is the answer they would have had; sharing it means N callers of a failing
/// upstream finish together instead of one after another.
/// </remarks>
internal sealed class SharedFailure
{
    private readonly Exception? _exception;
    private readonly HttpStatusCode _status;
    private readonly string? _reasonPhrase;
    private readonly Version _version = HttpVersion.Version11;
    private readonly KeyValuePair<string, string[]>[] _headers = [];
    private readonly KeyValuePair<string, string[]>[] _contentHeaders = [];
    private readonly byte[] _body = [];
    private readonly int _bodyLength;

    private SharedFailure(Exception exception) => _exception = exception;

    private SharedFailure(HttpResponseMessage response, ArraySegment<byte> body)
    {
        _status = response.StatusCode;
        _reasonPhrase = response.ReasonPhrase;
        _version = response.Version;
        _headers = Snapshot(response.Headers.NonValidated);
        _contentHeaders = Snapshot(response.Content.Headers.NonValidated);
        _body = body.Array ?? [];
        _bodyLength = body.Count;
    }

    /// <summary>
    /// Each follower's own exception: rethrowing one instance on several threads at once would mix their stack traces. The
    /// copy has the same type (what callers catch), message and data the caller can act on (status, timeout, retry-after), with
    /// the leader's exception as its inner exception. Types not listed here, and subclasses, are shared as they are: a copy of
    /// another type would change what callers catch.
    /// </summary>
    internal static Exception OwnCopy(Exception exception)
    {
        var type = exception.GetType();
        if (type == typeof(HttpRequestException))
        {
            var http = (HttpRequestException)exception;
            return new HttpRequestException(http.HttpRequestError, http.Message, http, http.StatusCode);
        }

        if (type == typeof(Polly.Timeout.TimeoutRejectedException))
        {
            var timeout = (Polly.Timeout.TimeoutRejectedException)exception;
            return new Polly.Timeout.TimeoutRejectedException(timeout.Message, timeout.Timeout, timeout);
        }

        if (type == typeof(Polly.CircuitBreaker.BrokenCircuitException))
        {
            var broken = (Polly.CircuitBreaker.BrokenCircuitException)exception;
            return broken.RetryAfter is TimeSpan retryAfter
                ? new Polly.CircuitBreaker.BrokenCircuitException(broken.Message, retryAfter, broken)
                : new Polly.CircuitBreaker.BrokenCircuitException(broken.Message, broken);
        }

        if (type == typeof(TaskCanceledException))
        {
            var cancelled = (TaskCanceledException)exception;
            return new TaskCanceledException(cancelled.Message, cancelled, cancelled.CancellationToken);
        }

        if (type == typeof(IOException))
        {
            return new IOException(exception.Message, exception);
        }

        return exception;
    }

    /// <summary>Gets the status of the shared response (0 for an exception).</summary>
    public int Status => _exception is null ? (int)_status : 0;

    /// <summary>Shares an exception the leader's call ended with.</summary>
    public static SharedFailure FromException(Exception exception) => new(exception);

    /// <summary>
    /// Shares an error response whose body has already been read in full into <paramref name="body"/> (never modified afterwards;
    /// every follower's content wraps it).
    /// </summary>
    public static SharedFailure FromResponse(HttpResponseMessage response, ArraySegment<byte> body) => new(response, body);

    /// <summary>
    /// Reads a failed response's body (bounded, the leader's content replaced by an equivalent one) and shares it; or returns
    /// <see langword="null"/> when it cannot be shared (too large, an unsupported encoding, a read error).
    /// </summary>
    public static async ValueTask<SharedFailure?> CaptureAsync(HttpResponseMessage response, int maxBytes, bool continueOnCapturedContext, CancellationToken cancellationToken)
    {
        var (status, body) = await ResponseBodyReader.ReadAsync(response, maxBytes, continueOnCapturedContext, cancellationToken).ConfigureAwait(continueOnCapturedContext);
        return status == ResponseBodyStatus.Complete ? new SharedFailure(response, body) : null;
    }

    /// <summary>A follower's own outcome: the same exception, or its own response over the shared body.</summary>
    public Outcome<HttpResponseMessage> CreateOutcome(HttpRequestMessage request, string cacheStatus)
    {
        if (_exception is not null)
        {
            return Outcome.FromException<HttpResponseMessage>(OwnCopy(_exception));
        }

        var content = new ByteArrayContent(_body, 0, _bodyLength);
        foreach (var header in _contentHeaders)
        {
            if (!header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                content.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        var response = new HttpResponseMessage(_status)
        {
            Content = content,
            ReasonPhrase = _reasonPhrase,
            RequestMessage = request,
            Version = _version,
        };
        foreach (var header in _headers)
        {
            response.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Headers.Remove(CacheStatus.HeaderName);
        response.Headers.TryAddWithoutValidation(CacheStatus.HeaderName, cacheStatus);
        return Outcome.FromResult(response);
    }

    private static KeyValuePair<string, string[]>[] Snapshot(System.Net.Http.Headers.HttpHeadersNonValidated headers)
    {
        var copy = new List<KeyValuePair<string, string[]>>(headers.Count);
        foreach (var header in headers)
        {
            // A cookie the upstream set for the leader's client is the leader's alone.
            if (header.Key.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase) || header.Key.Equals("Set-Cookie2", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var values = new string[header.Value.Count];
            int i = 0;
            foreach (var value in header.Value)
            {
                values[i++] = value;
            }

            copy.Add(new KeyValuePair<string, string[]>(header.Key, values));
        }

        return [.. copy];
    }
}
