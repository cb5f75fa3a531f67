using Anthropic;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.IntegrationTests;

/// <summary><c>AddChatCachedAnthropic</c>: the keyed SDK clients over the cached HttpClient, its defaults, retries, faults, validation.</summary>
public sealed class AnthropicPackageTests
{
    private const string Name = "claude";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void Configure(ChatCachedAnthropicOptions options, LoopbackOpenAIServer server, string apiKey = "sk-ant-test")
    {
        options.ApiKey = apiKey;
        options.Endpoint = server.BaseAddress;
        options.ChatModel = ProviderPayloads.AnthropicModel;
        options.DefaultMaxOutputTokens = 256;
        options.RetryDelay = TimeSpan.FromMilliseconds(10);
    }

    private static async Task<(LoopbackOpenAIServer Server, ServiceProvider Services)> StartAsync(Action<IServiceCollection, LoopbackOpenAIServer>? register = null)
    {
        var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var services = new ServiceCollection();
        if (register is null)
        {
            services.AddChatCachedAnthropic(Name, o => Configure(o, server));
        }
        else
        {
            register(services, server);
        }

        return (server, services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));
    }

    private static async Task<string> StreamAsync(IChatClient chat, string prompt)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var update in chat.GetStreamingResponseAsync(prompt, cancellationToken: Ct))
        {
            text.Append(update.Text);
        }

        return text.ToString();
    }

    [Fact]
    public async Task Keyed_chat_client_hits_on_the_second_call_streamed_and_not()
    {
        var (server, services) = await StartAsync();
        await using var _ = server;
        using var __ = services;
        var chat = services.GetRequiredKeyedService<IChatClient>(Name);

        var first = await chat.GetResponseAsync("Hello Claude", cancellationToken: Ct);
        var second = await chat.GetResponseAsync("Hello Claude", cancellationToken: Ct);
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(1, server.CountFor("/v1/messages"));

        string streamed = await StreamAsync(chat, "Stream, Claude");
        Assert.Equal(streamed, await StreamAsync(chat, "Stream, Claude"));
        Assert.Equal(2, server.CountFor("/v1/messages"));
        Assert.Same(services.GetRequiredKeyedService<AnthropicClient>(Name), services.GetRequiredKeyedService<IAnthropicClient>(Name));
    }

    [Fact]
    public async Task The_sdk_neither_retries_nor_times_out_above_the_pipeline()
    {
        var (server, services) = await StartAsync();
        await using var _ = server;
        using var __ = services;
        var client = services.GetRequiredKeyedService<AnthropicClient>(Name);
        Assert.Equal(0, client.MaxRetries);
        Assert.Equal(Timeout.InfiniteTimeSpan, client.Timeout);
        Assert.Equal(Timeout.InfiniteTimeSpan, services.GetRequiredService<IHttpClientFactory>().CreateClient(Name).Timeout);
    }

    [Fact]
    public async Task An_overloaded_529_is_retried_below_the_cache_and_only_the_success_is_stored()
    {
        var (server, services) = await StartAsync();
        await using var _ = server;
        using var __ = services;
        server.EnqueueFault(LoopbackFault.Status(529, ProviderPayloads.AnthropicError()).ForPath("/v1/messages"));
        var chat = services.GetRequiredKeyedService<IChatClient>(Name);

        var first = await chat.GetResponseAsync("Busy?", cancellationToken: Ct);
        Assert.Equal(2, server.CountFor("/v1/messages")); // the 529, then the retry
        var second = await chat.GetResponseAsync("Busy?", cancellationToken: Ct);
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(2, server.CountFor("/v1/messages"));
    }

    [Fact]
    public async Task A_429_with_retry_after_is_retried_and_then_cached()
    {
        var (server, services) = await StartAsync();
        await using var _ = server;
        using var __ = services;
        server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.FromMilliseconds(10)).ForPath("/v1/messages"));
        var chat = services.GetRequiredKeyedService<IChatClient>(Name);
        await chat.GetResponseAsync("Rate limited?", cancellationToken: Ct);
        await chat.GetResponseAsync("Rate limited?", cancellationToken: Ct);
        Assert.Equal(2, server.CountFor("/v1/messages"));
    }

    [Theory]
    [InlineData(LoopbackFaultKind.ErrorEventMidStream)]
    [InlineData(LoopbackFaultKind.EndStreamMidStream)]
    [InlineData(LoopbackFaultKind.DropConnectionMidStream)]
    public async Task A_broken_stream_is_never_stored(LoopbackFaultKind kind)
    {
        var (server, services) = await StartAsync();
        await using var _ = server;
        using var __ = services;
        server.EnqueueFault((kind switch
        {
            LoopbackFaultKind.ErrorEventMidStream => LoopbackFault.ErrorEventMidStream(3),
            LoopbackFaultKind.EndStreamMidStream => LoopbackFault.EndStreamMidStream(3),
            _ => LoopbackFault.DropConnectionMidStream(3),
        }).ForPath("/v1/messages"));
        var chat = services.GetRequiredKeyedService<IChatClient>(Name);

        string? broken = null;
        try
        {
            broken = await StreamAsync(chat, "Break, Claude");
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            // The SDK reports the broken stream its own way; what matters is what the cache kept.
        }

        string whole = await StreamAsync(chat, "Break, Claude");
        Assert.Equal(2, server.CountFor("/v1/messages")); // the broken answer was not served from the cache
        Assert.Contains("Break, Claude", whole, StringComparison.Ordinal);
        Assert.NotEqual(whole, broken);
        Assert.Equal(whole, await StreamAsync(chat, "Break, Claude")); // the whole one was
        Assert.Equal(2, server.CountFor("/v1/messages"));
    }

    [Fact]
    public async Task Binds_from_configuration_with_a_cache_section()
    {
        var (server, services) = await StartAsync((services, server) =>
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Anthropic:claude:ApiKey"] = "sk-ant-config",
                ["Anthropic:claude:Endpoint"] = server.BaseAddress.ToString(),
                ["Anthropic:claude:ChatModel"] = ProviderPayloads.AnthropicModel,
                ["Anthropic:claude:MaxRetryAttempts"] = "1",
                ["Anthropic:claude:Cache:Protocols"] = "Anthropic",
                ["Anthropic:claude:Cache:TimeToLive"] = "00:10:00",
            }).Build();
            services.AddChatCachedAnthropic(Name, configuration.GetSection("Anthropic:claude"));
        });
        await using var _ = server;
        using var __ = services;
        var options = services.GetRequiredService<IOptionsMonitor<ChatCachedAnthropicOptions>>().Get(Name);
        Assert.Equal(1, options.MaxRetryAttempts);
        var cache = services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get(Name);
        Assert.Equal(ChatCacheProtocol.Anthropic, cache.Protocols);
        Assert.Equal(TimeSpan.FromMinutes(10), cache.TimeToLive);

        var chat = services.GetRequiredKeyedService<IChatClient>(Name);
        await chat.GetResponseAsync("From configuration", cancellationToken: Ct);
        await chat.GetResponseAsync("From configuration", cancellationToken: Ct);
        Assert.Equal(1, server.CountFor("/v1/messages"));
        // The SDK (13.15) sends the key as a bearer token; older releases sent x-api-key. The cache keys both as credentials.
        var headers = server.Requests[0].Headers;
        Assert.True(headers.GetValueOrDefault("x-api-key") == "sk-ant-config" || headers.GetValueOrDefault("Authorization") == "Bearer sk-ant-config");
    }

    [Fact]
    public async Task Start_up_fails_without_a_credential_and_names_the_setting_not_a_secret()
    {
        var services = new ServiceCollection();
        services.AddChatCachedAnthropic(Name, o =>
        {
            o.ChatModel = "claude-sonnet-4-5";
            o.AttemptTimeout = TimeSpan.FromMinutes(40); // more than the total (30 minutes)
        });
        services.AddLogging();
        using var provider = services.BuildServiceProvider();
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => StartHostedAsync(provider));
        Assert.Contains("ChatCachedAnthropic 'claude': ApiKey (or AuthToken) is required", exception.Message, StringComparison.Ordinal);
        Assert.Contains("TotalTimeout", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cassette_replay_needs_no_credential()
    {
        var services = new ServiceCollection();
        services.AddChatCachedAnthropic(Name, o => o.ChatModel = "claude-sonnet-4-5")
            .CacheOptions.Configure(c =>
            {
                c.Store = ChatCacheStoreKind.Cassette;
                c.CassetteDirectory = Path.Combine(Path.GetTempPath(), "ccp-anthropic-" + Guid.NewGuid().ToString("N"));
                c.CassetteMode = ChatCacheCassetteMode.Replay;
            });
        using var provider = services.BuildServiceProvider();
        await StartHostedAsync(provider);
        Assert.NotNull(provider.GetRequiredKeyedService<IChatClient>(Name));
    }

    [Fact]
    public void A_name_registers_once_and_a_chat_client_needs_a_model()
    {
        var services = new ServiceCollection();
        services.AddChatCachedAnthropic(Name, o => o.ApiKey = "sk-ant-test");
        Assert.Throws<InvalidOperationException>(() => services.AddChatCachedAnthropic(Name, o => o.ApiKey = "sk-ant-test"));
        using var provider = services.BuildServiceProvider();
        var exception = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<IChatClient>(Name));
        Assert.Contains("ChatModel", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_names_with_two_keys_never_share()
    {
        var (server, services) = await StartAsync((services, server) =>
        {
            services.AddChatCachedAnthropic("a", o => Configure(o, server, "sk-ant-a")).CacheOptions.Configure(c => c.Partition = "shared");
            services.AddChatCachedAnthropic("b", o => Configure(o, server, "sk-ant-b")).CacheOptions.Configure(c => c.Partition = "shared");
        });
        await using var _ = server;
        using var __ = services;
        await services.GetRequiredKeyedService<IChatClient>("a").GetResponseAsync("Same", cancellationToken: Ct);
        await services.GetRequiredKeyedService<IChatClient>("b").GetResponseAsync("Same", cancellationToken: Ct);
        Assert.Equal(2, server.CountFor("/v1/messages"));
    }

    /// <summary>Runs what a host runs at start: the options validation registered with ValidateOnStart.</summary>
    private static async Task StartHostedAsync(IServiceProvider provider)
    {
        foreach (var service in provider.GetServices<IHostedService>())
        {
            await service.StartAsync(Ct);
        }

        provider.GetRequiredService<IStartupValidator>().Validate();
    }
}
