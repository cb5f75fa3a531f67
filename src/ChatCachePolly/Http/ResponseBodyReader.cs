using System.Buffers;
using System.IO.Compression;
using System.Runtime.ExceptionServices;

namespace ChatCachePolly.Http;

/// <summary>The result of reading a response body on a miss.</summary>
internal enum ResponseBodyStatus
{
    /// <summary>The whole decoded body was read; the response now carries it as a fresh, re-readable content.</summary>
    Complete,

    /// <summary>The body exceeded the cap; the response now replays what was read and then streams the rest.</summary>
    TooLarge,

    /// <summary>The body uses a content coding the cache cannot decode; the response was left untouched.</summary>
    UnsupportedEncoding,

    /// <summary>Reading the body failed; the response now replays what was read and then fails with the same exception.</summary>
    ReadFailed,
}

/// <summary>
/// Reads a response body once, bounded, decoding <c>gzip</c>/<c>deflate</c>/<c>br</c> when the handler did not, and hands the
/// caller an equivalent response: the cache never keeps a caller from the bytes the upstream sent.
/// </summary>
internal static class ResponseBodyReader
{
    private const int DefaultInitialSize = 16 * 1024;

    /// <summary>Reads the decoded body, bounded by <paramref name="maxBytes"/>.</summary>
    /// <param name="response">The response; its content is replaced by an equivalent one.</param>
    /// <param name="maxBytes">The most body bytes to keep.</param>
    /// <param name="continueOnCapturedContext">Whether awaits resume on the captured context.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <param name="spareBytes">
    /// Bytes to leave free after the body in its array (the entry packs its kept headers there, so storing it copies nothing).
    /// The caller's new content covers the body only.
    /// </param>
    /// <returns>The outcome and, when complete, the body: offset 0 of an array of exactly its length plus <paramref name="spareBytes"/>.</returns>
    public static async ValueTask<(ResponseBodyStatus Status, ArraySegment<byte> Body)> ReadAsync(
        HttpResponseMessage response, int maxBytes, bool continueOnCapturedContext, CancellationToken cancellationToken, int spareBytes = 0)
    {
        var original = response.Content;
        if (!TryGetDecodableEncoding(original, out string? encoding))
        {
            return (ResponseBodyStatus.UnsupportedEncoding, default);
        }

        long? declared = encoding is null ? original.Headers.ContentLength : null;
        if (declared > maxBytes)
        {
            // Known to be over the cap before reading a byte: leave the response exactly as it came.
            return (ResponseBodyStatus.TooLarge, default);
        }

        Stream raw = await original.ReadAsStreamAsync(cancellationToken).ConfigureAwait(continueOnCapturedContext);
        Stream stream = encoding is null ? raw : Decode(raw, encoding);
        // One byte more than declared, so a body of exactly the declared length reaches end of stream without a grow-and-copy.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(declared is long length ? (int)Math.Min(length + 1, maxBytes + 1L) : Math.Min(DefaultInitialSize, maxBytes + 1));
        int total = 0;
        // The cap is exact: reads never go past maxBytes + 1 bytes (one byte over proves the body too large), whatever size the
        // pool handed out - ArrayPool rounds sizes up to a power of two, so the buffer's length is no bound.
        long limit = maxBytes + 1L;
        try
        {
            while (true)
            {
                if (total > maxBytes)
                {
                    // Over the cap: give the caller what was read followed by the rest of the (decoded) stream.
                    var prefix = buffer.AsSpan(0, total).ToArray();
                    Replace(response, new StreamContent(new PrefixedStream(prefix, stream)), dropContentEncoding: encoding is not null);
                    return (ResponseBodyStatus.TooLarge, default);
                }

                int room = (int)Math.Min(buffer.Length, limit) - total;
                if (room == 0)
                {
                    byte[] larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(buffer.Length * 2L, limit));
                    buffer.AsSpan(0, total).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                    room = (int)Math.Min(buffer.Length, limit) - total;
                }

                int read;
                try
                {
                    read = await stream.ReadAsync(buffer.AsMemory(total, room), cancellationToken).ConfigureAwait(continueOnCapturedContext);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The caller must meet this failure where it would have without the cache: while reading the body.
                    var prefix = buffer.AsSpan(0, total).ToArray();
                    Replace(response, new StreamContent(new PrefixedStream(prefix, stream, ExceptionDispatchInfo.Capture(ex))), dropContentEncoding: encoding is not null);
                    return (ResponseBodyStatus.ReadFailed, default);
                }

                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            var body = new byte[total + spareBytes];
            buffer.AsSpan(0, total).CopyTo(body);
            await stream.DisposeAsync().ConfigureAwait(continueOnCapturedContext);
            Replace(response, new ByteArrayContent(body, 0, total), dropContentEncoding: true);
            return (ResponseBodyStatus.Complete, new ArraySegment<byte>(body, 0, total));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Gets whether the cache can decode <paramref name="encoding"/> (<c>gzip</c>, <c>deflate</c>, <c>br</c>, <c>identity</c>).</summary>
    private static bool IsSupported(string encoding) =>
        encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase)
        || encoding.Equals("deflate", StringComparison.OrdinalIgnoreCase)
        || encoding.Equals("br", StringComparison.OrdinalIgnoreCase)
        || encoding.Equals("identity", StringComparison.OrdinalIgnoreCase);

    /// <summary>A stream that decodes <paramref name="raw"/> as it is read (<paramref name="encoding"/> must be supported).</summary>
    public static Stream Decode(Stream raw, string encoding) => encoding.ToUpperInvariant() switch
    {
        "GZIP" => new GZipStream(raw, CompressionMode.Decompress),
        "DEFLATE" => new ZLibStream(raw, CompressionMode.Decompress),
        "BR" => new BrotliStream(raw, CompressionMode.Decompress),
        _ => raw,
    };

    /// <summary>
    /// Reads the body's content coding: <see langword="true"/> with <paramref name="encoding"/> null (none) or the one coding the
    /// cache decodes; <see langword="false"/> for several codings or one it cannot decode.
    /// </summary>
    public static bool TryGetDecodableEncoding(HttpContent content, out string? encoding)
    {
        encoding = null;
        var encodings = content.Headers.ContentEncoding;
        if (encodings.Count > 1)
        {
            return false;
        }

        foreach (var value in encodings)
        {
            encoding = value;
        }

        return encoding is null || IsSupported(encoding);
    }

    /// <summary>Gets whether a response body is a server-sent event stream.</summary>
    /// <summary>Whether the content is a stream in the framing the endpoint streams in (<c>text/event-stream</c> or <c>application/x-ndjson</c>).</summary>
    public static bool IsStreamOf(HttpContent content, Protocols.StreamFraming framing) => framing == Protocols.StreamFraming.NdJson
        ? content.Headers.NonValidated.TryGetValues("Content-Type", out var values) && values.ToString().StartsWith("application/x-ndjson", StringComparison.OrdinalIgnoreCase)
        : IsEventStream(content);

    public static bool IsEventStream(HttpContent content) =>
        content.Headers.NonValidated.TryGetValues("Content-Type", out var values)
        && values.ToString().StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase);

    /// <summary>Swaps the response content, keeping the content headers that still describe the new bytes.</summary>
    private static void Replace(HttpResponseMessage response, HttpContent content, bool dropContentEncoding)
    {
        var original = response.Content;
        foreach (var header in original.Headers.NonValidated)
        {
            if (header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || (dropContentEncoding && header.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            foreach (var value in header.Value)
            {
                content.Headers.TryAddWithoutValidation(header.Key, value);
            }
        }

        response.Content = content;
        if (content is ByteArrayContent)
        {
            original.Dispose();
        }
    }
}
