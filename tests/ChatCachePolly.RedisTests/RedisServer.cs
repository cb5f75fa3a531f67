using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using StackExchange.Redis;

namespace ChatCachePolly.RedisTests;

/// <summary>
/// A throw-away <c>redis-server</c> on 127.0.0.1 and a free port, run as a child process without persistence. Can be stopped
/// (killed, like a crash) and restarted on the same port mid-test. When redis-server is not installed the calling test is
/// skipped with the reason, except when <c>CI=true</c>, where it fails.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private readonly string _executable;
    private readonly string[] _extraArguments;
    private Process? _process;

    private RedisServer(string executable, int port, string[] extraArguments)
    {
        _executable = executable;
        Port = port;
        _extraArguments = extraArguments;
    }

    public int Port { get; }

    public string EndPoint => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a server, or skips (fails on CI) the current test when redis-server is missing.</summary>
    public static Task<RedisServer> StartAsync(params string[] extraArguments) => StartAsync(FreePort(), extraArguments);

    /// <summary>Starts a server on <paramref name="port"/> (a cluster node needs port + 10000 free too).</summary>
    public static async Task<RedisServer> StartAsync(int port, params string[] extraArguments)
    {
        string? executable = Find();
        if (executable is null)
        {
            const string reason = "redis-server is not installed (looked in PATH and /usr/bin); install it (apt-get install redis-server) to run the Redis tests.";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail("CI=true: " + reason);
            }

            Assert.Skip(reason);
        }

        var server = new RedisServer(executable, port, extraArguments);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Kills the server (no shutdown handshake: what a crash or a network cut looks like to clients).</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Starts the server again on the same port (empty: no persistence).</summary>
    public Task RestartAsync() => StartProcessAsync();

    /// <summary>Options for a <see cref="RedisCache"/> against this server that fail fast while it is down.</summary>
    public RedisCacheOptions CacheOptions(string instanceName = "app:") => new()
    {
        InstanceName = instanceName,
        ConfigurationOptions = ClientOptions(),
    };

    /// <summary>
    /// Options for a test's own connection that inspects the server (lists keys, reads values): it is not the client under
    /// test, so it waits as long as a loaded machine needs instead of failing fast.
    /// </summary>
    public ConfigurationOptions InspectionOptions()
    {
        var options = ClientOptions();
        options.ConnectTimeout = 15_000;
        options.SyncTimeout = 15_000;
        options.AsyncTimeout = 15_000;
        return options;
    }

    public ConfigurationOptions ClientOptions()
    {
        var options = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = 1000,
            SyncTimeout = 1000,
            AsyncTimeout = 1000,
            ConnectRetry = 1,
            ReconnectRetryPolicy = new LinearRetry(250),
            AllowAdmin = true,
        };
        options.EndPoints.Add(IPAddress.Loopback, Port);
        return options;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>Finds redis-server: <c>CHATCACHE_REDIS_SERVER</c> when set (a path; a missing path means "not installed"), else PATH.</summary>
    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CHATCACHE_REDIS_SERVER") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Append("/usr/bin").Append("/usr/local/bin"))
        {
            string candidate = Path.Combine(dir, "redis-server");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Pauses the server (SIGSTOP): connections stay open, nothing answers - a network stall.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>Resumes a paused server (SIGCONT).</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {_process!.Id}") { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    internal static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes" }.Concat(_extraArguments))
        {
            info.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                lock (output)
                {
                    throw new InvalidOperationException($"redis-server exited with {process.ExitCode}: {output}");
                }
            }

            if (await PingAsync())
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("redis-server did not answer PING within 15 s.");
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            int n = await stream.ReadAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
