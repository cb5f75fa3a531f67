using System.ClientModel;
using System.ClientModel.Primitives;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.DependencyInjection;

namespace ChatCachePolly.IntegrationTests;

/// <summary>A loopback upstream plus a service provider with the DI one-liner pointed at it.</summary>
internal sealed class Harness : IAsyncDisposable
{
    public const string Name = "openai";
    public const string ChatModel = "gpt-4o-mini";
    public const string EmbeddingModel = "text-embedding-3-small";

    private Harness(LoopbackOpenAIServer server, ServiceProvider services)
    {
        Server = server;
        Services = services;
    }

    public LoopbackOpenAIServer Server { get; }

    public ServiceProvider Services { get; }

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Starts the loopback and registers <see cref="Name"/> with <see cref="Configure"/>, plus anything in <paramref name="register"/>.</summary>
    public static async Task<Harness> StartAsync(Action<IServiceCollection, LoopbackOpenAIServer>? register = null, bool registerDefault = true)
    {
        var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var services = new ServiceCollection();
        if (registerDefault)
        {
            services.AddChatCachedOpenAI(Name, o => Configure(o, server));
        }

        register?.Invoke(services, server);
        return new Harness(server, services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));
    }

    /// <summary>The options every test starts from: loopback endpoint, test key, both models, short retry delay.</summary>
    public static void Configure(ChatCachedOpenAIOptions options, LoopbackOpenAIServer server, string apiKey = "sk-test")
    {
        options.ApiKey = apiKey;
        options.Endpoint = server.OpenAIEndpoint;
        options.ChatModel = ChatModel;
        options.EmbeddingModel = EmbeddingModel;
        options.RetryDelay = TimeSpan.FromMilliseconds(20);
    }

    public T Get<T>(string name = Name)
        where T : notnull => Services.GetRequiredKeyedService<T>(name);

    public int ChatCalls => Server.CountFor("/v1/chat/completions");

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        await Server.DisposeAsync();
    }

    public static string Status(ClientResult result) => Status(result.GetRawResponse());

    public static string Status(PipelineResponse response) =>
        response.Headers.TryGetValue("Cache-Status", out var value) ? value! : "(none)";

    public static void AssertHit(string status) => Assert.StartsWith("ChatCachePolly; hit; key=", status, StringComparison.Ordinal);

    public static void AssertStoredMiss(string status) => Assert.StartsWith("ChatCachePolly; fwd=miss; stored; key=", status, StringComparison.Ordinal);
}

/// <summary>An SDK pipeline policy that records the <c>Cache-Status</c> of every response (the header is set below the SDK).</summary>
internal sealed class CacheStatusRecorder : PipelinePolicy
{
    private readonly Lock _gate = new();
    private readonly List<string> _statuses = [];

    public IReadOnlyList<string> Statuses
    {
        get
        {
            lock (_gate)
            {
                return [.. _statuses];
            }
        }
    }

    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        Record(message);
    }

    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex);
        Record(message);
    }

    private void Record(PipelineMessage message)
    {
        if (message.Response is { } response)
        {
            lock (_gate)
            {
                _statuses.Add(Harness.Status(response));
            }
        }
    }
}
