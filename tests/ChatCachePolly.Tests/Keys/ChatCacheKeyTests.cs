using System.Security.Cryptography;
using System.Text;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Tests.Keys;

public sealed class ChatCacheKeyTests
{
    private static readonly byte[] HashA = SHA256.HashData(Encoding.UTF8.GetBytes("a"));
    private static readonly byte[] HashB = SHA256.HashData(Encoding.UTF8.GetBytes("b"));

    [Fact]
    public void Equal_digests_are_equal_keys()
    {
        ChatCacheKey a1 = ChatCacheKey.FromHash(HashA);
        ChatCacheKey a2 = ChatCacheKey.FromHash((byte[])HashA.Clone());
        Assert.True(a1 == a2);
        Assert.False(a1 != a2);
        Assert.True(a1.Equals(a2));
        Assert.True(a1.Equals((object)a2));
        Assert.Equal(a1.GetHashCode(), a2.GetHashCode());
    }

    [Fact]
    public void Different_digests_are_different_keys()
    {
        ChatCacheKey a = ChatCacheKey.FromHash(HashA);
        ChatCacheKey b = ChatCacheKey.FromHash(HashB);
        Assert.True(a != b);
        Assert.False(a == b);
        Assert.False(a.Equals((object)"a"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    [InlineData(17)]
    [InlineData(31)]
    public void A_difference_in_any_word_is_a_different_key(int byteIndex)
    {
        byte[] other = (byte[])HashA.Clone();
        other[byteIndex] ^= 1;
        Assert.NotEqual(ChatCacheKey.FromHash(HashA), ChatCacheKey.FromHash(other));
    }

    [Fact]
    public void ToString_is_64_lowercase_hex_of_the_digest()
    {
        ChatCacheKey key = ChatCacheKey.FromHash(HashA);
        Assert.Equal(Convert.ToHexStringLower(HashA), key.ToString());
        Assert.Equal(64, key.ToString().Length);
    }

    [Fact]
    public void Fingerprint_is_first_12_hex_chars()
    {
        ChatCacheKey key = ChatCacheKey.FromHash(HashA);
        Assert.Equal(12, key.Fingerprint.Length);
        Assert.Equal(key.ToString()[..12], key.Fingerprint);
    }

    [Fact]
    public void CopyTo_round_trips()
    {
        Span<byte> copy = stackalloc byte[32];
        ChatCacheKey.FromHash(HashB).CopyTo(copy);
        Assert.Equal(HashB, copy.ToArray());
    }

    [Fact]
    public void Wrong_lengths_throw()
    {
        Assert.Throws<ArgumentException>(() => ChatCacheKey.FromHash(new byte[31]));
        Assert.Throws<ArgumentException>(() => ChatCacheKey.FromHash(new byte[33]));
        Assert.Throws<ArgumentException>(() => ChatCacheKey.FromHash(HashA).CopyTo(new byte[31]));
    }
}
