using System.Diagnostics.CodeAnalysis;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace ChatCachePolly.Shared;

/// <summary>
/// The part of a one-line SDK registration (<c>AddChatCachedOpenAI</c>, <c>AddChatCachedAnthropic</c>) that is the same for every
/// provider: the named HttpClient and its pipeline below the cache. Compiled into each SDK package as shared source (internal, so
/// the core package's public API does not grow with what is only a packaging detail).
/// </summary>
internal static class CachedSdkRegistration
{
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(24);

    /// <summary>Throws when <paramref name="name"/> is already registered by the same package.</summary>
    public static void ThrowIfRegistered<TRegistration>(IServiceCollection services, string name, Func<TRegistration, string> nameOf, string what)
        where TRegistration : class
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(TRegistration)
                && descriptor.ImplementationInstance is TRegistration registration
                && string.Equals(nameOf(registration), name, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{what} '{name}' is already registered. Use another name for a second client.");
            }
        }
    }

    /// <summary>
    /// Adds the named HttpClient the SDK sends through: infinite <see cref="HttpClient.Timeout"/> (the pipeline owns time), a
    /// <see cref="SocketsHttpHandler"/> with a two-minute connection lifetime, the resilience handlers added by
    /// <c>ConfigureHttpClientDefaults</c> removed, and the pipeline cache → total timeout → retry → attempt timeout, reloaded with
    /// <typeparamref name="TOptions"/>.
    /// </summary>
    public static IHttpClientBuilder AddCachedHttpClient<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(
        IServiceCollection services, string name, string handlerName, Func<TOptions, PipelineSettings> settingsOf)
        where TOptions : class
    {
        var httpClient = services.AddHttpClient(name)
            .ConfigureHttpClient(static client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(static () => new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                AutomaticDecompression = DecompressionMethods.All,
            });

        // Experimental in Microsoft.Extensions.Http.Resilience 10.x, and the only way to drop the handlers added by
        // ConfigureHttpClientDefaults (for example .NET Aspire's service defaults add the standard resilience handler).
#pragma warning disable EXTEXP0001
        httpClient.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        httpClient.AddResilienceHandler(handlerName, (pipeline, context) =>
        {
            var settings = settingsOf(context.GetOptions<TOptions>(name));
            context.EnableReloads<TOptions>(name);

            // Cache first: a hit skips everything below; a miss stores only the final outcome, after retries.
            pipeline.AddChatCache(context, name);
            pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Name = "TotalTimeout", Timeout = settings.TotalTimeout });
            if (settings.MaxRetryAttempts > 0)
            {
                pipeline.AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = settings.MaxRetryAttempts,
                    Delay = settings.RetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    ShouldRetryAfterHeader = true,
                });
            }

            pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Name = "AttemptTimeout", Timeout = settings.AttemptTimeout });
        });
        return httpClient;
    }

    /// <summary>Adds a message (prefixed with <paramref name="prefix"/>) for each pipeline setting out of range.</summary>
    public static void ValidatePipeline(List<string> failures, string prefix, PipelineSettings settings)
    {
        if (settings.AttemptTimeout < MinTimeout || settings.AttemptTimeout > MaxTimeout)
        {
            failures.Add(prefix + $"AttemptTimeout must be between 10 ms and 24 hours (was {settings.AttemptTimeout}).");
        }

        if (settings.TotalTimeout < MinTimeout || settings.TotalTimeout > MaxTimeout)
        {
            failures.Add(prefix + $"TotalTimeout must be between 10 ms and 24 hours (was {settings.TotalTimeout}).");
        }
        else if (settings.TotalTimeout < settings.AttemptTimeout)
        {
            failures.Add(prefix + $"TotalTimeout ({settings.TotalTimeout}) must not be less than AttemptTimeout ({settings.AttemptTimeout}).");
        }

        if (settings.MaxRetryAttempts is < 0 or > 100)
        {
            failures.Add(prefix + $"MaxRetryAttempts must be between 0 and 100 (was {settings.MaxRetryAttempts}).");
        }

        if (settings.RetryDelay < TimeSpan.Zero || settings.RetryDelay > TimeSpan.FromHours(1))
        {
            failures.Add(prefix + $"RetryDelay must be between zero and one hour (was {settings.RetryDelay}).");
        }
    }

    /// <summary>The pipeline settings every SDK registration's options carry.</summary>
    internal readonly record struct PipelineSettings(TimeSpan AttemptTimeout, TimeSpan TotalTimeout, int MaxRetryAttempts, TimeSpan RetryDelay);
}
