using System.Buffers;

namespace ChatCachePolly.Streaming;

/// <summary>
/// Reads one upstream event stream in the background (the pump) into a shared, append-only list of chunks, which every
/// attached reader - the caller that started it and any collapsed followers - reads at its own pace, while
/// <see cref="StreamRecorder"/> records it.
/// </summary>
/// <remarks>
/// <para>The rules (each has a test, and <c>FanoutExplorer</c> checks them over every interleaving of small scenarios):</para>
/// <list type="bullet">
/// <item>Time to first token is unchanged: the pump appends each chunk the moment the upstream returns it.</item>
/// <item>A reader that attaches gets the stream from its first byte. Attaching is possible only while the whole stream is still
/// retained and can still become a complete answer: never after every reader has left (the upstream read is then abandoned),
/// after the recording failed, or once the stream outgrew the cap. Closing is atomic with the last reader leaving, so no
/// reader ever joins an abandoned stream; a request that cannot attach makes its own upstream call.</item>
/// <item>Readers never wait for each other: each reads the shared chunks at its own pace. The pump waits only while the fastest
/// reader is more than the lag window behind it (a lone slow reader slows the upstream read as it would without the cache);
/// a reader that falls more than the window behind the fastest is detached with an <see cref="IOException"/>.</item>
/// <item>Every reader ends with the whole stream or an exception: an upstream read error reaches every reader; a stream that
/// ends without its terminal success event, or with an error event, ends with an exception for every follower (the caller
/// that started it sees exactly what the upstream sent, as it would without the cache).</item>
/// <item>The recording is stored only once some reader has consumed the stream through its terminal event; when every reader
/// leaves before that, nothing is stored, even if the pump had already read ahead.</item>
/// <item>The recorder and the pump's read buffer belong to the pump alone; the chunks readers see are never pooled.</item>
/// </list>
/// </remarks>
internal sealed class StreamFanout
{
    private const int ReadBufferSize = 16 * 1024;
    private const int Undecided = 0;
    private const int Stored = 1;
    private const int NotStored = 2;

    private readonly Lock _gate = new();
    private readonly Stream _upstream;
    private readonly StreamRecorder _recorder;
    private readonly long _cap;
    private readonly long _maxLag;
    private readonly ArrayPool<byte> _pool;
    private readonly int _spareBytes;
    private readonly Action<RecordedStream, bool> _onCompleted;
    private readonly Action<ChatCacheNotStoredReason> _onFailed;
    private readonly Action _onJoinClosed;
    // Cancelled when every reader has left. Never disposed on purpose: it has no timer and no linked tokens, and a reader may
    // detach (and cancel it) at any moment, including just after the pump ended - disposing it would race with that.
    private readonly CancellationTokenSource _abandon = new();
    private readonly List<FanoutReader> _readers = [];
    // The first chunk, for readers that attach; released once joining closes, so that chunks every reader has passed can be
    // collected (memory is then bounded by the cap plus the lag window, whatever the stream's length).
    private StreamChunk? _head = new([], 0);
    private StreamChunk _tail;
    private long _length;
    private bool _joinable = true;
    private bool _joinClosedReported;
    private bool _ended;
    private bool _abandoned;
    private bool _broken;
    private Exception? _endError;
    private TaskCompletionSource? _dataWaiter;
    private TaskCompletionSource? _roomWaiter;
    private bool _waitingForRoom;
    private RecordedStream? _recording;
    private bool _truncated;
    private long _terminalOffset = -1;
    // The recording's fate, decided once: Undecided, then Stored (a reader consumed the terminal event: the strategy's store
    // step runs) or NotStored.
    private int _decided;
    private int _attachedEver;
    private Task _pump = Task.CompletedTask;

