// Code shown in docs/observability.md.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/observability.md.</summary>
public static class Observability
{
    /// <summary>Exports the cache's and Polly's metrics with OpenTelemetry (OTLP).</summary>
    public static void Export(HostApplicationBuilder builder)
    {
        // <snippet:observability-otel>
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(ChatCacheTelemetry.MeterName)      // the cache's instruments
                .AddMeter("Polly")                           // resilience.polly.strategy.events and friends
                .AddOtlpExporter())
            .WithTracing(tracing => tracing
                .AddSource(ChatCacheTelemetry.ActivitySourceName) // one span per request: hit, miss, collapsed...
                .AddHttpClientInstrumentation()              // the upstream call of a miss, as its child
                .AddOtlpExporter());
        // </snippet:observability-otel>
    }
}
