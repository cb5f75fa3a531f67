using System.Net;
using System.Text;
using ChatCachePolly.DocsSnippets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.DocsTests;

/// <summary>Runs a few documented snippets against a counting fake upstream: they do what the docs say.</summary>
public sealed class SmokeTests
{
    private const string ChatJson = """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}""";

    [Fact]
    public async Task Readme_pipeline_answers_the_second_identical_call_from_the_cache()
    {
        var upstream = new CountingUpstream();
        var services = new ServiceCollection();
        Readme.OneLiner(services).ConfigurePrimaryHttpMessageHandler(() => upstream);
        await using var provider = services.BuildServiceProvider();

        string? status = await Readme.TwiceAsync(provider.GetRequiredService<IHttpClientFactory>());

        Assert.Equal(1, upstream.Calls);
        Assert.NotNull(status);
        Assert.StartsWith("ChatCachePolly; hit; key=", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_handler_before_the_standard_handler_hits()
    {
        var upstream = new CountingUpstream();
        var services = new ServiceCollection();
        PipelineOrder.WithStandardHandler(services)
            .ConfigureHttpClient(http => http.BaseAddress = new Uri("https://api.openai.com/v1/"))
            .ConfigurePrimaryHttpMessageHandler(() => upstream);
        await using var provider = services.BuildServiceProvider();
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");

        string first = await GettingStarted.AskAsync(http, ChatJson);
        string second = await GettingStarted.AskAsync(http, ChatJson);

        Assert.Equal(1, upstream.Calls);
        Assert.Contains("fwd=miss; stored", first, StringComparison.Ordinal);
        Assert.StartsWith("ChatCachePolly; hit", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stale_if_error_with_a_circuit_breaker_builds_and_caches()
    {
        var upstream = new CountingUpstream();
        var services = new ServiceCollection();
        PipelineOrder.StaleIfErrorWithCircuitBreaker(services)
            .ConfigureHttpClient(http => http.BaseAddress = new Uri("https://api.openai.com/v1/"))
            .ConfigurePrimaryHttpMessageHandler(() => upstream);
        await using var provider = services.BuildServiceProvider();
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");

        await GettingStarted.AskAsync(http, ChatJson);
        string second = await GettingStarted.AskAsync(http, ChatJson);

        Assert.Equal(1, upstream.Calls);
        Assert.StartsWith("ChatCachePolly; hit", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_cache_refreshes_and_only_if_cached_never_calls_upstream()
    {
        var upstream = new CountingUpstream();
        var services = new ServiceCollection();
        Configuration.Bind(services);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddHttpClient("openai")
            .ConfigureHttpClient(http => http.BaseAddress = new Uri("https://api.openai.com/v1/"))
            .ConfigurePrimaryHttpMessageHandler(() => upstream);
        await using var provider = services.BuildServiceProvider();
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");

        using (var nothingCached = await Configuration.OnlyIfCachedAsync(http, ChatJson))
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, nothingCached.StatusCode);
            Assert.Equal(0, upstream.Calls);
        }

        using (var refreshed = await Configuration.RefreshAsync(http, ChatJson))
        {
            Assert.StartsWith("ChatCachePolly; fwd=request; stored", refreshed.Headers.GetValues("Cache-Status").Single(), StringComparison.Ordinal);
            Assert.Equal(1, upstream.Calls);
        }

        using var cached = await Configuration.OnlyIfCachedAsync(http, ChatJson);
        Assert.Equal(HttpStatusCode.OK, cached.StatusCode);
        Assert.Equal(1, upstream.Calls);
    }

    [Fact]
    public void Configuration_json_of_the_docs_binds_every_key_and_validates()
    {
        // Every ```json block under docs/ that has a "ChatCache" section must bind to ChatCacheStrategyOptions with no unknown
        // key (a misspelt option fails) and pass the start-up validation.
        var blocks = DocFiles.MarkdownFiles().SelectMany(DocFiles.CodeBlocks)
            .Where(b => b.Language == "json" && b.Code.Contains("\"ChatCache\"", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(blocks);

        foreach (var block in blocks)
        {
            var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(block.Code))).Build();
            foreach (var client in configuration.GetSection("ChatCache").GetChildren())
            {
                var services = new ServiceCollection();
                services.AddSingleton<IConfiguration>(configuration);
                services.AddDistributedMemoryCache(); // for the examples that choose a distributed store
                services.AddChatCacheOptions(client.Key)
                    .BindConfiguration("ChatCache:" + client.Key, binder => binder.ErrorOnUnknownConfiguration = true);
                using var provider = services.BuildServiceProvider();

                var exception = Record.Exception(() => provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get(client.Key));
                Assert.True(exception is null, $"{block.File}({block.Line}) ChatCache:{client.Key}: {exception?.Message}");
            }
        }
    }

    /// <summary>A fake OpenAI upstream that answers every request with one complete chat completion and counts calls.</summary>
    private sealed class CountingUpstream : HttpMessageHandler
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
            {
                RequestMessage = request,
                Content = new StringContent(
                    """{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi."},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}""",
                    Encoding.UTF8,
                    "application/json"),
            });
        }
    }
}