    /// <param name="upstream">The upstream body; the pump disposes it when it ends.</param>
    /// <param name="recorder">Records the stream; owned by the pump from here on.</param>
    /// <param name="cap">The most bytes retained for readers that attach later (the recording cap).</param>
    /// <param name="spareBytes">Bytes to leave free after the recorded body (where the entry packs its kept headers).</param>
    /// <param name="onCompleted">The recording completed and a reader consumed its terminal event: store it (called once).</param>
    /// <param name="onFailed">Nothing will be stored, and why (called once, instead of <paramref name="onCompleted"/>).</param>
    /// <param name="onJoinClosed">No reader can attach any more (called once).</param>
    /// <param name="pool">Where the pump rents its read buffer (tests pass a pool that checks returns).</param>
    public StreamFanout(
        Stream upstream,
        StreamRecorder recorder,
        long cap,
        int spareBytes,
        Action<RecordedStream, bool> onCompleted,
        Action<ChatCacheNotStoredReason> onFailed,
        Action onJoinClosed,
        ArrayPool<byte>? pool = null)
    {
        _upstream = upstream;
        _recorder = recorder;
        _cap = cap;
        _maxLag = Math.Max(cap, ReadBufferSize);
        _spareBytes = spareBytes;
        _onCompleted = onCompleted;
        _onFailed = onFailed;
        _onJoinClosed = onJoinClosed;
        _pool = pool ?? ArrayPool<byte>.Shared;
        _tail = _head!;
    }

    /// <summary>Gets or sets the test seam that interleaves this fan-out's steps (<see langword="null"/> in production).</summary>
    internal IFanoutSchedule? Schedule { get; init; }

    /// <summary>Gets how many readers have attached so far (the leader included).</summary>
    public int ReadersAttached => Volatile.Read(ref _attachedEver);

    /// <summary>
    /// Gets whether the recording was handed to the store step (a reader consumed its terminal event). Once true, a request that
    /// can no longer attach finds the entry in the store when that step ends. Reliable whenever joining was closed by the last
    /// reader leaving: a reader decides before it leaves.
    /// </summary>
    public bool IsStoring => Volatile.Read(ref _decided) == Stored;

    /// <summary>Gets whether a reader can still attach.</summary>
    public bool IsJoinable
    {
        get
        {
            lock (_gate)
            {
                return _joinable;
            }
        }
    }

    /// <summary>Gets whether the pump waits for the fastest reader to come within the lag window (tests).</summary>
    internal bool IsWaitingForRoom
    {
        get
        {
            lock (_gate)
            {
                return _waitingForRoom;
            }
        }
    }

    /// <summary>Gets whether every reader left before the upstream read ended (the read is then abandoned).</summary>
    internal bool IsAbandoned
    {
        get
        {
            lock (_gate)
            {
                return _abandoned;
            }
        }
    }

    /// <summary>Gets the pump's task: it completes when the upstream read has ended and the upstream is disposed.</summary>
    internal Task Completion => _pump;

    /// <summary>Gets the stream offset a reader must consume through for the recording to be stored (-1 until known).</summary>
    internal long TerminalOffset => Interlocked.Read(ref _terminalOffset);

    /// <summary>Starts the pump in the background.</summary>
    public void Start() => _pump = Task.Run(PumpAsync);

    /// <summary>Attaches a reader, or returns <see langword="null"/> when the stream can no longer be joined from its start.</summary>
    /// <param name="faithful">
    /// <see langword="true"/> for the caller that started the stream: it sees the upstream's own ending, clean or not, as it
    /// would without the cache. Followers get an exception instead of the clean end of a stream that did not complete.
    /// </param>
    public FanoutReader? TryAttach(bool faithful = false)
    {
        lock (_gate)
        {
            if (!_joinable)
            {
                return null;
            }

            var reader = new FanoutReader(this, _head!, faithful);
            _readers.Add(reader);
            _attachedEver++;
            return reader;
        }
    }

