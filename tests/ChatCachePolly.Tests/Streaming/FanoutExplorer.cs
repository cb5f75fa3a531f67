using System.Text;
using ChatCachePolly.Coalescing;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>How the scripted upstream ends after its chunks.</summary>
internal enum UpstreamEnding
{
    Clean,
    Error,
}

/// <summary>A small fan-out scenario: what the upstream sends, how it ends, the cap, and how many followers may join.</summary>
/// <remarks>
/// <paramref name="Endpoint"/> picks the stream's rules: OpenAI's end at <c>data: [DONE]</c>; Gemini's
/// (<see cref="EndpointKind.GeminiStreamGenerateContent"/>) have no terminal event and complete at a clean end of the upstream
/// when a chunk carried a finish reason, so their terminal offset is the end of everything, known only at the end.
/// </remarks>
internal sealed record FanoutScenario(string Name, string[] Chunks, UpstreamEnding Ending, int Cap, int Followers, EndpointKind Endpoint = EndpointKind.ChatCompletions)
{
    public override string ToString() => Name;
}

/// <summary>
/// A systematic explorer for <see cref="StreamFanout"/>. It drives the pump step by step (no background task) and enumerates,
/// depth first, every schedule of the scenario's operations - the pump delivering a chunk, the upstream ending or failing (also
/// right after every reader left, as a cancelled read), the leader and each follower reading, leaving at any point (also while
/// its own read is in progress) and attaching at any point, and every woken read continuing at any later point - and checks the
/// invariants after every step and at the end of every run.
/// </summary>
/// <remarks>
/// <para>Operations are not atomic: the fan-out marks the points between its steps (<see cref="IFanoutSchedule"/>), and with a
/// preemption bound of <c>k</c> the explorer also tries every schedule that pauses up to <c>k</c> operations at any of their
/// points and runs others meanwhile (iterative context bounding, as in Microsoft's CHESS: most concurrency bugs need one or two
/// preemptions). With a bound of 0 each operation runs to its end once started. Schedules are replayed from the start for every
/// run, and a replay that does not see the same choices fails: the fan-out's behaviour must depend on the schedule alone.</para>
/// <para>Invariants checked:</para>
/// <list type="number">
/// <item>Every reader ends with the whole stream or an exception: bytes read are always a prefix of what the upstream sent; a
/// clean end means everything was read; a follower never gets a clean end of a stream that did not complete.</item>
/// <item>An exception only when the upstream failed, a follower's stream did not complete, or the reader was disposed while
/// reading.</item>
/// <item>Nothing partial is stored: the recording is stored only if it completed and some reader read its terminal event, its
/// fate is decided exactly once, and a complete recording a reader read to its end before leaving is stored.</item>
/// <item>No reader joins a stream that every reader has left before it ended (the abandoned stream of bug 1).</item>
/// <item>No read waits while data or the end is there for it (no lost wake-up).</item>
/// <item>Every pooled buffer is returned exactly once; joining closes exactly once; the flight table is empty when every
/// caller is done.</item>
/// </list>
/// </remarks>
internal sealed class FanoutExplorer(FanoutScenario scenario, int preemptions = 0, bool interleaveWakeUps = true)
{
    private const int MaxRuns = 3_000_000;

    public int Runs { get; private set; }

    public int MaxDepth { get; private set; }

    /// <summary>Gets how many runs paused some operation at a point inside it.</summary>
    public int PreemptedRuns { get; private set; }

