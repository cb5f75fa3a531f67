using System.Buffers;
using System.Buffers.Text;
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ChatCachePolly.OpenAISupport;

/// <summary>
/// The stable tenant identity of a registration that authenticates with a token credential
/// (<see cref="ChatCachedOpenAIBuilder.UseTokenCredential(AuthenticationTokenProvider, string)"/>).
/// </summary>
/// <remarks>
/// <para>
/// A bearer token rotates (Entra ID tokens live about an hour); keying the cache on the token would empty it at every
/// rotation. This type stands between the SDK's <see cref="BearerTokenPolicy"/> and the application's credential: every token
/// the credential issues is remembered (by its SHA-256, never the token) with the identity it was issued to. When the cache
/// keys a request, <see cref="IdentifyAsync"/> looks the request's bearer token up: a token this credential issued is keyed
/// by that identity, so the cache survives rotation; any other token (one a caller put on the request by hand, a forged
/// one) is unknown and keyed by its own digest, as without this type. Nothing a caller sends can choose an identity.
/// </para>
/// <para>The identity of a token:</para>
/// <list type="bullet">
/// <item><description>
/// A JWT (Entra ID issues these): its tenant (<c>tid</c>), principal (<c>oid</c>, else <c>azp</c>/<c>appid</c>, else
/// <c>sub</c>) and audience (<c>aud</c>). It is the same on every instance of a fleet that runs as the same principal, so
/// they share entries through Redis; two principals never share. The claims are read from a token the application's own
/// credential just received from its identity provider, not from anything a caller sent, so they need no signature check
/// here (the model service checks the signature).
/// </description></item>
/// <item><description>
/// Any other token (opaque, or a JWT without those claims): a random value drawn once per credential and service provider:
/// rotation still hits on this instance, and nothing is ever shared with another credential or process.
/// </description></item>
/// </list>
/// <para>
/// Invariant: an identity is returned only for a token found in <see cref="_issued"/>, and a token enters it only from
/// <see cref="Remember"/>, called with what the wrapped credential returned. The table holds the last
/// <see cref="Remembered"/> tokens (a credential refreshes ahead of expiry, so two can be live at once).
/// </para>
/// </remarks>
internal sealed class TokenCredentialIdentity : AuthenticationTokenProvider
{
    internal const int Remembered = 16;
    private readonly AuthenticationTokenProvider _credential;
    private readonly string _instanceIdentity = "credential-instance:" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
    private readonly Lock _gate = new();
    private readonly Queue<string> _order = new();
    private readonly Dictionary<string, string> _issued = new(StringComparer.Ordinal);
    private const string Bearer = "Bearer ";
    private LastToken? _last;

    public TokenCredentialIdentity(AuthenticationTokenProvider credential) => _credential = credential;

    public override GetTokenOptions? CreateTokenOptions(IReadOnlyDictionary<string, object> properties) => _credential.CreateTokenOptions(properties);

    public override AuthenticationToken GetToken(GetTokenOptions options, CancellationToken cancellationToken) =>
        Remember(_credential.GetToken(options, cancellationToken));

    public override async ValueTask<AuthenticationToken> GetTokenAsync(GetTokenOptions options, CancellationToken cancellationToken) =>
        Remember(await _credential.GetTokenAsync(options, cancellationToken).ConfigureAwait(false));

    /// <summary>The identity of the request's bearer token if this credential issued it; otherwise <see langword="null"/> (the token's own digest keys it).</summary>
    /// <remarks>
    /// On every request, hit or miss: the last token found is kept with its identity, so the common case (the same token
    /// as the previous request) costs one ordinal comparison, not a SHA-256 of the token. The header is read unparsed.
    /// </remarks>
    public ValueTask<string?> IdentifyAsync(ChatCacheTenantArguments arguments)
    {
        if (!arguments.Request.Headers.NonValidated.TryGetValues("Authorization", out var values) || values.Count != 1)
        {
            return new ValueTask<string?>((string?)null);
        }

        string header = values.ToString();
        if (header.Length <= Bearer.Length || !header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            return new ValueTask<string?>((string?)null);
        }

        var token = header.AsSpan(Bearer.Length).Trim();
        if (Volatile.Read(ref _last) is { } last && token.SequenceEqual(last.Token))
        {
            return new ValueTask<string?>(last.Identity);
        }

        string value = token.ToString();
        string? identity;
        lock (_gate)
        {
            identity = _issued.TryGetValue(Digest(value), out var found) ? found : null;
        }

        if (identity is not null)
        {
            Volatile.Write(ref _last, new LastToken(value, identity));
        }

        return new ValueTask<string?>(identity);
    }

    private AuthenticationToken Remember(AuthenticationToken token)
    {
        if (token?.TokenValue is not { Length: > 0 } value)
        {
            return token!;
        }

        string digest = Digest(value);
        string identity = FromClaims(value) ?? _instanceIdentity;
        lock (_gate)
        {
            if (_issued.TryAdd(digest, identity))
            {
                _order.Enqueue(digest);
                if (_order.Count > Remembered)
                {
                    _issued.Remove(_order.Dequeue());
                }
            }
        }

        return token;
    }

    private static string Digest(string token) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>
    /// <c>jwt:{tid}:{principal}:{aud}</c> from a JWT's payload, or <see langword="null"/> when the token is not a JWT or lacks
    /// a tenant or principal. Hand-written on purpose: four string claims of a token the credential just received, read with
    /// <see cref="Base64Url"/> and <see cref="Utf8JsonReader"/>; a JWT library would add a dependency to validate what is not
    /// validated here.
    /// </summary>
    internal static string? FromClaims(string token)
    {
        int first = token.IndexOf('.', StringComparison.Ordinal);
        int second = first < 0 ? -1 : token.IndexOf('.', first + 1);
        if (second < 0 || second - first - 1 is <= 0 or > 64 * 1024)
        {
            return null;
        }

        ReadOnlySpan<char> encoded = token.AsSpan(first + 1, second - first - 1);
        byte[] rented = ArrayPool<byte>.Shared.Rent(Base64Url.GetMaxDecodedLength(encoded.Length));
        try
        {
            if (Base64Url.DecodeFromChars(encoded, rented, out _, out int written) != OperationStatus.Done)
            {
                return null;
            }

            string? tenant = null, oid = null, azp = null, appid = null, sub = null, audience = null;
            var reader = new Utf8JsonReader(rented.AsSpan(0, written));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                if (!reader.Read())
                {
                    return null;
                }

                if (reader.TokenType == JsonTokenType.String)
                {
                    string value = reader.GetString()!;
                    switch (name)
                    {
                        case "tid": tenant = value; break;
                        case "oid": oid = value; break;
                        case "azp": azp = value; break;
                        case "appid": appid = value; break;
                        case "sub": sub = value; break;
                        case "aud": audience = value; break;
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            string? principal = oid ?? azp ?? appid ?? sub;
            return string.IsNullOrEmpty(tenant) || string.IsNullOrEmpty(principal)
                ? null
                : string.Join(':', "jwt", tenant, principal, audience ?? string.Empty);
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A token this credential issued, with its identity (the last one a request carried).</summary>
    private sealed record LastToken(string Token, string Identity);
}
