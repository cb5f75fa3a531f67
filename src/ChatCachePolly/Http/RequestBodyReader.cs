using System.Buffers;
using System.Net.Http.Json;

namespace ChatCachePolly.Http;

/// <summary>What reading a request body for keying found.</summary>
internal enum RequestBodyStatus
{
    /// <summary>The body was read.</summary>
    Read,

    /// <summary>The body is larger than the request cap.</summary>
    TooLarge,

    /// <summary>The body's length is unknown until it is read (a one-shot stream): not read at all.</summary>
    UnknownLength,
}

/// <summary>
/// Reads a request body for keying without breaking re-sends: retries send the same request message again (and an outer retry
/// may run the cache again), so the content must stay readable, any number of times, after the cache has read it.
/// </summary>
internal static class RequestBodyReader
{
    /// <summary>Reads <paramref name="content"/> into a rented buffer.</summary>
    /// <returns>
    /// <see cref="RequestBodyStatus.TooLarge"/> when the body is larger than <paramref name="maxBytes"/>;
    /// <see cref="RequestBodyStatus.UnknownLength"/> when its length cannot be known without reading it (a one-shot stream):
    /// such a body is never read, so it can neither be buffered past the cap nor be consumed before it is sent.
    /// </returns>
    public static async ValueTask<(RequestBodyStatus Status, PooledBytes Body)> ReadAsync(HttpContent content, int maxBytes, bool continueOnCapturedContext, CancellationToken cancellationToken)
    {
        long? declared = content.Headers.ContentLength;
        if (declared is null)
        {
            if (content is not JsonContent)
            {
                // A one-shot stream of unknown length: reading it could buffer without bound or consume it before it is sent.
                return (RequestBodyStatus.UnknownLength, default);
            }

            // JsonContent (PostAsJsonAsync) serializes its value afresh on every send and reports no length: buffer it, bounded
            // by the cap. Over the cap the buffering fails and leaves the content as it was, to be serialized when sent.
            try
            {
                await content.LoadIntoBufferAsync(maxBytes, cancellationToken).ConfigureAwait(continueOnCapturedContext);
            }
            catch (HttpRequestException)
            {
                return (RequestBodyStatus.TooLarge, default);
            }

            declared = content.Headers.ContentLength;
        }

        if (declared > maxBytes)
        {
            return (RequestBodyStatus.TooLarge, default);
        }

        // Byte-array and memory contents can be serialized any number of times. Anything else (a StreamContent over a
        // one-shot stream, an SDK's own content type) is buffered by HttpContent itself first, so that every later send
        // - the first attempt and each retry - reads the same bytes again, and its length is known.
        if (content is not (ByteArrayContent or ReadOnlyMemoryContent))
        {
            await content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(continueOnCapturedContext);
        }

        if (content.Headers.ContentLength is not long length || length > maxBytes)
        {
            return (RequestBodyStatus.TooLarge, default);
        }

        // CopyTo serializes the content afresh (or copies its buffer). ReadAsStream is NOT used: HttpContent caches the stream
        // it returns, so disposing it would break every later read of the same request.
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
        try
        {
            using var destination = new MemoryStream(buffer, 0, (int)length, writable: true);
            content.CopyTo(destination, null, cancellationToken);
            return (RequestBodyStatus.Read, new PooledBytes(buffer, (int)destination.Position));
        }
        catch (NotSupportedException)
        {
            // The body is longer than its declared Content-Length: not something to key.
            ArrayPool<byte>.Shared.Return(buffer);
            return (RequestBodyStatus.TooLarge, default);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }
}
