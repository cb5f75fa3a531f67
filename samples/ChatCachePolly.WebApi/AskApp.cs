using ChatCachePolly.Loopback;
using Microsoft.AspNetCore.Mvc;
using OpenAI.Chat;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ChatCachePolly.Samples.WebApi;

/// <summary>The question sent to <c>POST /ask</c>; <see cref="Fresh"/> uses the client whose cache is off.</summary>
public sealed record AskRequest(string Question, bool Fresh = false);

/// <summary>The answer of <c>POST /ask</c>, with the <c>Cache-Status</c> the cache put on it.</summary>
public sealed record AskResponse(string Answer, string Client, string CacheStatus);

/// <summary>Builds the web application: two cached OpenAI clients from configuration and <c>POST /ask</c>.</summary>
public static class AskApp
{
    /// <summary>
    /// Creates the application. A client whose <c>ApiKey</c> is empty in configuration (as in the shipped appsettings.json)
    /// is pointed at an OpenAI-compatible loopback server started in-process on 127.0.0.1, so the sample runs offline.
    /// </summary>
    /// <param name="args">Command-line arguments (for example <c>--urls http://127.0.0.1:0</c>).</param>
    /// <returns>The application, not started.</returns>
    public static async Task<WebApplication> CreateAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var loopback = await UseLoopbackWhereNoKeyAsync(builder.Configuration, "OpenAI:chat", "OpenAI:fresh");

        // One line per client: named HttpClient with the cache first, keyed ChatClient/IChatClient bound to it.
        builder.Services.AddChatCachedOpenAI("chat", builder.Configuration.GetSection("OpenAI:chat"));
        builder.Services.AddChatCachedOpenAI("fresh", builder.Configuration.GetSection("OpenAI:fresh"));

        // Metrics for the dashboard (docs/dashboards): a Prometheus scrape endpoint at /metrics. Traces go out over OTLP only
        // when an endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://localhost:4317).
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(ChatCacheTelemetry.MeterName)
                .AddMeter("Polly")
                .AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(ChatCacheTelemetry.ActivitySourceName)
                .AddHttpClientInstrumentation()
                .AddOtlpExporter());
        }

        var app = builder.Build();
        if (loopback is not null)
        {
            app.Lifetime.ApplicationStopped.Register(() => loopback.DisposeAsync().AsTask().GetAwaiter().GetResult());
            app.Logger.LogInformation("No OpenAI ApiKey configured: answering from the loopback server at {Endpoint}", loopback.OpenAIEndpoint);
        }

        app.MapPost("/ask", AskAsync);
        app.MapPrometheusScrapingEndpoint();
        return app;
    }

    private static async Task<IResult> AskAsync(
        AskRequest request,
        [FromKeyedServices("chat")] ChatClient chat,
        [FromKeyedServices("fresh")] ChatClient fresh,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Question))
        {
            return Results.BadRequest("A question is required.");
        }

        var client = request.Fresh ? fresh : chat;
        var result = await client.CompleteChatAsync([new UserChatMessage(request.Question)], cancellationToken: cancellationToken);
        string status = result.GetRawResponse().Headers.TryGetValue("Cache-Status", out var value) ? value! : "(none)";
        return Results.Ok(new AskResponse(result.Value.Content[0].Text, request.Fresh ? "fresh" : "chat", status));
    }

    private static async Task<LoopbackOpenAIServer?> UseLoopbackWhereNoKeyAsync(ConfigurationManager configuration, params string[] sections)
    {
        var withoutKey = sections.Where(s => string.IsNullOrEmpty(configuration[s + ":ApiKey"])).ToList();
        if (withoutKey.Count == 0)
        {
            return null;
        }

        var loopback = await LoopbackOpenAIServer.StartAsync(new LoopbackServerOptions { TimeToFirstToken = TimeSpan.FromMilliseconds(300), PerTokenDelay = TimeSpan.FromMilliseconds(15) });
        var overrides = new Dictionary<string, string?>();
        foreach (var section in withoutKey)
        {
            overrides[section + ":ApiKey"] = "sk-loopback";
            overrides[section + ":Endpoint"] = loopback.OpenAIEndpoint.ToString();
        }

        configuration.AddInMemoryCollection(overrides);
        return loopback;
    }
}
