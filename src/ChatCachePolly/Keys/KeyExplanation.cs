using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ChatCachePolly.Keys;

/// <summary>
/// What went into a request's key, part by part, as short non-reversible fingerprints: compare two of these (from logs) to see
/// which part made two requests different. Never contains a secret, a raw credential or a body.
/// </summary>
/// <param name="Key">The key's fingerprint (the <c>key=</c> of <c>Cache-Status</c>).</param>
/// <param name="Method">The HTTP method.</param>
/// <param name="Endpoint">Scheme, host, port and path (no query values, no user info).</param>
/// <param name="Query">A fingerprint of the query string (Azure's <c>api-version</c> lives there), or <c>none</c>.</param>
/// <param name="Tenant">A fingerprint of the credential and organization/project headers, or <c>none</c>.</param>
/// <param name="Partition">A fingerprint of the partition.</param>
/// <param name="Body">A fingerprint of the canonical body.</param>
/// <param name="IgnoredFields">The top-level body fields that were present and left out of the key.</param>
/// <param name="TenantSource">Where the tenant part came from: <c>credential</c> (the credential headers),
/// <c>application</c> (<see cref="ChatCacheStrategyOptions.TenantIdentity"/>, its value never shown) or <c>none</c> (a
/// cassette key, which leaves credentials out).</param>
internal sealed record KeyExplanation(string Key, string Method, string Endpoint, string Query, string Tenant, string Partition, string Body, string IgnoredFields, string TenantSource = "credential")
{
    public override string ToString() =>
        $"key={Key} method={Method} endpoint={Endpoint} query={Query} tenant={Tenant} tenant-source={TenantSource} partition={Partition} body={Body} ignored=[{IgnoredFields}]";

    /// <summary>Explains a key computed by <see cref="RequestKeyBuilder"/> (diagnostics only: hashes each part separately).</summary>
    public static KeyExplanation Create(HttpRequestMessage request, ReadOnlySpan<byte> body, string partition, EndpointKind endpointKind, RequestKeyBuilder keyBuilder, ChatCacheKey key, byte[]? tenantIdentity = null)
    {
        bool application = tenantIdentity is not null && keyBuilder.KeysCredentials;
        var uri = request.RequestUri!;
        string endpoint = $"{uri.Scheme.ToLowerInvariant()}://{uri.IdnHost.ToLowerInvariant()}:{uri.Port}{uri.AbsolutePath}";
        var protocol = Protocols.Endpoints.ProtocolOf(endpointKind);
        string keyedQuery = protocol == ChatCacheProtocol.Gemini ? Protocols.ProtocolHeaders.QueryWithoutCredential(uri.Query) : uri.Query;
        string query = string.IsNullOrEmpty(keyedQuery) ? "none" : Fingerprint(Encoding.UTF8.GetBytes(keyedQuery));

        var tenant = new StringBuilder();
        var ignored = keyBuilder.IgnoredFor(endpointKind);
        foreach (string name in RequestKeyBuilder.TenantHeaders.Concat(keyBuilder.AdditionalHeaders))
        {
            if ((!keyBuilder.KeysCredentials || application) && RequestKeyBuilder.IsCredential(Array.IndexOf(RequestKeyBuilder.TenantHeaders, name)))
            {
                continue; // a cassette key leaves the credential out; an application identity stands for it
            }

            if (request.Headers.NonValidated.TryGetValues(name, out var values))
            {
                tenant.Append(name).Append('=').Append(values.ToString()).Append('\n');
            }
        }

        bool keyCredentials = keyBuilder.KeysCredentials && !application;
        foreach (string name in Protocols.ProtocolHeaders.Credentials(protocol).Concat(Protocols.ProtocolHeaders.Keyed(protocol)))
        {
            if ((keyCredentials || !Protocols.ProtocolHeaders.IsCredential(name)) && request.Headers.NonValidated.TryGetValues(name, out var values))
            {
                tenant.Append(name).Append('=').Append(values.ToString()).Append('\n');
            }
        }

        if (protocol == ChatCacheProtocol.Gemini && keyCredentials && Protocols.ProtocolHeaders.QueryCredential(uri.Query) is { } queryKey)
        {
            tenant.Append("?key=").Append(queryKey).Append('\n');
        }

        var canonical = new ArrayBufferWriter<byte>(Math.Max(256, body.Length));
        byte[]? ordinals = keyBuilder.StableBody(body, endpointKind); // as the key has it
        string bodyPart = CanonicalJson.TryWrite(ordinals is null ? body : ordinals, ignored, endpointKind, canonical, out _) ? Fingerprint(canonical.WrittenSpan) : "invalid";
        canonical.Clear();

        if (application)
        {
            tenant.Append("application=").Append(Convert.ToHexStringLower(tenantIdentity!)).Append('\n');
        }

        return new KeyExplanation(
            key.Fingerprint,
            request.Method.Method,
            endpoint,
            query,
            tenant.Length == 0 ? "none" : Fingerprint(Encoding.UTF8.GetBytes(tenant.ToString())),
            Fingerprint(Encoding.UTF8.GetBytes(partition)),
            bodyPart,
            string.Join(',', IgnoredPresent(body, ignored, endpointKind)),
            application ? "application" : keyBuilder.KeysCredentials ? "credential" : "none");
    }

    private static string Fingerprint(ReadOnlySpan<byte> bytes)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(bytes, hash);
        return Convert.ToHexStringLower(hash[..6]);
    }

    private static List<string> IgnoredPresent(ReadOnlySpan<byte> body, IgnoredMembers ignored, EndpointKind endpoint)
    {
        var present = new List<string>();
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return present;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;

                // On /responses "store" is always in the key (see CanonicalJson.TryWrite).
                if (ignored.Contains(Encoding.UTF8.GetBytes(name)) && !(endpoint == EndpointKind.Responses && name == "store"))
                {
                    present.Add(name);
                }

                reader.Read();
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Diagnostics of an invalid body list what they could read.
        }

        return present;
    }
}
