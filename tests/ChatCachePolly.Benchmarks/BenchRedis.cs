using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ChatCachePolly.Benchmarks;

/// <summary>A throw-away redis-server on 127.0.0.1 for the fleet benchmarks (no persistence), killed on dispose.</summary>
internal sealed class BenchRedis : IDisposable
{
    private readonly Process _process;

    private BenchRedis(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},abortConnect=false";

    public static BenchRedis Start()
    {
        int port = FreePort();
        var info = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start (install it: apt-get install redis-server)");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return new BenchRedis(process, port);
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(15))
            {
                Thread.Sleep(50);
            }
        }
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}

/// <summary>
/// A loopback TCP proxy that holds every chunk for a fixed delay in each direction: a Redis "at N ms latency" (one round
/// trip costs 2 x delay). Hand-written because no library on this machine injects latency without root (tc netem).
/// </summary>
internal sealed class LatencyProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public LatencyProxy(int targetPort, TimeSpan oneWay)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptAsync(targetPort, oneWay);
    }

    public int Port { get; }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }

    private async Task AcceptAsync(int targetPort, TimeSpan delay)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            client.NoDelay = true;
            var target = new TcpClient { NoDelay = true };
            await target.ConnectAsync(IPAddress.Loopback, targetPort);
            _ = PumpAsync(client.GetStream(), target.GetStream(), delay);
            _ = PumpAsync(target.GetStream(), client.GetStream(), delay);
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, TimeSpan delay)
    {
        // Chunks are read at once and written, in order, once each is `delay` old: latency, not bandwidth.
        var queue = System.Threading.Channels.Channel.CreateUnbounded<(byte[] Chunk, long ReadAt)>(new() { SingleReader = true, SingleWriter = true });
        _ = DeliverAsync(to, queue.Reader, delay);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                queue.Writer.TryWrite((buffer.AsSpan(0, read).ToArray(), Stopwatch.GetTimestamp()));
            }
        }
        catch (Exception)
        {
            // Closed.
        }

        queue.Writer.TryComplete();
    }

    private static async Task DeliverAsync(NetworkStream to, System.Threading.Channels.ChannelReader<(byte[] Chunk, long ReadAt)> queue, TimeSpan delay)
    {
        try
        {
            await foreach (var (chunk, readAt) in queue.ReadAllAsync())
            {
                var wait = delay - Stopwatch.GetElapsedTime(readAt);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }

                await to.WriteAsync(chunk);
            }
        }
        catch (Exception)
        {
            // Closed.
        }
    }
}
