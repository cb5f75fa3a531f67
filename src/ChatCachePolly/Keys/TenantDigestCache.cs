using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace ChatCachePolly.Keys;

/// <summary>
/// Remembers the SHA-256 digest of the last few credential sets (the framed tenant headers of a request) a key builder has
/// seen, so that a repeat - the same client sending with the same key - does not pay a SHA-256 call per request for
/// 60 bytes of credentials.
/// </summary>
/// <remarks>
/// <para>
/// A remembered credential set is found by an XxHash3 of its bytes and then <em>verified</em> byte for byte: a hash collision,
/// accidental or aimed, can only cost a SHA-256, never hand one tenant's digest to another's credentials. The comparison is
/// an ordinary (vectorized) one, not a constant-time one: it only runs when a 64-bit hash already matches, and a caller cannot
/// aim a hash at a credential it does not know, so its timing tells nothing. (<c>CryptographicOperations.FixedTimeEquals</c>
/// is deliberately unoptimized and would cost more than the SHA-256 it saves.)
/// </para>
/// <para>
/// It keeps what it verifies against - the credential header values - in process memory, as the <c>HttpClient</c> or SDK
/// client that sends them does, for as long as the strategy lives, at most <see cref="Capacity"/> sets (it starts over when
/// full). Nothing of it is ever written to a cache store, a log, a metric or the alias table: those only ever see the digest.
/// </para>
/// </remarks>
internal sealed class TenantDigestCache(TenantSlotHash? hash = null)
{
    /// <summary>The most credential sets held at once.</summary>
    internal const int Capacity = 256;

    private readonly ConcurrentDictionary<ulong, Remembered> _remembered = new();

    public int Count => _remembered.Count;

    /// <summary>Writes the SHA-256 digest of <paramref name="tenant"/> to <paramref name="digest"/> (32 bytes).</summary>
    public void GetDigest(ReadOnlySpan<byte> tenant, Span<byte> digest)
    {
        ulong slot = hash is null ? XxHash3.HashToUInt64(tenant) : hash(tenant);
        if (_remembered.TryGetValue(slot, out var found) && tenant.SequenceEqual(found.Tenant))
        {
            found.Digest.CopyTo(digest);
            return;
        }

        SHA256.HashData(tenant, digest);
        if (_remembered.Count >= Capacity)
        {
            _remembered.Clear();
        }

        _remembered[slot] = new Remembered(tenant.ToArray(), digest[..ChatCacheKey.Size].ToArray());
    }

    private sealed record Remembered(byte[] Tenant, byte[] Digest);
}

/// <summary>The hash that finds a remembered credential set's slot (replaceable in tests to force collisions).</summary>
internal delegate ulong TenantSlotHash(ReadOnlySpan<byte> tenant);
