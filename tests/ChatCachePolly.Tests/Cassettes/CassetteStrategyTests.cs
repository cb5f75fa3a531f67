using System.Net;
using System.Text;
using System.Text.Json;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>The cassette store through the strategy: record, replay in a new store (a new test run), modes, failures, secrets.</summary>
public sealed class CassetteStrategyTests
{
    private static readonly string ChatStream = Fixtures.Response("chat-stream.sse");
    private static readonly string StreamRequest = Fixtures.Request("chat-stream.request.json");

    /// <remarks>
    /// These tests pin the provider's exact bytes (ids and timestamps as sent), so the stable volatile values are off here;
    /// <see cref="CassetteStableValuesTests"/> covers the default.
    /// </remarks>
    private static ChatCacheStrategyOptions Options(CassetteDirectory directory, ChatCacheCassetteMode mode = ChatCacheCassetteMode.Auto) => new()
    {
        Store = ChatCacheStoreKind.Cassette,
        CassetteDirectory = directory.Path,
        CassetteMode = mode,
        CassetteStableVolatileValues = false,
    };

    /// <summary>Options whose task completes when a response is stored (a stream is stored after its caller read it).</summary>
    private static (ChatCacheStrategyOptions Options, Task Stored) Recording(CassetteDirectory directory)
    {
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Options(directory);
        options.OnResponseStored = _ =>
        {
            stored.TrySetResult();
            return default;
        };
        return (options, stored.Task);
    }

