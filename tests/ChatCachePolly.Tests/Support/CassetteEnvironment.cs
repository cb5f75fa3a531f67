using System.Runtime.CompilerServices;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// The tests choose their cassette mode in code: a <c>CHATCACHE_CASSETTE_MODE</c> left in the shell (for example after
/// re-recording a sample) must not change what they test, so it is cleared when the test assembly loads.
/// </summary>
internal static class CassetteEnvironment
{
    [ModuleInitializer]
    internal static void Clear() => Environment.SetEnvironmentVariable("CHATCACHE_CASSETTE_MODE", null);
}
