using System.Globalization;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// Stress mode for the concurrency tests: <c>CHATCACHE_STRESS_ITERATIONS=N</c> multiplies how many times each repeated race
/// scenario runs (default 1: the normal count). <c>eng/stress.sh</c> sets it while it loads the machine, so a race fails loudly
/// instead of flaking.
/// </summary>
internal static class Stress
{
    public static int Factor { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("CHATCACHE_STRESS_ITERATIONS"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 1;

    /// <summary>How many times to run a scenario that normally runs <paramref name="normal"/> times.</summary>
    public static int Iterations(int normal) => checked(normal * Factor);
}
