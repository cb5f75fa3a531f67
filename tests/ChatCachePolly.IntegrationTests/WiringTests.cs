using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenAI;
using OpenAI.Chat;
using Polly;
using static ChatCachePolly.IntegrationTests.Harness;

namespace ChatCachePolly.IntegrationTests;

public sealed class WiringTests
{
    private static readonly ChatMessage[] Question = [new UserChatMessage("What is the capital of France?")];

    [Fact]
    public async Task Azure_deployment_url_keys_on_api_version()
    {
        await using var h = await StartAsync();
        using var http = h.Services.GetRequiredService<IHttpClientFactory>().CreateClient(Name);
        const string body = """{"messages":[{"role":"user","content":"What is the capital of France?"}]}""";

        async Task<string> PostAsync(string apiVersion)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(h.Server.BaseAddress, $"openai/deployments/gpt-4o-mini/chat/completions?api-version={apiVersion}"))
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("api-key", "azure-key");
            using var response = await http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return string.Join(", ", response.Headers.GetValues("Cache-Status"));
        }

        AssertStoredMiss(await PostAsync("2024-10-21"));
        AssertHit(await PostAsync("2024-10-21"));
        AssertStoredMiss(await PostAsync("2025-04-01-preview"));
        Assert.Equal(2, h.Server.CountFor("/openai/deployments/gpt-4o-mini/chat/completions"));
    }

    [Fact]
    public async Task Rate_limited_then_ok_is_retried_by_the_pipeline_and_only_the_200_is_stored()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        h.Server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.FromSeconds(1)));

        var first = await chat.CompleteChatAsync(Question, cancellationToken: Ct);
        h.Server.ResetCounters();
        var second = await chat.CompleteChatAsync(Question, cancellationToken: Ct);

        AssertStoredMiss(Status(first));
        AssertHit(Status(second));
        Assert.Equal(0, h.Server.RequestCount);
        Assert.Equal(first.Value.Content[0].Text, second.Value.Content[0].Text);
    }

    [Fact]
    public async Task Rate_limited_twice_reaches_upstream_three_times_retry_after_honoured()
    {
        await using var h = await StartAsync();
        h.Server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.FromSeconds(1)));
        h.Server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.Zero));
        var started = System.Diagnostics.Stopwatch.StartNew();

        var result = await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);

        AssertStoredMiss(Status(result));
        Assert.Equal(3, h.ChatCalls);
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(0.9), $"Retry-After: 1 was not honoured ({started.Elapsed}).");
    }

    [Fact]
    public async Task Sdk_retries_are_off_so_the_pipeline_alone_decides()
    {
        await using var h = await StartAsync(
            (services, server) => services.AddChatCachedOpenAI("no-retry", o =>
            {
                Configure(o, server);
                o.MaxRetryAttempts = 0;
            }),
            registerDefault: false);
        h.Server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.Zero));
        h.Server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.Zero));

        var error = await Assert.ThrowsAsync<ClientResultException>(() => h.Get<ChatClient>("no-retry").CompleteChatAsync(Question, cancellationToken: Ct));

        Assert.Equal(429, error.Status);
        Assert.Equal(1, h.ChatCalls); // the SDK's default policy would have retried up to 3 times
        Assert.Contains("fwd=miss; fwd-status=429", Status(error.GetRawResponse()!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Sdk_works_on_hits_and_misses_with_default_and_production_settings(bool sdkDefaults)
    {
        var recorder = new CacheStatusRecorder();
        await using var h = await StartAsync(
            (services, server) =>
            {
                // A plain cached HttpClient: only the cache, HttpClient.Timeout at its default of 100 s.
                services.AddChatCacheOptions("plain");
                services.AddHttpClient("plain").AddResilienceHandler("cache", (pipeline, context) => pipeline.AddChatCache(context));
                services.AddChatCachedOpenAI("production", o => Configure(o, server))
                    .ConfigureClientOptions((_, options) => options.AddPolicy(recorder, PipelinePosition.PerCall));
            },
            registerDefault: false);

        ChatClient chat;
        if (sdkDefaults)
        {
            // The SDK's defaults: its own retry policy (3 retries), NetworkTimeout 100 s.
            var options = new OpenAIClientOptions { Endpoint = h.Server.OpenAIEndpoint, Transport = new HttpClientPipelineTransport(h.Services.GetRequiredService<IHttpClientFactory>().CreateClient("plain")) };
            options.AddPolicy(recorder, PipelinePosition.PerCall);
            chat = new OpenAIClient(new ApiKeyCredential("sk-test"), options).GetChatClient(ChatModel);
        }
        else
        {
            chat = h.Get<ChatClient>("production");
        }

        var miss = await chat.CompleteChatAsync(Question, cancellationToken: Ct);
        var hit = await chat.CompleteChatAsync(Question, cancellationToken: Ct);
        var otherMiss = await chat.CompleteChatAsync([new UserChatMessage("Tell me about caching.")], cancellationToken: Ct);

        AssertStoredMiss(Status(miss));
        AssertHit(Status(hit));
        AssertStoredMiss(Status(otherMiss));
        Assert.Equal(miss.Value.Content[0].Text, hit.Value.Content[0].Text);
        Assert.Equal(2, h.ChatCalls);
        Assert.Equal([Status(miss), Status(hit), Status(otherMiss)], recorder.Statuses);
    }

    [Fact]
    public async Task A_standard_resilience_handler_from_http_client_defaults_is_removed()
    {
        // The standard handler's attempt timeout (10 s by default, 1 s here) would cut a slow completion.
        await using var h = await StartAsync(
            (services, server) =>
            {
                services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler(o =>
                {
                    o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(1);
                    o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(2);
                }));
                services.AddChatCachedOpenAI(Name, o => Configure(o, server));
            },
            registerDefault: false);
        h.Server.EnqueueFault(LoopbackFault.Delay(TimeSpan.FromSeconds(1.5)));

        var result = await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);

        AssertStoredMiss(Status(result));
        Assert.Equal(1, h.ChatCalls);
    }

    [Fact]
    public async Task Attempt_timeout_cuts_a_hung_attempt_and_the_retry_succeeds()
    {
        await using var h = await StartAsync(
            (services, server) => services.AddChatCachedOpenAI(Name, o =>
            {
                Configure(o, server);
                o.AttemptTimeout = TimeSpan.FromMilliseconds(500);
            }),
            registerDefault: false);
        h.Server.EnqueueFault(LoopbackFault.Delay(TimeSpan.FromSeconds(30)));

        var result = await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);

        AssertStoredMiss(Status(result));
        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task Configuration_section_binds_the_client_and_its_cache_sub_section()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OpenAI:ApiKey"] = "sk-config",
            ["OpenAI:Endpoint"] = server.OpenAIEndpoint.ToString(),
            ["OpenAI:ChatModel"] = "gpt-4o-mini",
            ["OpenAI:AttemptTimeout"] = "00:02:00",
            ["OpenAI:MaxRetryAttempts"] = "1",
            ["OpenAI:Cache:TimeToLive"] = "00:30:00",
            ["Fresh:ApiKey"] = "sk-config",
            ["Fresh:Endpoint"] = server.OpenAIEndpoint.ToString(),
            ["Fresh:ChatModel"] = "gpt-4o-mini",
            ["Fresh:Cache:Enabled"] = "false",
        }).Build();
        var services = new ServiceCollection();
        services.AddChatCachedOpenAI("openai", configuration.GetSection("OpenAI"));
        services.AddChatCachedOpenAI("fresh", configuration.GetSection("Fresh"));
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<ChatCachedOpenAIOptions>>().Get("openai");
        Assert.Equal(TimeSpan.FromMinutes(2), options.AttemptTimeout);
        Assert.Equal(1, options.MaxRetryAttempts);
        Assert.Equal(Timeout.InfiniteTimeSpan, options.NetworkTimeout);
        Assert.Equal(TimeSpan.FromMinutes(30), provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai").TimeToLive);

        var cached = provider.GetRequiredKeyedService<ChatClient>("openai");
        var fresh = provider.GetRequiredKeyedService<ChatClient>("fresh");
        await cached.CompleteChatAsync(Question, cancellationToken: Ct);
        AssertHit(Status(await cached.CompleteChatAsync(Question, cancellationToken: Ct)));
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=disabled", Status(await fresh.CompleteChatAsync(Question, cancellationToken: Ct)));
        Assert.Equal("Bearer sk-config", server.Requests[0].Headers["Authorization"]);
    }

    [Fact]
    public async Task Missing_api_key_fails_host_start_with_a_clear_message()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["OpenAI:ChatModel"] = "gpt-4o-mini" });
        builder.Services.AddChatCachedOpenAI("openai", builder.Configuration.GetSection("OpenAI"));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("ChatCachedOpenAI 'openai': ApiKey is required", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_settings_are_all_reported_and_never_echo_the_api_key()
    {
        var services = new ServiceCollection();
        services.AddChatCachedOpenAI("openai", o =>
        {
            o.ApiKey = "sk-secret-value";
            o.Endpoint = new Uri("ftp://example.com/");
            o.AttemptTimeout = TimeSpan.FromMinutes(20);
            o.TotalTimeout = TimeSpan.FromMinutes(10);
            o.MaxRetryAttempts = -1;
        }).CacheOptions.Configure(c => c.MaxEntries = 0);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<AggregateException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        string messages = string.Join("\n", error.InnerExceptions.Select(e => e.Message));

        Assert.Contains("Endpoint must be an absolute http or https URI", messages, StringComparison.Ordinal);
        Assert.Contains("TotalTimeout (00:10:00) must not be less than AttemptTimeout (00:20:00)", messages, StringComparison.Ordinal);
        Assert.Contains("MaxRetryAttempts must be between 0 and 100", messages, StringComparison.Ordinal);
        Assert.Contains("MaxEntries", messages, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-secret-value", messages, StringComparison.Ordinal);
    }

    [Fact]
    public void Registering_a_name_twice_throws_and_a_missing_model_says_which_setting()
    {
        var services = new ServiceCollection();
        services.AddChatCachedOpenAI("openai", o => o.ApiKey = "sk-test");
        Assert.Throws<InvalidOperationException>(() => services.AddChatCachedOpenAI("openai", o => o.ApiKey = "sk-test"));
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<ChatClient>("openai"));

        Assert.Contains("set 'ChatModel'", error.Message, StringComparison.Ordinal);
        Assert.NotNull(provider.GetRequiredKeyedService<OpenAIClient>("openai"));
    }

    [Fact]
    public async Task Custom_authentication_policy_replaces_the_api_key()
    {
        await using var h = await StartAsync(
            (services, server) => services.AddChatCachedOpenAI(Name, o =>
            {
                Configure(o, server);
                o.ApiKey = null;
            }).UseAuthenticationPolicy(_ => ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential("azure-key"), "api-key")),
            registerDefault: false);
        h.Services.GetRequiredService<IStartupValidator>().Validate();

        await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);

        Assert.Equal("azure-key", h.Server.Requests[0].Headers["api-key"]);
        Assert.False(h.Server.Requests[0].Headers.ContainsKey("Authorization"));
    }
}
