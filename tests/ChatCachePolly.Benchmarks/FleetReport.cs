using System.Diagnostics;
using System.Globalization;
using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Fleet;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--fleet</c> (issue 17; not BenchmarkDotNet: the quantities are times between two instances, and a miss against a Redis
/// behind a latency proxy). Needs redis-server.
/// <list type="bullet">
/// <item>Follower wake-up: instance B waits for instance A's lead of the same question; from A's caller getting its answer
/// (the entry is written: write-behind off) to B's caller getting the same answer (pub/sub message, GET, response).</item>
/// <item>Miss cost with Redis 5 ms away (10 ms per round trip, through <see cref="LatencyProxy"/>): the memory store, and the
/// fleet store with write-behind on and off.</item>
/// <item>Streams across instances (<see cref="FleetStreamReport"/>): what the chosen rule (each instance goes upstream)
/// costs a second instance's caller, against waiting for the first instance's recording.</item>
/// </list>
/// </summary>
internal static class FleetReport
{
    public static int Run()
    {
        using var redis = BenchRedis.Start();
        WakeUp(redis);
        Console.WriteLine();
        Misses(redis);
        Console.WriteLine();
        FleetStreamReport.Run(redis);
        return 0;
    }

    private static void WakeUp(BenchRedis redis)
    {
        var gate = new GatedHandler(Payloads.Response(1024));
        using var a = Instance(redis.Configuration, gate, ChatCacheStoreKind.Distributed, writeBehind: false, "wake");
        using var b = Instance(redis.Configuration, gate, ChatCacheStoreKind.Distributed, writeBehind: false, "wake");
        var bodies = Payloads.UniqueRequest(2048);
        var wakeUps = new List<double>();
        var afterOpen = new List<double>();
        for (int i = 0; i < 230; i++)
        {
            byte[] body = bodies.Next();
            gate.Close();
            var leader = Clients.SendAsync(a.Client, body);
            gate.WaitForCall();
            var follower = Clients.SendAsync(b.Client, body);
            var fleet = FleetOf(b.Provider);
            var spin = Stopwatch.StartNew();
            while (fleet.Waiting == 0 && spin.Elapsed < TimeSpan.FromSeconds(5))
            {
                Thread.SpinWait(100);
            }

            long opened = Stopwatch.GetTimestamp();
            gate.Open();
            leader.GetAwaiter().GetResult();
            double leaderDone = Stopwatch.GetElapsedTime(opened).TotalMilliseconds;
            follower.GetAwaiter().GetResult();
            double followerDone = Stopwatch.GetElapsedTime(opened).TotalMilliseconds;
            if (i >= 30)
            {
                wakeUps.Add(followerDone - leaderDone);
                afterOpen.Add(followerDone);
            }
        }

        wakeUps.Sort();
        afterOpen.Sort();
        Console.WriteLine("Follower on another instance (loopback Redis, write-behind off: the leader's caller is answered once the entry is written), 200 operations:");
        Console.WriteLine($"  follower answered after the leader's caller: median {Ms(wakeUps[wakeUps.Count / 2])}, p95 {Ms(wakeUps[(int)(wakeUps.Count * 0.95)])}");
        Console.WriteLine($"  follower answered after the upstream answered: median {Ms(afterOpen[afterOpen.Count / 2])}, p95 {Ms(afterOpen[(int)(afterOpen.Count * 0.95)])}");
    }

    private static void Misses(BenchRedis redis)
    {
        using var proxy = new LatencyProxy(redis.Port, TimeSpan.FromMilliseconds(5));
        string slow = $"127.0.0.1:{proxy.Port},abortConnect=false,syncTimeout=5000,asyncTimeout=5000";
        var response = Payloads.Response(1024);
        Console.WriteLine("Miss (2 KB request, 1 KB answer, zero-latency upstream), Redis 5 ms away (10 ms round trip), median of 200:");
        Console.WriteLine("| store | miss |");
        Console.WriteLine("|---|---|");
        using (var memory = Clients.Cached(new CannedResponseHandler(response), new ChatCacheStrategyOptions { MaxEntries = 1_000_000 }))
        {
            Console.WriteLine($"| Memory | {Ms(MedianMiss(memory))} |");
        }

        foreach (var (kind, writeBehind) in new[] { (ChatCacheStoreKind.Distributed, true), (ChatCacheStoreKind.Distributed, false), (ChatCacheStoreKind.MemoryAndDistributed, true), (ChatCacheStoreKind.MemoryAndDistributed, false) })
        {
            using var fleet = Instance(slow, new CannedResponseHandler(response), kind, writeBehind, $"miss-{kind}-{writeBehind}");
            Console.WriteLine($"| Fleet {kind}, write-behind {(writeBehind ? "on" : "off")} | {Ms(MedianMiss(fleet.Client))} |");
        }

        Console.WriteLine();
        SlowUpstreamMisses(slow);
    }

    /// <summary>The same misses against an upstream that answers after 500 ms (a short LLM call): the ratio the target is about.</summary>
    private static void SlowUpstreamMisses(string slowRedis)
    {
        var response = Payloads.Response(1024);
        Console.WriteLine("Miss against an upstream answering in 500 ms, Redis 5 ms away, median of 20:");
        Console.WriteLine("| store | miss | ratio to Memory |");
        Console.WriteLine("|---|---|---|");
        double memoryMiss;
        using (var memory = Clients.Cached(new DelayedHandler(response, TimeSpan.FromMilliseconds(500)), new ChatCacheStrategyOptions { MaxEntries = 1_000_000 }))
        {
            memoryMiss = MedianMiss(memory, warmup: 3, count: 20);
            Console.WriteLine($"| Memory | {Ms(memoryMiss)} | 1.000 |");
        }

        foreach (var (kind, writeBehind) in new[] { (ChatCacheStoreKind.MemoryAndDistributed, true), (ChatCacheStoreKind.MemoryAndDistributed, false) })
        {
            using var fleet = Instance(slowRedis, new DelayedHandler(response, TimeSpan.FromMilliseconds(500)), kind, writeBehind, $"slow-{kind}-{writeBehind}");
            double miss = MedianMiss(fleet.Client, warmup: 3, count: 20);
            Console.WriteLine($"| Fleet {kind}, write-behind {(writeBehind ? "on" : "off")} | {Ms(miss)} | {(miss / memoryMiss).ToString("0.000", CultureInfo.InvariantCulture)} |");
        }
    }

    private sealed class DelayedHandler(byte[] response, TimeSpan delay) : HttpMessageHandler
    {
        private readonly HttpMessageInvoker _canned = new(new CannedResponseHandler(response));

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            return await _canned.SendAsync(request, cancellationToken);
        }
    }

    private static double MedianMiss(HttpClient client, int warmup = 30, int count = 200)
    {
        var bodies = Payloads.UniqueRequest(2048);
        var times = new List<double>();
        for (int i = 0; i < warmup + count; i++)
        {
            double t = Timed(client, bodies.Next()).GetAwaiter().GetResult();
            if (i >= warmup)
            {
                times.Add(t);
            }
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static async Task<double> Timed(HttpClient client, byte[] body)
    {
        long start = Stopwatch.GetTimestamp();
        await Task.Yield();
        await Clients.SendAsync(client, body);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    internal static string Ms(double ms) => ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms";

    private static FleetChatCacheStore FleetOf(IServiceProvider provider)
    {
        var options = provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("wake");
        var store = ChatCacheStoreRegistry.For(provider).GetStore("wake", options, provider, TimeProvider.System);
        return store as FleetChatCacheStore ?? (FleetChatCacheStore)((TieredChatCacheStore)store).Distributed;
    }

    internal static FleetInstance Instance(string configuration, HttpMessageHandler upstream, ChatCacheStoreKind kind, bool writeBehind, string name)
    {
        var services = new ServiceCollection();
        services.AddChatCacheRedis(configuration, fleet => fleet.WriteBehind = writeBehind);
        services.AddHttpClient(name)
            .ConfigurePrimaryHttpMessageHandler(() => upstream)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        services.AddChatCacheOptions(name).Configure(o =>
        {
            o.Store = kind;
            o.MaxEntries = 1_000_000;
            o.DistributedStoreTimeout = TimeSpan.FromSeconds(5);
        });
        var provider = services.BuildServiceProvider();
        return new FleetInstance(provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient(name));
    }

    internal sealed record FleetInstance(ServiceProvider Provider, HttpClient Client) : IDisposable
    {
        public void Dispose() => Provider.Dispose();
    }

    /// <summary>An upstream that holds each call until opened (the first caller leads while the other waits).</summary>
    private sealed class GatedHandler(byte[] response) : HttpMessageHandler
    {
        private readonly CannedResponseHandler _canned = new(response);
        private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _called = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Close()
        {
            _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
            _called = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public void Open() => _open.TrySetResult();

        public void WaitForCall() => _called.Task.Wait(TimeSpan.FromSeconds(10));

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            _called.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
            return await new HttpMessageInvoker(_canned).SendAsync(request, cancellationToken);
        }
    }
}