    /// <summary>Explores every schedule within the preemption bound; throws with the failing schedule when an invariant breaks.</summary>
    public void Run()
    {
        var scheduler = new FanoutScheduler();
        var forced = new List<Step>();
        while (true)
        {
            scheduler.Reset();
            var world = new World(scenario, scheduler, interleaveWakeUps);
            var steps = new List<Step>();
            int used = 0;
            while (true)
            {
                var enabled = world.Enabled();
                if (enabled.Count == 0)
                {
                    break;
                }

                Step step;
                if (steps.Count < forced.Count)
                {
                    step = forced[steps.Count];
                    if (step.Enabled != enabled.Count)
                    {
                        throw new InvalidOperationException($"{scenario.Name}: the replay of a schedule saw {enabled.Count} choices instead of {step.Enabled} at step {steps.Count}: the fan-out does not depend on the schedule alone. Schedule: {world.Trace}");
                    }
                }
                else
                {
                    step = new Step(enabled.Count, 0, 0, -1, used);
                }

                int hits = world.Do(enabled[step.Index], step.PauseAt);
                steps.Add(step.PauseAt == 0 ? step with { Points = hits, Used = used } : step with { Used = used });
                if (step.PauseAt > 0)
                {
                    used++;
                }
            }

            world.CheckFinal();
            Runs++;
            PreemptedRuns += used > 0 ? 1 : 0;
            MaxDepth = Math.Max(MaxDepth, steps.Count);
            if (Runs > MaxRuns)
            {
                throw new InvalidOperationException($"{scenario.Name}: more than {MaxRuns} runs; shrink the scenario.");
            }

            // Backtrack: the deepest step with an untried choice - the same operation paused at its next point (while the bound
            // allows), else the next operation.
            int k = steps.Count - 1;
            Step next = default;
            for (; k >= 0; k--)
            {
                var s = steps[k];
                if (s.PauseAt < s.Points && s.Used < preemptions)
                {
                    next = s with { PauseAt = s.PauseAt + 1 };
                    break;
                }

                if (s.Index + 1 < s.Enabled)
                {
                    next = s with { Index = s.Index + 1, PauseAt = 0, Points = -1 };
                    break;
                }
            }

            if (k < 0)
            {
                return;
            }

            forced = steps.GetRange(0, k);
            forced.Add(next);
        }
    }

    /// <summary>One scheduling decision: which of the enabled choices, paused at which of its points (0: run to its end).</summary>
    /// <param name="Points">How many points the choice passes when run to its end (known once it has been).</param>
    /// <param name="Used">Preemptions spent before this step.</param>
    private readonly record struct Step(int Enabled, int Index, int PauseAt, int Points, int Used);

    private enum Kind
    {
        Deliver,
        End,
        Attach,
        Read,
        Dispose,
        Resume,
    }

    private readonly record struct Action(Kind Kind, int Reader, FanoutActor? Actor = null)
    {
        public override string ToString() => Kind switch
        {
            Kind.Deliver or Kind.End => Kind.ToString(),
            Kind.Resume => $"Resume({Actor})",
            _ => $"{Kind}({Name(Reader)})",
        };
    }

    private static string Name(int reader) => reader == 0 ? "leader" : "follower" + reader;

    private sealed class ReaderModel
    {
        public FanoutReader? Stream;
        public bool Tried;
        public bool Finished;
        public bool CleanEnd;
        public Exception? Error;
        public FanoutActor? ReadActor;
        public Task<int>? ReadTask;
        public bool Reading;
        public FanoutActor? DisposeActor;
        public bool DisposeStarted;
        public bool ReadTerminalBeforeLeaving;
        public byte[] Buffer = new byte[64 * 1024];
        public MemoryStream Received = new();
    }

    private sealed class World
    {
        private readonly FanoutScenario _scenario;
        private readonly FanoutScheduler _scheduler;
        private readonly bool _interleaveWakeUps;
        private readonly byte[][] _chunks;
        private readonly TrackingArrayPool _pool = new();
        private readonly FlightTable _table = new();
        private readonly StreamFanout _fanout;
        private readonly ReaderModel[] _readers;
        private readonly MemoryStream _delivered = new();
        private readonly List<string> _trace = [];
        private readonly long _terminalEnd;
        private readonly bool _endsAtEnd;
        private FanoutActor? _pumpActor;
        private FanoutActor? _justPaused;
        private int _next;
        private bool _ended;
        private bool _endedWithError;
        private bool _abandonedBeforeEnd;
        private int _completedDecisions;
        private int _failedDecisions;
        private int _joinClosed;

