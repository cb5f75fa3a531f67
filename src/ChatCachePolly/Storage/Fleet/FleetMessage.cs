using System.Diagnostics.CodeAnalysis;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage.Fleet;

/// <summary>What a fleet message says.</summary>
internal enum FleetMessageKind
{
    /// <summary>The entry of the key in <see cref="FleetMessage.Subject"/> was removed: drop local copies.</summary>
    Removed,

    /// <summary>The partition was cleared (new generation): drop every local copy and the cached generation.</summary>
    Cleared,

    /// <summary>The lead of the key in <see cref="FleetMessage.Subject"/> ended (its entry landed in the shared store, or nothing will): followers look.</summary>
    Landed,

    /// <summary>Every entry tagged the tag hash in <see cref="FleetMessage.Subject"/> was removed: drop local copies carrying it.</summary>
    TagRemoved,
}

/// <summary>
/// One message on the fleet channel. Wire format (ASCII, <c>|</c>-separated, versioned with the key format):
/// <c>{kind letter}|{sender}|{partition hash}|{key hex, or tag hash@ticks, or empty}</c>. Carries hashes only, never a prompt, a tag
/// as the user wrote it, or a credential.
/// </summary>
internal readonly record struct FleetMessage(FleetMessageKind Kind, string Sender, string PartitionHash, string Subject)
{
    public static FleetMessage Removed(string sender, string partitionHash, ChatCacheKey key) => new(FleetMessageKind.Removed, sender, partitionHash, key.ToString());

    public static FleetMessage Cleared(string sender, string partitionHash) => new(FleetMessageKind.Cleared, sender, partitionHash, string.Empty);

    public static FleetMessage Landed(string sender, string partitionHash, ChatCacheKey key) => new(FleetMessageKind.Landed, sender, partitionHash, key.ToString());

    public static FleetMessage TagRemoved(string sender, string partitionHash, ulong tag, DateTimeOffset at) =>
        new(FleetMessageKind.TagRemoved, sender, partitionHash, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Keys.ChatCacheTags.ToText(tag)}@{at.UtcTicks}"));

    /// <summary>Gets the tag hash and time a <see cref="FleetMessageKind.TagRemoved"/> message carries.</summary>
    public bool TryGetTagRemoval(out ulong tag, out DateTimeOffset at)
    {
        tag = 0;
        at = default;
        int separator = Subject.IndexOf('@', StringComparison.Ordinal);
        if (separator < 0 || !Keys.ChatCacheTags.TryParse(Subject.AsSpan(0, separator), out tag)
            || !long.TryParse(Subject.AsSpan(separator + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long ticks)
            || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }

        at = new DateTimeOffset(ticks, TimeSpan.Zero);
        return true;
    }

    /// <summary>Gets the key the message is about (<see cref="FleetMessageKind.Removed"/>, <see cref="FleetMessageKind.Landed"/>).</summary>
    public bool TryGetKey(out ChatCacheKey key) => ChatCacheKey.TryParse(Subject, out key);

    public string Encode()
    {
        char kind = Kind switch
        {
            FleetMessageKind.Removed => 'r',
            FleetMessageKind.Cleared => 'c',
            FleetMessageKind.Landed => 'l',
            _ => 't',
        };
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kind}|{Sender}|{PartitionHash}|{Subject}");
    }

    /// <summary>Reads a message; anything malformed (another version, garbage on the channel) is not a message.</summary>
    public static bool TryDecode(string? text, [NotNullWhen(true)] out FleetMessage? message)
    {
        message = null;
        if (text is null || text.Length < 4 || text[1] != '|')
        {
            return false;
        }

        FleetMessageKind? kind = text[0] switch
        {
            'r' => FleetMessageKind.Removed,
            'c' => FleetMessageKind.Cleared,
            'l' => FleetMessageKind.Landed,
            't' => FleetMessageKind.TagRemoved,
            _ => null,
        };
        var parts = text.AsSpan(2);
        int first = parts.IndexOf('|');
        if (kind is null || first <= 0)
        {
            return false;
        }

        var rest = parts[(first + 1)..];
        int second = rest.IndexOf('|');
        if (second <= 0 || rest[(second + 1)..].Contains('|'))
        {
            return false;
        }

        message = new FleetMessage(kind.Value, parts[..first].ToString(), rest[..second].ToString(), rest[(second + 1)..].ToString());
        return true;
    }
}