    /// <summary>
    /// Closes the stream to new readers (the strategy calls this once a completed recording is in the store, so later requests
    /// read the entry instead); readers already attached go on.
    /// </summary>
    public void CloseJoining()
    {
        bool report;
        lock (_gate)
        {
            report = CloseJoiningLocked();
        }

        if (report)
        {
            Point("close-joining:closed");
            _onJoinClosed();
        }
    }

    /// <summary>Marks a point between two steps of an operation, where the test explorer may interleave another thread.</summary>
    internal void Point(string name) => Schedule?.Point(name);

    /// <summary>
    /// Returns a completed task when <paramref name="at"/> has a successor or the stream has ended for <paramref name="reader"/>,
    /// otherwise a task that completes when either happens.
    /// </summary>
    internal Task WaitForDataAsync(FanoutReader reader, StreamChunk at, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (at.Next is not null || _ended || reader.Failure is not null)
            {
                return Task.CompletedTask;
            }

            waiter = _dataWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        Schedule?.Waiting(reader, waiter.Task);
        return waiter.Task.WaitAsync(cancellationToken);
    }

    /// <summary>How the stream ended for a reader at its end: <see langword="null"/> for a clean end, else the exception to throw.</summary>
    internal Exception? EndFor(FanoutReader reader)
    {
        lock (_gate)
        {
            if (reader.Failure is { } detached)
            {
                return detached;
            }

            if (_endError is not null)
            {
                return _endError;
            }

            return _broken && !reader.Faithful
                ? new IOException("The shared upstream stream ended before its final event; this request was collapsed onto it and gets no partial answer. Retry the request.")
                : null;
        }
    }

    /// <summary>Gets whether the upstream read has ended (the reader at the tail has seen everything).</summary>
    internal bool HasEnded
    {
        get
        {
            lock (_gate)
            {
                return _ended;
            }
        }
    }

    /// <summary>A reader moved forward: wakes the pump if it waits for room.</summary>
    internal void Advanced() => Volatile.Read(ref _roomWaiter)?.TrySetResult();

    /// <summary>A reader consumed the stream through its terminal event: the recording is stored.</summary>
    internal void TerminalConsumed()
    {
        if (Volatile.Read(ref _recording) is not null)
        {
            Point("terminal:seen");
            Decide(success: true, ChatCacheNotStoredReason.IncompleteBody);
        }
    }

    internal void Detach(FanoutReader reader)
    {
        bool last;
        bool abandon = false;
        bool report = false;
        lock (_gate)
        {
            if (!_readers.Remove(reader))
            {
                return; // already detached (fell behind)
            }

            last = _readers.Count == 0;
            if (last)
            {
                // Atomic with the last reader leaving: nobody joins a stream that nobody reads any more.
                abandon = !_ended;
                _abandoned = abandon;
                if (abandon || Volatile.Read(ref _decided) == Undecided)
                {
                    report = CloseJoiningLocked();
                }
            }
        }

        Point("detach:removed");
        if (last)
        {
            // A recording nobody read to its end is never stored.
            Decide(success: false, ChatCacheNotStoredReason.IncompleteBody);
            if (abandon)
            {
                Point("detach:decided");
                _abandon.Cancel();
            }
        }

        Advanced(); // wakes a pump waiting for room: the fastest reader may have left, or every reader (it then stops)

        if (report)
        {
            Point("detach:woke-pump");
            _onJoinClosed();
        }
    }

    private async Task PumpAsync()
    {
        byte[] buffer = _pool.Rent(ReadBufferSize);
        Exception? error = null;
        try
        {
            while (await WaitForRoomAsync().ConfigureAwait(false))
            {
                int read = await _upstream.ReadAsync(buffer, _abandon.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break; // end of stream: a recording that did not reach its terminal event fails below
                }

                OnChunk(buffer.AsSpan(0, read).ToArray());
            }
        }
        catch (OperationCanceledException) when (_abandon.IsCancellationRequested)
        {
            // Every reader left.
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            _pool.Return(buffer);
            OnEnd(error);
            try
            {
                await _upstream.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Disposing a failed connection may fail too: nothing left to tell anyone.
            }
        }
    }