        public World(FanoutScenario scenario, FanoutScheduler scheduler, bool interleaveWakeUps)
        {
            _scenario = scenario;
            _scheduler = scheduler;
            _interleaveWakeUps = interleaveWakeUps;
            _chunks = [.. scenario.Chunks.Select(Encoding.UTF8.GetBytes)];
            _endsAtEnd = ChatCachePolly.Protocols.NativeRules.EndsAtEndOfStream(scenario.Endpoint);
            _terminalEnd = _endsAtEnd
                ? (scenario.Chunks.Any(c => c.Contains("\"finishReason\"", StringComparison.Ordinal)) ? scenario.Chunks.Sum(c => (long)Encoding.UTF8.GetByteCount(c)) : -1)
                : TerminalEnd(scenario.Chunks);
            var flight = _table.Join(ChatCacheKey.FromHash(new byte[32]), out _);
            var recorder = new StreamRecorder(scenario.Endpoint, scenario.Cap, TimeProvider.System, _pool);
            StreamFanout? fanout = null;
            fanout = new StreamFanout(
                System.IO.Stream.Null,
                recorder,
                scenario.Cap,
                0,
                (_, _) =>
                {
                    Interlocked.Increment(ref _completedDecisions);
                    fanout!.CloseJoining(); // as the strategy does once the entry is in the store
                },
                _ => Interlocked.Increment(ref _failedDecisions),
                () =>
                {
                    Interlocked.Increment(ref _joinClosed);
                    flight.Retire();
                },
                _pool)
            {
                Schedule = scheduler,
            };
            _fanout = fanout;
            _readers = new ReaderModel[1 + scenario.Followers];
            for (int i = 0; i < _readers.Length; i++)
            {
                _readers[i] = new ReaderModel();
            }

            _readers[0].Stream = _fanout.TryAttach(faithful: true);
            _readers[0].Tried = true;
            _scheduler.Register(_readers[0].Stream!, 0);
        }

        public string Trace => string.Join(", ", _trace);

        public List<Action> Enabled()
        {
            var actions = new List<Action>();
            var paused = _scheduler.Paused;
            if (!_interleaveWakeUps)
            {
                // Woken reads continue before anything else happens (in any order among themselves, and still pausable).
                foreach (var actor in paused)
                {
                    if (actor.IsFreshWakeUp)
                    {
                        actions.Add(new Action(Kind.Resume, actor.Reader, actor));
                    }
                }

                if (actions.Count > 0)
                {
                    return actions;
                }
            }

            if (!_ended && _pumpActor is null)
            {
                if (_next < _chunks.Length)
                {
                    actions.Add(new Action(Kind.Deliver, -1)); // also after every reader left: data may race the cancellation
                }

                if (_next == _chunks.Length || _fanout.IsAbandoned)
                {
                    actions.Add(new Action(Kind.End, -1));
                }
            }

            for (int i = 0; i < _readers.Length; i++)
            {
                var r = _readers[i];
                if (!r.Tried)
                {
                    actions.Add(new Action(Kind.Attach, i));
                    continue;
                }

                if (r.Stream is null || r.DisposeStarted)
                {
                    continue;
                }

                if (!r.Finished && !r.Reading)
                {
                    actions.Add(new Action(Kind.Read, i));
                }

                actions.Add(new Action(Kind.Dispose, i));
            }

            int before = actions.Count;
            foreach (var actor in paused)
            {
                // Resuming the operation that was just paused, before anything else ran, is the same as pausing it later.
                if (actor != _justPaused)
                {
                    actions.Add(new Action(Kind.Resume, actor.Reader, actor));
                }
            }

            if (actions.Count == 0 && _justPaused is not null)
            {
                actions.Add(new Action(Kind.Resume, _justPaused.Reader, _justPaused));
            }

            return actions;
        }

