using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using OpenAI.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;
using OpenAIChatMessage = OpenAI.Chat.ChatMessage;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target: IChatClient hit ≤ 1.1× baseline C. Baseline C: Microsoft.Extensions.AI <c>DistributedCachingChatClient</c> over
/// <c>MemoryDistributedCache</c> (hit). Ours: the OpenAI SDK's <c>ChatClient.AsIChatClient()</c> whose transport is
/// <c>HttpClientPipelineTransport</c> over the ChatCache HttpClient (hit). Same conversation (~2 KB on the wire), same options.
/// </summary>
[MemoryDiagnoser]
public class ChatClientBenchmarks
{
    private List<AIChatMessage> _messages = null!;
    private ChatOptions _options = null!;
    private IChatClient _distributedCaching = null!;
    private IChatClient _chatCache = null!;
    private IChatClient _uncached = null!;
    private HttpClient _cachedHttp = null!;
    private HttpClient _baselineHttp = null!;

    [GlobalSetup]
    public void Setup()
    {
        _messages = [.. Payloads.Conversation(2048).Select(t => new AIChatMessage(new AIChatRole(t.Role), t.Content))];
        _options = new ChatOptions { ModelId = Payloads.Model, Temperature = 0.2f, MaxOutputTokens = 200 };
        var responseBody = Payloads.Response(1024);

        _cachedHttp = Clients.Cached(new CannedResponseHandler(responseBody));
        _chatCache = Clients.OpenAIChatClient(_cachedHttp).AsIChatClient();
        _baselineHttp = Clients.Baseline(new CannedResponseHandler(responseBody));
        _uncached = Clients.OpenAIChatClient(_baselineHttp).AsIChatClient();

        // The inner client of baseline C answers with exactly what the SDK makes of the same response body.
        var response = _uncached.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        var cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        _distributedCaching = new DistributedCachingChatClient(new FixedChatClient(response), cache);

        // Warm both caches and verify the second call is a hit.
        var first = _distributedCaching.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        _ = _distributedCaching.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        _ = _chatCache.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        var hit = _chatCache.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        if (hit.Text != first.Text)
        {
            throw new InvalidOperationException("The two clients disagree on the answer.");
        }

        Warm.Jit(4000, BaselineC_DistributedCachingChatClient_Hit, ChatCache_IChatClient_Hit, IChatClient_NoCache);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cachedHttp.Dispose();
        _baselineHttp.Dispose();
    }

    [Benchmark(Baseline = true, Description = "C: DistributedCachingChatClient hit")]
    public Task<ChatResponse> BaselineC_DistributedCachingChatClient_Hit() => _distributedCaching.GetResponseAsync(_messages, _options);

    [Benchmark(Description = "IChatClient(OpenAI SDK) over ChatCache hit")]
    public Task<ChatResponse> ChatCache_IChatClient_Hit() => _chatCache.GetResponseAsync(_messages, _options);

    [Benchmark(Description = "IChatClient(OpenAI SDK), no cache, zero-latency")]
    public Task<ChatResponse> IChatClient_NoCache() => _uncached.GetResponseAsync(_messages, _options);

    private sealed class FixedChatClient(ChatResponse response) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(response);

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

/// <summary>Target: SDK <c>ChatClient.CompleteChatAsync</c> hit ≤ 1.6× the same call over the zero-latency transport.</summary>
[MemoryDiagnoser]
public class OpenAISdkBenchmarks
{
    private List<OpenAIChatMessage> _messages = null!;
    private ChatCompletionOptions _options = null!;
    private ChatClient _cached = null!;
    private ChatClient _uncached = null!;
    private HttpClient _cachedHttp = null!;
    private HttpClient _baselineHttp = null!;

    [GlobalSetup]
    public void Setup()
    {
        _messages = [.. Payloads.Conversation(2048).Select(ToOpenAI)];
        _options = new ChatCompletionOptions { Temperature = 0.2f, MaxOutputTokenCount = 200 };
        var responseBody = Payloads.Response(1024);
        _cachedHttp = Clients.Cached(new CannedResponseHandler(responseBody));
        _baselineHttp = Clients.Baseline(new CannedResponseHandler(responseBody));
        _cached = Clients.OpenAIChatClient(_cachedHttp);
        _uncached = Clients.OpenAIChatClient(_baselineHttp);

        _ = _cached.CompleteChatAsync(_messages, _options).GetAwaiter().GetResult();
        var hit = _cached.CompleteChatAsync(_messages, _options).GetAwaiter().GetResult();
        var raw = hit.GetRawResponse();
        if (!raw.Headers.TryGetValue("Cache-Status", out string? status) || !status!.Contains("; hit", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Expected an SDK hit, got Cache-Status: {status}");
        }

        Warm.Jit(4000, Sdk_NoCache, Sdk_ChatCache_Hit);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cachedHttp.Dispose();
        _baselineHttp.Dispose();
    }

    [Benchmark(Baseline = true, Description = "SDK CompleteChatAsync, no cache, zero-latency")]
    public Task<System.ClientModel.ClientResult<ChatCompletion>> Sdk_NoCache() => _uncached.CompleteChatAsync(_messages, _options);

    [Benchmark(Description = "SDK CompleteChatAsync over ChatCache hit")]
    public Task<System.ClientModel.ClientResult<ChatCompletion>> Sdk_ChatCache_Hit() => _cached.CompleteChatAsync(_messages, _options);

    private static OpenAIChatMessage ToOpenAI((string Role, string Content) turn) => turn.Role switch
    {
        "system" => new SystemChatMessage(turn.Content),
        "assistant" => new AssistantChatMessage(turn.Content),
        _ => new UserChatMessage(turn.Content),
    };
}
