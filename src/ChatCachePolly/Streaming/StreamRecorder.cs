using System.Buffers;
using System.Net.ServerSentEvents;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Protocols;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Streaming;

/// <summary>The state of a recording.</summary>
internal enum RecordingState
{
    /// <summary>Still recording; the terminal event has not passed yet.</summary>
    Recording,

    /// <summary>The terminal success event passed: the recording is complete and storable.</summary>
    Completed,

    /// <summary>Nothing will be stored: an error event, a failed or incomplete result, over the cap, or abandoned.</summary>
    Failed,
}

/// <summary>
/// Records a stream as it passes to the caller, event by event, and decides when it has completed successfully: after
/// <c>data: [DONE]</c> for chat completions and completions, after <c>response.completed</c> for the Responses API. An error payload,
/// <c>response.failed</c>/<c>response.incomplete</c>/<c>error</c> events, or exceeding the size cap fail the recording; a failed
/// recording never becomes an entry. The other protocols' streams are judged by <see cref="NativeRules"/>: Anthropic's and
/// Gemini's are server-sent events too, Ollama's are newline-delimited JSON (one line, one event); Gemini's stream completes at a
/// clean end of the connection (<see cref="EndOfStream"/>), having no terminal event.
/// </summary>
/// <remarks>
/// <para>Past the cap the recording fails (nothing is stored), but the recorder goes on judging the stream's ending, holding
/// only the event in progress: collapsed followers of a stream longer than the cap must still learn whether it completed
/// (<see cref="EndedCleanlyPastCap"/>), so they get the whole stream or an exception, never a clean end of a half answer. An
/// event that alone outgrows the cap stops the judging (the ending is then unknown, and followers get an exception).</para>
/// Not thread-safe, on purpose: one owner (the stream's pump) appends, takes the recording and disposes it, so its pooled
/// buffer has exactly one owner and is returned exactly once. Readers of the stream never touch the recorder.
/// </remarks>
internal sealed class StreamRecorder : IDisposable
{
    private const int InitialSize = 8 * 1024;

    private readonly EndpointKind _endpoint;
    private readonly bool _native;
    private readonly bool _lines;
    private readonly int _maxBytes;
    private readonly TimeProvider _timeProvider;
    private readonly ArrayPool<byte> _pool;
    private readonly long _started;
    private readonly List<int> _eventEnds = [];
    private readonly List<int> _eventTimes = [];
    private SseEventBoundaryScanner _scanner;
    private byte[]? _buffer;
    private int _length;
    private int _eventStart;
    private int _scanned;
    private PayloadFacts _facts;
    private bool _judgingPastCap;

    /// <param name="endpoint">The endpoint whose terminal events end the recording.</param>
    /// <param name="maxBytes">The most bytes recorded; a longer stream fails the recording.</param>
    /// <param name="timeProvider">Times each event (for paced replay).</param>
    /// <param name="pool">Where the recording buffer is rented (tests pass a pool that checks every rental is returned once).</param>
    public StreamRecorder(EndpointKind endpoint, int maxBytes, TimeProvider timeProvider, ArrayPool<byte>? pool = null)
    {
        _endpoint = endpoint;
        _native = Endpoints.ProtocolOf(endpoint) != ChatCacheProtocol.OpenAI;
        _lines = Endpoints.Framing(endpoint) == StreamFraming.NdJson;
        _maxBytes = maxBytes;
        _timeProvider = timeProvider;
        _pool = pool ?? ArrayPool<byte>.Shared;
        _started = timeProvider.GetTimestamp();
        _buffer = _pool.Rent(Math.Min(InitialSize, maxBytes));
    }

    public RecordingState State { get; private set; }

    /// <summary>Gets, once completed, how many stream bytes lead up to and include the terminal event.</summary>
    public int CompletedLength => State == RecordingState.Completed ? _eventStart : -1;

    /// <summary>Gets why the recording failed, when it did.</summary>
    public ChatCacheNotStoredReason FailureReason { get; private set; }

    /// <summary>
    /// Gets whether a stream that outgrew the cap went on to end with a legitimate terminal event (<c>[DONE]</c>,
    /// <c>response.completed</c>, or a truncation the API reports as an ending), judged after the recording stopped.
    /// </summary>
    public bool EndedCleanlyPastCap { get; private set; }

