using System.Buffers;
using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace ChatCachePolly.Keys;

/// <summary>
/// Builds a <see cref="ChatCacheKey"/> for a request: one SHA-256 over a framed, length-prefixed
/// encoding of the key format version, method, normalized URL, tenant credentials, partition and
/// the canonical body.
/// </summary>
/// <remarks>
/// Credentials are only ever fed to the hash; they are never stored or exposed. Headers other than
/// <c>Authorization</c>, <c>api-key</c>, <c>OpenAI-Organization</c> and <c>OpenAI-Project</c>
/// (User-Agent, X-Stainless-*, x-ms-client-request-id, traceparent, Accept, Content-Length…) do not
/// affect the key.
/// </remarks>
internal sealed class RequestKeyBuilder
{
    /// <summary>Bump when the encoding changes so old cache entries stop matching.</summary>
    public const int KeyFormatVersion = 2;

    /// <summary>The version marker of alias preimages: never a key-format version, so an alias never equals a key.</summary>
    internal const int AliasFormatVersion = -KeyFormatVersion;

    /// <summary>The per-thread buffer is dropped after a request that grew it beyond this.</summary>
    internal const int MaxRetainedBufferBytes = 1024 * 1024;

    /// <summary>Request headers that identify the tenant (lower-case, in key order).</summary>
    internal static readonly string[] TenantHeaders = ["authorization", "api-key", "openai-organization", "openai-project"];

    private const byte Absent = 0;
    private const byte Present = 1;

    // A credential header of a builder that leaves credentials out (cassettes): never equal to a keyed frame.
    private const byte NotKeyed = 2;

    // The credential headers stand replaced by the application's tenant identity (ChatCacheStrategyOptions.TenantIdentity).
    private const byte ApplicationIdentity = 3;

    // How an alias frame writes the URL (keys always write its parsed parts).
    private const byte ParsedUrl = 1;
    private const byte PlainUrl = 2;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static IncrementalHash? t_hash;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_tenant;

    private readonly TenantDigestCache _tenantDigests = new();
    private readonly IgnoredMembers? _nativeIgnored;