    /// <summary>The pump read a chunk: record it, then hand it to every reader. Pump only (tests drive it step by step).</summary>
    internal void OnChunk(byte[] chunk)
    {
        var before = _recorder.State;
        var state = _recorder.Append(chunk);
        if (state == RecordingState.Completed && before != RecordingState.Completed)
        {
            // Taken here, by the recorder's only owner, before any reader can see the terminal event's bytes.
            _truncated = _recorder.IsTruncated;
            var recording = _recorder.TakeRecording(_spareBytes);
            Volatile.Write(ref _recording, recording);
            Interlocked.Exchange(ref _terminalOffset, recording.Body.Count);
        }

        Point("chunk:recorded");
        bool failedNow = state == RecordingState.Failed && before != RecordingState.Failed;
        Append(chunk, failedNow);
        if (failedNow)
        {
            Point("chunk:appended");
            Decide(success: false, _recorder.FailureReason);
        }
    }

    /// <summary>
    /// The upstream read ended: cleanly (<paramref name="error"/> null; also when every reader left), or with an error. Pump only.
    /// </summary>
    internal void OnEnd(Exception? error)
    {
        if (error is null && !_abandon.IsCancellationRequested)
        {
            // A stream that completes at a clean end of its connection (Gemini's) is judged now. Its recording and terminal offset
            // are set before End() marks the stream ended, so a reader that reaches the end sees them (FanoutReader at-end).
            var before = _recorder.State;
            if (_recorder.EndOfStream() == RecordingState.Completed && before != RecordingState.Completed)
            {
                _truncated = _recorder.IsTruncated;
                var recording = _recorder.TakeRecording(_spareBytes);
                Volatile.Write(ref _recording, recording);
                Interlocked.Exchange(ref _terminalOffset, recording.Body.Count);
            }
        }

        if (_recorder.State == RecordingState.Recording)
        {
            _recorder.Fail(error is null ? ChatCacheNotStoredReason.IncompleteBody : ChatCacheNotStoredReason.Exception);
        }

        var reason = _recorder.FailureReason;
        bool completed = _recorder.State == RecordingState.Completed;
        // A stream that did not complete is broken for followers, unless it ended with a legitimate terminal event that is merely
        // not stored (a truncated answer, or a stream longer than the cap that the recorder saw end cleanly).
        bool broken = !completed && (reason is ChatCacheNotStoredReason.IncompleteBody or ChatCacheNotStoredReason.ErrorPayload or ChatCacheNotStoredReason.Exception
            || (reason == ChatCacheNotStoredReason.ResponseTooLarge && !_recorder.EndedCleanlyPastCap));
        _recorder.Dispose();

        Point("end:recorded");
        bool nobodyLeft = End(error, broken, out bool report);
        Point("end:marked");
        if (!completed || nobodyLeft)
        {
            Decide(success: false, completed ? ChatCacheNotStoredReason.IncompleteBody : reason);
        }

        if (report)
        {
            Point("end:decided");
            _onJoinClosed();
        }
    }

