using System.Diagnostics.Metrics;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using static ChatCachePolly.Tests.Protocols.NativeRequests;

namespace ChatCachePolly.Tests.Protocols;

/// <summary>
/// The native protocols' credentials (<c>x-api-key</c>, <c>x-goog-api-key</c>, Gemini's <c>key=</c>, an Ollama bearer token) are
/// never in a cassette file, a log line or a metric tag; cassettes recorded with one set of credentials replay with another.
/// </summary>
public sealed class ProtocolSecretTests
{
    private const string AnthropicSecret = "sk-ant-SECRET-anthropic-0123";
    private const string GeminiHeaderSecret = "AIzaSECRET-header-0123";
    private const string GeminiQuerySecret = "AIzaSECRET-query-0123";
    private const string OllamaSecret = "SECRET-ollama-bearer-0123";

    private static IEnumerable<HttpRequestMessage> Requests(string suffix)
    {
        yield return Anthropic(apiKey: AnthropicSecret + suffix);
        yield return Anthropic(AnthropicBody[..^1] + ",\"stream\":true}", apiKey: AnthropicSecret + suffix);
        yield return Gemini(apiKey: GeminiHeaderSecret + suffix);
        yield return Gemini("streamGenerateContent", apiKey: null, queryKey: GeminiQuerySecret + suffix, query: "?alt=sse");
        var ollama = Ollama();
        ollama.Headers.TryAddWithoutValidation("Authorization", "Bearer " + OllamaSecret + suffix);
        yield return ollama;
    }

    private static void AssertNoSecret(string text, string where)
    {
        foreach (string secret in new[] { AnthropicSecret, GeminiHeaderSecret, GeminiQuerySecret, OllamaSecret })
        {
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{where} holds a credential ({secret})");
        }
    }

    [Fact]
    public async Task Cassettes_never_hold_native_credentials_and_replay_with_other_ones()
    {
        using var directory = new CassetteDirectory();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        int stored = 0;
        var allStored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new ChatCacheStrategyOptions
        {
            Store = ChatCacheStoreKind.Cassette,
            CassetteDirectory = directory.Path,
            CassetteMode = ChatCacheCassetteMode.Record,
            OnResponseStored = _ =>
            {
                if (Interlocked.Increment(ref stored) == 5)
                {
                    allStored.TrySetResult();
                }

                return default;
            },
        };
        using (var recording = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time)))
        {
            recording.Responder = Answer;
            foreach (var request in Requests("-1"))
            {
                using var response = await recording.SendAsync(request, TestContext.Current.CancellationToken);
                await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            }

            await allStored.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }

        Assert.Equal(5, directory.Files.Length);
        Assert.Contains(directory.Files, f => f.StartsWith("anthropic/messages/", StringComparison.Ordinal));
        Assert.Contains(directory.Files, f => f.StartsWith("gemini/stream-generate-content/", StringComparison.Ordinal));
        Assert.Contains(directory.Files, f => f.StartsWith("ollama/chat/", StringComparison.Ordinal));
        AssertNoSecret(directory.AllText, "a cassette file");
        Assert.Contains("2023-06-01", directory.AllText, StringComparison.Ordinal); // anthropic-version is shown for review

        // A new run with other credentials and no network replays every recording.
        options.CassetteMode = ChatCacheCassetteMode.Replay;
        options.OnResponseStored = null;
        using var replay = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time));
        foreach (var request in Requests("-2"))
        {
            using var response = await replay.SendAsync(request, TestContext.Current.CancellationToken);
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.Contains("hit", response.CacheStatus(), StringComparison.Ordinal);
        }

        Assert.Equal(0, replay.UpstreamCalls);
    }

    [Fact]
    public async Task Logs_and_metric_tags_never_hold_native_credentials()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        var logger = new FakeLogger();
        var requests = new MetricCollector<long>(meterFactory, "ChatCachePolly", "chatcache.requests");
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { ExplainMisses = true }, meterFactory: meterFactory, logger: logger);
        harness.Responder = Answer;
        for (int round = 0; round < 2; round++)
        {
            foreach (var request in Requests("-1"))
            {
                using var response = await harness.SendAsync(request, TestContext.Current.CancellationToken);
                await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            }
        }

        Assert.Equal(5, harness.UpstreamCalls);
        Assert.NotEmpty(logger.Collector.GetSnapshot());
        AssertNoSecret(string.Join('\n', logger.Collector.GetSnapshot().Select(r => r.Message + " " + string.Join(',', r.StructuredState ?? []))), "a log record");
        var tags = requests.GetMeasurementSnapshot().SelectMany(m => m.Tags).Select(t => t.Key + "=" + t.Value).ToList();
        Assert.NotEmpty(tags);
        AssertNoSecret(string.Join('\n', tags), "a metric tag");
        Assert.Contains("chatcache.endpoint=anthropic_messages", tags);
        Assert.Contains("chatcache.endpoint=gemini_stream_generate_content", tags);
        Assert.Contains("chatcache.endpoint=ollama_chat", tags);
        requests.Dispose();
    }
}
