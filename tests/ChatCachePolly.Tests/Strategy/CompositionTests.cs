using System.Net;
using System.Net.Http.Json;
using System.Text;
using ChatCachePolly.Tests.Support;
using Polly;
using Polly.Retry;

namespace ChatCachePolly.Tests.Strategy;

public sealed class CompositionTests
{
    private static void RetryAndTimeout(ResiliencePipelineBuilder<HttpResponseMessage> pipeline) => pipeline
        .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is HttpRequestException || (int?)args.Outcome.Result?.StatusCode >= 500),
            Delay = TimeSpan.Zero,
            MaxRetryAttempts = 3,
        })
        .AddTimeout(TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Miss_stores_only_the_final_outcome_after_retries_and_the_next_request_hits_with_no_upstream_call()
    {
        using var harness = CacheHarness.Create(addInner: RetryAndTimeout);
        int calls = 0;
        harness.Responder = _ => ++calls == 1
            ? CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError)
            : CacheHarness.Json(Fixtures.Response("chat.json"));

        using var first = await harness.PostChatAsync();
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Contains("stored", first.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);

        using var second = await harness.PostChatAsync();
        Assert.Contains("hit", second.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Every_retry_attempt_resends_the_same_body_even_from_a_one_shot_content()
    {
        using var harness = CacheHarness.Create(addInner: RetryAndTimeout);
        int calls = 0;
        harness.Responder = _ => ++calls < 3
            ? CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError)
            : CacheHarness.Json(Fixtures.Response("chat.json"));
        string body = Fixtures.Request("chat.request.json");
        using var request = new HttpRequestMessage(HttpMethod.Post, CacheHarness.ChatUrl)
        {
            Content = new OneShotContent(Encoding.UTF8.GetBytes(body)) { Headers = { ContentType = new("application/json") } },
        };

        using var response = await harness.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([body, body, body], harness.UpstreamBodies);
        Assert.Contains("stored", response.CacheStatus());
    }

    [Fact]
    public async Task A_body_of_unknown_length_passes_through_unread()
    {
        using var harness = CacheHarness.Create();
        string body = Fixtures.Request("chat.request.json");
        using var request = new HttpRequestMessage(HttpMethod.Post, CacheHarness.ChatUrl)
        {
            Content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes(body))) { Headers = { ContentType = new("application/json") } },
        };

        using var response = await harness.SendAsync(request);

        Assert.Equal(body, Assert.Single(harness.UpstreamBodies)); // the upstream read it, not the cache
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=request-length-unknown", response.CacheStatus());
    }

    [Fact]
    public async Task Json_content_without_a_declared_length_is_cached_and_over_the_cap_passes_through_whole()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxRequestBodyBytes = 1024 });
        var small = new { model = "gpt-4o-mini", messages = new[] { new { role = "user", content = "hi" } } };
        var large = new { model = "gpt-4o-mini", messages = new[] { new { role = "user", content = new string('x', 4096) } } };

        (await harness.Client.PostAsJsonAsync(CacheHarness.ChatUrl, small)).Dispose();
        using var hit = await harness.Client.PostAsJsonAsync(CacheHarness.ChatUrl, small);
        using var tooLarge = await harness.Client.PostAsJsonAsync(CacheHarness.ChatUrl, large);

        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=request-too-large", tooLarge.CacheStatus());
        Assert.Contains(new string('x', 4096), harness.UpstreamBodies[^1]); // sent whole
    }

    /// <summary>A content that declares its length but can be serialized only once: re-sends must not depend on it.</summary>
    private sealed class OneShotContent(byte[] data) : HttpContent
    {
        private int _serialized;

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            if (Interlocked.Exchange(ref _serialized, 1) != 0)
            {
                throw new InvalidOperationException("This content can be serialized only once.");
            }

            await stream.WriteAsync(data);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = data.Length;
            return true;
        }
    }

    [Fact]
    public async Task Hit_skips_the_inner_strategies()
    {
        int attempts = 0;
        using var harness = CacheHarness.Create(addInner: p => p.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            ShouldHandle = _ => ValueTask.FromResult(false),
            OnRetry = _ => default,
        }).AddStrategy(_ => new CountingStrategy(() => attempts++), new CountingOptions()));

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();

        Assert.Equal(1, attempts);
    }

    private sealed class CountingOptions : ResilienceStrategyOptions;

    private sealed class CountingStrategy(Action onExecute) : ResilienceStrategy<HttpResponseMessage>
    {
        protected override ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
        {
            onExecute();
            return callback(context, state);
        }
    }
}

public sealed class ReentryTests
{
    [Theory]
    [InlineData("string")]
    [InlineData("stream")]
    public async Task The_same_request_message_keyed_twice_gets_the_same_key_as_an_outer_retry_would(string contentKind)
    {
        using var harness = CacheHarness.Create();
        string body = Fixtures.Request("chat.request.json");
        using var request = new HttpRequestMessage(HttpMethod.Post, CacheHarness.ChatUrl)
        {
            Content = contentKind == "string"
                ? new StringContent(body, System.Text.Encoding.UTF8, "application/json")
                : new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body))) { Headers = { ContentType = new("application/json") } },
        };

        int upstreamCalls = 0;
        async Task<HttpResponseMessage> RunAsync()
        {
            var context = Polly.ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
            context.SetRequestMessage(request);
            try
            {
                return await harness.Pipeline.ExecuteAsync(
                    _ =>
                    {
                        upstreamCalls++;
                        return ValueTask.FromResult(CacheHarness.Json(Fixtures.Response("chat.json")));
                    },
                    context);
            }
            finally
            {
                Polly.ResilienceContextPool.Shared.Return(context);
            }
        }

        using var first = await RunAsync();
        using var second = await RunAsync();

        Assert.Equal("stored", first.CacheStatus().Split("; ")[2]);
        Assert.StartsWith("ChatCachePolly; hit", second.CacheStatus());
        Assert.Equal(1, upstreamCalls);
        Assert.Equal(body, await request.Content.ReadAsStringAsync()); // still readable by whoever sends it next
    }
}
