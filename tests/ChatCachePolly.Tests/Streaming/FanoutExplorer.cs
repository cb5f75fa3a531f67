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
internal sealed record FanoutScenario(string Name, string[] Chunks, UpstreamEnding Ending, int Cap, int Followers)
{
    public override string ToString() => Name;
}

/// <summary>
/// A systematic explorer for <see cref="StreamFanout"/>: it drives the pump step by step (no background task), and enumerates,
/// depth first, every interleaving of the scenario's actions - the pump delivering a chunk, the upstream ending or failing (also
/// right after every reader left, as a cancelled read), the leader and each follower reading or leaving at any point, and each
/// follower attaching at any point - and checks the invariants after every step and at the end of every run.
/// </summary>
/// <remarks>
/// <para>Each action of the fan-out is atomic under its lock, so exploring the orders of actions explores its behaviours; a read
/// that has to wait is left pending and must be woken as soon as data or the end arrives (a lost wake-up fails the run).</para>
/// <para>Invariants checked:</para>
/// <list type="number">
/// <item>Every reader ends with the whole stream or an exception: bytes read are always a prefix of what the upstream sent; a
/// clean end means everything was read; a follower never gets a clean end of a stream that did not complete.</item>
/// <item>An exception only when the upstream failed, or a follower's stream did not complete.</item>
/// <item>Nothing partial is stored: the recording is stored only if it completed and some reader consumed its terminal event,
/// and its fate is decided exactly once.</item>
/// <item>No reader joins a stream that every reader has left before it ended (the abandoned stream of bug 1).</item>
/// <item>No reader waits while data is there for it.</item>
/// <item>Every pooled buffer is returned exactly once; the flight table is empty when every caller is done.</item>
/// </list>
/// </remarks>
internal sealed class FanoutExplorer(FanoutScenario scenario)
{
    private const int MaxRuns = 2_000_000;

    public int Runs { get; private set; }

    public int MaxDepth { get; private set; }

    /// <summary>Explores every interleaving; throws with the failing schedule when an invariant breaks.</summary>
    public void Run()
    {
        var prefix = new List<int>();
        Explore(prefix);
    }

    private void Explore(List<int> prefix)
    {
        var world = new World(scenario);
        foreach (int choice in prefix)
        {
            world.Do(world.Enabled()[choice], prefix);
        }

        var enabled = world.Enabled();
        if (enabled.Count == 0)
        {
            world.CheckFinal(prefix);
            Runs++;
            MaxDepth = Math.Max(MaxDepth, prefix.Count);
            if (Runs > MaxRuns)
            {
                throw new InvalidOperationException($"{scenario.Name}: more than {MaxRuns} runs; shrink the scenario.");
            }

            return;
        }

        for (int i = 0; i < enabled.Count; i++)
        {
            prefix.Add(i);
            Explore(prefix);
            prefix.RemoveAt(prefix.Count - 1);
        }
    }

    private enum Kind
    {
        Deliver,
        End,
        Attach,
        Read,
        Dispose,
    }

    private readonly record struct Action(Kind Kind, int Reader)
    {
        public override string ToString() => Kind is Kind.Deliver or Kind.End ? Kind.ToString() : $"{Kind}({(Reader == 0 ? "leader" : "follower" + Reader)})";
    }

    private sealed class ReaderModel
    {
        public FanoutReader? Stream;
        public bool Tried;
        public bool Refused;
        public bool Disposed;
        public bool Finished;
        public bool CleanEnd;
        public Exception? Error;
        public Task<int>? Pending;
        public byte[] Buffer = new byte[64 * 1024];
        public MemoryStream Received = new();
    }

    private sealed class World
    {
        private readonly FanoutScenario _scenario;
        private readonly byte[][] _chunks;
        private readonly TrackingArrayPool _pool = new();
        private readonly FlightTable _table = new();
        private readonly StreamFanout _fanout;
        private readonly ReaderModel[] _readers;
        private readonly MemoryStream _delivered = new();
        private readonly List<string> _trace = [];
        private readonly long _terminalEnd;
        private int _next;
        private bool _ended;
        private bool _endedWithError;
        private bool _abandonedBeforeEnd;
        private int _completedDecisions;
        private int _failedDecisions;
        private int _joinClosed;

        public World(FanoutScenario scenario)
        {
            _scenario = scenario;
            _chunks = [.. scenario.Chunks.Select(Encoding.UTF8.GetBytes)];
            _terminalEnd = TerminalEnd(scenario.Chunks);
            var flight = _table.Join(ChatCacheKey.FromHash(new byte[32]), out _);
            var recorder = new StreamRecorder(EndpointKind.ChatCompletions, scenario.Cap, TimeProvider.System, _pool);
            StreamFanout? fanout = null;
            fanout = new StreamFanout(
                System.IO.Stream.Null,
                recorder,
                scenario.Cap,
                0,
                (_, _) =>
                {
                    _completedDecisions++;
                    fanout!.CloseJoining(); // as the strategy does once the entry is in the store
                },
                _ => _failedDecisions++,
                () =>
                {
                    _joinClosed++;
                    flight.Retire();
                },
                _pool);
            _fanout = fanout;
            _readers = new ReaderModel[1 + scenario.Followers];
            for (int i = 0; i < _readers.Length; i++)
            {
                _readers[i] = new ReaderModel();
            }

            _readers[0].Stream = _fanout.TryAttach(faithful: true);
            _readers[0].Tried = true;
        }

