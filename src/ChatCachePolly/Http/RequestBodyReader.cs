using System.Buffers;

namespace ChatCachePolly.Http;

/// <summary>
/// Reads a request body for keying without breaking re-sends: retries send the same request message again (and an outer retry
/// may run the cache again), so the content must stay readable, any number of times, after the cache has read it.
/// </summary>
internal static class RequestBodyReader
{
    /// <summary>Reads <paramref name="content"/> into a rented buffer.</summary>
    /// <returns><see langword="false"/> when the body is larger than <paramref name="maxBytes"/> (or its length cannot be known).</returns>
    public static async ValueTask<(bool Ok, PooledBytes Body)> ReadAsync(HttpContent content, int maxBytes, bool continueOnCapturedContext, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > maxBytes)
        {
            return (false, default);
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
            return (false, default);
        }

        // CopyTo serializes the content afresh (or copies its buffer). ReadAsStream is NOT used: HttpContent caches the stream
        // it returns, so disposing it would break every later read of the same request.
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
        try
        {
            using var destination = new MemoryStream(buffer, 0, (int)length, writable: true);
            content.CopyTo(destination, null, cancellationToken);
            return (true, new PooledBytes(buffer, (int)destination.Position));
        }
        catch (NotSupportedException)
        {
            // The body is longer than its declared Content-Length: not something to key.
            ArrayPool<byte>.Shared.Return(buffer);
            return (false, default);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }
}
