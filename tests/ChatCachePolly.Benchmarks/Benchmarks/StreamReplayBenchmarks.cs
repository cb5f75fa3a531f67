using System.Text;
using BenchmarkDotNet.Attributes;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target: a streamed hit allocates O(chunks) small objects at most, never the whole stream twice. Replays a recorded stream of
/// 50 and 500 events (about 140 B each) through the hit content, reading every event into a reused buffer, as an SSE client
/// does; the allocation column must not grow with the stream's size.
/// </summary>
[MemoryDiagnoser]
public class StreamReplayBenchmarks
{
    private readonly byte[] _readBuffer = new byte[16 * 1024];
    private CacheEntry _entry = null!;
    private HttpRequestMessage _request = null!;

    [Params(50, 500)]
    public int Events { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var body = new StringBuilder();
        var ends = new int[Events];
        for (int i = 0; i < Events; i++)
        {
            body.Append("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token")
                .Append(i).Append("\"},\"finish_reason\":null}]}\n\n");
            ends[i] = Encoding.UTF8.GetByteCount(body.ToString());
        }

        var now = DateTimeOffset.UtcNow;
        _entry = new CacheEntry(default, 200, "text/event-stream", [], Encoding.UTF8.GetBytes(body.ToString()), now, now.AddHours(1), TimeSpan.FromSeconds(2), EndpointKind.ChatCompletions, "m", default, ends, new int[Events]);
        _request = new HttpRequestMessage(HttpMethod.Post, "https://api.openai.com/v1/chat/completions");
    }

    [Benchmark(Description = "streamed hit: create, read every event, dispose")]
    public async Task<int> ReplayAll()
    {
        using var response = CachedResponseFactory.CreateHit(_entry, _request, DateTimeOffset.UtcNow, CacheStatus.Hit(_entry.Key), default, TimeProvider.System);
        await using var stream = await response.Content.ReadAsStreamAsync();
        int total = 0;
        int read;
        while ((read = await stream.ReadAsync(_readBuffer)) > 0)
        {
            total += read;
        }

        return total;
    }
}