    /// <summary>A harness over a new store on <paramref name="options"/>' directory: what a new test run sees.</summary>
    private static CacheHarness Run(ChatCacheStrategyOptions options, FakeTimeProvider? time = null)
    {
        time ??= new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        return CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(options.CassetteDirectory!, CassetteRedaction.From(options), time));
    }

    private static HttpResponseMessage Sse(string body)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8) };
        response.Content.Headers.ContentType = new("text/event-stream");
        response.Headers.TryAddWithoutValidation("x-request-id", "req_stream");
        return response;
    }

    private static Task<HttpResponseMessage> SendStreamAsync(CacheHarness harness, string apiKey = "sk-test-key") =>
        harness.Client.SendAsync(CacheHarness.ChatRequest(StreamRequest, apiKey: apiKey), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Auto_records_a_miss_to_one_file_and_a_new_run_replays_it_without_the_network()
    {
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        string recorded;
        using (var first = Run(options))
        {
            using var miss = await first.PostChatAsync();
            recorded = await miss.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.Equal(1, first.UpstreamCalls);
        }

        string file = Assert.Single(directory.Files);
        Assert.Matches("^chat-completions/gpt-4o-mini-[0-9a-f]{32}\\.json$", file);

        using var second = Run(options);
        using var hit = await second.PostChatAsync();
        Assert.Equal(0, second.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal("req_123", Assert.Single(hit.Headers.GetValues("x-request-id")));
        Assert.Equal("application/json", hit.Content.Headers.ContentType?.MediaType);
        AssertSameJson(recorded, await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_recording_made_with_one_key_replays_with_another_key_or_none()
    {
        using var directory = new CassetteDirectory();
        using (var developer = Run(Options(directory)))
        {
            using var _ = await developer.PostChatAsync(apiKey: "sk-developer-AAAA");
        }

        using var ci = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var otherKey = await ci.PostChatAsync(apiKey: "sk-ci-BBBB");
        var noKey = CacheHarness.ChatRequest();
        noKey.Headers.Remove("Authorization");
        using var withoutKey = await ci.SendAsync(noKey, TestContext.Current.CancellationToken);

        Assert.Equal(0, ci.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", otherKey.CacheStatus());
        Assert.StartsWith("ChatCachePolly; hit", withoutKey.CacheStatus());
    }

    [Fact]
    public async Task The_organization_and_project_stay_in_the_key()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            var request = CacheHarness.ChatRequest();
            request.Headers.TryAddWithoutValidation("OpenAI-Project", "proj_one");
            using var _ = await record.SendAsync(request, TestContext.Current.CancellationToken);
        }

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        var otherProject = CacheHarness.ChatRequest();
        otherProject.Headers.TryAddWithoutValidation("OpenAI-Project", "proj_two");
        await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => replay.SendAsync(otherProject, TestContext.Current.CancellationToken));
        // Issue 29: the identifier is in the key, but the file shows only a digest of it.
        Assert.DoesNotContain("proj_one", directory.AllText, StringComparison.Ordinal);
        Assert.Contains("\"openai-project\": \"sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("proj_one")))[..16] + "\"", directory.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_without_a_recording_throws_a_miss_that_names_the_request_the_file_and_how_to_record_it()
    {
        using var directory = new CassetteDirectory();
        using var harness = Run(Options(directory, ChatCacheCassetteMode.Replay));

        var miss = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => harness.PostChatAsync());

        Assert.Equal(0, harness.UpstreamCalls);
        Assert.Empty(directory.Files);
        Assert.Equal("POST /v1/chat/completions", miss.Endpoint);
        Assert.Equal("gpt-4o-mini", miss.Model);
        Assert.Matches("^[0-9a-f]{12}$", miss.KeyFingerprint!);
        Assert.StartsWith(Path.Combine(directory.Path, "chat-completions", "gpt-4o-mini-"), miss.RecordingPath, StringComparison.Ordinal);
        Assert.Contains("POST /v1/chat/completions", miss.Message, StringComparison.Ordinal);
        Assert.Contains("gpt-4o-mini", miss.Message, StringComparison.Ordinal);
        Assert.Contains(miss.KeyFingerprint!, miss.Message, StringComparison.Ordinal);
        Assert.Contains(miss.RecordingPath!, miss.Message, StringComparison.Ordinal);
        Assert.Contains("CHATCACHE_CASSETTE_MODE=record", miss.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_never_sends_a_request_the_cache_cannot_record()
    {
        using var directory = new CassetteDirectory();
        using var harness = Run(Options(directory, ChatCacheCassetteMode.Replay));

        var models = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(
            () => harness.SendAsync(new HttpRequestMessage(HttpMethod.Get, "https://api.openai.com/v1/models"), TestContext.Current.CancellationToken));
        var invalid = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => harness.PostChatAsync("{not json"));
        var noCache = CacheHarness.ChatRequest();
        noCache.Headers.CacheControl = new() { NoCache = true };
        await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => harness.SendAsync(noCache, TestContext.Current.CancellationToken));

        Assert.Equal(0, harness.UpstreamCalls);
        Assert.Null(models.RecordingPath);
        Assert.Contains("GET /v1/models", models.Message, StringComparison.Ordinal);
        Assert.Contains("does not record this request", invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Record_always_asks_upstream_and_overwrites_the_recording()
    {
        using var directory = new CassetteDirectory();
        using (var first = Run(Options(directory)))
        {
            using var _ = await first.PostChatAsync();
        }

        string path = directory.Single();
        using (var record = Run(Options(directory, ChatCacheCassetteMode.Record)))
        {
            record.Responder = _ => CacheHarness.Json(Fixtures.Response("chat.json").Replace("Paris", "Lutetia", StringComparison.Ordinal));
            using var again = await record.PostChatAsync();
            Assert.Equal(1, record.UpstreamCalls);
            Assert.Contains("fwd=request; stored", again.CacheStatus(), StringComparison.Ordinal); // like no-cache: asked upstream on purpose
        }

        Assert.Equal(path, directory.Single());
        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await replay.PostChatAsync();
        Assert.Contains("Lutetia", await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_secret_reaches_a_file()
    {
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        options.AdditionalKeyHeaders = ["x-gateway-key"];
        options.CassetteRedactedHeaders = ["x-tenant-name"];
        using (var harness = Run(options))
        {
            harness.Responder = _ =>
            {
                var response = CacheHarness.Json(Fixtures.Response("chat.json"));
                response.Headers.TryAddWithoutValidation("openai-tenant-secret", "resp-secret-header-value");
                response.Headers.TryAddWithoutValidation("x-tenant-name", "acme-secret-tenant");
                return response;
            };

            string body = Fixtures.Request("chat.request.json").Replace("{", "{\"user\":\"end-user-secret-42\",\"safety_identifier\":\"hashed-secret-id\",", StringComparison.Ordinal);
            var request = CacheHarness.ChatRequest(body, url: CacheHarness.ChatUrl + "?api-key=query-secret-key&api-version=2024-10-21", apiKey: "sk-proj-SECRET-KEY-123");
            request.Headers.TryAddWithoutValidation("api-key", "azure-secret-key-456");
            request.Headers.TryAddWithoutValidation("x-gateway-key", "gateway-secret-789");
            request.Headers.TryAddWithoutValidation("Cookie", "session=cookie-secret-000");
            request.Headers.TryAddWithoutValidation("x-tenant-name", "acme-secret-tenant");
            using var _ = await harness.SendAsync(request, TestContext.Current.CancellationToken);
        }

        string text = directory.AllText;
        Assert.Single(directory.Files);
        foreach (string secret in new[]
        {
            "sk-proj-SECRET-KEY-123", "azure-secret-key-456", "gateway-secret-789", "cookie-secret-000", "end-user-secret-42",
            "hashed-secret-id", "query-secret-key", "acme-secret-tenant", "org-secret-tenant", "__cf_bm", "9999",
        })
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }

        Assert.Contains("\"user\": \"[redacted]\"", text, StringComparison.Ordinal);
        Assert.Contains("api-version=2024-10-21", text, StringComparison.Ordinal);
        Assert.DoesNotContain("openai-processing-ms", text, StringComparison.Ordinal); // timing: changes on every recording
    }

    [Fact]
    public async Task Redacted_response_members_replay_redacted()
    {
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        options.CassetteRedactedJsonMembers = ["system_fingerprint"];
        using (var harness = Run(options))
        {
            using var _ = await harness.PostChatAsync();
        }

        using var replay = Run(options);
        using var hit = await replay.PostChatAsync();
        using var json = JsonDocument.Parse(await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(CassetteFile.Redacted, json.RootElement.GetProperty("system_fingerprint").GetString());
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, "error-500.json")]
    [InlineData(HttpStatusCode.BadRequest, "error-400.json")]
    [InlineData(HttpStatusCode.OK, "error-500.json")]
    [InlineData(HttpStatusCode.OK, "chat-length.json")]
    public async Task Failures_are_never_recorded(HttpStatusCode status, string response)
    {
        using var directory = new CassetteDirectory();
        using var harness = Run(Options(directory));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response(response), status);

        using var _ = await harness.PostChatAsync();

        Assert.Empty(directory.Files);
    }

    [Fact]
    public async Task A_broken_stream_is_never_recorded()
    {
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        int notStored = 0;
        var bothDecided = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.OnResponseNotStored = _ =>
        {
            if (Interlocked.Increment(ref notStored) == 2)
            {
                bothDecided.TrySetResult();
            }

            return default;
        };
        using var harness = Run(options);
        harness.Responder = _ => Sse(Fixtures.Response("chat-stream-error.sse"));

        using var response = await SendStreamAsync(harness);
        _ = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        harness.Responder = _ => Sse(ChatStream[..(ChatStream.Length / 2)]);
        using var half = await SendStreamAsync(harness);
        await Assert.ThrowsAnyAsync<Exception>(() => half.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).ContinueWith(_ => { }, TaskScheduler.Default);
        await bothDecided.Task.WaitAsync(TestContext.Current.CancellationToken);

        Assert.Empty(directory.Files);
    }

    [Theory]
    [InlineData("chat-stream.sse")]
    [InlineData("chat-stream-tool-calls.sse")]
    public async Task A_stream_is_recorded_as_its_events_and_replays_byte_for_byte(string fixture)
    {
        string stream = Fixtures.Response(fixture);
        using var directory = new CassetteDirectory();
        var (options, stored) = Recording(directory);
        using (var record = Run(options))
        {
            record.Responder = _ => Sse(stream);
            using var miss = await SendStreamAsync(record);
            Assert.Equal(stream, await miss.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            await stored.WaitAsync(TestContext.Current.CancellationToken);
        }

        using var file = JsonDocument.Parse(File.ReadAllText(directory.Single()));
        var events = file.RootElement.GetProperty("response").GetProperty("events");
        Assert.Equal(stream.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Length, events.GetArrayLength());
        Assert.Equal(JsonValueKind.Object, events[0].ValueKind);
        Assert.Equal(JsonValueKind.Object, events[0].GetProperty("data").ValueKind); // readable: the chunk as JSON, not an escaped string
        Assert.Equal("data: [DONE]\n\n", events[events.GetArrayLength() - 1].GetString());

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await SendStreamAsync(replay);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal("text/event-stream", hit.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Encoding.UTF8.GetBytes(stream), await hit.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_responses_stream_keeps_its_event_names_and_replays_byte_for_byte()
    {
        string stream = Fixtures.Response("responses-stream.sse");
        using var directory = new CassetteDirectory();
        const string url = "https://api.openai.com/v1/responses";
        string body = "{\"model\":\"gpt-4.1-mini\",\"input\":\"What is the capital of France?\",\"stream\":true}";
        var (options, stored) = Recording(directory);
        using (var record = Run(options))
        {
            record.Responder = _ => Sse(stream);
            using var miss = await record.Client.SendAsync(CacheHarness.ChatRequest(body, url), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
            Assert.Equal(stream, await miss.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            await stored.WaitAsync(TestContext.Current.CancellationToken);
        }

        Assert.StartsWith("responses/gpt-4.1-mini-", Assert.Single(directory.Files), StringComparison.Ordinal);
        Assert.Contains("\"event\": \"response.completed\"", directory.AllText, StringComparison.Ordinal);
        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await replay.Client.SendAsync(CacheHarness.ChatRequest(body, url), TestContext.Current.CancellationToken);
        Assert.Equal(stream, await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_hand_edited_answer_replays_as_edited()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            using var _ = await record.PostChatAsync();
        }

        string path = directory.Single();
        File.WriteAllText(path, File.ReadAllText(path).Replace("Paris", "an edge case the test wants", StringComparison.Ordinal));

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await replay.PostChatAsync();
        Assert.Contains("an edge case the test wants", await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ChatCacheCassetteMode.Replay)]
    [InlineData(ChatCacheCassetteMode.Auto)]
    public async Task A_file_that_no_longer_parses_fails_with_its_name_never_a_silent_miss(ChatCacheCassetteMode mode)
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            using var _ = await record.PostChatAsync();
        }

        string path = directory.Single();
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"response\": {", "\"response\": {{", StringComparison.Ordinal));

        using var replay = Run(Options(directory, mode));
        var broken = await Assert.ThrowsAsync<ChatCacheCassetteException>(() => replay.PostChatAsync());
        Assert.Equal(0, replay.UpstreamCalls);
        Assert.Equal(path, broken.RecordingPath);
        Assert.Contains(path, broken.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", broken.Message, StringComparison.Ordinal);
    }

    /// <summary>Issue 29, defect 1: a file re-saved by an editor with a UTF-8 BOM (and CRLF line ends) still replays.</summary>
    [Fact]
    public async Task A_file_saved_with_a_byte_order_mark_and_crlf_replays()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            using var _ = await record.PostChatAsync();
        }

        async Task<string> ReplayAsync()
        {
            using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
            using var hit = await replay.PostChatAsync();
            Assert.Equal(0, replay.UpstreamCalls);
            return await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }

        string unedited = await ReplayAsync();
        string path = directory.Single();
        string text = File.ReadAllText(path).ReplaceLineEndings("\r\n");
        File.WriteAllText(path, text, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        Assert.Equal(0xEF, File.ReadAllBytes(path)[0]);

        Assert.Equal(unedited, await ReplayAsync());
    }

    /// <summary>Issue 29, defect 4: the corrupt-file message says what works (Record overwrites; Auto fails on the file again).</summary>
    [Fact]
    public async Task The_corrupt_file_message_says_record_overwrites_and_never_suggests_auto_for_the_same_file()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            using var _ = await record.PostChatAsync();
        }

        string path = directory.Single();
        File.WriteAllText(path, "{ not json");

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Auto));
        var broken = await Assert.ThrowsAsync<ChatCacheCassetteException>(() => replay.PostChatAsync());
        Assert.Contains("=record, which overwrites it", broken.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("record or auto", broken.Message, StringComparison.Ordinal);

        // What the message says works: Record overwrites the broken file, and the next replay reads it.
        using (var rerecord = Run(Options(directory, ChatCacheCassetteMode.Record)))
        {
            using var _ = await rerecord.PostChatAsync();
        }

        using var again = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await again.PostChatAsync();
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 29, defect 5: the file shows the URL the request was keyed with, even when a handler below the cache rewrites the
    /// request's URL (a gateway, a regional endpoint) before it is sent.
    /// </summary>
    [Fact]
    public async Task The_file_shows_the_url_the_request_was_keyed_with_not_one_a_handler_below_rewrote()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            record.AsyncResponder = (request, _) =>
            {
                request.RequestUri = new Uri("https://gateway.internal.example/rewritten/chat/completions");
                return Task.FromResult(CacheHarness.Json(Fixtures.Response("chat.json")));
            };
            using var _ = await record.PostChatAsync();
        }

        string file = File.ReadAllText(directory.Single());
        Assert.Contains(CacheHarness.ChatUrl, file, StringComparison.Ordinal);
        Assert.DoesNotContain("rewritten", file, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 29, defect 2: a redacted member keeps its JSON type (number 0, boolean false, string "[redacted]", {} and []), so a
    /// replayed payload stays valid for the SDK (a string in place of <c>created</c> made the OpenAI SDK throw).
    /// </summary>
    [Fact]
    public async Task Redacted_members_keep_their_json_type_in_the_replayed_payload()
    {
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        options.CassetteRedactedJsonMembers = ["created", "content", "usage", "annotations", "refusal"];
        using (var record = Run(options))
        {
            using var _ = await record.PostChatAsync();
        }

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await replay.PostChatAsync();
        using var json = System.Text.Json.JsonDocument.Parse(await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var root = json.RootElement;
        var message = root.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(0, root.GetProperty("created").GetInt64());
        Assert.Equal("[redacted]", message.GetProperty("content").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Object, root.GetProperty("usage").ValueKind);
        Assert.Empty(root.GetProperty("usage").EnumerateObject());
        Assert.Equal(0, message.GetProperty("annotations").GetArrayLength());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, message.GetProperty("refusal").ValueKind); // null hides nothing and stays
        Assert.Equal("gpt-4o-mini-2024-07-18", root.GetProperty("model").GetString());
    }

    /// <summary>
    /// Issue 29, defect 3: a recording run that records nothing says so - a warning (event 3009) with the reason and the file it
    /// would have written - and the Replay miss message names the settings that keep answers from being recorded.
    /// </summary>
    [Fact]
    public async Task A_response_that_is_not_recorded_is_logged_with_its_reason_and_file()
    {
        using var directory = new CassetteDirectory();
        var logger = new Microsoft.Extensions.Logging.Testing.FakeLogger();
        var options = Options(directory);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using (var record = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time), logger: logger))
        {
            record.Responder = _ => CacheHarness.Json(Fixtures.Response("chat-length.json")); // finish_reason: length
            using var _ = await record.PostChatAsync();
        }

        Assert.Empty(directory.Files);
        var warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == 3009);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains("truncated", warning.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(directory.Path, "chat-completions"), warning.Message, StringComparison.Ordinal);

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        var miss = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => replay.PostChatAsync());
        Assert.Contains("StoreTruncatedResponses", miss.Message, StringComparison.Ordinal);
        Assert.Contains("MaxResponseBodyBytes", miss.Message, StringComparison.Ordinal);
        Assert.Contains(miss.RecordingPath!, warning.Message, StringComparison.Ordinal); // the same file both name
    }

    [Fact]
    public async Task Recordings_never_expire()
    {
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        options.TimeToLive = TimeSpan.FromSeconds(1);
        options.SlidingExpiration = true;
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var harness = Run(options, time);
        using (var _ = await harness.PostChatAsync())
        {
        }

        time.Advance(TimeSpan.FromDays(400));
        using var hit = await harness.PostChatAsync();
        Assert.Equal(1, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
    }

    [Fact]
    public async Task Two_recordings_of_the_same_answer_are_byte_identical_files_whatever_the_member_order_sent()
    {
        using var first = new CassetteDirectory();
        using var second = new CassetteDirectory();
        using (var harness = Run(Options(first)))
        {
            using var _ = await harness.PostChatAsync("{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", apiKey: "sk-one");
        }

        using (var harness = Run(Options(second)))
        {
            harness.Responder = _ =>
            {
                var response = CacheHarness.Json(Fixtures.Response("chat.json"));
                response.Headers.Remove("openai-processing-ms");
                response.Headers.TryAddWithoutValidation("openai-processing-ms", "999"); // another duration: not written
                return response;
            };
            using var _ = await harness.PostChatAsync("{\"messages\":[{\"content\":\"Hi\",\"role\":\"user\"}],\"temperature\":0,\"model\":\"gpt-4o-mini\"}", apiKey: "sk-two");
        }

        byte[] a = File.ReadAllBytes(first.Single());
        byte[] b = File.ReadAllBytes(second.Single());
        Assert.Equal(first.Files, second.Files);
        Assert.Equal(a, b);
        string text = Encoding.UTF8.GetString(a);
        Assert.DoesNotContain("\r", text, StringComparison.Ordinal);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
        Assert.Matches("\"body\": \\{\\s+\"messages\"[\\s\\S]*\"model\"[\\s\\S]*\"temperature\"", text); // the request's members sorted
    }

    [Fact]
    public async Task Invalidation_forgets_what_was_read_but_never_deletes_a_recording()
    {
        using var directory = new CassetteDirectory();
        using var harness = Run(Options(directory));
        using (var _ = await harness.PostChatAsync())
        {
        }

        await harness.Store.ClearAsync(TestContext.Current.CancellationToken);
        using var hit = await harness.PostChatAsync();

        Assert.Single(directory.Files);
        Assert.Equal(1, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
    }

    [Fact]
    public async Task A_recording_another_process_adds_during_the_run_is_found()
    {
        using var directory = new CassetteDirectory();
        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => replay.PostChatAsync()); // lists the (empty) directory

        using (var other = Run(Options(directory)))
        {
            using var _ = await other.PostChatAsync();
        }

        using var hit = await replay.PostChatAsync();
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
    }

    [Fact]
    public async Task Embeddings_and_responses_are_recorded_in_their_own_folders()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            record.Responder = request => CacheHarness.Json(Fixtures.Response(request.RequestUri!.AbsolutePath.EndsWith("embeddings", StringComparison.Ordinal) ? "embeddings-float.json" : "responses.json"));
            using var embeddings = await record.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("embeddings.request.json"), "https://api.openai.com/v1/embeddings"), TestContext.Current.CancellationToken);
            using var responses = await record.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("responses.request.json"), "https://api.openai.com/v1/responses"), TestContext.Current.CancellationToken);
        }

        Assert.Collection(
            directory.Files,
            f => Assert.StartsWith("embeddings/text-embedding-3-small-", f, StringComparison.Ordinal),
            f => Assert.StartsWith("responses/gpt-4.1-mini-", f, StringComparison.Ordinal));

        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await replay.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("embeddings.request.json"), "https://api.openai.com/v1/embeddings"), TestContext.Current.CancellationToken);
        AssertSameJson(Fixtures.Response("embeddings-float.json"), await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_unused_report_lists_the_recordings_this_run_never_read()
    {
        using var directory = new CassetteDirectory();
        using (var record = Run(Options(directory)))
        {
            using var a = await record.PostChatAsync();
            using var b = await record.PostChatAsync("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"another\"}]}");
        }

        string used = directory.Files.Select(f => Path.GetFullPath(Path.Combine(directory.Path, f))).Single(f => File.ReadAllText(f).Contains("another", StringComparison.Ordinal));
        string unused = directory.Files.Select(f => Path.GetFullPath(Path.Combine(directory.Path, f))).Single(f => f != used);

        // Both were written by this process, so both count as used; a new "run" is simulated by resetting that directory's usage.
        CassetteUsage.Forget(directory.Path);
        using var replay = Run(Options(directory, ChatCacheCassetteMode.Replay));
        using var hit = await replay.PostChatAsync("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"another\"}]}");

        var report = Path.Combine(directory.Path, "..", Path.GetFileName(directory.Path) + ".unused.txt");
        try
        {
            CassetteUsage.WriteReport(report);
            var lines = File.ReadAllLines(report).Where(l => l.StartsWith(directory.Path, StringComparison.Ordinal)).ToList();
            Assert.Equal([unused], lines);
        }
        finally
        {
            File.Delete(report);
        }
    }

    private static void AssertSameJson(string expected, string actual)
    {
        using var a = JsonDocument.Parse(expected);
        using var b = JsonDocument.Parse(actual);
        Assert.True(JsonElement.DeepEquals(a.RootElement, b.RootElement), $"expected {expected}\nactual {actual}");
    }
}
