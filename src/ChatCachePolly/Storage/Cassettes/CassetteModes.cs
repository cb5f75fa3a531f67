namespace ChatCachePolly.Storage.Cassettes;

/// <summary>Resolves the cassette mode: the <c>CHATCACHE_CASSETTE_MODE</c> environment variable overrides the option.</summary>
internal static class CassetteModes
{
    /// <summary>The environment variable that overrides <see cref="ChatCacheStrategyOptions.CassetteMode"/>.</summary>
    public const string EnvironmentVariable = "CHATCACHE_CASSETTE_MODE";

    /// <summary>Resolves the mode; false (with a message naming the variable and its allowed values) for an unknown value.</summary>
    public static bool TryResolve(ChatCacheCassetteMode configured, string? environmentValue, out ChatCacheCassetteMode mode, out string? error)
    {
        error = null;
        mode = configured;
        string value = environmentValue?.Trim() ?? string.Empty;
        if (value.Length == 0)
        {
            return true;
        }

        if (value.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            mode = ChatCacheCassetteMode.Auto;
        }
        else if (value.Equals("replay", StringComparison.OrdinalIgnoreCase))
        {
            mode = ChatCacheCassetteMode.Replay;
        }
        else if (value.Equals("record", StringComparison.OrdinalIgnoreCase))
        {
            mode = ChatCacheCassetteMode.Record;
        }
        else
        {
            error = $"The environment variable {EnvironmentVariable} is '{environmentValue}'; use auto, replay or record (case-insensitive), or unset it to use ChatCacheStrategyOptions.CassetteMode.";
            return false;
        }

        return true;
    }

    /// <summary>Resolves the mode from the process environment.</summary>
    /// <exception cref="InvalidOperationException">The environment variable holds an unknown value.</exception>
    public static ChatCacheCassetteMode Resolve(ChatCacheCassetteMode configured) =>
        TryResolve(configured, Environment.GetEnvironmentVariable(EnvironmentVariable), out var mode, out string? error)
            ? mode
            : throw new InvalidOperationException(error);

    /// <summary>The cassette rules of the options: a directory is required and the environment override must be valid.</summary>
    /// <returns>The failures (empty when valid or when the store is not a cassette).</returns>
    public static IEnumerable<string> Validate(ChatCacheStrategyOptions options)
    {
        if (options.Store != ChatCacheStoreKind.Cassette)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(options.CassetteDirectory))
        {
            yield return "ChatCacheStrategyOptions.CassetteDirectory is required when Store is Cassette: set it to the directory of the recordings (relative paths resolve against the current directory).";
        }

        if (!TryResolve(options.CassetteMode, Environment.GetEnvironmentVariable(EnvironmentVariable), out _, out string? error))
        {
            yield return error!;
        }
    }
}