        /// <summary>Runs one choice (paused at its <paramref name="pauseAt"/>-th point, or to its end); returns the points it passed.</summary>
        public int Do(Action action, int pauseAt)
        {
            FanoutActor actor;
            int hits;
            switch (action.Kind)
            {
                case Kind.Deliver:
                    var chunk = _chunks[_next++];
                    _delivered.Write(chunk);
                    actor = _pumpActor = new FanoutActor("Deliver", 0, -1) { PauseAt = pauseAt };
                    hits = _scheduler.Start(actor, () => _fanout.OnChunk(chunk));
                    break;
                case Kind.End:
                    bool error = _scenario.Ending == UpstreamEnding.Error && !_fanout.IsAbandoned && _next == _chunks.Length;
                    _ended = true;
                    _endedWithError = error;
                    actor = _pumpActor = new FanoutActor("End", 0, -1) { PauseAt = pauseAt };
                    hits = _scheduler.Start(actor, () => _fanout.OnEnd(error ? new IOException("connection reset") : null));
                    break;
                case Kind.Attach:
                    var reader = _readers[action.Reader];
                    reader.Tried = true;
                    bool joinableBefore = _fanout.IsJoinable;
                    actor = new FanoutActor($"Attach({Name(action.Reader)})", 100 + action.Reader, action.Reader) { PauseAt = pauseAt };
                    hits = _scheduler.Start(actor, () => reader.Stream = _fanout.TryAttach());
                    if (reader.Stream is not null)
                    {
                        _scheduler.Register(reader.Stream, action.Reader);
                    }

                    Check(reader.Stream is null || !_abandonedBeforeEnd, "a follower joined a stream every reader had left (bug 1)");
                    Check(reader.Stream is null == !joinableBefore, "attach disagrees with IsJoinable");
                    break;
                case Kind.Read:
                    var reading = _readers[action.Reader];
                    reading.Reading = true;
                    actor = reading.ReadActor = new FanoutActor($"Read({Name(action.Reader)})", 100 + action.Reader, action.Reader) { PauseAt = pauseAt };
                    hits = _scheduler.Start(actor, () => reading.ReadTask = reading.Stream!.ReadAsync(reading.Buffer).AsTask());
                    break;
                case Kind.Dispose:
                    var leaving = _readers[action.Reader];
                    leaving.DisposeStarted = true;
                    actor = leaving.DisposeActor = new FanoutActor($"Dispose({Name(action.Reader)})", 200 + action.Reader, action.Reader) { PauseAt = pauseAt };
                    hits = _scheduler.Start(actor, leaving.Stream!.Dispose);

                    // Detach's first step removes the reader under the lock: once every reader is gone before the end, nobody may join.
                    if (!_fanout.HasEnded && _readers.All(x => x.Stream is null || x.DisposeStarted))
                    {
                        _abandonedBeforeEnd = true;
                    }

                    break;
                default:
                    actor = action.Actor!;
                    hits = _scheduler.Resume(actor, pauseAt);
                    break;
            }

            _trace.Add(actor.Paused ? $"{action} paused at {actor.At}" : action.ToString());
            _justPaused = actor.Paused ? actor : null;
            if (actor.Finished && actor == _pumpActor)
            {
                _pumpActor = null;
            }

            _scheduler.Settle();
            CompleteReads();
            CheckStep();
            return hits;
        }

