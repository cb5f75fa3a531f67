using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace ChatCachePolly.Keys;

/// <summary>
/// Remembers, for requests already keyed, which canonical key (and body facts) their exact bytes lead to, so that a
/// byte-identical repeat - what an SDK sends for the same call - is keyed without parsing, canonicalizing or hashing its body
/// with SHA-256 again.
/// </summary>
/// <remarks>
/// <para>
/// Requests up to <see cref="MaxVerifiedPreimageBytes"/> are looked up by a seeded XxHash128 of their preimage (the key's frame,
/// with credentials only as their SHA-256, and the body as sent) and then <em>verified</em> by comparing the stored preimage
/// byte for byte: a hash collision can only cost a canonicalization, never map a request to another request's key. Larger
/// requests are looked up by a SHA-256 alias of the same bytes (no preimage kept).
/// </para>
/// <para>
/// The table belongs to one strategy instance: an options reload (which may change the ignored fields, hence the canonical
/// key) starts a new one. It is bounded by count and by preimage bytes; at a bound it starts over, which costs only the
/// canonicalizations it was saving.
/// </para>
/// </remarks>
internal sealed class KeyAliasTable(int capacity, long maxPreimageBytes = KeyAliasTable.DefaultMaxPreimageBytes, PreimageHash? hash = null)
{
    /// <summary>The largest preimage kept for verification; larger requests use a SHA-256 alias.</summary>
    internal const int MaxVerifiedPreimageBytes = 64 * 1024;

    internal const long DefaultMaxPreimageBytes = 32L * 1024 * 1024;

    // A per-process secret seed: nobody outside can aim requests at one bucket of the table.
    private static readonly long Seed = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8));

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_frame;

    private readonly ConcurrentDictionary<UInt128, Verified> _verified = new();
    private readonly ConcurrentDictionary<ChatCacheKey, Resolved> _hashed = new();
    private long _preimageBytes;

    public int Count => _verified.Count + _hashed.Count;

    /// <summary>Resolves <paramref name="request"/> by its alias, or returns a token to remember it by once keyed.</summary>
    /// <remarks><paramref name="plainUri"/>: whether the request URI is plain, when the caller already knows (else it is checked).</remarks>
    public bool TryResolve(RequestKeyBuilder builder, HttpRequestMessage request, ReadOnlySpan<byte> body, string partition, out ChatCacheKey key, out RequestBodyFacts facts, out AliasToken token, bool? plainUri = null, EndpointKind endpoint = EndpointKind.ChatCompletions)
    {
        key = default;
        facts = default;
        token = default;
        if (body.Length <= MaxVerifiedPreimageBytes)
        {
            // The preimage is the frame followed by the body; the body is hashed and compared where it lies (no copy).
            var frameWriter = t_frame ??= new ArrayBufferWriter<byte>(512);
            frameWriter.ResetWrittenCount();
            if (!builder.TryWriteAliasFrame(request, partition, frameWriter, plainUri, endpoint))
            {
                return false;
            }

            ReadOnlySpan<byte> frame = frameWriter.WrittenSpan;
            var bucket = hash is null ? Bucket(frame, body) : hash(frame, body);
            if (_verified.TryGetValue(bucket, out var found) && IsPreimageOf(found.Preimage, frame, body))
            {
                key = found.Key;
                facts = found.Facts;
                return true;
            }

            byte[] preimage = GC.AllocateUninitializedArray<byte>(frame.Length + body.Length);
            frame.CopyTo(preimage);
            body.CopyTo(preimage.AsSpan(frame.Length));
            token = new AliasToken(bucket, default, preimage);
            return false;
        }

        if (!builder.TryBuildAlias(request, body, partition, out var alias, plainUri, endpoint))
        {
            return false;
        }

        if (_hashed.TryGetValue(alias, out var resolved))
        {
            key = resolved.Key;
            facts = resolved.Facts;
            return true;
        }

        token = new AliasToken(default, alias, null);
        return false;
    }

    /// <summary>Remembers the key computed for the request <paramref name="token"/> came from.</summary>
    public void Add(in AliasToken token, ChatCacheKey key, RequestBodyFacts facts)
    {
        if (token.Preimage is { } preimage)
        {
            if (_verified.Count >= capacity || Interlocked.Add(ref _preimageBytes, preimage.Length) > maxPreimageBytes)
            {
                _verified.Clear();
                Interlocked.Exchange(ref _preimageBytes, preimage.Length);
            }

            _verified[token.Hash] = new Verified(preimage, key, facts);
        }
        else if (token.Alias != default)
        {
            if (_hashed.Count >= capacity)
            {
                _hashed.Clear();
            }

            _hashed[token.Alias] = new Resolved(key, facts);
        }
    }

    /// <summary>
    /// The hash of the preimage without concatenating it: an XxHash128 of the body seeded by the secret seed and the frame's
    /// XxHash3 (one seed derivation per call, not two).
    /// </summary>
    private static UInt128 Bucket(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> body) =>
        XxHash128.HashToUInt128(body, Seed ^ unchecked((long)XxHash3.HashToUInt64(frame)));

    private static bool IsPreimageOf(byte[] preimage, ReadOnlySpan<byte> frame, ReadOnlySpan<byte> body) =>
        preimage.Length == frame.Length + body.Length
        && preimage.AsSpan(0, frame.Length).SequenceEqual(frame)
        && preimage.AsSpan(frame.Length).SequenceEqual(body);

    private sealed record Verified(byte[] Preimage, ChatCacheKey Key, RequestBodyFacts Facts);

    private sealed record Resolved(ChatCacheKey Key, RequestBodyFacts Facts);
}

/// <summary>The hash that finds a verified alias's bucket from the frame and the body (replaceable in tests to force collisions).</summary>
internal delegate UInt128 PreimageHash(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> body);

/// <summary>How to remember a request that was not found in the alias table once its key is known.</summary>
internal readonly record struct AliasToken(UInt128 Hash, ChatCacheKey Alias, byte[]? Preimage);
