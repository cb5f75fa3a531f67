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

            default:
                Console.Error.WriteLine("--loop hit|miss|a [seconds]");
                return 2;
        }

        var clock = Stopwatch.StartNew();
        long calls = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 1000; i++)
            {
                call().GetAwaiter().GetResult();
            }

            calls += 1000;
        }

        Console.WriteLine($"{operation}: {calls / clock.Elapsed.TotalSeconds:N0} calls/s ({clock.Elapsed.TotalNanoseconds / calls:N0} ns/call)");
        return 0;
    }
}