    /// <summary>Records bytes the caller just read.</summary>
    public RecordingState Append(ReadOnlySpan<byte> bytes)
    {
        if (_judgingPastCap)
        {
            JudgePastCap(bytes);
            return State;
        }

        if (State != RecordingState.Recording || bytes.IsEmpty)
        {
            return State;
        }

        if (_length + bytes.Length > _maxBytes)
        {
            // Too long to store; keep judging how it ends, holding only the event in progress.
            State = RecordingState.Failed;
            FailureReason = ChatCacheNotStoredReason.ResponseTooLarge;
            _judgingPastCap = true;
            _eventEnds.Clear();
            _eventTimes.Clear();
            JudgePastCap(bytes);
            return State;
        }

        EnsureCapacity(_length + bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
        ScanEvents();
        return State;
    }

    /// <summary>Evaluates every event that ended in the bytes appended so far.</summary>
    private void ScanEvents()
    {
        while ((State == RecordingState.Recording || _judgingPastCap) && _scanned < _length)
        {
            int end = _lines
                ? FindLineEnd(_buffer.AsSpan(_scanned, _length - _scanned))
                : _scanner.FindEventEnd(_buffer.AsSpan(_scanned, _length - _scanned));
            if (end < 0)
            {
                _scanned = _length;
                break;
            }

            _scanned += end;
            OnEvent(_eventStart, _scanned);
            _eventStart = _scanned;
        }
    }

    /// <summary>An NDJSON line ends at its LF (a CR before it is part of the line, and JSON whitespace).</summary>
    private static int FindLineEnd(ReadOnlySpan<byte> bytes)
    {
        int lf = bytes.IndexOf((byte)'\n');
        return lf < 0 ? -1 : lf + 1;
    }

    /// <summary>
    /// The upstream ended cleanly. A stream that ends at the end of its connection (Gemini's) is judged now, as a whole: it
    /// completes when its chunks carried a finish reason and nothing but whitespace follows its last event. Pump only.
    /// </summary>
    public RecordingState EndOfStream()
    {
        if (!NativeRules.EndsAtEndOfStream(_endpoint) || (State != RecordingState.Recording && !_judgingPastCap))
        {
            return State;
        }

        bool cleanTail = _buffer is not null && _buffer.AsSpan(_eventStart, _length - _eventStart).Trim(" \t\r\n"u8).IsEmpty;
        var (verdict, reason) = cleanTail ? NativeRules.JudgeEnd(_endpoint, _facts) : (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody);
        if (_judgingPastCap)
        {
            EndedCleanlyPastCap = verdict == RecordingState.Completed;
            StopJudging();
        }
        else if (verdict == RecordingState.Completed)
        {
            State = RecordingState.Completed;
        }
        else
        {
            Fail(reason);
        }

        return State;
    }

    /// <summary>Past the cap: keeps only the event in progress at the front of the buffer, appends as much as fits, judges.</summary>
    private void JudgePastCap(ReadOnlySpan<byte> bytes)
    {
        while (_judgingPastCap && !bytes.IsEmpty)
        {
            if (_eventStart > 0)
            {
                _buffer.AsSpan(_eventStart, _length - _eventStart).CopyTo(_buffer);
                _length -= _eventStart;
                _scanned -= _eventStart;
                _eventStart = 0;
            }

            int room = _maxBytes - _length;
            if (room <= 0)
            {
                StopJudging(); // one event alone outgrew the cap: its ending stays unknown
                return;
            }

            int n = Math.Min(room, bytes.Length);
            EnsureCapacity(_length + n);
            bytes[..n].CopyTo(_buffer.AsSpan(_length));
            _length += n;
            bytes = bytes[n..];
            ScanEvents();
        }
    }

    private void StopJudging()
    {
        _judgingPastCap = false;
        Release();
    }

    /// <summary>
    /// Marks the recording as not storable (end of stream before the terminal event, read error, every reader gone before
    /// consuming the terminal event). A completed recording nobody read to its end fails too.
    /// </summary>
    public RecordingState Fail(ChatCacheNotStoredReason reason)
    {
        if (_judgingPastCap)
        {
            StopJudging();
        }

        if (State != RecordingState.Failed)
        {
            State = RecordingState.Failed;
            FailureReason = reason;
            Release();
        }

        return State;
    }

    /// <summary>Builds the recorded payload of a completed recording (one exact-size copy, made once per stored stream).</summary>
    /// <param name="spareBytes">Bytes to leave free after the body in its array (where the entry packs its kept headers).</param>
    public RecordedStream TakeRecording(int spareBytes = 0)
    {
        if (State != RecordingState.Completed || _buffer is null)
        {
            throw new InvalidOperationException("Only a completed recording can be taken.");
        }

        // Everything up to the end of the terminal event; anything after it is not part of the answer.
        var body = new byte[_eventStart + spareBytes];
        _buffer.AsSpan(0, _eventStart).CopyTo(body);
        var recorded = new RecordedStream(new ArraySegment<byte>(body, 0, _eventStart), [.. _eventEnds], [.. _eventTimes], _facts.Model, _facts.Usage);
        Release();
        return recorded;
    }

    public void Dispose() => Release();

    private void OnEvent(int start, int end)
    {
        if (!_judgingPastCap)
        {
            _eventEnds.Add(end);
            _eventTimes.Add((int)Math.Min(int.MaxValue, _timeProvider.GetElapsedTime(_started).TotalMilliseconds));
        }

        if (_lines)
        {
            // One NDJSON line is one event; a blank line is nothing.
            Decide(Evaluate(SseParser.EventTypeDefault, Classify(_buffer.AsSpan(start, end - start).Trim(" \t\r\n"u8))));
            return;
        }

        using var slice = new MemoryStream(_buffer!, start, end - start, writable: false);
        foreach (var item in SseParser.Create(slice, static (eventType, data) => new SseEvent(eventType, Classify(data))).Enumerate())
        {
            if (Decide(Evaluate(item.Data.EventType, item.Data.Payload)))
            {
                break;
            }
        }
    }

    /// <summary>Applies an event's verdict; true when it ended the recording (or the judging past the cap).</summary>
    private bool Decide((RecordingState Verdict, ChatCacheNotStoredReason Reason) judged)
    {
        var (verdict, reason) = judged;
        if (verdict == RecordingState.Recording)
        {
            return false;
        }

        if (_judgingPastCap)
        {
            // A terminal event past the cap: a legitimate ending (a truncation too) or a broken one; either way, decided.
            EndedCleanlyPastCap = verdict == RecordingState.Completed || reason == ChatCacheNotStoredReason.Truncated;
            StopJudging();
        }
        else if (verdict == RecordingState.Completed)
        {
            State = RecordingState.Completed;
        }
        else
        {
            Fail(reason);
        }

        return true;
    }

    /// <summary>Judges one event: <see cref="RecordingState.Recording"/> to go on, else the ending it makes (and why, when failed).</summary>
    private (RecordingState Verdict, ChatCacheNotStoredReason Reason) Evaluate(string eventType, EventPayload payload)
    {
        if (_native)
        {
            return payload.Empty ? (RecordingState.Recording, default)
                : !payload.Valid || payload.Done ? (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody)
                : NativeRules.Evaluate(_endpoint, eventType, payload.Facts, ref _facts);
        }

        if (payload.Done)
        {
            // [DONE] ends chat completion and completion streams. A stream whose every choice was cut short is like a truncated
            // response: not stored (the strategy may be configured to store truncated answers; it decides with these facts).
            return _endpoint == EndpointKind.Responses
                ? (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody)
                : (RecordingState.Completed, default);
        }

        if (payload.Empty)
        {
            return (RecordingState.Recording, default); // an event with no data (comments and keep-alives are already dropped by the parser)
        }

        if (!payload.Valid)
        {
            // A data payload that is not one complete JSON object - cut off, or an HTML error page from a proxy - means the
            // stream is corrupted, whatever follows it: never stored.
            return (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody);
        }

        var facts = payload.Facts;
        if (facts.Error || eventType == "error" || facts.Type == "error")
        {
            return (RecordingState.Failed, ChatCacheNotStoredReason.ErrorPayload);
        }

        _facts.Model ??= facts.Model;
        if (facts.Usage != default)
        {
            _facts.Usage = facts.Usage;
        }

        _facts.FinishedChoices += facts.FinishedChoices;
        _facts.TruncatedChoices += facts.TruncatedChoices;

        if (_endpoint == EndpointKind.Responses)
        {
            string? type = eventType != "message" ? eventType : facts.Type;
            if (type is "response.failed" or "response.incomplete")
            {
                return (RecordingState.Failed, ChatCacheNotStoredReason.Truncated);
            }

            if (type == "response.completed")
            {
                _facts.Model = facts.Model ?? _facts.Model;
                return (RecordingState.Completed, default);
            }
        }

        return (RecordingState.Recording, default);
    }

    /// <summary>Gets whether every finished choice was cut short (<c>length</c>/<c>content_filter</c>).</summary>
    public bool IsTruncated => _facts.TruncatedChoices > 0 && _facts.FinishedChoices == 0;

    private static EventPayload Classify(ReadOnlySpan<byte> data)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            return new EventPayload(Done: true, Valid: true, Empty: false, default);
        }

