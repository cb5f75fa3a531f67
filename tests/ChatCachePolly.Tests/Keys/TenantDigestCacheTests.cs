using System.Security.Cryptography;
using System.Text;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Tests.Keys;

public sealed class TenantDigestCacheTests
{
    private static byte[] Digest(TenantDigestCache cache, string tenant)
    {
        byte[] digest = new byte[32];
        cache.GetDigest(Encoding.UTF8.GetBytes(tenant), digest);
        return digest;
    }

    [Fact]
    public void The_digest_is_the_sha256_of_the_credentials_the_first_time_and_every_time_after()
    {
        var cache = new TenantDigestCache();
        byte[] expected = SHA256.HashData("Bearer sk-a"u8);

        Assert.Equal(expected, Digest(cache, "Bearer sk-a"));
        Assert.Equal(expected, Digest(cache, "Bearer sk-a"));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void A_forced_slot_collision_never_hands_one_tenants_digest_to_another()
    {
        var cache = new TenantDigestCache(static _ => 42); // every credential set in one slot

        byte[] a = Digest(cache, "Bearer sk-aaaa");
        byte[] b = Digest(cache, "Bearer sk-bbbb"); // same length, same slot, different bytes
        byte[] aAgain = Digest(cache, "Bearer sk-aaaa");

        Assert.Equal(SHA256.HashData("Bearer sk-aaaa"u8), a);
        Assert.Equal(SHA256.HashData("Bearer sk-bbbb"u8), b);
        Assert.Equal(a, aAgain);
    }

    [Fact]
    public void It_holds_at_most_its_capacity_of_credential_sets()
    {
        var cache = new TenantDigestCache();

        for (int i = 0; i < TenantDigestCache.Capacity * 3; i++)
        {
            Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes($"Bearer sk-{i}")), Digest(cache, $"Bearer sk-{i}"));
        }

        Assert.InRange(cache.Count, 1, TenantDigestCache.Capacity);
    }
}
