using System.Diagnostics.CodeAnalysis;
using ChatCachePolly;
using ChatCachePolly.Coalescing;
using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Strategy;
using ChatCachePolly.Telemetry;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using System.Diagnostics.Metrics;

namespace Polly;

/// <summary>Adds the chat cache strategy to an <see cref="HttpResponseMessage"/> resilience pipeline.</summary>
/// <remarks>
/// Add it first, so that it is the outermost strategy: a hit then skips retry, timeout and the network, and a miss stores only
/// the final outcome after retries.
/// </remarks>
public static class ChatCacheResiliencePipelineBuilderExtensions
{
    private const string TrimJustification = "All options members are preserved by the DynamicDependency attribute.";

    /// <summary>Adds the chat cache with default options and its own in-memory store.</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <returns>The same builder.</returns>
    public static ResiliencePipelineBuilder<HttpResponseMessage> AddChatCache(this ResiliencePipelineBuilder<HttpResponseMessage> builder) =>
        builder.AddChatCache(new ChatCacheStrategyOptions());

    /// <summary>Adds the chat cache with <paramref name="options"/> and its own in-memory store.</summary>
    /// <example>
    /// Without dependency injection:
    /// <code>
    /// var pipeline = new ResiliencePipelineBuilder&lt;HttpResponseMessage&gt;()
    ///     .AddChatCache(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromHours(1) })
    ///     .AddRetry(new HttpRetryStrategyOptions())
    ///     .Build();
    /// var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = new SocketsHttpHandler() });
    /// </code>
    /// </example>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="options">The options.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="System.ComponentModel.DataAnnotations.ValidationException">The options are invalid.</exception>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TrimJustification)]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(ChatCacheStrategyOptions))]
    public static ResiliencePipelineBuilder<HttpResponseMessage> AddChatCache(this ResiliencePipelineBuilder<HttpResponseMessage> builder, ChatCacheStrategyOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);

