using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using ChatCachePolly.Loopback.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ChatCachePolly.Loopback;

/// <summary>
/// An OpenAI-compatible HTTP server on <c>http://127.0.0.1:{ephemeral port}</c> (real Kestrel sockets) with deterministic
/// answers, request recording, latency simulation and one-shot fault injection. Serves <c>/v1/chat/completions</c>,
/// <c>/v1/completions</c>, <c>/v1/embeddings</c>, <c>/v1/responses</c>, <c>/v1/models</c>, the Azure shapes
/// <c>/openai/deployments/{deployment}/…</c> and <c>/openai/v1/…</c>; and the native APIs of Anthropic (<c>/v1/messages</c>), Gemini
/// (<c>/v1beta/models/{model}:generateContent</c>…) and Ollama (<c>/api/chat</c>…), streamed and not (<see cref="ProviderPayloads"/>).
/// </summary>
public sealed class LoopbackOpenAIServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly LoopbackServerOptions _options;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, int> _perPath = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<LoopbackFault> _faults = [];
    private int _requestCount;
    private int _disposed;

    private LoopbackOpenAIServer(WebApplication app, LoopbackServerOptions options)
    {
        _app = app;
        _options = options;
    }

    /// <summary>Root address, e.g. <c>http://127.0.0.1:54321/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary><c>{BaseAddress}v1/</c>: the value for <c>OpenAIClientOptions.Endpoint</c>.</summary>
    public Uri OpenAIEndpoint => new(BaseAddress, "v1/");

    /// <summary>Number of requests received (any path, including faulted and 404 ones) since start or <see cref="ResetCounters"/>.</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    /// <summary>Snapshot of the recorded requests, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Number of faults enqueued and not yet consumed.</summary>
    public int PendingFaultCount
    {
        get
        {
            lock (_gate)
            {
                return _faults.Count;
            }
        }
    }

    /// <summary>Starts a server on an ephemeral loopback port.</summary>
    public static async Task<LoopbackOpenAIServer> StartAsync(LoopbackServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LoopbackServerOptions();
        ArgumentNullException.ThrowIfNull(options.TimeProvider);

        // The empty builder registers no logging providers and no configuration sources: no console noise.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
        });
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));

        var app = builder.Build();
        var server = new LoopbackOpenAIServer(app, options);
        app.Run(server.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? throw new InvalidOperationException("Kestrel did not report its addresses.");
            server.BaseAddress = new Uri(addresses.First().TrimEnd('/') + "/");
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Requests received for an exact path (no query), e.g. <c>/v1/chat/completions</c>. Case-insensitive.</summary>
    public int CountFor(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return _perPath.TryGetValue(path, out var count) ? count : 0;
    }

    /// <summary>Resets <see cref="RequestCount"/>, <see cref="CountFor"/> and <see cref="Requests"/>. Pending faults are kept.</summary>
    public void ResetCounters()
    {
        lock (_gate)
        {
            _requests.Clear();
            _perPath.Clear();
            Interlocked.Exchange(ref _requestCount, 0);
        }
    }

    /// <summary>Queues a one-shot fault. Each request consumes the first queued fault whose path filter matches it.</summary>
    public void EnqueueFault(LoopbackFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        lock (_gate)
        {
            _faults.Add(fault);
        }
    }

    /// <summary>Removes all pending faults.</summary>
    public void ClearFaults()
    {
        lock (_gate)
        {
            _faults.Clear();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _stopping.Dispose();
        }
    }

    private LoopbackFault? TakeFault(string path, string body)
    {
        lock (_gate)
        {
            var index = _faults.FindIndex(f => f.Matches(path, body));
            if (index < 0)
            {
                return null;
            }

            var fault = _faults[index];
            _faults.RemoveAt(index);
            return fault;
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var request = context.Request;
        var path = request.Path.HasValue ? request.Path.Value! : "/";
        Interlocked.Increment(ref _requestCount);
        _perPath.AddOrUpdate(path, 1, static (_, count) => count + 1);

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        var cancellationToken = linked.Token;
        try
        {
            string body;
            using (var reader = new StreamReader(request.Body, Encoding.UTF8))
            {
                body = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            }

            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in request.Headers)
            {
                headers[header.Key] = header.Value.ToString();
            }

            lock (_gate)
            {
                _requests.Add(new RecordedRequest(request.Method, path + request.QueryString.Value, headers, body));
            }

            var fault = TakeFault(path, body);
            var exchange = new LoopbackExchange(context, _options, fault, started, cancellationToken);
            switch (fault?.Kind)
            {
                case LoopbackFaultKind.Delay:
                    await exchange.DelayAsync(fault.Duration).ConfigureAwait(false);
                    break;
                case LoopbackFaultKind.Status:
                case LoopbackFaultKind.TooManyRequests:
                    await exchange.WriteErrorAsync(fault.StatusCode, fault.Body ?? ErrorBodies.ForStatus(fault.StatusCode), fault.RetryAfter).ConfigureAwait(false);
                    return;
            }

            if (!await NativeHandler.TryHandleAsync(exchange, request.Method, path, request.QueryString.Value ?? string.Empty, body).ConfigureAwait(false))
            {
                await Router.DispatchAsync(exchange, request.Method, path, body).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Client went away or the server is stopping.
            context.Abort();
        }
        catch (IOException)
        {
            // Client disconnected while we were writing.
            context.Abort();
        }
    }
}
