using System.Diagnostics;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--loop</c>: runs one benchmark operation back to back for a number of seconds, so a sampling profiler
/// (<c>dotnet-trace collect --profile cpu-sampling</c>) sees where its time goes. Prints calls per second.
/// </summary>
public static class ProfileLoop
{
    public static int Run(string operation, int seconds)
    {
        Func<Task<int>> call;
        switch (operation)
        {
            case "hit":
            {
                var bench = new HitBenchmarks();
                bench.Setup();
                call = bench.ChatCache_Hit;
                break;
            }

            case "a":
            {
                var bench = new HitBenchmarks();
                bench.Setup();
                call = bench.BaselineA_NoCache;
                break;
            }

            case "miss":
            {
                var bench = new MissBenchmarks();
                bench.Setup();
                call = bench.ChatCache_MissAndStore;
                break;
            }

            case "cacheonly":
            case "empty":
            {
                // The pipeline with nothing but the cache (every call a hit), or with nothing at all: their difference is what
                // the cache strategy itself costs on a hit, less the upstream's response.
                byte[] body = Payloads.Request(2048);
                var builder = new Polly.ResiliencePipelineBuilder<HttpResponseMessage>();
                if (operation == "cacheonly")
                {
                    Polly.ChatCacheResiliencePipelineBuilderExtensions.AddChatCache(builder);
                }

                var client = new HttpClient(new Microsoft.Extensions.Http.Resilience.ResilienceHandler(builder.Build()) { InnerHandler = new CannedResponseHandler(Payloads.Response(1024)) });
                call = () => Clients.SendAsync(client, body);
                break;
            }

            case "hit64":
            case "a64":
            {
                var bench = new ConcurrencyBenchmarks();
                bench.Setup();
                Func<Task> run = operation == "hit64" ? bench.ChatCache_Hit_64 : bench.BaselineA_NoCache_64;
                call = async () =>
                {
                    await run();
                    return 0;
                };
                break;
            }

            case "key":
            {
                var bench = new KeyBenchmarks { Size = 2048 };
                bench.Setup();
                call = () => Task.FromResult(bench.ChatCache_Key() ? 1 : 0);
                break;
            }

            case "sdk":
            case "sdkhit":
            {
                var bench = new OpenAISdkBenchmarks();
                bench.Setup();
                call = operation == "sdk"
                    ? async () => (await bench.Sdk_NoCache()).Value.Content.Count
                    : async () => (await bench.Sdk_ChatCache_Hit()).Value.Content.Count;
                break;
            }

            case "repeat":
            {
                var bench = new KeyBenchmarks { Size = 2048 };
                bench.Setup();
                call = () => Task.FromResult(bench.ChatCache_KeyOfRepeat() ? 1 : 0);
                break;
            }

            default:
                Console.Error.WriteLine("--loop hit|a|miss|key|repeat|sdk|sdkhit|cacheonly|empty|hit64|a64 [seconds]");
                return 2;
        }

        if (Environment.GetEnvironmentVariable("CHATCACHE_LOOP_PRIORITY") == "high")
        {
            // As BenchmarkDotNet runs a benchmark: high process priority, highest priority for the calling thread.
            Process.GetCurrentProcess().PriorityClass = ProcessPriorityClass.High;
            Thread.CurrentThread.Priority = ThreadPriority.Highest;
        }

        long workItems = ThreadPool.CompletedWorkItemCount;
        var clock = Stopwatch.StartNew();
        long calls = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            int batch = operation.EndsWith("64", StringComparison.Ordinal) ? 10 : 1000;
            for (int i = 0; i < batch; i++)
            {
                call().GetAwaiter().GetResult();
            }

            calls += batch;
        }

        if (operation.EndsWith("64", StringComparison.Ordinal))
        {
            calls *= ConcurrencyBenchmarks.Operations;
        }

        Console.WriteLine($"{operation}: {calls / clock.Elapsed.TotalSeconds:N0} calls/s ({clock.Elapsed.TotalNanoseconds / calls:N0} ns/call), {ThreadPool.ThreadCount} pool threads, {Monitor.LockContentionCount} lock contentions, {(double)(ThreadPool.CompletedWorkItemCount - workItems) / calls:N3} pool work items/call");
        return 0;
    }
}
