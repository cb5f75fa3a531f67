using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenAI.Chat;
using static ChatCachePolly.IntegrationTests.Harness;

namespace ChatCachePolly.IntegrationTests;

/// <summary>
/// Issue 19: <c>UseTokenCredential</c> keys the cache by the credential's stable identity, so a rotated token still hits,
/// two credentials never share, and a token the credential did not issue cannot borrow its identity.
/// </summary>
public sealed class TokenCredentialTests
{
    private static readonly ChatMessage[] Question = [new UserChatMessage("What is the capital of France?")];

    [Fact]
    public async Task A_rotated_token_still_hits()
    {
        var credential = new RotatingCredential("tenant-1", "principal-a");
        await using var h = await StartAsync((services, server) => Register(services, server, credential), registerDefault: false);

        AssertStoredMiss(Status(await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct)));
        AssertHit(Status(await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct)));

        Assert.True(credential.Issued >= 2, $"the credential issued {credential.Issued} token(s): the token did not rotate between the calls");
        Assert.Equal(1, h.ChatCalls);
        Assert.Equal("Bearer " + credential.Token(1), h.Server.Requests[0].Headers["Authorization"]);
    }

    [Fact]
    public async Task Opaque_rotated_tokens_still_hit_on_the_same_instance()
    {
        var credential = new RotatingCredential("tenant-1", "principal-a", jwt: false);
        await using var h = await StartAsync((services, server) => Register(services, server, credential), registerDefault: false);

        await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);
        AssertHit(Status(await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct)));

        Assert.True(credential.Issued >= 2);
        Assert.Equal(1, h.ChatCalls);
    }

    [Fact]
    public async Task Two_principals_never_share_and_one_principal_shares_across_instances()
    {
        var shared = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        await using var a = Instance(server, shared, new RotatingCredential("tenant-1", "principal-a"));
        await using var b = Instance(server, shared, new RotatingCredential("tenant-1", "principal-b"));
        await using var a2 = Instance(server, shared, new RotatingCredential("tenant-1", "principal-a"));

        AssertStoredMiss(Status(await a.GetRequiredKeyedService<ChatClient>(Name).CompleteChatAsync(Question, cancellationToken: Ct)));
        AssertStoredMiss(Status(await b.GetRequiredKeyedService<ChatClient>(Name).CompleteChatAsync(Question, cancellationToken: Ct)));
        AssertHit(Status(await a2.GetRequiredKeyedService<ChatClient>(Name).CompleteChatAsync(Question, cancellationToken: Ct)));

        Assert.Equal(2, server.CountFor("/v1/chat/completions"));
    }

    [Fact]
    public async Task Opaque_tokens_of_two_credentials_never_share()
    {
        var shared = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        await using var a = Instance(server, shared, new RotatingCredential("tenant-1", "principal-a", jwt: false));
        await using var b = Instance(server, shared, new RotatingCredential("tenant-1", "principal-a", jwt: false));

        await a.GetRequiredKeyedService<ChatClient>(Name).CompleteChatAsync(Question, cancellationToken: Ct);
        AssertStoredMiss(Status(await b.GetRequiredKeyedService<ChatClient>(Name).CompleteChatAsync(Question, cancellationToken: Ct)));

        Assert.Equal(2, server.CountFor("/v1/chat/completions"));
    }

    [Fact]
    public async Task A_token_the_credential_did_not_issue_cannot_borrow_its_identity()
    {
        var credential = new RotatingCredential("tenant-1", "principal-a");
        await using var h = await StartAsync((services, server) => Register(services, server, credential), registerDefault: false);
        await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);

        // Same claims, same shape: but issued by nobody this registration knows (a caller's own header).
        string forged = RotatingCredential.Jwt("tenant-1", "principal-a", serial: 999);
        using var http = h.Services.GetRequiredService<IHttpClientFactory>().CreateClient(Name);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(TlsEndpoint, "chat/completions"))
        {
            Content = new StringContent("""{"messages":[{"role":"user","content":"What is the capital of France?"}],"model":"gpt-4o-mini"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + forged);
        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("ChatCachePolly; fwd=miss", string.Join(", ", response.Headers.GetValues("Cache-Status")), StringComparison.Ordinal);
        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task An_application_tenant_identity_takes_precedence()
    {
        var credential = new RotatingCredential("tenant-1", "principal-a");
        int asked = 0;
        await using var h = await StartAsync(
            (services, server) => Register(services, server, credential).CacheOptions.Configure(o => o.TenantIdentity = _ =>
            {
                Interlocked.Increment(ref asked);
                return ValueTask.FromResult<string?>("the-application's-tenant");
            }),
            registerDefault: false);

        await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct);
        AssertHit(Status(await h.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct)));

        Assert.Equal(2, Volatile.Read(ref asked));
    }

    [Theory]
    [InlineData("""{"tid":"t","oid":"o","aud":"api://x"}""", "jwt:t:o:api://x")]
    [InlineData("""{"tid":"t","azp":"client","sub":"s"}""", "jwt:t:client:")]
    [InlineData("""{"tid":"t","sub":"s","nested":{"oid":"ignored"},"list":[1,2]}""", "jwt:t:s:")]
    [InlineData("""{"oid":"o"}""", null)]
    [InlineData("""{"tid":7,"oid":"o"}""", null)]
    [InlineData("""[1]""", null)]
    [InlineData("""{"tid":"t",""", null)]
    public void The_identity_of_a_token_is_its_tenant_principal_and_audience(string payload, string? expected)
    {
        string token = "eyJhbGciOiJub25lIn0." + Base64Url(payload) + ".sig";
        Assert.Equal(expected, OpenAISupport.TokenCredentialIdentity.FromClaims(token));
        Assert.Null(OpenAISupport.TokenCredentialIdentity.FromClaims("opaque-token"));
        Assert.Null(OpenAISupport.TokenCredentialIdentity.FromClaims("a..b"));
        Assert.Null(OpenAISupport.TokenCredentialIdentity.FromClaims("a.!!!.b"));
    }

    private static string Base64Url(string text) => System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text));

    /// <summary>The address the SDK sends to: bearer tokens go over TLS only (the SDK's policy refuses http).</summary>
    private static readonly Uri TlsEndpoint = new("https://my-resource.openai.azure.test/openai/v1/");

    private static ChatCachedOpenAIBuilder Register(IServiceCollection services, LoopbackOpenAIServer server, RotatingCredential credential)
    {
        var builder = services.AddChatCachedOpenAI(Name, o =>
        {
            Configure(o, server);
            o.ApiKey = null;
            o.Endpoint = TlsEndpoint;
        }).UseTokenCredential(credential);

        // Below the cache (which keys the https address): the loopback upstream stands in for the service.
        builder.HttpClient.AddHttpMessageHandler(() => new ToLoopback(server.OpenAIEndpoint));
        return builder;
    }

    private sealed class ToLoopback(Uri loopback) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string relative = TlsEndpoint.MakeRelativeUri(request.RequestUri!).ToString();
            request.RequestUri = new Uri(loopback, relative);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private static ServiceProvider Instance(LoopbackOpenAIServer server, IDistributedCache shared, RotatingCredential credential)
    {
        var services = new ServiceCollection();
        services.AddSingleton(shared);
        Register(services, server, credential).CacheOptions.Configure(o => o.Store = ChatCacheStoreKind.Distributed);
        return services.BuildServiceProvider();
    }

    /// <summary>A credential whose every token is new (it expires at once, so the SDK's policy asks again on each call).</summary>
    private sealed class RotatingCredential(string tenant, string principal, bool jwt = true) : AuthenticationTokenProvider
    {
        private int _issued;

        public int Issued => Volatile.Read(ref _issued);

        public static string Jwt(string tenant, string principal, int serial) =>
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
            + System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
                $$"""{"aud":"https://cognitiveservices.azure.com","tid":"{{tenant}}","oid":"{{principal}}","uti":"u{{serial}}","exp":{{1_900_000_000 + serial}}}"""))
            + ".c2lnbmF0dXJl" + serial;

        public string Token(int serial) => jwt ? Jwt(tenant, principal, serial) : $"opaque-{tenant}-{principal}-{serial}";

        public override GetTokenOptions? CreateTokenOptions(IReadOnlyDictionary<string, object> properties) => new(properties);

        public override AuthenticationToken GetToken(GetTokenOptions options, CancellationToken cancellationToken) => Next();

        public override ValueTask<AuthenticationToken> GetTokenAsync(GetTokenOptions options, CancellationToken cancellationToken) => new(Next());

        private AuthenticationToken Next()
        {
            int serial = Interlocked.Increment(ref _issued);
            var now = DateTimeOffset.UtcNow;
            return new AuthenticationToken(Token(serial), "Bearer", now.AddSeconds(1), now);
        }
    }
}
