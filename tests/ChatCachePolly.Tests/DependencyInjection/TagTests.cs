using System.Net;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Serialization;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.DependencyInjection;

/// <summary>Tags (<see cref="ChatCacheControl.Tags"/>, the <c>ChatCache-Tags</c> header, <c>model:{model}</c>) and <c>RemoveByTagAsync</c>.</summary>
public sealed class TagTests
{
    private readonly List<HttpRequestMessage> _sent = [];
    private int _calls;

    private ServiceProvider Build(Action<ChatCacheStrategyOptions>? configure = null)
    {
        var upstream = new MockHttpMessageHandler();
        upstream.Fallback.Respond(request =>
        {
            Interlocked.Increment(ref _calls);
            lock (_sent)
            {
                _sent.Add(request);
            }

            return CacheHarness.Json(Fixtures.Response("chat.json"));
        });
        var services = new ServiceCollection();
        services.AddHttpClient("a")
            .ConfigurePrimaryHttpMessageHandler(() => upstream)
            .AddResilienceHandler("chat", (p, c) => p.AddChatCache(c));
        services.AddChatCacheOptions("a").Configure(o => configure?.Invoke(o));
        return services.BuildServiceProvider();
    }

    private static HttpRequestMessage Chat(string question, string[]? tags = null, string? header = null)
    {
        var request = CacheHarness.ChatRequest($$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{{question}}"}]}""");
        if (tags is not null)
        {
            request.SetChatCacheControl(new ChatCacheControl { Tags = tags });
        }

        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation(ChatCacheControl.TagsHeaderName, header);
        }

