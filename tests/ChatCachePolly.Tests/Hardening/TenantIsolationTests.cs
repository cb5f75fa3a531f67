using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ChatCachePolly.Loopback;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace ChatCachePolly.Tests.Hardening;

/// <summary>
/// A mixed concurrent soak over many tenants - API keys, <c>api-key</c> headers, organizations, projects and two partitions that
/// share one store - through the real Kestrel loopback. The upstream stamps every answer with a hash of the tenant identity it
/// saw, so a cross-tenant hit is visible in the body. Then the store (memory, and Redis) is scanned for every secret.
/// </summary>
public sealed class TenantIsolationTests : IAsyncLifetime
{
    private const int Tenants = 20;
    private const int Questions = 10;
    private const int Repeats = 3;
    private const int Concurrency = 32;

    private readonly HttpMessageInvoker _network = new(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }, disposeHandler: true);
    private LoopbackOpenAIServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackOpenAIServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        _network.Dispose();
        await _server.DisposeAsync();
    }

    /// <summary>One tenant: the credentials it sends and the partition (client) it sends them through.</summary>
    internal sealed record Tenant(int Id, string Partition, string? Bearer, string? ApiKey, string? Organization, string? Project)
    {
        public IEnumerable<string> Secrets => new[] { Bearer, ApiKey, Organization, Project }.OfType<string>();

        public string Marker => Mark(Partition, Bearer, ApiKey, Organization, Project);

        public static string Mark(string partition, string? bearer, string? apiKey, string? organization, string? project) =>
            Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{partition}\u0001{bearer}\u0001{apiKey}\u0001{organization}\u0001{project}")))[..16];
    }

    /// <summary>
    /// Tenants that differ in one credential only: shared keys with different organizations or projects, the Azure-style
    /// <c>api-key</c> header, and the same credentials through two partitions.
    /// </summary>
    internal static List<Tenant> MakeTenants()
    {
        var tenants = new List<Tenant>();
        for (int i = 0; i < Tenants; i++)
        {
            string partition = i % 5 == 4 ? "B" : "A";
            string key = $"sk-proj-tenant{i / 2:D2}-{Guid.NewGuid():N}"; // pairs share a key...
            tenants.Add((i % 4) switch
            {
                0 => new Tenant(i, partition, key, null, $"org-{Guid.NewGuid():N}", null),
                1 => new Tenant(i, partition, key, null, $"org-{Guid.NewGuid():N}", $"proj_{Guid.NewGuid():N}"), // ...and differ by org/project
                2 => new Tenant(i, partition, null, $"azk{Guid.NewGuid():N}", null, null),
                _ => new Tenant(i, partition, key, null, null, $"proj_{Guid.NewGuid():N}"),
            });
        }

        // The same credentials through the other partition.
        var twin = tenants[0];
        tenants.Add(twin with { Id = Tenants, Partition = twin.Partition == "A" ? "B" : "A" });
        return tenants;
    }

    [Fact]
    public async Task Memory_store_never_serves_one_tenant_another_tenants_answer_and_holds_no_secret()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new MemoryChatCacheStore(100_000, 512L * 1024 * 1024, time, TimeSpan.Zero);
        var tenants = MakeTenants();
        var (hits, total) = await SoakAsync(tenants, store, time);
        Assert.True(hits > 0, "the cache was never used");
        TestContext.Current.TestOutputHelper?.WriteLine($"{hits} hits of {total} requests");
        Assert.True(hits <= total - (tenants.Count * Questions), $"{hits} hits for {total} requests: more hits than repeats");

        // Scan every entry: bodies, kept headers, content type, model.
        var secrets = tenants.SelectMany(t => t.Secrets).ToList();
        Assert.Equal(tenants.Count * Questions, store.Count);
        foreach (var key in store.KeysByRecency())
        {
            var entry = (await store.GetAsync(key, default))!;
            string everything = Encoding.UTF8.GetString(entry.Body.Span) + "\n" + entry.ContentType + "\n" + entry.Model + "\n"
                + string.Join("\n", entry.GetHeaders().Select(h => h.Key + ": " + h.Value)) + "\n" + entry.Key.Fingerprint + "\n" + key;
            foreach (string secret in secrets)
            {
                Assert.DoesNotContain(secret, everything, StringComparison.OrdinalIgnoreCase);
            }

            Assert.DoesNotContain(entry.GetHeaders(), h => h.Key.Equals("openai-organization", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("openai-project", StringComparison.OrdinalIgnoreCase));
        }
    }

    [Fact]
    public async Task Redis_store_never_serves_one_tenant_another_tenants_answer_and_holds_no_secret()
    {
        await using var redis = await ChatCachePolly.RedisTests.RedisServer.StartAsync();
        var cacheOptions = redis.CacheOptions("tenants:");
        using var cache = new RedisCache(cacheOptions);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var settings = new DistributedChatCacheStoreSettings { Timeout = TimeSpan.FromSeconds(5), MinimumThroughput = int.MaxValue };
        var stores = new Dictionary<string, IChatCacheStore>
        {
            ["A"] = new DistributedChatCacheStore(cache, "A", settings, time),
            ["B"] = new DistributedChatCacheStore(cache, "B", settings, time),
        };
        var tenants = MakeTenants();
        var (hits, total) = await SoakAsync(tenants, null, time, stores);
        Assert.True(hits > 0, "the cache was never used");
        TestContext.Current.TestOutputHelper?.WriteLine($"{hits} hits of {total} requests");

        // Every key and every value in Redis (values are hashes written by RedisCache; entries are decoded, so a compressed
        // body is scanned too).
        var secrets = tenants.SelectMany(t => t.Secrets).ToList();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.InspectionOptions());
        var server = connection.GetServer(redis.EndPoint);
        var db = connection.GetDatabase();
        int entries = 0;
        await foreach (var key in server.KeysAsync(pattern: "*"))
        {
            string keyText = key.ToString();
            var blobs = new List<byte[]>();
            var type = await db.KeyTypeAsync(key);
            if (type == RedisType.Hash)
            {
                foreach (var field in await db.HashGetAllAsync(key))
                {
                    blobs.Add(Encoding.UTF8.GetBytes(field.Name.ToString()));
                    blobs.Add((byte[])field.Value!);
                }
            }
            else if (type == RedisType.String)
            {
                blobs.Add((byte[])(await db.StringGetAsync(key))!);
            }

            var texts = new List<string> { keyText };
            foreach (var blob in blobs)
            {
                texts.Add(Encoding.UTF8.GetString(blob));
                texts.Add(Encoding.Latin1.GetString(blob));
                if (ChatCachePolly.Storage.Serialization.CacheEntrySerializer.TryDeserialize(blob, default, out var entry) == ChatCachePolly.Storage.Serialization.CacheEntryReadResult.Ok && entry is not null)
                {
                    entries++;
                    texts.Add(Encoding.UTF8.GetString(entry.Body.Span));
                    texts.AddRange(entry.GetHeaders().Select(h => h.Key + ": " + h.Value));
                    Assert.DoesNotContain(entry.GetHeaders(), h => h.Key.Equals("openai-organization", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("openai-project", StringComparison.OrdinalIgnoreCase));
                }
            }

            foreach (string secret in secrets)
            {
                foreach (string text in texts)
                {
                    Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase);
                }
            }

            // Partition names are hashed too.
            Assert.DoesNotContain(":A:", keyText, StringComparison.Ordinal);
        }

        Assert.Equal(tenants.Count * Questions, entries);
    }

    /// <summary>Runs the shuffled concurrent soak; returns (hits, requests). Every response must carry its own tenant's marker.</summary>
    private async Task<(int Hits, int Total)> SoakAsync(List<Tenant> tenants, IChatCacheStore? sharedStore, FakeTimeProvider? time, Dictionary<string, IChatCacheStore>? stores = null)
    {
        var ct = TestContext.Current.CancellationToken;
        string url = new Uri(_server.OpenAIEndpoint, "chat/completions").ToString();
        var harnesses = new Dictionary<string, CacheHarness>();
        foreach (string partition in new[] { "A", "B" })
        {
            var harness = CacheHarness.Create(new ChatCacheStrategyOptions { Partition = partition }, time: time, store: stores?[partition] ?? sharedStore);
            harness.AsyncResponder = (request, c) => TenantStampingUpstreamAsync(partition, request, c);
            harnesses[partition] = harness;
        }

        try
        {
            var work = (from t in tenants from q in Enumerable.Range(0, Questions) from r in Enumerable.Range(0, Repeats) select (Tenant: t, Question: q)).ToArray();
            Random.Shared.Shuffle(work);
            int hits = 0;
            var failures = new ConcurrentQueue<string>();
            await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = ct }, async (item, c) =>
            {
                var (tenant, question) = item;
                string text = $"Question {question} about topic {question * 7}";
                string body = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{{text}}"}],"user":"end-user-{{tenant.Id}}"}""";
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                if (tenant.Bearer is { } bearer)
                {
                    request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + bearer);
                }

                if (tenant.ApiKey is { } apiKey)
                {
                    request.Headers.TryAddWithoutValidation("api-key", apiKey);
                }

                if (tenant.Organization is { } organization)
                {
                    request.Headers.TryAddWithoutValidation("OpenAI-Organization", organization);
                }

                if (tenant.Project is { } project)
                {
                    request.Headers.TryAddWithoutValidation("OpenAI-Project", project);
                }

                using var response = await harnesses[tenant.Partition].Client.SendAsync(request, c);
                string answer = await response.Content.ReadAsStringAsync(c);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"tenant {tenant.Id}: {(int)response.StatusCode} {answer}");
                    return;
                }

                string content = JsonNode.Parse(answer)!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
                if (!content.Contains("[tenant:" + tenant.Marker + "]", StringComparison.Ordinal))
                {
                    failures.Enqueue($"CROSS-TENANT: tenant {tenant.Id} got '{content}'");
                }

                if (!content.Contains("Echo: " + text, StringComparison.Ordinal))
                {
                    failures.Enqueue($"WRONG QUESTION: tenant {tenant.Id} asked '{text}', got '{content}'");
                }

                if (response.Headers.TryGetValues("Cache-Status", out var status) && status.First().StartsWith("ChatCachePolly; hit", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref hits);
                }
            });

            Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(20)));
            return (hits, work.Length);
        }
        finally
        {
            foreach (var harness in harnesses.Values)
            {
                harness.Dispose();
            }
        }
    }

    /// <summary>
    /// Forwards to the Kestrel loopback, then stamps the answer with the tenant identity the upstream saw (as a provider would
    /// answer per account) and echoes the organization/project headers as OpenAI does.
    /// </summary>
    private async Task<HttpResponseMessage> TenantStampingUpstreamAsync(string partition, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string? Header(string name) => request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;
        string? bearer = Header("Authorization")?["Bearer ".Length..];
        string marker = Tenant.Mark(partition, bearer, Header("api-key"), Header("OpenAI-Organization"), Header("OpenAI-Project"));

        using var upstream = await _network.SendAsync(request, cancellationToken);
        var json = JsonNode.Parse(await upstream.Content.ReadAsStringAsync(cancellationToken))!;
        var message = json["choices"]![0]!["message"]!;
        message["content"] = message["content"]!.GetValue<string>() + " [tenant:" + marker + "]";
        var response = CacheHarness.Json(json.ToJsonString(), upstream.StatusCode);
        response.Headers.Remove("openai-organization");
        if (Header("OpenAI-Organization") is { } organization)
        {
            response.Headers.TryAddWithoutValidation("openai-organization", organization);
        }

        if (Header("OpenAI-Project") is { } project)
        {
            response.Headers.TryAddWithoutValidation("openai-project", project);
        }

        return response;
    }
}
