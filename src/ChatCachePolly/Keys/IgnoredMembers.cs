using System.Text;

namespace ChatCachePolly.Keys;

/// <summary>
/// Root-level request body members that are left out of the cache key (they do not change the
/// model's output: end-user ids, metadata, storage flags, prompt-cache hints).
/// </summary>
internal sealed class IgnoredMembers
{
    private static readonly string[] NeverIgnorable = ["stream", "background", "conversation"];

    private readonly byte[][] _names;

    /// <summary>Creates the set from member names (exact, case-sensitive JSON member names).</summary>
    /// <exception cref="ArgumentException">
    /// A name is empty, or is <c>stream</c>, <c>background</c> or <c>conversation</c>: those change
    /// what the response is (SSE vs JSON, deferred, server-side state) and can never be ignored.
    /// </exception>
    public IgnoredMembers(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var list = new List<byte[]>();
        foreach (string name in names)
        {
            ArgumentException.ThrowIfNullOrEmpty(name, nameof(names));
            if (Array.IndexOf(NeverIgnorable, name) >= 0)
            {
                throw new ArgumentException($"The member '{name}' affects the response shape and cannot be ignored.", nameof(names));
            }

            byte[] bytes = Encoding.UTF8.GetBytes(name);
            if (!Contains(list, bytes))
            {
                list.Add(bytes);
            }
        }

        _names = [.. list];
    }

    /// <summary>
    /// <c>user</c>, <c>safety_identifier</c>, <c>metadata</c>, <c>store</c>, <c>prompt_cache_key</c>, <c>prompt_cache_retention</c>. (On <c>/responses</c>
    /// <c>store</c> is keyed anyway: see <see cref="CanonicalJson.TryWrite(ReadOnlySpan{byte}, IgnoredMembers, EndpointKind, System.Buffers.ArrayBufferWriter{byte}, out RequestBodyFacts)"/>.)
    /// </summary>
    public static IgnoredMembers Default { get; } =
        new(["user", "safety_identifier", "metadata", "store", "prompt_cache_key", "prompt_cache_retention"]);

    /// <summary>An empty set: every member counts.</summary>
    public static IgnoredMembers None { get; } = new([]);

    /// <summary>Number of names.</summary>
    public int Count => _names.Length;

    /// <summary>Whether <paramref name="unescapedName"/> (unescaped UTF-8) is ignored.</summary>
    public bool Contains(ReadOnlySpan<byte> unescapedName)
    {
        foreach (byte[] name in _names)
        {
            if (unescapedName.SequenceEqual(name))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Contains(List<byte[]> list, byte[] bytes)
    {
        foreach (byte[] existing in list)
        {
            if (existing.AsSpan().SequenceEqual(bytes))
            {
                return true;
            }
        }

        return false;
    }
}
