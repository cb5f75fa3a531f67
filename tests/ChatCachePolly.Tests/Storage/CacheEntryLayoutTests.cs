using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Polly;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

/// <summary>
/// The compact entry layout must not change what is served: fingerprints and <c>Cache-Status</c> derived from the key equal
/// the strings that used to be stored per entry.
/// </summary>
public sealed class CacheEntryLayoutTests
{
    [Fact]
    public void Hit_cache_status_derived_from_the_key_equals_the_formatted_fingerprint()
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var key = Key(seed);
            Assert.Equal(CacheStatus.FingerprintLength, key.Fingerprint.Length);
            Assert.Equal($"ChatCachePolly; hit; key={key.Fingerprint}", CacheStatus.Hit(key));
            Assert.Equal($"ChatCachePolly; hit; stale; key={key.Fingerprint}; detail=max-stale", CacheStatus.StaleHit(key, "max-stale"));
        }

        Assert.Equal("ChatCachePolly; hit; key=000000000000", CacheStatus.Hit(default));
        Assert.Equal("ChatCachePolly; hit; key=ffffffffffff", CacheStatus.Hit(ChatCacheKey.FromHash(Enumerable.Repeat((byte)0xFF, 32).ToArray())));
    }

    [Fact]
    public void Hit_arguments_derive_the_fingerprint_from_the_key_and_keep_an_explicit_one()
    {
        var context = ResilienceContextPool.Shared.Get();
        using var request = new HttpRequestMessage();
        var key = Key(7);

        var derived = new OnChatCacheHitArguments(context, request, TimeSpan.FromSeconds(3), key, isStale: true);
        var explicitOne = new OnChatCacheHitArguments(context, request, TimeSpan.FromSeconds(3), "abc");

        Assert.Equal(key.Fingerprint, derived.KeyFingerprint);
        Assert.True(derived.IsStale);
        Assert.Equal(TimeSpan.FromSeconds(3), derived.Age);
        Assert.Equal("abc", explicitOne.KeyFingerprint);
        Assert.Null(default(OnChatCacheHitArguments).KeyFingerprint);
        ResilienceContextPool.Shared.Return(context);
    }

    [Fact]
    public async Task A_hit_serves_the_miss_fingerprint_and_reports_it_to_the_callback()
    {
        string? reported = null;
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions
        {
            OnCacheHit = args => { reported = args.KeyFingerprint; return default; },
        });

        using var miss = await harness.PostChatAsync();
        using var hit = await harness.PostChatAsync();

        string fingerprint = miss.CacheStatus().Split("key=")[1][..CacheStatus.FingerprintLength];
        Assert.Equal($"ChatCachePolly; hit; key={fingerprint}", hit.CacheStatus());
        Assert.Equal(fingerprint, reported);
        var key = Assert.Single(((MemoryChatCacheStore)harness.Store).KeysByRecency());
        Assert.Equal(fingerprint, key.Fingerprint);
        Assert.Equal(key, (await harness.Store.GetAsync(key, default))!.Key);
    }

    /// <summary>The object the memory store holds per response (64-bit runtime), as the layout remarks on <see cref="CacheEntry"/> document.</summary>
    private const int EntryObjectBytes = 160;

    [Fact]
    public void The_entry_object_is_as_small_as_its_layout_documents()
    {
        var entry = JsonEntry(key: Key(1));
        var key = Key(2);
        var copies = new CacheEntry[1000];
        entry.CopyFor(key); // JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < copies.Length; i++)
        {
            copies[i] = entry.CopyFor(key); // allocates the entry object only
        }

        long perEntry = (GC.GetAllocatedBytesForCurrentThread() - before) / copies.Length;
        GC.KeepAlive(copies);
        Assert.Equal(EntryObjectBytes, perEntry);
    }

    [Fact]
    public void Copies_and_round_trips_keep_every_field_and_the_same_size()
    {
        foreach (var entry in new[] { JsonEntry(key: Key(1)), StreamEntry(withTimes: true, key: Key(1)), StreamEntry(withTimes: false, key: Key(1)) })
        {
            entry.ExtendFreshness(entry.FreshUntil + TimeSpan.FromMinutes(3));
            var copy = entry.CopyFor(Key(1));
            AssertSameEntry(entry, copy);
            Assert.Equal(entry.Size, copy.Size);
            Assert.Equal(Key(9), entry.CopyFor(Key(9)).Key);
        }
    }

    [Fact]
    public void Narrow_fields_keep_their_values()
    {
        var storedAt = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.FromHours(2));
        var entry = new CacheEntry(
            key: Key(1),
            statusCode: 599,
            contentType: null,
            headers: [],
            body: [],
            storedAt: storedAt,
            freshUntil: storedAt + TimeSpan.FromMinutes(1),
            originalLatency: TimeSpan.FromTicks(long.MaxValue),
            endpoint: EndpointKind.Responses,
            model: null,
            usage: new TokenUsage(long.MaxValue, long.MinValue));

        Assert.Equal(599, entry.StatusCode);
        Assert.Equal(storedAt, entry.StoredAt); // the same instant (held as UTC ticks)
        Assert.Equal(TimeSpan.Zero, entry.StoredAt.Offset);
        Assert.Equal(TimeSpan.FromTicks(long.MaxValue), entry.OriginalLatency);
        Assert.Equal(EndpointKind.Responses, entry.Endpoint);
        Assert.Equal(new TokenUsage(long.MaxValue, long.MinValue), entry.Usage);
        Assert.Equal(TimeSpan.FromSeconds(30), entry.Age(storedAt + TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.Zero, entry.Age(storedAt - TimeSpan.FromSeconds(30)));
        Assert.False(entry.IsEventStream);
        Assert.Null(entry.EventEnds);
        Assert.Null(entry.EventTimesMs);
    }

    private static readonly KeyValuePair<string, string>[] AwkwardHeaders =
    [
        new("x-request-id", "req_" + new string('a', 200)), // a length that needs a two-byte varint
        new("openai-version", "2020-10-01"),
        new("openai-empty", ""),
        new("openai-latin1", "café \u00ff"),
        new("openai-wide", "✓ Paris \U0001F5FC"),
        new("openai-lone-surrogate", "a\uD800b"), // not valid UTF-16: still served exactly as captured
        new("openai-" + new string('n', 80), "a name too long to pool, stored in the entry"),
        new("openai-version", "a repeated name"),
    ];

    [Fact]
    public void Packed_headers_decode_to_exactly_the_captured_strings_in_order()
    {
        var body = "{\"id\":1}"u8.ToArray();
        var entry = Entry(AwkwardHeaders, body);

        Assert.Equal(AwkwardHeaders, entry.GetHeaders());
        var enumerated = new List<KeyValuePair<string, string>>();
        foreach (var header in entry.EnumerateHeaders())
        {
            enumerated.Add(header);
        }

        Assert.Equal(AwkwardHeaders, enumerated);
        Assert.Equal(body, entry.Body.ToArray());
        Assert.Equal(body.Length, entry.BodyLength);
        Assert.Empty(Entry([], body).GetHeaders());

        // Names and short values come back as the pools' shared instances; long values are decoded into new strings.
        var first = entry.GetHeaders();
        var second = entry.GetHeaders();
        Assert.Same(first[0].Key, second[0].Key);
        Assert.True(PackedHeaders.Names.TryIntern("x-request-id", out var pooledName, out _));
        Assert.Same(pooledName, first[0].Key);
        Assert.Same(first[1].Value, second[1].Value); // "2020-10-01"
        Assert.True(PackedHeaders.Values.TryIntern("2020-10-01", out var pooledValue, out _));
        Assert.Same(pooledValue, first[1].Value);
        Assert.NotSame(first[0].Value, second[0].Value); // a request id: longer than 16 characters, never pooled
        Assert.NotSame(first[6].Key, second[6].Key); // a name longer than 64 characters, never pooled
        Assert.False(PackedHeaders.Values.TryIntern(new string('v', 17), out _, out _));
    }

    [Fact]
    public void The_body_array_is_taken_without_a_copy_when_it_is_exact_or_has_room_for_the_headers()
    {
        KeyValuePair<string, string>[] headers = [new("x-request-id", "req_1"), new("openai-processing-ms", "7")];
        var body = "{\"id\":1}"u8.ToArray();

        var exact = body.ToArray();
        Assert.Same(exact, Entry([], exact).BodyArray);

        var roomy = new byte[body.Length + PackedHeaders.Measure(headers)];
        body.CopyTo(roomy, 0);
        var reserved = Entry(headers, new ArraySegment<byte>(roomy, 0, body.Length));
        Assert.Same(roomy, reserved.BodyArray);
        Assert.Equal(headers, reserved.GetHeaders());
        Assert.Equal(body, reserved.Body.ToArray());

        var copied = Entry(headers, exact);
        Assert.NotSame(exact, copied.BodyArray);
        Assert.Equal(body, exact); // the caller's array is never written
        Assert.Equal(body, copied.Body.ToArray());

        var offset = new byte[body.Length + 5 + PackedHeaders.Measure(headers)];
        body.CopyTo(offset, 5);
        var fromOffset = Entry(headers, new ArraySegment<byte>(offset, 5, body.Length));
        Assert.NotSame(offset, fromOffset.BodyArray);
        Assert.Equal(body, fromOffset.Body.ToArray());
    }

    [Fact]
    public async Task The_response_reader_leaves_room_for_the_headers_and_the_caller_sees_the_body_only()
    {
        var body = System.Text.Encoding.UTF8.GetBytes(Fixtures.Response("chat.json"));
        using var response = CacheHarness.Json(Fixtures.Response("chat.json"));
        KeyValuePair<string, string>[] headers = ResponseHeaderPolicy.Capture(response);
        int spare = PackedHeaders.Measure(headers);
        Assert.True(spare > 0);

        var (status, read) = await ResponseBodyReader.ReadAsync(response, 1 << 20, false, default, spare);

        Assert.Equal(ResponseBodyStatus.Complete, status);
        Assert.Equal(0, read.Offset);
        Assert.Equal(body, read.ToArray());
        Assert.Equal(body.Length + spare, read.Array!.Length);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);

        var entry = Entry(headers, read);
        Assert.Same(read.Array, entry.BodyArray); // stored without a second copy
        Assert.Equal(headers, entry.GetHeaders());
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync()); // the caller's bytes are untouched
    }

    [Fact]
    public void Size_counts_the_object_slot_array_and_stream_events_as_the_heap_holds_them()
    {
        static long Align(long bytes) => (bytes + 7) & ~7L;

        var json = JsonEntry(key: Key(1));
        Assert.Equal(json.BodyLength + PackedHeaders.Measure(json.GetHeaders()), json.BodyArray.Length);
        Assert.Equal(CacheEntry.OverheadBytes + Align(24 + json.BodyArray.Length), json.Size);
        Assert.True(CacheEntry.OverheadBytes >= EntryObjectBytes + 16, "the overhead covers at least the object and its hash slot");

        var stream = StreamEntry(withTimes: true, key: Key(1));
        long events = 32 + Align(24 + (4L * stream.EventEnds!.Length)) + Align(24 + (4L * stream.EventTimesMs!.Length));
        Assert.Equal(CacheEntry.OverheadBytes + Align(24 + stream.BodyArray.Length) + events, stream.Size);
        var untimed = StreamEntry(withTimes: false, key: Key(1));
        Assert.Equal(stream.Size - Align(24 + (4L * stream.EventTimesMs.Length)), untimed.Size);
    }

    [Fact]
    public async Task A_hit_serves_the_kept_headers_exactly_as_the_miss_captured_them()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ =>
        {
            var response = CacheHarness.Json(Fixtures.Response("chat.json"));
            foreach (var header in AwkwardHeaders)
            {
                response.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            return response;
        };

        using var miss = await harness.PostChatAsync();
        using var hit = await harness.PostChatAsync();

        static List<KeyValuePair<string, string>> Kept(HttpResponseMessage response) =>
            [.. response.Headers.NonValidated.Where(h => ResponseHeaderPolicy.IsKept(h.Key)).Select(h => new KeyValuePair<string, string>(h.Key, h.Value.ToString()))];

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit;", hit.CacheStatus());
        Assert.Equal(Kept(miss), Kept(hit));
        Assert.Contains(new KeyValuePair<string, string>("openai-lone-surrogate", "a\uD800b"), Kept(hit));
        Assert.Equal(await miss.Content.ReadAsStringAsync(), await hit.Content.ReadAsStringAsync());
    }

    private static CacheEntry Entry(KeyValuePair<string, string>[] headers, ArraySegment<byte> body) => new(
        key: Key(1),
        statusCode: 200,
        contentType: "application/json",
        headers: headers,
        body: body,
        storedAt: Now,
        freshUntil: Now + TimeSpan.FromMinutes(1),
        originalLatency: TimeSpan.Zero,
        endpoint: EndpointKind.ChatCompletions,
        model: null,
        usage: default);
}