        /// <summary>Takes in every read that has finished: its operation returned and its task completed.</summary>
        private void CompleteReads()
        {
            for (int i = 0; i < _readers.Length; i++)
            {
                var r = _readers[i];
                if (!r.Reading || r.ReadActor is not { Finished: true } || r.ReadTask is not { } task)
                {
                    continue;
                }

                if (!task.IsCompleted)
                {
                    if (!r.ReadActor.Paused && r.ReadActor.At != "pending")
                    {
                        r.ReadActor.At = "pending";
                        int index = i;
                        task.ContinueWith(_ => _scheduler.ReadCompleted(index), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    }

                    continue;
                }

                r.Reading = false;
                r.ReadTask = null;
                r.ReadActor = null;
                Complete(r, i, task);
            }
        }

        private void Complete(ReaderModel reader, int index, Task<int> read)
        {
            if (read.IsFaulted)
            {
                reader.Finished = true;
                reader.Error = read.Exception!.InnerException;
                if (reader.Error is ObjectDisposedException && reader.DisposeStarted)
                {
                    return; // read while it was being disposed
                }

                bool followerOfIncomplete = index > 0 && !StreamCompleted();
                Check(_endedWithError || followerOfIncomplete, $"reader {index} got an exception ({reader.Error?.Message}) although the upstream did not fail and the stream completed");
                return;
            }

            int n = read.Result;
            if (n == 0)
            {
                reader.Finished = true;
                reader.CleanEnd = true;
                Check(_ended && !_endedWithError, $"reader {index} got a clean end before the upstream ended cleanly");
                Check(reader.Received.Length == _delivered.Length, $"reader {index} got a clean end after {reader.Received.Length} of {_delivered.Length} bytes");
                Check(index == 0 || StreamCompleted(), $"follower {index} got a clean end of a stream that did not complete (a half answer), over the cap or not");

                // A stream that completes at its end is read through its terminal by reading that end.
                if (_endsAtEnd && _terminalEnd >= 0 && reader.Received.Length >= _terminalEnd && !reader.DisposeStarted)
                {
                    reader.ReadTerminalBeforeLeaving = true;
                }

                return;
            }

            reader.Received.Write(reader.Buffer, 0, n);
            var got = reader.Received.GetBuffer().AsSpan(0, (int)reader.Received.Length);
            Check(got.SequenceEqual(_delivered.GetBuffer().AsSpan(0, got.Length)), $"reader {index} read bytes that are not the upstream's, in order");
            if (!_endsAtEnd && _terminalEnd >= 0 && reader.Received.Length >= _terminalEnd && !reader.DisposeStarted)
            {
                reader.ReadTerminalBeforeLeaving = true;
            }
        }

        private bool StreamCompleted() => _terminalEnd >= 0 && _delivered.Length >= _terminalEnd && !_scenario.Chunks.Any(c => c.Contains("\"error\"", StringComparison.Ordinal))
            && (!_endsAtEnd || (_ended && !_endedWithError));

        private bool OverCap() => _scenario.Chunks.Sum(c => (long)Encoding.UTF8.GetByteCount(c)) > _scenario.Cap;

        private void CheckStep()
        {
            Check(_completedDecisions + _failedDecisions <= 1, "the recording's fate was decided twice");
            Check(_joinClosed <= 1, "joining was reported closed twice");
            Check(_pool.Violations.Count == 0, string.Join("; ", _pool.Violations));
            if (_pumpActor is null)
            {
                // Only the pump wakes readers; between its operations, a read waiting with data or the end there was lost.
                for (int i = 0; i < _readers.Length; i++)
                {
                    if (_scheduler.IsWaiting(i, out var wake) && !wake.IsCompleted)
                    {
                        Check(_readers[i].Received.Length == _delivered.Length && !_fanout.HasEnded, $"reader {i} waits although data or the end is there (a lost wake-up)");
                    }
                }
            }
        }

        public void CheckFinal()
        {
            Check(_ended, "the run ended with the pump still reading");
            Check(_readers.All(r => r.Stream is null || r.DisposeStarted), "the run ended with a reader still attached");
            Check(_readers.All(r => !r.Reading), "the run ended with a read that never completed");
            Check(_completedDecisions + _failedDecisions == 1, "the recording's fate was never decided");
            Check(_joinClosed == 1, "joining was never closed");
            Check(_table.Count == 0, "the flight table is not empty once every caller is done");
            Check(_pool.Outstanding == 0, $"{_pool.Outstanding} pooled buffers never returned");
            Check(_fanout.TryAttach() is null, "a reader could attach after the run ended");
            bool anyReadTerminal = _readers.Any(r => _terminalEnd >= 0 && r.Received.Length >= _terminalEnd);
            if (_completedDecisions == 1)
            {
                Check(anyReadTerminal && StreamCompleted() && !OverCap(), "stored a recording that did not complete or that nobody read through its terminal event");
            }

            if (StreamCompleted() && !OverCap() && _readers.Any(r => r.ReadTerminalBeforeLeaving))
            {
                Check(_completedDecisions == 1, "a complete recording a reader read to its end before leaving was not stored");
            }
        }

        private void Check(bool condition, string invariant)
        {
            if (!condition)
            {
                throw new InvalidOperationException($"{_scenario.Name}: {invariant}. Schedule: {Trace}");
            }
        }

        private static long TerminalEnd(string[] chunks)
        {
            long offset = 0;
            foreach (var chunk in chunks)
            {
                int at = chunk.IndexOf("data: [DONE]\n\n", StringComparison.Ordinal);
                if (at >= 0)
                {
                    return offset + Encoding.UTF8.GetByteCount(chunk[..(at + "data: [DONE]\n\n".Length)]);
                }

                offset += Encoding.UTF8.GetByteCount(chunk);
            }

            return -1;
        }
    }
}
