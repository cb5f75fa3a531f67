using System.ComponentModel.DataAnnotations;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.DependencyInjection;

/// <summary>
/// Options are validated before any store or strategy is built from them, whichever entry point builds the store and however
/// the options were bound: the error names the option, it is never the store constructor's argument exception.
/// </summary>
public sealed class OptionsValidationTests
{
    private readonly MockHttpMessageHandler _upstream = new();

    public OptionsValidationTests() => _upstream.Fallback.Respond(_ => CacheHarness.Json(Fixtures.Response("chat.json")));

    public static TheoryData<string, Action<ChatCacheStrategyOptions>> InvalidOptions => new()
    {
        { "MaxEntries", o => o.MaxEntries = -1 },
        { "MaxBytes", o => o.MaxBytes = 0 },
        { "TimeToLive", o => o.TimeToLive = TimeSpan.FromMinutes(-5) },
        { "StaleRetention", o => o.StaleRetention = TimeSpan.FromSeconds(-1) },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public async Task Options_bound_with_Configure_are_validated_before_the_store_is_built(string option, Action<ChatCacheStrategyOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => _upstream)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        services.Configure<ChatCacheStrategyOptions>("openai", configure);
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai"));

        AssertNamesOption(error, option);
        Assert.Equal("openai", error.OptionsName);
        Assert.Equal(typeof(ChatCacheStrategyOptions), error.OptionsType);
    }

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public async Task Named_options_bound_with_Configure_are_validated_before_the_store_is_built(string option, Action<ChatCacheStrategyOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => _upstream)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context, "shared-settings"));
        services.Configure<ChatCacheStrategyOptions>("shared-settings", configure);
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai"));

        AssertNamesOption(error, option);
        Assert.Equal("shared-settings", error.OptionsName);
    }

    [Fact]
    public async Task Configure_bound_errors_have_the_same_form_as_AddChatCacheOptions_errors()
    {
        static async Task<string> MessageAsync(Action<IServiceCollection> register)
        {
            var services = new ServiceCollection();
            services.AddHttpClient("openai").AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
            register(services);
            await using var provider = services.BuildServiceProvider();
            return Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai")).Message;
        }

        string configured = await MessageAsync(s => s.Configure<ChatCacheStrategyOptions>("openai", o => o.MaxEntries = -1));
        string declared = await MessageAsync(s => s.AddChatCacheOptions("openai").Configure(o => o.MaxEntries = -1));

        Assert.Equal(declared, configured);
    }

    [Fact]
    public async Task A_distributed_store_without_a_registered_cache_fails_as_an_options_error_naming_the_store()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("openai").AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        services.Configure<ChatCacheStrategyOptions>("openai", o => o.Store = ChatCacheStoreKind.Distributed);
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai"));

        Assert.Contains("ChatCacheStrategyOptions.Store", error.Message, StringComparison.Ordinal);
        Assert.Contains("no IDistributedCache is registered", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_to_invalid_Configure_bound_options_leaves_the_shared_store_alone()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ChatCache:MaxBytes"] = "1000000" }).Build();
        var services = new ServiceCollection();
        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => _upstream)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        services.Configure<ChatCacheStrategyOptions>("openai", configuration.GetSection("ChatCache"));
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
        (await client.SendAsync(CacheHarness.ChatRequest())).Dispose();

        // Below the 4096-byte minimum: Polly keeps the pipeline it has, and the store must keep its size and its entries.
        configuration["ChatCache:MaxBytes"] = "100";
        configuration.Reload();

        using var again = await client.SendAsync(CacheHarness.ChatRequest());
        Assert.Contains("hit", again.CacheStatus(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Standalone_options_changed_after_AddChatCache_are_validated_before_the_store_is_built(string option, Action<ChatCacheStrategyOptions> configure)
    {
        var options = new ChatCacheStrategyOptions();
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache(options);
        configure(options);

        var error = Assert.Throws<ValidationException>(() => builder.Build());

        AssertNamesOption(error, option);
        Assert.StartsWith("The 'ChatCacheStrategyOptions' are invalid.", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Standalone_options_with_a_distributed_cache_are_validated_before_the_store_is_built(string option, Action<ChatCacheStrategyOptions> configure)
    {
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.MemoryAndDistributed };
        IDistributedCache cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache(options, cache);
        configure(options);

        var error = Assert.Throws<ValidationException>(() => builder.Build());

        AssertNamesOption(error, option);
    }

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Standalone_invalid_options_are_rejected_when_added(string option, Action<ChatCacheStrategyOptions> configure)
    {
        var options = new ChatCacheStrategyOptions();
        configure(options);

        var error = Assert.Throws<ValidationException>(() => new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache(options));

        AssertNamesOption(error, option);
    }

    private static void AssertNamesOption(Exception error, string option)
    {
        Assert.IsNotType<ArgumentOutOfRangeException>(error);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }
}
