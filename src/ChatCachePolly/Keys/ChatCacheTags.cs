using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ChatCachePolly.Keys;

/// <summary>
/// Tags of cached answers: read from <see cref="ChatCacheControl.Tags"/> and the <see cref="ChatCacheControl.TagsHeaderName"/>
/// request header, plus the automatic <c>model:{model}</c> tag, and hashed. Stores and fleet messages only ever see the
/// hashes: a tag may name a tenant, a prompt or a document, so it never reaches Redis, a file or a log as written.
/// </summary>
internal static class ChatCacheTags
{
    /// <summary>The most tags one request may carry (its own; the automatic model tags come on top).</summary>
    public const int MaxTags = 16;

    /// <summary>The longest tag, in characters.</summary>
    public const int MaxTagLength = 128;

    /// <summary>The hash of a tag: the first 8 bytes of the SHA-256 of its UTF-8, as written (case-sensitive).</summary>
    public static ulong Hash(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        int length = Encoding.UTF8.GetByteCount(tag);
        byte[]? rented = length > 512 ? System.Buffers.ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> utf8 = rented ?? stackalloc byte[512];
        try
        {
            int written = Encoding.UTF8.GetBytes(tag, utf8);
            SHA256.HashData(utf8[..written], digest);
            return BinaryPrimitives.ReadUInt64BigEndian(digest);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The text form of a tag hash (16 lowercase hex characters): fleet messages and Redis fields.</summary>
    public static string ToText(ulong hash) => hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Reads a tag hash written by <see cref="ToText"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ulong hash) =>
        ulong.TryParse(text, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out hash) & text.Length == 16;

    /// <summary>Whether <paramref name="tag"/> is a valid tag: 1 to 128 characters, no control character, not only white space.</summary>
    public static bool IsValid(string? tag)
    {
        if (string.IsNullOrWhiteSpace(tag) || tag.Length > MaxTagLength)
        {
            return false;
        }

        foreach (char c in tag)
        {
            if (char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Reads the request's tags from <see cref="ChatCacheControl.Tags"/> and the tags header, and removes the header, so that it
    /// never reaches the provider. <see langword="false"/> when a tag is invalid or there are more than <see cref="MaxTags"/>:
    /// such a request is not cached (an entry missing one of its tags could not be removed by it).
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="control">The request's <see cref="ChatCacheControl"/>, already read by the caller (or null).</param>
    /// <param name="tags">The tag hashes, or null when there are none.</param>
    public static bool TryRead(HttpRequestMessage request, ChatCacheControl? control, out ulong[]? tags)
    {
        tags = null;
        List<ulong>? found = null;
        bool valid = true;
        if (request.Headers.NonValidated.TryGetValues(ChatCacheControl.TagsHeaderName, out var values))
        {
            foreach (string value in values)
            {
                foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    valid &= Add(ref found, part);
                }
            }

            request.Headers.Remove(ChatCacheControl.TagsHeaderName);
        }

        if (control?.Tags is { } listed)
        {
            foreach (string tag in listed)
            {
                valid &= Add(ref found, tag);
            }
        }

        if (!valid || found is { Count: > MaxTags })
        {
            return false;
        }

        tags = found?.ToArray();
        return true;
    }

    /// <summary>
    /// The tags an entry is stored with: the request's, plus <c>model:{model}</c> and, for a dated model id
    /// (<c>gpt-4o-mini-2024-07-18</c>), <c>model:{base}</c> (<c>model:gpt-4o-mini</c>).
    /// </summary>
    public static ulong[]? ForEntry(ulong[]? requestTags, string? model)
    {
        if (string.IsNullOrEmpty(model) || model.Length > MaxTagLength)
        {
            return requestTags;
        }

        string? baseModel = BaseModel(model);
        int extra = baseModel is null ? 1 : 2;
        var all = new ulong[(requestTags?.Length ?? 0) + extra];
        requestTags?.CopyTo(all, 0);
        all[^extra] = Hash("model:" + model);
        if (baseModel is not null)
        {
            all[^1] = Hash("model:" + baseModel);
        }

        return all;
    }

    /// <summary>The model id without a trailing <c>-YYYY-MM-DD</c> date, or null when it has none.</summary>
    internal static string? BaseModel(string model)
    {
        const int DateLength = 11; // "-2024-07-18"
        if (model.Length <= DateLength)
        {
            return null;
        }

        var date = model.AsSpan(model.Length - DateLength);
        return date[0] == '-' && date[5] == '-' && date[8] == '-'
            && char.IsAsciiDigit(date[1]) && char.IsAsciiDigit(date[2]) && char.IsAsciiDigit(date[3]) && char.IsAsciiDigit(date[4])
            && char.IsAsciiDigit(date[6]) && char.IsAsciiDigit(date[7]) && char.IsAsciiDigit(date[9]) && char.IsAsciiDigit(date[10])
            ? model[..^DateLength]
            : null;
    }

    private static bool Add(ref List<ulong>? found, string tag)
    {
        if (!IsValid(tag))
        {
            return false;
        }

        found ??= [];
        ulong hash = Hash(tag.Trim());
        if (!found.Contains(hash))
        {
            found.Add(hash);
        }

        return true;
    }
}
