using System.Diagnostics;
using System.Text;
using ChatCachePolly.Loopback;

namespace ChatCachePolly.RedisTests;

/// <summary>
/// The fleet as separate OS processes: the soak tool's <c>--mode fleet-node</c> launched several times against one real
/// redis-server and one loopback upstream (in this process, which counts the calls).
/// </summary>
public sealed class FleetProcessTests
{
    private static string SoakDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ChatCachePolly.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);

        // The tool is built with these tests (a build-order reference in the project file), in the same configuration.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Release";
        string dll = Path.Combine(dir.FullName, "tools", "ChatCachePolly.Soak", "bin", configuration, "net10.0", "ChatCachePolly.Soak.dll");
        Assert.True(File.Exists(dll), $"{dll} is not built (building this test project builds it)");
        return dll;
    }

    private static Node Launch(RedisServer redis, LoopbackOpenAIServer upstream, string question, int count, string goFile, int leaseMs = 5000)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { SoakDll(), "--mode", "fleet-node", "--redis", redis.EndPoint, "--upstream", upstream.OpenAIEndpoint.ToString(), "--question", question, "--count", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--go-file", goFile, "--lease-ms", leaseMs.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(argument);
        }

        return new Node(Process.Start(info)!);
    }

    [Fact]
    public async Task Forty_eight_identical_requests_over_three_processes_cost_one_upstream_call()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var upstream = await LoopbackOpenAIServer.StartAsync();
        string go = Path.Combine(Path.GetTempPath(), $"chatcache-go-{Guid.NewGuid():N}");
        const string question = "One question for three processes";

        // The first call waits 3 s upstream: every process's requests arrive while it is in flight.
        upstream.EnqueueFault(LoopbackFault.Delay(TimeSpan.FromSeconds(3)).ForPath("/v1/chat/completions"));
        var nodes = Enumerable.Range(0, 3).Select(_ => Launch(redis, upstream, question, 16, go)).ToArray();
        try
        {
            foreach (var node in nodes)
            {
                await node.ReadyAsync();
            }

            await File.WriteAllTextAsync(go, "go");
            foreach (var node in nodes)
            {
                Assert.True(await node.ExitAsync() == 0, node.Output);
            }

            Assert.Equal(1, upstream.CountFor("/v1/chat/completions"));
            var statuses = nodes.SelectMany(n => n.Answers).ToList();
            Assert.Equal(48, statuses.Count);
            Assert.Single(statuses, s => s.Contains("stored", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Kill();
            }

            File.Delete(go);
        }
    }

    [Fact]
    public async Task When_the_leaders_process_is_killed_another_process_takes_over_after_the_lease()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var upstream = await LoopbackOpenAIServer.StartAsync();
        string go = Path.Combine(Path.GetTempPath(), $"chatcache-go-{Guid.NewGuid():N}");
        const string question = "A question whose leader dies";
        upstream.EnqueueFault(LoopbackFault.Delay(TimeSpan.FromSeconds(60)).ForPath("/v1/chat/completions"));
        var leader = Launch(redis, upstream, question, 1, go, leaseMs: 1000);
        var follower = Launch(redis, upstream, question, 4, go + ".follower", leaseMs: 1000);
        try
        {
            await leader.ReadyAsync();
            await follower.ReadyAsync();
            await File.WriteAllTextAsync(go, "go");
            var watch = Stopwatch.StartNew();
            while (upstream.CountFor("/v1/chat/completions") == 0)
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "the leader never called upstream");
                await Task.Delay(10);
            }

            // Whether the follower's requests reach the lease before or after the kill, the dead leader's lease holds them until
            // it expires (nobody renews it), then one of them leads.
            await File.WriteAllTextAsync(go + ".follower", "go");
            leader.Kill();

            watch.Restart();
            Assert.True(await follower.ExitAsync() == 0, follower.Output);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the follower took over after {watch.Elapsed}");
            Assert.Equal(2, upstream.CountFor("/v1/chat/completions"));
        }
        finally
        {
            leader.Kill();
            follower.Kill();
            File.Delete(go);
            File.Delete(go + ".follower");
        }
    }

    private sealed class Node
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Node(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public IEnumerable<string> Answers => Output.Split('\n').Where(l => l.StartsWith("answer: ", StringComparison.Ordinal));

        public Task ReadyAsync() => _ready.Task.WaitAsync(TimeSpan.FromSeconds(60));

        public async Task<int> ExitAsync()
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
            return _process.ExitCode;
        }

        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(line);
            }

            if (line.StartsWith("ready", StringComparison.Ordinal))
            {
                _ready.TrySetResult();
            }
        }
    }
}
