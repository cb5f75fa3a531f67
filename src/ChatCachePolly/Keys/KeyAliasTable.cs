using System.Collections.Concurrent;

namespace ChatCachePolly.Keys;

/// <summary>
/// Remembers, for requests already keyed, which canonical key (and body facts) their exact bytes lead to, so that a
/// byte-identical repeat - what an SDK sends for the same call - is keyed with one hash of its raw bytes instead of a parse,
/// a canonical encoding and a hash.
/// </summary>
/// <remarks>
/// Both sides are SHA-256, so an alias cannot be made to collide with another tenant's request. The table belongs to one
/// strategy instance: an options reload (which may change the ignored fields, hence the canonical key) starts a new one. It is
/// bounded: at capacity it starts over, which costs only the canonicalization it was saving.
/// </remarks>
internal sealed class KeyAliasTable(int capacity)
{
    private readonly ConcurrentDictionary<ChatCacheKey, Resolved> _aliases = new();

    public int Count => _aliases.Count;

    public bool TryGet(ChatCacheKey alias, out ChatCacheKey key, out RequestBodyFacts facts)
    {
        if (_aliases.TryGetValue(alias, out var resolved))
        {
            key = resolved.Key;
            facts = resolved.Facts;
            return true;
        }

        key = default;
        facts = default;
        return false;
    }

    public void Add(ChatCacheKey alias, ChatCacheKey key, RequestBodyFacts facts)
    {
        if (_aliases.Count >= capacity)
        {
            _aliases.Clear();
        }

        _aliases[alias] = new Resolved(key, facts);
    }

    private sealed record Resolved(ChatCacheKey Key, RequestBodyFacts Facts);
}
