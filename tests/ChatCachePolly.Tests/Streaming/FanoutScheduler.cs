using ChatCachePolly.Streaming;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>
/// One thread of control the explorer schedules: an operation it started (the pump delivering a chunk, a reader reading or
/// leaving), or a reader's read continuing after a wake-up.
/// </summary>
internal sealed class FanoutActor(string name, int order, int reader)
{
    public string Name { get; } = name;

    /// <summary>Gets the actor's place in the explorer's choice order (stable across runs, so runs replay).</summary>
    public int Order { get; } = order;

    /// <summary>Gets the reader this actor acts for (-1 for the pump).</summary>
    public int Reader { get; } = reader;

    public SemaphoreSlim Go { get; } = new(0);

    /// <summary>The point (1-based, counted from its start or last resume) at which it pauses; 0 runs to the end.</summary>
    public int PauseAt;

    /// <summary>Points passed since its start or last resume.</summary>
    public int Hits;

    public bool Paused;

    public bool Finished;

    public string? At;

    /// <summary>Whether this is a woken read's continuation that has not run yet.</summary>
    public bool IsFreshWakeUp;

    public Exception? Error;

    public override string ToString() => At is null ? Name : $"{Name}@{At}";
}

/// <summary>
/// The scheduler behind <see cref="FanoutExplorer"/>: implements the fan-out's <see cref="IFanoutSchedule"/> seam so that at
/// every point inside a fan-out operation the explorer can pause the running thread and run another one, then resume it.
/// Exactly one actor runs at a time; every other one is paused at a point (outside the fan-out's lock) or has not started.
/// </summary>
/// <remarks>
/// An operation the explorer does not plan to pause runs inline on the explorer's thread (its points are only counted, which
/// tells the explorer where it could pause it in another run); one it plans to pause runs on a worker thread. A read that waits
/// continues on a thread-pool thread when woken; that continuation stops at its first point (<c>read:woken</c>) and from then
/// on is an actor like the others.
/// </remarks>
internal sealed class FanoutScheduler : IFanoutSchedule
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly object _sync = new(); // Monitor.Wait/PulseAll hand the turn between threads
    private readonly AsyncLocal<FanoutActor?> _current = new();
    private readonly Stack<Worker> _idleWorkers = new();
    private readonly Dictionary<FanoutReader, int> _readers = [];
    private readonly Dictionary<int, Wait> _waits = [];
    private readonly Dictionary<int, FanoutActor> _continuations = [];
    private readonly List<FanoutActor> _paused = [];

    /// <summary>Gets the actors paused at a point, in choice order.</summary>
    public IReadOnlyList<FanoutActor> Paused
    {
        get
        {
            lock (_sync)
            {
                _paused.Sort((a, b) => a.Order.CompareTo(b.Order));
                return [.. _paused];
            }
        }
    }

    /// <summary>Forgets the previous run (its actors have all finished).</summary>
    public void Reset()
    {
        lock (_sync)
        {
            _readers.Clear();
            _waits.Clear();
            _continuations.Clear();
            _paused.Clear();
        }
    }

    public void Register(FanoutReader reader, int index)
    {
        lock (_sync)
        {
            _readers[reader] = index;
        }
    }

    /// <summary>Gets whether <paramref name="reader"/> waits for a wake-up that has not come (its read is pending).</summary>
    public bool IsWaiting(int reader, out Task wake)
    {
        lock (_sync)
        {
            if (_waits.TryGetValue(reader, out var wait) && !wait.Arrived)
            {
                wake = wait.Wake;
                return true;
            }

            wake = Task.CompletedTask;
            return false;
        }
    }

    /// <summary>
    /// Runs a new operation as <paramref name="actor"/> until it finishes or reaches its <see cref="FanoutActor.PauseAt"/>-th
    /// point; returns the points it passed.
    /// </summary>
    public int Start(FanoutActor actor, System.Action operation)
    {
        if (actor.PauseAt == 0)
        {
            var previous = _current.Value;
            _current.Value = actor;
            try
            {
                operation();
            }
            finally
            {
                _current.Value = previous;
            }

            actor.Finished = true;
            return actor.Hits;
        }

        Worker? worker;
        lock (_sync)
        {
            _idleWorkers.TryPop(out worker);
        }

        worker ??= new Worker(this);
        worker.Run(actor, operation);
        return AwaitTurn(actor);
    }

    /// <summary>Resumes a paused actor until it finishes or passes <paramref name="pauseAt"/> more points; returns those passed.</summary>
    public int Resume(FanoutActor actor, int pauseAt)
    {
        lock (_sync)
        {
            actor.Paused = false;
            actor.IsFreshWakeUp = false;
            actor.At = null;
            actor.Hits = 0;
            actor.PauseAt = pauseAt;
            _paused.Remove(actor);
        }

        actor.Go.Release();
        return AwaitTurn(actor);
    }

    /// <summary>Waits until every read that has been woken reached its first point (or finished): the world is then still.</summary>
    public void Settle()
    {
        lock (_sync)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (AnyWokenUnarrived())
            {
                if (!Monitor.Wait(_sync, Remaining(deadline)))
                {
                    throw new InvalidOperationException("a woken read never reached its first point");
                }
            }
        }
    }

    /// <summary>A pending read completed (called from its continuation, when the task completes).</summary>
    public void ReadCompleted(int reader)
    {
        lock (_sync)
        {
            if (_continuations.Remove(reader, out var continuation))
            {
                continuation.Finished = true;
            }

            _waits.Remove(reader);
            Monitor.PulseAll(_sync);
        }
    }

    void IFanoutSchedule.Waiting(FanoutReader reader, Task wake)
    {
        lock (_sync)
        {
            int index = _readers[reader];
            if (_current.Value is { } actor && _continuations.TryGetValue(index, out var continuation) && continuation == actor)
            {
                // A continuation that waits again leaves; the next wake-up starts a new one.
                _continuations.Remove(index);
                actor.Finished = true;
                Monitor.PulseAll(_sync);
            }

            _waits[index] = new Wait(wake);
        }
    }

    void IFanoutSchedule.Point(string name)
    {
        var actor = _current.Value;
        if (actor is null)
        {
            return; // not a thread the explorer runs
        }

        lock (_sync)
        {
            if (name == "read:woken" && _waits.TryGetValue(actor.Reader, out var wait) && !wait.Arrived)
            {
                // A woken read continues on a pool thread: from here on it is an actor of its own, paused until chosen.
                wait.Arrived = true;
                var continuation = new FanoutActor($"Continue(reader{actor.Reader})", 300 + actor.Reader, actor.Reader) { Paused = true, At = name, IsFreshWakeUp = true };
                _continuations[actor.Reader] = continuation;
                _paused.Add(continuation);
                _current.Value = continuation;
                Monitor.PulseAll(_sync);
                actor = continuation;
            }
            else
            {
                actor.Hits++;
                if (actor.PauseAt == 0 || actor.Hits != actor.PauseAt)
                {
                    return;
                }

                actor.Paused = true;
                actor.At = name;
                _paused.Add(actor);
                Monitor.PulseAll(_sync);
            }
        }

        if (!actor.Go.Wait(Patience))
        {
            throw new InvalidOperationException($"{actor} was never resumed");
        }
    }

    private static TimeSpan Remaining(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private bool AnyWokenUnarrived()
    {
        foreach (var wait in _waits.Values)
        {
            if (!wait.Arrived && wait.Wake.IsCompleted)
            {
                return true;
            }
        }

        return false;
    }

    private int AwaitTurn(FanoutActor actor)
    {
        lock (_sync)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!actor.Paused && !actor.Finished)
            {
                if (!Monitor.Wait(_sync, Remaining(deadline)))
                {
                    throw new InvalidOperationException($"{actor} neither paused nor finished");
                }
            }

            if (actor.Error is { } error)
            {
                throw new InvalidOperationException($"{actor} threw", error);
            }

            return actor.Hits;
        }
    }

    private void Finished(FanoutActor actor, Worker worker, Exception? error)
    {
        lock (_sync)
        {
            actor.Error = error;
            actor.Finished = true;
            _idleWorkers.Push(worker);
            Monitor.PulseAll(_sync);
        }
    }

    private sealed class Wait(Task wake)
    {
        public Task Wake { get; } = wake;

        public bool Arrived;
    }

    /// <summary>A thread that runs operations the explorer plans to pause (reused across runs).</summary>
    private sealed class Worker
    {
        private readonly FanoutScheduler _owner;
        private readonly SemaphoreSlim _start = new(0);
        private FanoutActor? _actor;
        private System.Action? _operation;

        public Worker(FanoutScheduler owner)
        {
            _owner = owner;
            new Thread(Loop) { IsBackground = true, Name = "fanout-explorer-worker" }.Start();
        }

        public void Run(FanoutActor actor, System.Action operation)
        {
            _actor = actor;
            _operation = operation;
            _start.Release();
        }

        private void Loop()
        {
            while (true)
            {
                _start.Wait();
                var actor = _actor!;
                Exception? error = null;
                _owner._current.Value = actor;
                try
                {
                    _operation!();
                }
                catch (Exception ex)
                {
                    error = ex;
                }
                finally
                {
                    _owner._current.Value = null;
                }

                _owner.Finished(actor, this, error);
            }
        }
    }
}