        public List<Action> Enabled()
        {
            var actions = new List<Action>();
            if (!_ended)
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

                if (r.Stream is null || r.Disposed)
                {
                    continue;
                }

                if (!r.Finished && r.Pending is null)
                {
                    actions.Add(new Action(Kind.Read, i));
                }

                actions.Add(new Action(Kind.Dispose, i));
            }

            return actions;
        }

        public void Do(Action action, List<int> schedule)
        {
            _trace.Add(action.ToString());
            switch (action.Kind)
            {
                case Kind.Deliver:
                    var chunk = _chunks[_next++];
                    _delivered.Write(chunk);
                    _fanout.OnChunk(chunk);
                    break;
                case Kind.End:
                    bool error = _scenario.Ending == UpstreamEnding.Error && !_fanout.IsAbandoned && _next == _chunks.Length;
                    _ended = true;
                    _endedWithError = error;
                    _fanout.OnEnd(error ? new IOException("connection reset") : null);
                    break;
                case Kind.Attach:
                    var reader = _readers[action.Reader];
                    reader.Tried = true;
                    bool joinableBefore = _fanout.IsJoinable;
                    reader.Stream = _fanout.TryAttach();
                    reader.Refused = reader.Stream is null;
                    Check(reader.Stream is null || !_abandonedBeforeEnd, "a follower joined a stream every reader had left (bug 1)");
                    Check(reader.Stream is null == !joinableBefore, "attach disagrees with IsJoinable");
                    break;
                case Kind.Read:
                    StartRead(_readers[action.Reader], action.Reader);
                    break;
                case Kind.Dispose:
                    var leaving = _readers[action.Reader];
                    leaving.Disposed = true;
                    leaving.Stream!.Dispose();
                    if (!_ended && _readers.All(x => x.Stream is null || x.Disposed))
                    {
                        _abandonedBeforeEnd = true;
                    }

                    break;
            }

            Settle();
            CheckStep();
        }

        private void StartRead(ReaderModel reader, int index)
        {
            var pending = reader.Stream!.ReadAsync(reader.Buffer).AsTask();
            if (pending.IsCompleted)
            {
                Complete(reader, index, pending);
            }
            else
            {
                reader.Pending = pending;
            }
        }

        /// <summary>Waits for every pending read that has something to return now (a lost wake-up fails the run).</summary>
        private void Settle()
        {
            for (int i = 0; i < _readers.Length; i++)
            {
                var r = _readers[i];
                if (r.Pending is null)
                {
                    continue;
                }

                bool due = r.Received.Length < _delivered.Length || _ended;
                if (due)
                {
                    Check(((IAsyncResult)r.Pending).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)), $"reader {i} was not woken although data or the end is there");
                }

                if (r.Pending.IsCompleted)
                {
                    var done = r.Pending;
                    r.Pending = null;
                    if (!r.Disposed)
                    {
                        Complete(r, i, done);
                    }
                }
            }
        }

        private void Complete(ReaderModel reader, int index, Task<int> read)
        {
            if (read.IsFaulted)
            {
                reader.Finished = true;
                reader.Error = read.Exception!.InnerException;
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
                Check(index == 0 || StreamCompleted() || OverCap(), $"follower {index} got a clean end of a stream that did not complete (a half answer)");
                return;
            }

            reader.Received.Write(reader.Buffer, 0, n);
            var got = reader.Received.GetBuffer().AsSpan(0, (int)reader.Received.Length);
            Check(got.SequenceEqual(_delivered.GetBuffer().AsSpan(0, got.Length)), $"reader {index} read bytes that are not the upstream's, in order");
        }

        private bool StreamCompleted() => _terminalEnd >= 0 && _delivered.Length >= _terminalEnd && !_scenario.Chunks.Any(c => c.Contains("\"error\"", StringComparison.Ordinal));

        private bool OverCap() => _scenario.Chunks.Sum(c => (long)Encoding.UTF8.GetByteCount(c)) > _scenario.Cap;

        private void CheckStep()
        {
            Check(_completedDecisions + _failedDecisions <= 1, "the recording's fate was decided twice");
            Check(_joinClosed <= 1, "joining was reported closed twice");
            Check(_pool.Violations.Count == 0, string.Join("; ", _pool.Violations));
            if (_completedDecisions == 1)
            {
                bool consumed = _readers.Any(r => _terminalEnd >= 0 && r.Received.Length >= _terminalEnd);
                Check(consumed && StreamCompleted() && !OverCap(), "stored a recording that did not complete or that nobody read through its terminal event");
            }
        }

        public void CheckFinal(List<int> schedule)
        {
            Check(_ended, "the run ended with the pump still reading");
            Check(_readers.All(r => r.Stream is null || r.Disposed), "the run ended with a reader still attached");
            Check(_completedDecisions + _failedDecisions == 1, "the recording's fate was never decided");
            Check(_joinClosed == 1, "joining was never closed");
            Check(_table.Count == 0, "the flight table is not empty once every caller is done");
            Check(_pool.Outstanding == 0, $"{_pool.Outstanding} pooled buffers never returned");
            Check(_fanout.TryAttach() is null, "a reader could attach after the run ended");
            bool anyConsumedTerminal = _readers.Any(r => _terminalEnd >= 0 && r.Received.Length >= _terminalEnd);
            if (StreamCompleted() && !OverCap() && anyConsumedTerminal)
            {
                Check(_completedDecisions == 1, "a complete recording some reader consumed was not stored");
            }
        }

        private void Check(bool condition, string invariant)
        {
            if (!condition)
            {
                throw new InvalidOperationException($"{_scenario.Name}: {invariant}. Schedule: {string.Join(", ", _trace)}");
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
