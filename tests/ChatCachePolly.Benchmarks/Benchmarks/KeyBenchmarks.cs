using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Unicode;
using BenchmarkDotNet.Attributes;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target: key throughput at 1 MB ≥ 0.7× baseline D. Baseline D: one <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/>
/// over the raw request bytes. Ours: <see cref="RequestKeyBuilder.TryBuild"/> (UTF-8 validation, tokenizing, canonical
/// re-encoding with sorted members, then SHA-256) over the same bytes and request.
/// </summary>
[MemoryDiagnoser]
public class KeyBenchmarks
{
    private readonly byte[] _hash = new byte[32];
    private byte[] _body = null!;
    private HttpRequestMessage _request = null!;
    private RequestKeyBuilder _builder = null!;
    private ArrayBufferWriter<byte> _canonical = null!;
    private KeyAliasTable _aliases = null!;
    private ArrayBufferWriter<byte> _frame = null!;

    [Params(2 * 1024, 64 * 1024, 1024 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.Request(Size);
        _request = Payloads.NewRequest(_body);
        _builder = new RequestKeyBuilder(IgnoredMembers.Default);
        if (!_builder.TryBuild(_request, _body, string.Empty, out _, out _))
        {
            throw new InvalidOperationException("Body not keyable.");
        }

        _canonical = new ArrayBufferWriter<byte>(Size * 2);
        _frame = new ArrayBufferWriter<byte>(512);

        // The key as a hit computes it: the request was keyed once, so its alias resolves it.
        _aliases = new KeyAliasTable(1024);
        if (!_aliases.TryResolve(_builder, _request, _body, string.Empty, out _, out _, out var token))
        {
            _builder.TryBuild(_request, _body, string.Empty, out var key, out var facts);
            _aliases.Add(token, key, facts);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _request.Dispose();

    [Benchmark(Baseline = true, Description = "D: SHA256.HashData(raw body)")]
    public int BaselineD_Sha256() => SHA256.HashData(_body, _hash);

    [Benchmark(Description = "RequestKeyBuilder.TryBuild")]
    public bool ChatCache_Key()
    {
        _builder.TryBuild(_request, _body, string.Empty, out ChatCacheKey key, out _);
        return key != default;
    }

    [Benchmark(Description = "key of a repeat (alias: verified XxHash128 up to 64 KB, SHA-256 above)")]
    public bool ChatCache_KeyOfRepeat() => _aliases.TryResolve(_builder, _request, _body, string.Empty, out _, out _, out _);

    [Benchmark(Description = "part: alias frame (method, URL, tenant digest, partition)")]
    public int Part_AliasFrame()
    {
        _frame.ResetWrittenCount();
        _builder.TryWriteAliasFrame(_request, string.Empty, _frame);
        return _frame.WrittenCount;
    }

    // Where the key time goes (same bytes): each pass TryBuild makes, alone.
    [Benchmark(Description = "part: Utf8.IsValid")]
    public bool Part_Utf8Validate() => Utf8.IsValid(_body);

    [Benchmark(Description = "part: Utf8JsonReader pass (no output)")]
    public int Part_JsonReader()
    {
        var reader = new Utf8JsonReader(_body);
        int tokens = 0;
        while (reader.Read())
        {
            tokens++;
        }

        return tokens;
    }

    [Benchmark(Description = "part: CanonicalJson.TryWrite (retained buffer, no hash)")]
    public int Part_Canonicalize()
    {
        _canonical.ResetWrittenCount();
        CanonicalJson.TryWrite(_body, IgnoredMembers.Default, _canonical, out _);
        return _canonical.WrittenCount;
    }

    [Benchmark(Description = "part: canonicalize + SHA-256 (retained buffer)")]
    public int Part_CanonicalizeAndHash()
    {
        _canonical.ResetWrittenCount();
        CanonicalJson.TryWrite(_body, IgnoredMembers.Default, _canonical, out _);
        return SHA256.HashData(_canonical.WrittenSpan, _hash);
    }
}