        return request;
    }

    private static async Task<string> SendAsync(IServiceProvider provider, HttpRequestMessage request)
    {
        using var response = await provider.GetRequiredService<IHttpClientFactory>().CreateClient("a").SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.CacheStatus();
    }

    private static IChatCacheInvalidator Invalidator(IServiceProvider provider) => provider.GetRequiredKeyedService<IChatCacheInvalidator>("a");

    [Fact]
    public async Task Remove_by_tag_drops_exactly_the_tagged_answers()
    {
        await using var provider = Build();
        await SendAsync(provider, Chat("one", tags: ["prompt:v3"]));
        await SendAsync(provider, Chat("two", header: "prompt:v3, doc:7"));
        await SendAsync(provider, Chat("three", tags: ["prompt:v4"]));
        await SendAsync(provider, Chat("four"));

        await Invalidator(provider).RemoveByTagAsync("prompt:v3");

        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("two")));
        Assert.Contains("hit", await SendAsync(provider, Chat("three")));
        Assert.Contains("hit", await SendAsync(provider, Chat("four")));
    }

    [Fact]
    public async Task Every_answer_carries_its_model_and_its_undated_model_as_tags()
    {
        await using var provider = Build();
        await SendAsync(provider, Chat("one"));
        await SendAsync(provider, Chat("two"));
        await Invalidator(provider).RemoveByTagAsync("model:gpt-4o-mini"); // the fixture answers "gpt-4o-mini-2024-07-18"
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));

        await Invalidator(provider).RemoveByTagAsync("model:gpt-4o-mini-2024-07-18");
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("two")));
        await Invalidator(provider).RemoveByTagAsync("model:gpt-4o");
        Assert.Contains("hit", await SendAsync(provider, Chat("two")));
    }

    [Fact]
    public async Task The_tags_header_never_reaches_the_provider_and_tags_are_not_part_of_the_key()
    {
        await using var provider = Build();
        await SendAsync(provider, Chat("one", header: "tenant:acme"));
        Assert.Contains("hit", await SendAsync(provider, Chat("one", header: "tenant:other")));
        Assert.Contains("hit", await SendAsync(provider, Chat("one")));
        Assert.All(_sent, r => Assert.False(r.Headers.Contains(ChatCacheControl.TagsHeaderName)));

        // The answer keeps the tags of the request that stored it.
        await Invalidator(provider).RemoveByTagAsync("tenant:other");
        Assert.Contains("hit", await SendAsync(provider, Chat("one")));
        await Invalidator(provider).RemoveByTagAsync("tenant:acme");
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));
    }

    [Theory]
    [InlineData(",")]
    [InlineData("a,\u0001b")]
    [InlineData("t0,t1,t2,t3,t4,t5,t6,t7,t8,t9,t10,t11,t12,t13,t14,t15,t16")]
    public async Task A_request_with_invalid_or_too_many_tags_is_passed_through_uncached_without_its_header(string header)
    {
        await using var provider = Build();
        var request = Chat("one");
        request.Headers.TryAddWithoutValidation(ChatCacheControl.TagsHeaderName, header);
        if (header == ",")
        {
            request.SetChatCacheControl(new ChatCacheControl { Tags = [" "] });
        }

        Assert.Contains("fwd=bypass; detail=invalid-tags", await SendAsync(provider, request));
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));
        Assert.All(_sent, r => Assert.False(r.Headers.Contains(ChatCacheControl.TagsHeaderName)));
    }

    [Fact]
    public async Task A_long_tag_is_refused_and_sixteen_tags_are_accepted()
    {
        Assert.False(ChatCacheTags.IsValid(new string('x', 129)));
        Assert.True(ChatCacheTags.IsValid(new string('x', 128)));
        await using var provider = Build();
        var sixteen = Enumerable.Range(0, 16).Select(i => $"t{i}").ToArray();
        Assert.Contains("stored", await SendAsync(provider, Chat("one", tags: sixteen)));
        await Invalidator(provider).RemoveByTagAsync("t15");
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));
    }

    [Fact]
    public async Task An_answer_stored_after_the_removal_is_served()
    {
        await using var provider = Build();
        await SendAsync(provider, Chat("one", tags: ["prompt:v3"]));
        await Invalidator(provider).RemoveByTagAsync("prompt:v3");
        Assert.Contains("stored", await SendAsync(provider, Chat("one", tags: ["prompt:v3"])));
        Assert.Contains("hit", await SendAsync(provider, Chat("one")));
        Assert.Equal(2, _calls);
    }

    [Fact]
    public void Tags_round_trip_through_the_entry_format_as_hashes()
    {
        var tags = ChatCacheTags.ForEntry([ChatCacheTags.Hash("prompt:v3")], "gpt-4o-mini-2024-07-18")!;
        Assert.Equal(3, tags.Length);
        Assert.Equal(ChatCacheTags.Hash("model:gpt-4o-mini"), tags[2]);
        var entry = new CacheEntry(default, 200, "application/json", [], new ArraySegment<byte>("{}"u8.ToArray()), DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddHours(1), TimeSpan.Zero, EndpointKind.ChatCompletions, "m", default, tags: tags);
        var payload = CacheEntrySerializer.Serialize(entry);
        Assert.Equal(CacheEntryReadResult.Ok, CacheEntrySerializer.TryDeserialize(payload, default, out var read));
        Assert.Equal(tags, read!.Tags);
        Assert.DoesNotContain("prompt:v3"u8.ToArray(), new[] { payload }.Select(p => p)); // hashes only
        Assert.True(payload.AsSpan().IndexOf("prompt"u8) < 0);
    }

    [Fact]
    public async Task Over_a_plain_distributed_cache_remove_by_tag_clears_the_partitions_shared_entries()
    {
        var cache = new Microsoft.Extensions.Caching.Distributed.MemoryDistributedCache(Microsoft.Extensions.Options.Options.Create(new Microsoft.Extensions.Caching.Memory.MemoryDistributedCacheOptions()));
        var upstream = new MockHttpMessageHandler();
        upstream.Fallback.Respond(_ => CacheHarness.Json(Fixtures.Response("chat.json")));
        var services = new ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Caching.Distributed.IDistributedCache>(cache);
        services.AddHttpClient("a").ConfigurePrimaryHttpMessageHandler(() => upstream).AddResilienceHandler("chat", (p, c) => p.AddChatCache(c));
        services.AddChatCacheOptions("a").Configure(o => o.Store = ChatCacheStoreKind.MemoryAndDistributed);
        await using var provider = services.BuildServiceProvider();

        await SendAsync(provider, Chat("one", tags: ["prompt:v3"]));
        await SendAsync(provider, Chat("two", tags: ["prompt:v4"]));
        await Invalidator(provider).RemoveByTagAsync("prompt:v3");
        Assert.Contains("fwd=miss", await SendAsync(provider, Chat("one")));
        Assert.Contains("hit", await SendAsync(provider, Chat("two"))); // the memory tier knows its tags
    }

    [Fact]
    public async Task A_disabled_cache_still_removes_the_tags_header()
    {
        await using var provider = Build(o => o.Enabled = false);
        Assert.Contains("detail=disabled", await SendAsync(provider, Chat("one", header: "prompt:v3")));
        Assert.All(_sent, r => Assert.False(r.Headers.Contains(ChatCacheControl.TagsHeaderName)));
    }
}