        if (data.Trim(" \t\r\n"u8).IsEmpty)
        {
            return new EventPayload(Done: false, Valid: true, Empty: true, default);
        }

        bool valid = ResponseInspector.TryReadFacts(data, out var facts);
        return new EventPayload(Done: false, valid, Empty: false, facts);
    }

    private void EnsureCapacity(int needed)
    {
        if (_buffer!.Length >= needed)
        {
            return;
        }

        var larger = _pool.Rent((int)Math.Min(Math.Max(needed, _buffer.Length * 2L), _maxBytes));
        _buffer.AsSpan(0, _length).CopyTo(larger);
        _pool.Return(_buffer);
        _buffer = larger;
    }

    private void Release()
    {
        if (_buffer is not null)
        {
            var buffer = _buffer;
            _buffer = null;
            _pool.Return(buffer);
        }
    }

    private readonly record struct EventPayload(bool Done, bool Valid, bool Empty, PayloadFacts Facts);

    private readonly record struct SseEvent(string EventType, EventPayload Payload);
}

/// <summary>A completed recording: the bytes up to the end of the terminal event, where each event ends, and when it arrived.</summary>
internal sealed record RecordedStream(ArraySegment<byte> Body, int[] EventEnds, int[] EventTimesMs, string? Model, TokenUsage Usage);
