using System.Buffers;

namespace ChatCachePolly.Http;

/// <summary>
/// Reads a request body for keying without breaking re-sends: retries send the same request message again, so the content must
/// stay readable after the cache has read it.
/// </summary>
internal static class RequestBodyReader
{
    private const int DefaultInitialSize = 4096;

    /// <summary>Reads <paramref name="content"/> into a rented buffer.</summary>
    /// <returns><see langword="false"/> when the body is larger than <paramref name="maxBytes"/>.</returns>
    public static async ValueTask<(bool Ok, PooledBytes Body)> ReadAsync(HttpContent content, int maxBytes, bool continueOnCapturedContext, CancellationToken cancellationToken)
    {
        long? declared = content.Headers.ContentLength;
        if (declared > maxBytes)
        {
            return (false, default);
        }

        // Byte-array and memory contents can be serialized any number of times. Anything else (a StreamContent over a
        // one-shot stream, an SDK's own content type) is buffered by HttpContent itself first, so that every later send
        // - the first attempt and each retry - reads the same bytes again.
        if (content is not (ByteArrayContent or ReadOnlyMemoryContent))
        {
            await content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(continueOnCapturedContext);
        }

        using var stream = content.ReadAsStream(cancellationToken);
        int size = declared is long length ? (int)Math.Max(length, 1) : DefaultInitialSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Min(size, maxBytes + 1));
        int total = 0;
        try
        {
            while (true)
            {
                if (total == buffer.Length)
                {
                    if (total > maxBytes)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        return (false, default);
                    }

                    byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, maxBytes + 1));
                    buffer.AsSpan(0, total).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                int read = stream.Read(buffer, total, buffer.Length - total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }

        if (total > maxBytes)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return (false, default);
        }

        return (true, new PooledBytes(buffer, total));
    }
}
