using System.Net;
using ChatCachePolly.Tests.Support;
using StackExchange.Redis;

namespace ChatCachePolly.RedisTests;

/// <summary>The fleet on a Redis Cluster of three masters (real redis-server processes): every command touches one key.</summary>
public sealed class ClusterTests
{
    private readonly Upstream _upstream = new();

    [Fact]
    public async Task A_fleet_on_a_three_master_cluster_makes_one_call_spreads_its_keys_and_invalidates_everywhere()
    {
        await using var cluster = await RedisCluster.StartAsync(3);
        var apps = new FleetApp[3];
        for (int i = 0; i < apps.Length; i++)
        {
            apps[i] = new FleetApp(cluster.ClientOptions(), _upstream, fleet: o => o.WriteBehind = false);
            await apps[i].ListeningAsync();
        }

        try
        {
            // One upstream call for 24 identical requests over three instances.
            _upstream.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var burst = Enumerable.Range(0, 24).Select(i => apps[i % 3].SendAsync(Upstream.Chat("burst"))).ToArray();
            await _upstream.FirstCall.Task.WaitAsync(TimeSpan.FromSeconds(10));
            for (int i = 0; apps.Count(a => a.Fleet.Waiting > 0) < 2; i++)
            {
                Assert.True(i < 2000, "the other instances never waited for the leader");
                await Task.Delay(5);
            }

            _upstream.Gate.SetResult();
            var answers = await Task.WhenAll(burst);
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Response.StatusCode));
            Assert.Equal(1, _upstream.Calls);

            // Entries of different questions land on different masters (no hash tags pin a partition to one slot).
            for (int i = 0; i < 12; i++)
            {
                await apps[i % 3].SendAsync(Upstream.Chat($"q{i}"));
            }

            await using var inspect = await ConnectionMultiplexer.ConnectAsync(cluster.ClientOptions());
            int mastersWithEntries = 0;
            foreach (var node in cluster.Nodes)
            {
                int entries = 0;
                await foreach (var key in inspect.GetServer(node.EndPoint).KeysAsync(pattern: "ccp:*"))
                {
                    entries += key.ToString().EndsWith(":gen", StringComparison.Ordinal) ? 0 : 1;
                }

                mastersWithEntries += entries > 0 ? 1 : 0;
            }

            Assert.True(mastersWithEntries >= 2, $"entries on {mastersWithEntries} master(s)");

            // Invalidation through the cluster's pub/sub reaches every instance.
            foreach (var app in apps.Skip(1))
            {
                Assert.Contains("hit", (await app.SendAsync(Upstream.Chat("q0"))).Response.CacheStatus(), StringComparison.Ordinal);
            }

            Assert.True(await apps[0].Invalidator.RemoveAsync(Upstream.Chat("q0")));
            for (int i = 0; apps.Any(HasKey); i++)
            {
                Assert.True(i < 2000, "a memory tier kept the removed entry");
                await Task.Delay(5);
            }

            Assert.Contains("fwd=miss", (await apps[2].SendAsync(Upstream.Chat("q0"))).Response.CacheStatus(), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }
        }

        static bool HasKey(FleetApp app) => app.Memory.KeysByRecency().Contains(Key("q0"));
    }

    private static Keys.ChatCacheKey Key(string question) =>
        Keys.RequestIdentifier.Create(new ChatCacheStrategyOptions(), "openai").IdentifyAsync(Upstream.Chat(question), false, default).AsTask().Result.Key;
}
