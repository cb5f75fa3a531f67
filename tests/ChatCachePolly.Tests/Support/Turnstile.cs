using ChatCachePolly.Keys;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// Lets each actor (an <see cref="AsyncLocal{T}"/> id set at the start of its flow) into its next store operation only when
/// the schedule says so, and logs the operations in the order they were let in: systematic tests enumerate every order of a
/// few actors' store operations with it. Until <see cref="Activate"/>, and for flows that set no actor, it lets everyone through.
/// </summary>
internal sealed class Turnstile
{
    public static readonly AsyncLocal<int?> Actor = new();

    private readonly Lock _gate = new();
    private readonly Dictionary<int, TaskCompletionSource> _arrived = [];
    private readonly Dictionary<int, (TaskCompletionSource Grant, string Operation)> _grants = [];
    private bool _active;

    /// <summary>Gets the operations let in so far, in order: (actor, operation).</summary>
    public List<(int Actor, string Operation)> Log { get; } = [];

    public void Activate() => _active = true;

    /// <summary>Gets how many operations have been let in so far.</summary>
    public int Steps
    {
        get
        {
            lock (_gate)
            {
                return Log.Count;
            }
        }
    }

    /// <summary>The current actor waits here before a store operation until the schedule grants it.</summary>
    public Task EnterAsync(string operation)
    {
        if (!_active || Actor.Value is not int actor)
        {
            return Task.CompletedTask;
        }

        var grant = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _grants[actor] = (grant, operation);
        }

        Arrived(actor).TrySetResult();
        return grant.Task;
    }

    /// <summary>
    /// Waits until <paramref name="actor"/> is at a gate, lets it through, and waits for it to reach its next gate or finish;
    /// returns at once when it has finished.
    /// </summary>
    public async Task StepAsync(int actor, Task finished)
    {
        var arrived = Arrived(actor);
        await Task.WhenAny(arrived.Task, finished);
        if (!arrived.Task.IsCompleted)
        {
            return; // the actor finished in fewer steps than the schedule allows
        }

        (TaskCompletionSource Grant, string Operation) next;
        lock (_gate)
        {
            next = _grants[actor];
            _grants.Remove(actor);
            _arrived.Remove(actor);
            Log.Add((actor, next.Operation));
        }

        next.Grant.SetResult();

        // The operation runs between this gate and the actor's next one: wait for it to get there (or finish), so the log's
        // order is the order in which operations ran.
        await Task.WhenAny(Arrived(actor).Task, finished);
    }

    /// <summary>Lets every actor run to its end.</summary>
    public async Task DrainAsync(params Task[] actors)
    {
        for (int i = 0; i < actors.Length; i++)
        {
            while (!actors[i].IsCompleted)
            {
                await StepAsync(i, actors[i]);
            }
        }
    }

    /// <summary>Every order of <paramref name="a"/> steps of actor 0 and <paramref name="b"/> steps of actor 1.</summary>
    public static IEnumerable<int[]> Schedules(int a, int b)
    {
        if (a == 0 && b == 0)
        {
            yield return [];
            yield break;
        }

        if (a > 0)
        {
            foreach (var rest in Schedules(a - 1, b))
            {
                yield return [0, .. rest];
            }
        }

        if (b > 0)
        {
            foreach (var rest in Schedules(a, b - 1))
            {
                yield return [1, .. rest];
            }
        }
    }

    private TaskCompletionSource Arrived(int actor)
    {
        lock (_gate)
        {
            if (!_arrived.TryGetValue(actor, out var arrived))
            {
                _arrived[actor] = arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return arrived;
        }
    }
}

/// <summary>A store whose every operation first passes the <see cref="Turnstile"/> (named <c>{name}.{operation}</c>).</summary>
internal sealed class GatedStore(IChatCacheStore inner, Turnstile turnstile, string name = "store") : IChatCacheStore
{
    public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        await turnstile.EnterAsync(name + ".get");
        return await inner.GetAsync(key, cancellationToken);
    }

    public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await turnstile.EnterAsync(name + ".get");
        return await inner.GetAsync(key, now, cancellationToken);
    }

    public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        await turnstile.EnterAsync(name + ".set");
        return await inner.SetAsync(key, entry, cancellationToken);
    }

    public async ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        await turnstile.EnterAsync(name + ".remove");
        return await inner.RemoveAsync(key, cancellationToken);
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        await turnstile.EnterAsync(name + ".clear");
        await inner.ClearAsync(cancellationToken);
    }
}
