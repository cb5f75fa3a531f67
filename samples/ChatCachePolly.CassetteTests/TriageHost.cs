using System.Reflection;
using ChatCachePolly.Loopback;
using ChatCachePolly.Samples.CassetteTests;
using ChatCachePolly.Samples.CassetteTests.App;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: AssemblyFixture(typeof(TriageHost))]

namespace ChatCachePolly.Samples.CassetteTests;

/// <summary>
/// The application's host, built once for the test run the way the application builds it (<c>AddTicketTriage</c>), with
/// this project's appsettings.json: the cassette store in Replay mode, so the tests run offline and need no API key.
/// <c>CHATCACHE_CASSETTE_MODE=record</c> (with <c>OPENAI_API_KEY</c>) re-records every cassette instead.
/// </summary>
public sealed class TriageHost : IAsyncLifetime
{
    private IHost? _host;
    private LoopbackOpenAIServer? _loopback;

    /// <summary>The feature under test.</summary>
    public TicketTriage Triage => _host!.Services.GetRequiredService<TicketTriage>();

    /// <summary>The cache options in effect (the cassette directory resolved to a full path).</summary>
    public ChatCacheStrategyOptions CacheOptions => _host!.Services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get(TicketTriage.ClientName);

    /// <summary>The cassette mode of this run: <c>CHATCACHE_CASSETTE_MODE</c> when set, otherwise appsettings.json's.</summary>
    public ChatCacheCassetteMode Mode =>
        Enum.TryParse<ChatCacheCassetteMode>(Environment.GetEnvironmentVariable("CHATCACHE_CASSETTE_MODE"), ignoreCase: true, out var mode)
            ? mode
            : CacheOptions.CassetteMode;

    /// <summary>
    /// The committed cassettes: appsettings.json's relative "cassettes", which the cache resolves next to this project file
    /// (the package records a test project's folder in its assembly), not in bin/.
    /// </summary>
    public string CassetteDirectory => Path.GetFullPath(CacheOptions.CassetteDirectory!, ProjectDirectory());

    public async ValueTask InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        var openai = builder.Services.AddTicketTriage(builder.Configuration);

        // Replay needs no key: the credential is left out of a cassette's key and no request leaves the process, so
        // AddChatCachedOpenAI does not require an ApiKey in Replay mode. OPENAI_API_KEY is only needed to record.
        openai.Options.PostConfigure(options => options.ApiKey ??= Environment.GetEnvironmentVariable("OPENAI_API_KEY") is { Length: > 0 } key ? key : null);

        // This repository only (its CI has no network): CASSETTE_SAMPLE_UPSTREAM=loopback records from the in-repo loopback
        // server. A copy of this sample records from the real API and deletes this line and LoopbackUpstream.cs.
        _loopback = await LoopbackUpstream.UseIfRequestedAsync(openai);

        _host = builder.Build();
        await _host.StartAsync(); // validates the options (an unknown CHATCACHE_CASSETTE_MODE fails here)
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }

        if (_loopback is not null)
        {
            await _loopback.DisposeAsync();
        }
    }

    /// <summary>This project's folder, as the package's build file wrote it into the test assembly.</summary>
    public static string ProjectDirectory() =>
        typeof(TriageHost).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ChatCachePolly.ProjectDirectory").Value!;
}