        return builder.AddStandaloneChatCache(options, distributedCache: null);
    }

    /// <summary>
    /// Adds the chat cache with <paramref name="options"/>, keeping entries as <see cref="ChatCacheStrategyOptions.Store"/>
    /// says: in memory, in <paramref name="distributedCache"/>, or in memory in front of <paramref name="distributedCache"/>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="options">The options.</param>
    /// <param name="distributedCache">The distributed cache used by the distributed store kinds (for example a Redis cache).</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="System.ComponentModel.DataAnnotations.ValidationException">The options are invalid.</exception>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TrimJustification)]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(ChatCacheStrategyOptions))]
    public static ResiliencePipelineBuilder<HttpResponseMessage> AddChatCache(this ResiliencePipelineBuilder<HttpResponseMessage> builder, ChatCacheStrategyOptions options, IDistributedCache distributedCache)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(distributedCache);

        return builder.AddStandaloneChatCache(options, distributedCache);
    }

    /// <summary>
    /// Adds the chat cache configured by the <see cref="ChatCacheStrategyOptions"/> named after the HttpClient (for
    /// <c>services.AddHttpClient("openai")</c>, the options named <c>"openai"</c>), following their reloads. Entries live in a
    /// store per partition (by default, per HttpClient) that survives reloads.
    /// </summary>
    /// <example>
    /// First in the pipeline, in front of retry and timeout:
    /// <code>
    /// services.AddHttpClient("openai")
    ///     .AddResilienceHandler("chat", (pipeline, context) =&gt; pipeline
    ///         .AddChatCache(context)
    ///         .AddRetry(new HttpRetryStrategyOptions())
    ///         .AddTimeout(TimeSpan.FromSeconds(60)));
    ///
    /// services.AddChatCacheOptions("openai").BindConfiguration("ChatCache:openai");
    /// </code>
    /// </example>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="context">The resilience handler context.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="OptionsValidationException">The options are invalid (validated here even when they were not registered through <c>AddChatCacheOptions</c>).</exception>
    public static ResiliencePipelineBuilder<HttpResponseMessage> AddChatCache(this ResiliencePipelineBuilder<HttpResponseMessage> builder, ResilienceHandlerContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return builder.AddChatCache(context, ChatCacheOptionsNames.Resolve(context.ServiceProvider, context.BuilderName));
    }

    /// <summary>
    /// Adds the chat cache configured by the <see cref="ChatCacheStrategyOptions"/> named <paramref name="optionsName"/>,
    /// following their reloads.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="context">The resilience handler context.</param>
    /// <param name="optionsName">The name of the options (and the default partition).</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="OptionsValidationException">The options are invalid (validated here even when they were not registered through <c>AddChatCacheOptions</c>).</exception>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TrimJustification)]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(ChatCacheStrategyOptions))]
    public static ResiliencePipelineBuilder<HttpResponseMessage> AddChatCache(this ResiliencePipelineBuilder<HttpResponseMessage> builder, ResilienceHandlerContext context, string optionsName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(optionsName);

        var services = context.ServiceProvider;
        var options = services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get(optionsName);
        context.EnableReloads<ChatCacheStrategyOptions>(optionsName);

        // Before the store: options bound without AddChatCacheOptions have had no validation yet, and the store is shared by
        // every pipeline of the partition (a reload to invalid options must not resize it).
        ChatCacheOptionsValidation.ThrowIfInvalid(optionsName, options, services);

        var partition = options.Partition ?? optionsName;
        var timeProvider = builder.TimeProvider ?? services.GetService<TimeProvider>() ?? TimeProvider.System;
        var registry = ChatCacheStoreRegistry.For(services);
        var store = registry.GetStore(partition, options, services, timeProvider);
        var flights = registry.GetFlights(partition);
        var metrics = ChatCacheMetrics.For(services.GetService<IMeterFactory>());
        metrics.Track(store, optionsName);
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(ChatCacheMetrics.MeterName) ?? NullLogger.Instance;
        return builder.AddStrategy(
            strategyContext => new ChatCacheResilienceStrategy(
                options, store, flights, partition, timeProvider, new ChatCacheEventReporter(strategyContext.Telemetry, options, metrics, logger, optionsName)),
            options);
    }

    /// <summary>
    /// A pipeline built without dependency injection: its own store, created when the pipeline is built, metrics on the shared
    /// static meter, no logs (Polly's telemetry still reports the events). The client tag is the pipeline's name.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TrimJustification)]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(ChatCacheStrategyOptions))]
    private static ResiliencePipelineBuilder<HttpResponseMessage> AddStandaloneChatCache(this ResiliencePipelineBuilder<HttpResponseMessage> builder, ChatCacheStrategyOptions options, IDistributedCache? distributedCache)
    {
        var timeProvider = builder.TimeProvider ?? TimeProvider.System;
        string client = builder.Name ?? options.Name ?? ChatCacheStrategyOptions.DefaultName;
        return builder.AddStrategy(
            context =>
            {
                // Polly validated the options when the strategy was added; they may have been changed since.
                ChatCacheOptionsValidation.ThrowIfInvalid(options);
                var store = CreateStandaloneStore(options, distributedCache, timeProvider);
                var metrics = ChatCacheMetrics.For(null);
                metrics.Track(store, client);
                return new ChatCacheResilienceStrategy(
                    options,
                    store,
                    new FlightTable(),
                    options.Partition ?? string.Empty,
                    timeProvider,
                    new ChatCacheEventReporter(context.Telemetry, options, metrics, NullLogger.Instance, client));
            },
            options);
    }

    /// <summary>The store of a pipeline built without dependency injection: its own, created when the pipeline is built.</summary>
    private static IChatCacheStore CreateStandaloneStore(ChatCacheStrategyOptions options, IDistributedCache? distributedCache, TimeProvider timeProvider)
    {
        if (options.Store == ChatCacheStoreKind.Memory)
        {
            return new MemoryChatCacheStore(options.MaxEntries, options.MaxBytes, timeProvider, options.StaleRetention);
        }

        if (options.Store == ChatCacheStoreKind.Cassette)
        {
            return new CassetteChatCacheStore(CassettePaths.Resolve(options.CassetteDirectory!), CassetteRedaction.From(options), timeProvider);
        }

        if (distributedCache is null)
        {
            throw new InvalidOperationException(
                "ChatCacheStrategyOptions.Store selects a distributed store, but no IDistributedCache was given. Use AddChatCache(options, distributedCache), or AddChatCache(context) with an IDistributedCache registered, or set Store to Memory.");
        }

        var distributed = new DistributedChatCacheStore(distributedCache, options.Partition ?? string.Empty, ChatCacheStoreRegistry.DistributedSettings(options), timeProvider);
        return options.Store == ChatCacheStoreKind.Distributed
            ? distributed
            : new TieredChatCacheStore(new MemoryChatCacheStore(options.MaxEntries, options.MaxBytes, timeProvider, options.StaleRetention), distributed, timeProvider);
    }
}
