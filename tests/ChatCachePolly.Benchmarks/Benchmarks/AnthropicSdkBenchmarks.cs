using System.Text;
using Anthropic;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target: a hit through the Anthropic SDK (its <c>IChatClient</c>) costs ≤ 1.6× the same SDK over a zero-latency transport, as
/// for the OpenAI SDK. Same conversation (~2 KB on the wire), a ~1 KB Anthropic <c>message</c> answer, the same pipeline (retry,
/// timeout) with and without the cache.
/// </summary>
[MemoryDiagnoser]
public class AnthropicSdkBenchmarks
{
    private const string Model = "claude-sonnet-4-5-20250929";

    private List<ChatMessage> _messages = null!;
    private ChatOptions _options = null!;
    private IChatClient _cached = null!;
    private IChatClient _uncached = null!;
    private HttpClient _cachedHttp = null!;
    private HttpClient _baselineHttp = null!;
    private CannedResponseHandler _cachedUpstream = null!;

    [GlobalSetup]
    public void Setup()
    {
        _messages = [.. Payloads.Conversation(2048).Select(t => new ChatMessage(t.Role switch
        {
            "system" => ChatRole.System,
            "assistant" => ChatRole.Assistant,
            _ => ChatRole.User,
        }, t.Content))];
        _options = new ChatOptions { Temperature = 0.2f, MaxOutputTokens = 200 };
        string text = "The capital of France is Paris. " + Payloads.Filler(700);
        byte[] answer = Encoding.UTF8.GetBytes(
            $$$"""{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"{{{Model}}}","content":[{"type":"text","text":"{{{text}}}"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":612,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":180,"service_tier":"standard"}}""");
        _cachedUpstream = new CannedResponseHandler(answer);
        _cachedHttp = Clients.Cached(_cachedUpstream);
        _baselineHttp = Clients.Baseline(new CannedResponseHandler(answer));
        _cached = Client(_cachedHttp);
        _uncached = Client(_baselineHttp);

        _ = _cached.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        _ = _cached.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        if (_cachedUpstream.Calls != 1)
        {
            throw new InvalidOperationException($"Expected the second Anthropic SDK call to be a hit; the upstream was called {_cachedUpstream.Calls} times.");
        }

        Warm.Jit(4000, Sdk_NoCache, Sdk_ChatCache_Hit);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cachedHttp.Dispose();
        _baselineHttp.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Anthropic SDK IChatClient, no cache, zero-latency")]
    public Task<ChatResponse> Sdk_NoCache() => _uncached.GetResponseAsync(_messages, _options);

    [Benchmark(Description = "Anthropic SDK IChatClient over ChatCache hit")]
    public Task<ChatResponse> Sdk_ChatCache_Hit() => _cached.GetResponseAsync(_messages, _options);

    private static IChatClient Client(HttpClient http) => new AnthropicClient
    {
        ApiKey = "sk-ant-bench",
        BaseUrl = "https://api.anthropic.com",
        HttpClient = http,
        MaxRetries = 0,
        Timeout = Timeout.InfiniteTimeSpan,
    }.AsIChatClient(Model);
}
