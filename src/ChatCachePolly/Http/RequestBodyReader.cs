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
        if (content is ByteArrayContent or ReadOnlyMemoryContent && !content.Headers.NonValidated.Contains("Content-Length"))
        {
            // Already in memory (byte arrays, strings, what an SDK or PostAsync usually sends): copy it straight out. Asking
            // for its Content-Length would compute it and add a parsed header to the request on every call - on a hit that is
            // a good part of the cache's own cost.
            return ReadInMemory(content, maxBytes, cancellationToken);
        }

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

    private static (RequestBodyStatus Status, PooledBytes Body) ReadInMemory(HttpContent content, int maxBytes, CancellationToken cancellationToken)
    {
        var capture = new CaptureStream(maxBytes);
        try
        {
            content.CopyTo(capture, null, cancellationToken);
        }
        catch
        {
            capture.ReturnBuffer();
            throw;
        }

        if (capture.Overflowed)
        {
            capture.ReturnBuffer();
            return (RequestBodyStatus.TooLarge, default);
        }

        return (RequestBodyStatus.Read, capture.Detach());
    }

    /// <summary>
    /// A write-only stream that captures what an in-memory content writes (one write, for the contents this is used for) into a
    /// rented buffer, and stops capturing - without throwing into the content - once more than the cap has been written.
    /// </summary>
    private sealed class CaptureStream(int maxBytes) : Stream
    {
        private byte[]? _buffer;
        private byte[]? _borrowed;
        private int _borrowedOffset;
        private int _length;

        public bool Overflowed { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        /// <summary>
        /// A byte-array content (<see cref="ByteArrayContent"/>, <see cref="StringContent"/>) writes its own array in one call:
        /// that array is borrowed, not copied - the content keeps it unchanged for as long as the request is being sent.
        /// </summary>
        public override void Write(byte[] buffer, int offset, int count)
        {
            if (_buffer is null && _borrowed is null && !Overflowed)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(offset);
                ArgumentOutOfRangeException.ThrowIfNegative(count);
                ArgumentOutOfRangeException.ThrowIfGreaterThan(count, buffer.Length - offset);
                if (count > maxBytes)
                {
                    Overflowed = true;
                    return;
                }

                _borrowed = buffer;
                _borrowedOffset = offset;
                _length = count;
                return;
            }

            Write(buffer.AsSpan(offset, count));
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Overflowed)
            {
                return;
            }

            if (buffer.Length > maxBytes - _length)
            {
                Overflowed = true;
                return;
            }

            if (_borrowed is not null)
            {
                // A second write after a borrowed one: from here on the bytes are copied into a rented buffer.
                byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Max(_length + buffer.Length, Math.Min(maxBytes, _length * 2)));
                _borrowed.AsSpan(_borrowedOffset, _length).CopyTo(rented);
                _borrowed = null;
                _buffer = rented;
            }

            int needed = _length + buffer.Length;
            if (_buffer is null || needed > _buffer.Length)
            {
                byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Min(maxBytes, (_buffer?.Length ?? 0) * 2)));
                if (_buffer is not null)
                {
                    _buffer.AsSpan(0, _length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(_buffer);
                }

                _buffer = bigger;
            }

            buffer.CopyTo(_buffer.AsSpan(_length));
            _length = needed;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return default;
        }

        /// <summary>Hands the captured bytes to the caller (an empty body still gets a buffer, as a read body always has one).</summary>
        public PooledBytes Detach()
        {
            if (_borrowed is not null)
            {
                var borrowed = PooledBytes.Borrow(_borrowed, _borrowedOffset, _length);
                _borrowed = null;
                return borrowed;
            }

            byte[] buffer = _buffer ?? ArrayPool<byte>.Shared.Rent(1);
            _buffer = null;
            return new PooledBytes(buffer, _length);
        }

        public void ReturnBuffer()
        {
            _borrowed = null;
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
