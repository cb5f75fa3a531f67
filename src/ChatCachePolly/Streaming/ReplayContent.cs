using System.Net;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Streaming;

/// <summary>
/// The content of a streamed hit: the recorded events, replayed one event per read with their original boundaries, optionally
/// paced. Each hit gets its own content and stream over the shared, immutable recording, so concurrent readers never interfere.
/// </summary>
/// <remarks>
/// Deliberately not a <see cref="MemoryStream"/>-backed content: the OpenAI SDK's response dispose path treats a buffered
/// memory stream that is not at position 0 as unread content, and a stream that hands out one event per read keeps the SSE
/// parsers above it on their normal incremental path.
/// </remarks>
internal sealed class ReplayContent(CacheEntry entry, ReplayPacing pacing, TimeProvider timeProvider) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        // Writes slices of the stored body, one event at a time: no per-hit buffer or copy.
        var pacer = new ReplayStream(entry, pacing, timeProvider);
        int start = 0;
        foreach (int end in entry.EventEnds ?? [entry.BodyLength])
        {
            await pacer.WaitForNextEventAsync(cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(entry.Body.Slice(start, end - start), cancellationToken).ConfigureAwait(false);
            start = end;
        }
    }

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        using var replay = new ReplayStream(entry, pacing, timeProvider);
        replay.CopyTo(stream);
    }

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult<Stream>(new ReplayStream(entry, pacing, timeProvider));

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => CreateContentReadStreamAsync();

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => new ReplayStream(entry, pacing, timeProvider);

    protected override bool TryComputeLength(out long length)
    {
        length = entry.BodyLength;
        return true;
    }
}

/// <summary>How a streamed hit is paced.</summary>
internal readonly record struct ReplayPacing(ChatCacheReplayPacing Mode, TimeSpan Interval);

/// <summary>A read-only stream over a recorded event stream that never returns more than the rest of the current event.</summary>
internal sealed class ReplayStream(CacheEntry entry, ReplayPacing pacing, TimeProvider timeProvider) : Stream
{
    private readonly int[] _eventEnds = entry.EventEnds ?? [entry.BodyLength];
    private int _position;
    private int _event;
    private long _started = -1;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => entry.BodyLength;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (pacing.Mode != ChatCacheReplayPacing.None && AtEventStart())
        {
            var delay = DelayBeforeCurrentEvent();
            if (delay > TimeSpan.Zero)
            {
                Task.Delay(delay, timeProvider).GetAwaiter().GetResult();
            }
        }

        return CopyNext(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (pacing.Mode != ChatCacheReplayPacing.None && AtEventStart())
        {
            var delay = DelayBeforeCurrentEvent();
            if (delay > TimeSpan.Zero)
            {
                return PacedReadAsync(buffer, delay, cancellationToken);
            }
        }

        return new ValueTask<int>(CopyNext(buffer.Span));
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Waits until the next event is due and moves past it (used when the content writes the body itself).</summary>
    internal async ValueTask WaitForNextEventAsync(CancellationToken cancellationToken)
    {
        if (pacing.Mode != ChatCacheReplayPacing.None)
        {
            var delay = DelayBeforeCurrentEvent();
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
            }
        }

        if (_event < _eventEnds.Length)
        {
            _position = _eventEnds[_event];
            _event++;
        }
    }

    private async ValueTask<int> PacedReadAsync(Memory<byte> buffer, TimeSpan delay, CancellationToken cancellationToken)
    {
        await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
        return CopyNext(buffer.Span);
    }

    private bool AtEventStart() => _event < _eventEnds.Length && _position == (_event == 0 ? 0 : _eventEnds[_event - 1]);

    private TimeSpan DelayBeforeCurrentEvent()
    {
        if (_started < 0)
        {
            _started = timeProvider.GetTimestamp();
        }

        if (pacing.Mode == ChatCacheReplayPacing.FixedInterval)
        {
            return _event == 0 ? TimeSpan.Zero : pacing.Interval;
        }

        // Recorded: each event is due at the offset it originally arrived at, measured from the start of the replay.
        var times = entry.EventTimesMs;
        if (times is null || _event >= times.Length)
        {
            return TimeSpan.Zero;
        }

        var due = TimeSpan.FromMilliseconds(times[_event] - times[0]);
        var elapsed = timeProvider.GetElapsedTime(_started);
        return due > elapsed ? due - elapsed : TimeSpan.Zero;
    }

    private int CopyNext(Span<byte> destination)
    {
        if (_event >= _eventEnds.Length || destination.IsEmpty)
        {
            return 0;
        }

        int end = _eventEnds[_event];
        int count = Math.Min(destination.Length, end - _position);
        entry.Body.Span.Slice(_position, count).CopyTo(destination);
        _position += count;
        if (_position == end)
        {
            _event++;
        }

        return count;
    }
}
