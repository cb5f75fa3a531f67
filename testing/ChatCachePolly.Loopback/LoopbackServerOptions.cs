namespace ChatCachePolly.Loopback;

/// <summary>Options for <see cref="LoopbackOpenAIServer"/>. All latencies default to zero so benchmarks pay nothing.</summary>
public sealed class LoopbackServerOptions
{
    /// <summary>Delay before the first byte of any successful model response (streaming or not).</summary>
    public TimeSpan TimeToFirstToken { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Delay between consecutive SSE events of a stream. Non-streaming responses wait
    /// <see cref="TimeToFirstToken"/> + <see cref="PerTokenDelay"/> × completion tokens before responding.
    /// </summary>
    public TimeSpan PerTokenDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Clock used for every delay (<c>Task.Delay(delay, TimeProvider, ct)</c>) and for <c>created</c> timestamps.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// When <see langword="true"/> (default) responses carry OpenAI-like headers: <c>x-ratelimit-*</c>,
    /// <c>openai-processing-ms</c>, <c>openai-version</c>, <c>openai-organization</c>, <c>openai-project</c> and <c>x-request-id</c>.
    /// Values are synthetic; nothing from the request (such as the API key) is echoed.
    /// </summary>
    public bool IncludeRateLimitHeaders { get; set; } = true;
}