    /// <summary>
    /// Creates a builder that leaves <paramref name="ignored"/> root members out of the key and adds the values of
    /// <paramref name="additionalHeaders"/> (for example a gateway's own credential header) to the tenant part of the key.
    /// </summary>
    /// <param name="ignored">The root members left out.</param>
    /// <param name="additionalHeaders">Extra credential or routing headers whose values are keyed.</param>
    /// <param name="keyCredentials">
    /// <see langword="false"/> for a cassette store: the credential (<c>Authorization</c>, <c>api-key</c> and
    /// <paramref name="additionalHeaders"/>) is left out, so a recording replays with another key or none. The organization
    /// and project headers stay in.
    /// </param>
    /// <param name="ordinalToolCallIds">
    /// <see langword="true"/> for a cassette store with stable values: tool call ids are keyed by their order, not their
    /// value (<see cref="ToolCallIds"/>).
    /// </param>
    /// <param name="responseIds">
    /// With <paramref name="ordinalToolCallIds"/>, the cassette directory's Responses ids: a Responses request is keyed with the
    /// stable ids its recordings wrote in place of the provider's (<see cref="CassetteResponseIds"/>).
    /// </param>
    public RequestKeyBuilder(IgnoredMembers ignored, IEnumerable<string>? additionalHeaders = null, bool keyCredentials = true, bool ordinalToolCallIds = false, CassetteResponseIds? responseIds = null)
    {
        ArgumentNullException.ThrowIfNull(ignored);
        Ignored = ignored;
        OrdinalToolCallIds = ordinalToolCallIds;
        ResponseIds = ordinalToolCallIds ? responseIds : null;

        // The default set stands for "each protocol's defaults"; a list of the user's applies to every protocol.
        _nativeIgnored = ReferenceEquals(ignored, IgnoredMembers.Default) ? null : ignored;
        KeysCredentials = keyCredentials;
        AdditionalHeaders = additionalHeaders is null || !keyCredentials
            ? []
            : [.. additionalHeaders.Select(static h => h.Trim().ToLowerInvariant()).Where(h => h.Length > 0 && Array.IndexOf(TenantHeaders, h) < 0).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Root body members left out of the key of an OpenAI-style request.</summary>
    public IgnoredMembers Ignored { get; }

    /// <summary>
    /// The root body members left out of the key of a request to <paramref name="endpoint"/>: <see cref="Ignored"/> for OpenAI-style
    /// endpoints; for the other protocols their own defaults (<see cref="Protocols.ProtocolHeaders.DefaultIgnored(ChatCacheProtocol)"/>), unless the
    /// builder was given a list of the user's, which then applies to every protocol.
    /// </summary>
    public IgnoredMembers IgnoredFor(EndpointKind endpoint)
    {
        var protocol = Protocols.Endpoints.ProtocolOf(endpoint);
        return protocol == ChatCacheProtocol.OpenAI ? Ignored : _nativeIgnored ?? Protocols.ProtocolHeaders.DefaultIgnored(protocol);
    }

    /// <summary>Gets a value indicating whether the credential headers are part of the key (false for cassettes).</summary>
    public bool KeysCredentials { get; }

    /// <summary>Gets a value indicating whether tool call ids are keyed by their order (cassettes with stable values).</summary>
    public bool OrdinalToolCallIds { get; }

    /// <summary>Gets the cassette directory's Responses ids (cassettes with stable values), or <see langword="null"/>.</summary>
    public CassetteResponseIds? ResponseIds { get; }

    /// <summary>
    /// The body as a cassette with stable values keys it: tool call ids by their order (<see cref="ToolCallIds"/>), Responses
    /// ids by the stable ids recordings wrote (<see cref="CassetteResponseIds"/>); <see langword="null"/> to key it as sent.
    /// </summary>
    public byte[]? StableBody(ReadOnlySpan<byte> body, EndpointKind endpoint) => OrdinalToolCallIds ? StableBody(body, endpoint, ResponseIds) : null;

    /// <inheritdoc cref="StableBody(ReadOnlySpan{byte}, EndpointKind)"/>
    /// <param name="body">The request body.</param>
    /// <param name="endpoint">The endpoint it goes to.</param>
    /// <param name="responseIds">The cassette directory's Responses ids.</param>
    internal static byte[]? StableBody(ReadOnlySpan<byte> body, EndpointKind endpoint, CassetteResponseIds? responseIds) =>
        endpoint == EndpointKind.Responses ? responseIds?.ToStable(body) : ToolCallIds.ToOrdinals(body, endpoint);

    /// <summary>Extra request headers whose values are part of the key (lower-case), after the built-in tenant headers.</summary>
    public string[] AdditionalHeaders { get; }

    /// <summary>Computes the key of a request to a chat completions (or generic JSON) endpoint.</summary>
    /// <inheritdoc cref="TryBuild(HttpRequestMessage, ReadOnlySpan{byte}, string, EndpointKind, out ChatCacheKey, out RequestBodyFacts)"/>
    public bool TryBuild(HttpRequestMessage request, ReadOnlySpan<byte> body, string partition, out ChatCacheKey key, out RequestBodyFacts facts) =>
        TryBuild(request, body, partition, EndpointKind.ChatCompletions, out key, out facts);

    /// <summary>
    /// Computes the key. Returns <see langword="false"/> (never throws) when the request is not cacheable:
    /// no absolute URI, or a body <see cref="CanonicalJson.TryWrite(ReadOnlySpan{byte}, IgnoredMembers, EndpointKind, ArrayBufferWriter{byte}, out RequestBodyFacts)"/> rejects.
    /// </summary>
    /// <param name="request">The request (its headers and URI are read; the body is passed separately).</param>
    /// <param name="body">The request body bytes.</param>
    /// <param name="partition">An extra caller-chosen namespace (e.g. the named client); part of the key.</param>
    /// <param name="endpoint">The endpoint the request goes to (the classifier's finding): some members are keyed per endpoint.</param>
    /// <param name="key">The key.</param>
    /// <param name="facts">Facts read from the body's root object.</param>
    public bool TryBuild(HttpRequestMessage request, ReadOnlySpan<byte> body, string partition, EndpointKind endpoint, out ChatCacheKey key, out RequestBodyFacts facts) =>
        TryBuild(request, body, partition, endpoint, tenantIdentity: null, out key, out facts);

    /// <summary>
    /// As <see cref="TryBuild(HttpRequestMessage, ReadOnlySpan{byte}, string, EndpointKind, out ChatCacheKey, out RequestBodyFacts)"/>,
    /// with the application's tenant identity (a SHA-256 digest, <see cref="TenantIdentityDigest"/>) in place of the
    /// credential headers; null keys the credential headers.
    /// </summary>
    public bool TryBuild(HttpRequestMessage request, ReadOnlySpan<byte> body, string partition, EndpointKind endpoint, byte[]? tenantIdentity, out ChatCacheKey key, out RequestBodyFacts facts)
    {
        key = default;
        facts = default;
        Uri? uri = request?.RequestUri;
        if (request is null || uri is null || !uri.IsAbsoluteUri)
        {
            return false;
        }

        ArrayBufferWriter<byte> buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        try
        {
            WriteFrame(buffer, KeyFormatVersion, request, uri, partition, endpoint, tenantIdentity: KeysCredentials ? tenantIdentity : null);

            // The body is last, so it needs no length prefix.
            byte[]? stable = OrdinalToolCallIds ? StableBody(body, endpoint) : null;
            if (!CanonicalJson.TryWrite(stable is null ? body : stable, IgnoredFor(endpoint), endpoint, buffer, out facts))
            {
                facts = default;
                return false;
            }

            // A reused per-thread hash object: SHA256.HashData sets up and tears down an OpenSSL digest context per call,
            // which costs as much as hashing a kilobyte; reset is cheaper.
            var sha = t_hash ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            sha.AppendData(buffer.WrittenSpan);
            Span<byte> hash = stackalloc byte[ChatCacheKey.Size];
            sha.GetHashAndReset(hash);
            key = ChatCacheKey.FromHash(hash);
            return true;
        }
        finally
        {
            if (buffer.Capacity > MaxRetainedBufferBytes)
            {
                t_buffer = null;
            }
            else
            {
                // Do not leave credentials lying around in the pooled buffer longer than needed.
                buffer.Clear();
            }
        }
    }

    /// <summary>
    /// Writes everything of the key but the body: the version, method, normalized URL, tenant headers (built-in and configured)
    /// and partition, each framed so that no two different requests write the same bytes.
    /// </summary>
    /// <remarks>
    /// An OpenAI-style request writes exactly the frame it always did. Another protocol's request adds its own section after the
    /// configured headers (<see cref="WriteProtocolHeaders"/>); a Gemini URL is written without its <c>key</c> query parameter, a
    /// credential that goes into that section instead (so a cassette or an application identity can leave it out, and an alias
    /// preimage never holds it).
    /// </remarks>
    private void WriteFrame(ArrayBufferWriter<byte> buffer, int version, HttpRequestMessage request, Uri uri, string partition, EndpointKind endpoint, bool digestTenant = false, bool? plainUri = null, byte[]? tenantIdentity = null)
    {
        WriteInt32(buffer, version);
        WriteString(buffer, request.Method.Method);
        var protocol = Protocols.Endpoints.ProtocolOf(endpoint);
        if (protocol == ChatCacheProtocol.Gemini)
        {
            plainUri = false; // the plain form writes the URI string as it is, credential and all
        }

        if (version == AliasFormatVersion)
        {
            // An alias only needs equal frames for equal URLs: a plain URI string (see PlainRequestUri) stands for its parsed
            // parts, which it determines, and saves parsing them. The form byte keeps the two forms apart.
            if (plainUri ?? PlainRequestUri.TryGetPath(uri, out _))
            {
                WriteByte(buffer, PlainUrl);
                WriteString(buffer, uri.OriginalString);
            }
            else
            {
                WriteByte(buffer, ParsedUrl);
                WriteUrl(buffer, uri, protocol);
            }
        }
        else
        {
            WriteUrl(buffer, uri, protocol);
        }

        HttpHeadersNonValidated headers = request.Headers.NonValidated;
        if (digestTenant)
        {
            // Verified aliases keep their preimage in memory: credentials go in only as their SHA-256 (remembered per
            // credential set, so a repeat from the same client does not hash its credentials again).
            var tenant = t_tenant ??= new ArrayBufferWriter<byte>(256);
            tenant.ResetWrittenCount();
            WriteTenantHeaders(tenant, headers, KeysCredentials);
            WriteHeaders(tenant, headers, AdditionalHeaders);
            WriteProtocolHeaders(tenant, request, uri, protocol, KeysCredentials, applicationIdentity: false);
            _tenantDigests.GetDigest(tenant.WrittenSpan, buffer.GetSpan(ChatCacheKey.Size)[..ChatCacheKey.Size]);
            buffer.Advance(ChatCacheKey.Size);
            tenant.Clear();
        }
        else
        {
            WriteTenantHeaders(buffer, headers, KeysCredentials, tenantIdentity);

            // Configured extra headers follow; with none configured the preimage is exactly the default one.
            WriteHeaders(buffer, headers, AdditionalHeaders);
            WriteProtocolHeaders(buffer, request, uri, protocol, KeysCredentials, applicationIdentity: tenantIdentity is not null);
        }

        if (partition is null)
        {
            WriteByte(buffer, Absent);
        }
        else
        {
            WriteByte(buffer, Present);
            WriteString(buffer, partition);
        }
    }

    /// <summary>
    /// The URL of a key: scheme and host lower-case, explicit port, path and query as-is (a Gemini query without its <c>key</c>
    /// credential), no fragment.
    /// </summary>
    private static void WriteUrl(ArrayBufferWriter<byte> buffer, Uri uri, ChatCacheProtocol protocol)
    {
        WriteString(buffer, uri.Scheme, lowerAscii: true);
        WriteString(buffer, uri.UserInfo);
        WriteString(buffer, uri.IdnHost, lowerAscii: true);
        WriteInt32(buffer, uri.Port);
        WriteString(buffer, uri.AbsolutePath);
        WriteString(buffer, protocol == ChatCacheProtocol.Gemini ? Protocols.ProtocolHeaders.QueryWithoutCredential(uri.Query) : uri.Query);
    }

    /// <summary>
    /// The section a native protocol adds to the tenant part (<see cref="Protocols.ProtocolHeaders"/>): a protocol marker, its
    /// credential headers (left out for a cassette, standing replaced by an application identity), the headers that change its
    /// answers (<c>anthropic-version</c>, <c>anthropic-beta</c>…), and Gemini's <c>key</c> query credential. Nothing for OpenAI.
    /// </summary>
    private static void WriteProtocolHeaders(ArrayBufferWriter<byte> buffer, HttpRequestMessage request, Uri uri, ChatCacheProtocol protocol, bool keyCredentials, bool applicationIdentity)
    {
        if (protocol == ChatCacheProtocol.OpenAI)
        {
            return;
        }

        WriteByte(buffer, (byte)protocol);
        HttpHeadersNonValidated headers = request.Headers.NonValidated;
        foreach (string name in Protocols.ProtocolHeaders.Credentials(protocol))
        {
            WriteString(buffer, name);
            if (!keyCredentials)
            {
                WriteByte(buffer, NotKeyed);
            }
            else if (applicationIdentity)
            {
                WriteByte(buffer, ApplicationIdentity);
            }
            else if (headers.TryGetValues(name, out HeaderStringValues values))
            {
                WriteValues(buffer, values);
            }
            else
            {
                WriteByte(buffer, Absent);
            }
        }

        WriteHeaders(buffer, headers, Protocols.ProtocolHeaders.Keyed(protocol));

        if (protocol == ChatCacheProtocol.Gemini)
        {
            WriteString(buffer, "?key");
            string? key = keyCredentials && !applicationIdentity ? Protocols.ProtocolHeaders.QueryCredential(uri.Query) : null;
            if (!keyCredentials)
            {
                WriteByte(buffer, NotKeyed);
            }
            else if (applicationIdentity)
            {
                WriteByte(buffer, ApplicationIdentity);
            }
            else if (key is null)
            {
                WriteByte(buffer, Absent);
            }
            else
            {
                WriteByte(buffer, Present);
                WriteString(buffer, key);
            }
        }
    }

    /// <summary>
    /// Writes the frame of a verified alias into <paramref name="destination"/>: everything of the key but the body, with the
    /// tenant headers as their SHA-256 (so no credential is kept) and the alias version marker. The frame is self-delimiting,
    /// so two requests have equal (frame, body) pairs exactly when they are the same request, byte for byte.
    /// </summary>
    public bool TryWriteAliasFrame(HttpRequestMessage request, string partition, ArrayBufferWriter<byte> destination, bool? plainUri = null, EndpointKind endpoint = EndpointKind.ChatCompletions)
    {
        Uri? uri = request?.RequestUri;
        if (request is null || uri is null || !uri.IsAbsoluteUri)
        {
            return false;
        }

        WriteFrame(destination, AliasFormatVersion, request, uri, partition, endpoint, digestTenant: true, plainUri);
        return true;
    }

    /// <summary>
    /// Computes the alias of a request: SHA-256 over the same frame as the key (with its own version marker, so an alias is
    /// never equal to a key) followed by the body exactly as sent. Byte-identical requests have equal aliases; the alias maps
    /// to the canonical key in a <see cref="KeyAliasTable"/>, so a repeat skips canonicalization. The body is hashed in place.
    /// </summary>
    public bool TryBuildAlias(HttpRequestMessage request, ReadOnlySpan<byte> body, string partition, out ChatCacheKey alias, bool? plainUri = null, EndpointKind endpoint = EndpointKind.ChatCompletions)
    {
        alias = default;
        Uri? uri = request?.RequestUri;
        if (request is null || uri is null || !uri.IsAbsoluteUri)
        {
            return false;
        }

        ArrayBufferWriter<byte> buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var hash = t_hash ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            WriteFrame(buffer, AliasFormatVersion, request, uri, partition, endpoint, plainUri: plainUri);
            hash.AppendData(buffer.WrittenSpan);
            hash.AppendData(body);
            Span<byte> digest = stackalloc byte[ChatCacheKey.Size];
            hash.GetHashAndReset(digest);
            alias = ChatCacheKey.FromHash(digest);
            return true;
        }
        finally
        {
            buffer.Clear();
        }
    }

    /// <summary>
    /// Writes the built-in tenant headers exactly as <see cref="WriteHeaders"/> would with <see cref="TenantHeaders"/>, from one
    /// pass over the request's headers: a lookup by name parses the name each time, and four lookups cost more than walking the
    /// handful of headers a request carries.
    /// </summary>
    private static void WriteTenantHeaders(ArrayBufferWriter<byte> buffer, HttpHeadersNonValidated headers, bool keyCredentials, byte[]? tenantIdentity = null)
    {
        TenantValues found = default;
        int present = 0;
        if (headers.Count != 0)
        {
            foreach (var header in headers)
            {
                int index = TenantIndex(header.Key);
                if (index >= 0)
                {
                    found[index] = header.Value;
                    present |= 1 << index;
                }
            }
        }

        for (int i = 0; i < TenantHeaders.Length; i++)
        {
            WriteString(buffer, TenantHeaders[i]);
            if (!keyCredentials && IsCredential(i))
            {
                WriteByte(buffer, NotKeyed);
            }
            else if (tenantIdentity is not null && IsCredential(i))
            {
                // The application's tenant stands for the credential: a marker no credential frame writes, then (once) its digest.
                WriteByte(buffer, ApplicationIdentity);
                if (i == 0)
                {
                    buffer.Write(tenantIdentity);
                }
            }
            else if ((present & (1 << i)) != 0)
            {
                WriteValues(buffer, found[i]);
            }
            else
            {
                WriteByte(buffer, Absent);
            }
        }
    }

    /// <summary>
    /// The digest of an application tenant identity as the key takes it: SHA-256 of a domain prefix and the UTF-8 of the value
    /// (32 bytes; the value itself is never kept).
    /// </summary>
    public static byte[] TenantIdentityDigest(string identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes("chatcache-tenant\0" + identity);
        return SHA256.HashData(bytes);
    }

    /// <summary>Whether the tenant header at <paramref name="index"/> is a credential (<c>Authorization</c>, <c>api-key</c>).</summary>
    internal static bool IsCredential(int index) => (uint)index < 2;

    /// <summary>The position of <paramref name="name"/> in <see cref="TenantHeaders"/> (case-insensitive), or -1.</summary>
    private static int TenantIndex(string name) => name.Length switch
    {
        13 when name.Equals("authorization", StringComparison.OrdinalIgnoreCase) => 0,
        7 when name.Equals("api-key", StringComparison.OrdinalIgnoreCase) => 1,
        19 when name.Equals("openai-organization", StringComparison.OrdinalIgnoreCase) => 2,
        14 when name.Equals("openai-project", StringComparison.OrdinalIgnoreCase) => 3,
        _ => -1,
    };

    private static void WriteValues(ArrayBufferWriter<byte> buffer, HeaderStringValues values)
    {
        WriteByte(buffer, Present);
        WriteInt32(buffer, values.Count);
        foreach (string value in values)
        {
            WriteString(buffer, value);
        }
    }

    private static void WriteHeaders(ArrayBufferWriter<byte> buffer, HttpHeadersNonValidated headers, string[] names)
    {
        foreach (string name in names)
        {
            WriteString(buffer, name);
            if (headers.TryGetValues(name, out HeaderStringValues values))
            {
                WriteValues(buffer, values);
            }
            else
            {
                WriteByte(buffer, Absent);
            }
        }
    }

    private static void WriteByte(ArrayBufferWriter<byte> buffer, byte value)
    {
        buffer.GetSpan(1)[0] = value;
        buffer.Advance(1);
    }

    private static void WriteInt32(ArrayBufferWriter<byte> buffer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), value);
        buffer.Advance(4);
    }

    private static void WriteString(ArrayBufferWriter<byte> buffer, string value, bool lowerAscii = false)
    {
        Span<byte> span = buffer.GetSpan(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        int written = Encoding.UTF8.GetBytes(value, span[4..]);
        if (lowerAscii)
        {
            // Stops at the first non-ASCII byte; scheme and IDN host are ASCII.
            _ = Ascii.ToLowerInPlace(span.Slice(4, written), out _);
        }

        BinaryPrimitives.WriteInt32LittleEndian(span, written);
        buffer.Advance(4 + written);
    }
}

/// <summary>The values of the four built-in tenant headers, found in one pass (no array).</summary>
[System.Runtime.CompilerServices.InlineArray(4)]
internal struct TenantValues
{
    private HeaderStringValues _first;
}
