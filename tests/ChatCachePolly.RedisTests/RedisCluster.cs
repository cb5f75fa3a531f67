using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace ChatCachePolly.RedisTests;

/// <summary>
/// A throw-away Redis Cluster of real <c>redis-server</c> processes on 127.0.0.1 (masters only, no replicas), created with
/// <c>redis-cli --cluster create</c>. Skipped (failed on CI) like <see cref="RedisServer"/> when Redis is not installed.
/// </summary>
internal sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisServer> _nodes = [];
    private readonly string _directory = Directory.CreateTempSubdirectory("chatcache-cluster-").FullName;

    public IReadOnlyList<RedisServer> Nodes => _nodes;

    public static async Task<RedisCluster> StartAsync(int masters)
    {
        var cluster = new RedisCluster();
        try
        {
            foreach (int port in ClusterPorts(masters))
            {
                string dir = Path.Combine(cluster._directory, port.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                cluster._nodes.Add(await RedisServer.StartAsync(port, "--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(dir, "nodes.conf"), "--dir", dir, "--cluster-node-timeout", "2000"));
            }

            var create = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            create.ArgumentList.Add("--cluster");
            create.ArgumentList.Add("create");
            foreach (var node in cluster._nodes)
            {
                create.ArgumentList.Add(node.EndPoint);
            }

            create.ArgumentList.Add("--cluster-replicas");
            create.ArgumentList.Add("0");
            create.ArgumentList.Add("--cluster-yes");
            using (var process = Process.Start(create)!)
            {
                string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                if (process.ExitCode != 0)
                {
                    throw new InvalidOperationException($"redis-cli --cluster create failed ({process.ExitCode}): {output}");
                }
            }

            await cluster.WaitUntilReadyAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The client configuration: every node as a seed.</summary>
    public ConfigurationOptions ClientOptions()
    {
        var options = _nodes[0].ClientOptions();
        options.EndPoints.Clear();
        foreach (var node in _nodes)
        {
            options.EndPoints.Add(IPAddress.Loopback, node.Port);
        }

        return options;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        var watch = Stopwatch.StartNew();
        var options = ClientOptions();
        options.ConnectTimeout = 15_000;
        options.SyncTimeout = 15_000;
        while (true)
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
                bool ready = true;
                foreach (var node in _nodes)
                {
                    var info = (string?)await connection.GetServer(node.EndPoint).ExecuteAsync("CLUSTER", "INFO");
                    ready &= info?.Contains("cluster_state:ok", StringComparison.Ordinal) == true;
                }

                if (ready && connection.GetServer(_nodes[0].EndPoint).ServerType == ServerType.Cluster)
                {
                    return;
                }
            }
            catch (RedisException)
            {
            }

            if (watch.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException("the Redis Cluster did not reach cluster_state:ok within 30 s");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Free ports whose cluster bus ports (port + 10000) are free too.</summary>
    private static IEnumerable<int> ClusterPorts(int count)
    {
        var ports = new List<int>();
        while (ports.Count < count)
        {
            int port = RedisServer.FreePort();
            if (port + 10000 < 65536 && !ports.Contains(port) && IsFree(port + 10000))
            {
                ports.Add(port);
            }
        }

        return ports;
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