    /// <summary>Waits while the fastest reader is more than the lag window behind; <see langword="false"/> once abandoned.</summary>
    private async ValueTask<bool> WaitForRoomAsync()
    {
        while (true)
        {
            TaskCompletionSource waiter;
            lock (_gate)
            {
                if (_abandoned)
                {
                    return false;
                }

                if (_length - FastestPositionLocked() <= _maxLag)
                {
                    return true; // the usual case: nothing allocated
                }

                // Published, then the positions read again: a reader that advances after this sees the waiter and wakes it.
                waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _roomWaiter, waiter);
                Interlocked.MemoryBarrier();
                if (_length - FastestPositionLocked() <= _maxLag)
                {
                    _roomWaiter = null;
                    return true;
                }

                _waitingForRoom = true;
            }

            await waiter.Task.ConfigureAwait(false);
            lock (_gate)
            {
                _waitingForRoom = false;
                if (_roomWaiter == waiter)
                {
                    _roomWaiter = null;
                }
            }
        }
    }

    private long FastestPositionLocked()
    {
        long fastest = 0;
        foreach (var reader in _readers)
        {
            fastest = Math.Max(fastest, reader.Consumed);
        }

        return fastest;
    }

    /// <summary>Appends a chunk for every reader; closes joining when it can no longer be joined; detaches readers that fell behind.</summary>
    private void Append(byte[] chunk, bool recordingFailed)
    {
        TaskCompletionSource? waiter;
        bool report = false;
        lock (_gate)
        {
            _length += chunk.Length;
            var node = new StreamChunk(chunk, _length);
            _tail.Next = node;
            _tail = node;

            if (_joinable && (recordingFailed || _length > _cap))
            {
                // Failed, or too long to retain: a later request could not get a complete answer from its start.
                report = CloseJoiningLocked();
            }

            long fastest = FastestPositionLocked();
            for (int i = _readers.Count - 1; i >= 0; i--)
            {
                var reader = _readers[i];
                if (fastest - reader.Consumed > _maxLag)
                {
                    reader.Failure = new IOException($"This reader fell more than {_maxLag} bytes behind the other readers of the same upstream stream and was detached; the others go on. Read collapsed streams promptly, or dispose them.");
                    reader.ReleaseChunks(); // after the failure: a reader that never reads again holds none of the stream
                    _readers.RemoveAt(i); // woken below with the others; its next read throws
                }
            }

            waiter = _dataWaiter;
            _dataWaiter = null;
        }

        Point("chunk:linked");
        waiter?.TrySetResult();
        if (report)
        {
            Point("chunk:woke-readers");
            _onJoinClosed();
        }
    }

    /// <summary>Marks the end of the upstream read; returns whether no reader is left to consume the recording.</summary>
    private bool End(Exception? error, bool broken, out bool report)
    {
        TaskCompletionSource? waiter;
        bool nobodyLeft;
        lock (_gate)
        {
            _ended = true;
            _endError = error;
            _broken = broken;
            report = (error is not null || broken || _readers.Count == 0) && CloseJoiningLocked();
            nobodyLeft = _readers.Count == 0;
            waiter = _dataWaiter;
            _dataWaiter = null;
        }

        waiter?.TrySetResult();
        return nobodyLeft;
    }

    /// <summary>Closes joining; returns whether the caller must report it (once, outside the lock).</summary>
    private bool CloseJoiningLocked()
    {
        _joinable = false;
        _head = null;
        if (_joinClosedReported)
        {
            return false;
        }

        _joinClosedReported = true;
        return true;
    }

    /// <summary>Decides the recording's fate exactly once.</summary>
    private void Decide(bool success, ChatCacheNotStoredReason reason)
    {
        if (Interlocked.CompareExchange(ref _decided, success ? Stored : NotStored, Undecided) != Undecided)
        {
            return;
        }

        Point("decide:won");
        if (success)
        {
            _onCompleted(_recording!, _truncated); // the strategy stores it, then closes joining
            return;
        }

        CloseJoining();
        _onFailed(reason);
    }
}

/// <summary>One chunk of a fanned-out stream; chunks form a list that readers walk at their own pace.</summary>
internal sealed class StreamChunk(byte[] data, long end)
{
    /// <summary>Where a detached reader points instead of the stream (it holds no chunk, and its next read throws).</summary>
    public static readonly StreamChunk Detached = new([], 0);

    private StreamChunk? _next;

    public byte[] Data { get; } = data;

    /// <summary>Gets the stream offset just past this chunk.</summary>
    public long End { get; } = end;

    public StreamChunk? Next
    {
        get => Volatile.Read(ref _next);
        set => Volatile.Write(ref _next, value);
    }
}
