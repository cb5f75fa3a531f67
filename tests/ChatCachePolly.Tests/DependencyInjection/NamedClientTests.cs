using System.Net;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.DependencyInjection;

public sealed class NamedClientTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly MockHttpMessageHandler _upstream = new();
    private int _calls;

    public NamedClientTests() =>
        _upstream.Fallback.Respond(_ =>
        {
            Interlocked.Increment(ref _calls);
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        });

    private ServiceCollection Services()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        return services;
    }

    private IHttpResiliencePipelineBuilder AddCachedClient(IServiceCollection services, string name) => services
        .AddHttpClient(name)
        .ConfigurePrimaryHttpMessageHandler(() => _upstream)
        .AddResilienceHandler("chat", (pipeline, context) => pipeline
            .AddChatCache(context)
            .AddRetry(new HttpRetryStrategyOptions())
            .AddTimeout(TimeSpan.FromSeconds(60)));

    private static async Task<string> SendAsync(IServiceProvider provider, string client)
    {
        using var response = await provider.GetRequiredService<IHttpClientFactory>().CreateClient(client).SendAsync(CacheHarness.ChatRequest());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.CacheStatus();
    }

    [Fact]
    public async Task The_readme_snippet_works_as_written_and_reads_options_named_after_the_client()
    {
        var services = Services();
        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => _upstream)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new HttpRetryStrategyOptions())
                .AddTimeout(TimeSpan.FromSeconds(60)));
        services.Configure<ChatCacheStrategyOptions>("openai", o => o.TimeToLive = TimeSpan.FromMinutes(30));
        await using var provider = services.BuildServiceProvider();

        Assert.Contains("stored", await SendAsync(provider, "openai"));
        _time.Advance(TimeSpan.FromMinutes(29));
        Assert.Contains("hit", await SendAsync(provider, "openai"));
        _time.Advance(TimeSpan.FromMinutes(2)); // past the configured 30 minutes, well inside the 1 hour default
        Assert.Contains("fwd=stale", await SendAsync(provider, "openai"));
        Assert.Equal(2, _calls);
    }

    [Fact]
    public async Task Client_names_with_dashes_resolve_to_their_own_options()
    {
        var services = Services();
        AddCachedClient(services, "my-openai");
        AddCachedClient(services, "my");
        services.Configure<ChatCacheStrategyOptions>("my-openai", o => o.Enabled = false);
        services.Configure<ChatCacheStrategyOptions>("my", o => o.TimeToLive = TimeSpan.FromMinutes(5));
        await using var provider = services.BuildServiceProvider();

        Assert.Contains("detail=disabled", await SendAsync(provider, "my-openai"));
        Assert.Contains("stored", await SendAsync(provider, "my"));
    }

    [Fact]
    public async Task Two_named_clients_never_share_entries()
    {
        var services = Services();
        AddCachedClient(services, "a");
        AddCachedClient(services, "b");
        await using var provider = services.BuildServiceProvider();

        Assert.Contains("stored", await SendAsync(provider, "a"));
        Assert.Contains("stored", await SendAsync(provider, "b"));
        Assert.Contains("hit", await SendAsync(provider, "a"));
        Assert.Contains("hit", await SendAsync(provider, "b"));
        Assert.Equal(2, _calls);
    }

    [Fact]
    public async Task Two_named_clients_share_entries_when_given_the_same_partition()
    {
        var services = Services();
        AddCachedClient(services, "a");
        AddCachedClient(services, "b");
        services.Configure<ChatCacheStrategyOptions>("a", o => o.Partition = "shared");
        services.Configure<ChatCacheStrategyOptions>("b", o => o.Partition = "shared");
        await using var provider = services.BuildServiceProvider();

        Assert.Contains("stored", await SendAsync(provider, "a"));
        Assert.Contains("hit", await SendAsync(provider, "b"));
        Assert.Equal(1, _calls);
    }

    [Fact]
    public async Task Reloaded_options_apply_without_losing_cached_entries()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ChatCache:TimeToLive"] = "01:00:00" }).Build();
        var services = Services();
        AddCachedClient(services, "openai");
        services.AddChatCacheOptions("openai").Bind(configuration.GetSection("ChatCache"));
        await using var provider = services.BuildServiceProvider();

        Assert.Contains("stored", await SendAsync(provider, "openai"));

        configuration["ChatCache:TimeToLive"] = "00:10:00";
        configuration["ChatCache:MaxEntries"] = "50";
        configuration.Reload();
        Assert.Equal(TimeSpan.FromMinutes(10), provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai").TimeToLive);

        // The entry stored before the reload is still there...
        Assert.Contains("hit", await SendAsync(provider, "openai"));
        Assert.Equal(1, _calls);

        // ...and the new time-to-live applies to what is stored from now on.
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
        const string other = """{"model":"m","messages":[{"role":"user","content":"stored after the reload"}]}""";
        Assert.Contains("stored", (await client.SendAsync(CacheHarness.ChatRequest(other))).CacheStatus());
        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.Contains("fwd=stale", (await client.SendAsync(CacheHarness.ChatRequest(other))).CacheStatus());
        Assert.Contains("hit", await SendAsync(provider, "openai")); // stored under the 1 hour TTL

        configuration["ChatCache:Enabled"] = "false";
        configuration.Reload();
        Assert.Contains("detail=disabled", await SendAsync(provider, "openai"));
    }

    [Fact]
    public async Task Reload_to_a_smaller_capacity_evicts_down_to_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ChatCache:MaxEntries"] = "10" }).Build();
        var services = Services();
        AddCachedClient(services, "openai");
        services.AddChatCacheOptions("openai").Bind(configuration.GetSection("ChatCache"));
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
        for (int i = 0; i < 3; i++)
        {
            (await client.SendAsync(CacheHarness.ChatRequest($$"""{"model":"m","messages":[{"role":"user","content":"{{i}}"}]}"""))).Dispose();
        }

        configuration["ChatCache:MaxEntries"] = "1";
        configuration.Reload();
        (await client.SendAsync(CacheHarness.ChatRequest("""{"model":"m","messages":[{"role":"user","content":"x"}]}"""))).Dispose();

        using var oldest = await client.SendAsync(CacheHarness.ChatRequest("""{"model":"m","messages":[{"role":"user","content":"2"}]}"""));
        Assert.Contains("fwd=miss", oldest.CacheStatus());
    }

    [Fact]
    public async Task Invalid_options_fail_host_start_with_a_clear_message()
    {
        var builder = Host.CreateApplicationBuilder();
        AddCachedClient(builder.Services, "openai");
        builder.Services.AddChatCacheOptions("openai").Configure(o =>
        {
            o.MaxEntries = 0;
            o.IgnoredBodyFields = ["user", "stream"];
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("MaxEntries", error.Message);
        Assert.Contains("'stream'", error.Message);
    }

    [Fact]
    public void Invalid_options_are_rejected_when_the_pipeline_is_built_without_di()
    {
        var error = Assert.Throws<System.ComponentModel.DataAnnotations.ValidationException>(() =>
            new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.Zero }));

        Assert.Contains("TimeToLive", error.Message);
    }

    [Fact]
    public async Task A_client_without_any_registered_options_caches_with_the_defaults()
    {
        var services = Services();
        AddCachedClient(services, "plain");
        await using var provider = services.BuildServiceProvider();

        Assert.Contains("stored", await SendAsync(provider, "plain"));
        Assert.Contains("hit", await SendAsync(provider, "plain"));
    }
}
