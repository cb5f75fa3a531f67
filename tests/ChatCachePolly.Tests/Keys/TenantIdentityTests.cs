using System.Net;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.Keys;

/// <summary><see cref="ChatCacheStrategyOptions.TenantIdentity"/>: the application's tenant stands for the credential in the key.</summary>
public sealed class TenantIdentityTests
{
    private static readonly ResiliencePropertyKey<string> Tenant = new("test.tenant");

    private static ChatCacheStrategyOptions Options(Func<HttpRequestMessage, string?> identify) => new()
    {
        TenantIdentity = args => new ValueTask<string?>(identify(args.Request)),
    };

    private static HttpRequestMessage Chat(string token, string? organization = null)
    {
        var request = CacheHarness.ChatRequest(apiKey: token);
        if (organization is not null)
        {
            request.Headers.TryAddWithoutValidation("OpenAI-Organization", organization);
        }

        return request;
    }

    private static string? HeaderTenant(HttpRequestMessage request) =>
        request.Headers.TryGetValues("x-test-tenant", out var values) ? values.Single() : null;

    private static HttpRequestMessage ChatFor(string tenant, string token)
    {
        var request = Chat(token);
        request.Headers.TryAddWithoutValidation("x-test-tenant", tenant);
        return request;
    }

    [Fact]
    public async Task One_tenant_shares_answers_across_rotated_tokens()
    {
        using var harness = CacheHarness.Create(Options(HeaderTenant));
        Assert.Contains("stored", (await harness.Client.SendAsync(ChatFor("acme", "eyJ-token-hour-1"))).CacheStatus());
        Assert.Contains("hit", (await harness.Client.SendAsync(ChatFor("acme", "eyJ-token-hour-2"))).CacheStatus());
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Two_tenants_never_share_even_with_the_same_token()
    {
        using var harness = CacheHarness.Create(Options(HeaderTenant));
        await harness.Client.SendAsync(ChatFor("acme", "sk-shared-service-token"));
        Assert.Contains("fwd=miss", (await harness.Client.SendAsync(ChatFor("globex", "sk-shared-service-token"))).CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Without_an_identity_the_credential_is_the_tenant_as_before()
    {
        using var plain = CacheHarness.Create();
        using var harness = CacheHarness.Create(Options(HeaderTenant));
        using var first = await harness.Client.SendAsync(Chat("sk-one"));
        Assert.Contains("fwd=miss", (await harness.Client.SendAsync(Chat("sk-two"))).CacheStatus());
        Assert.Contains("hit", (await harness.Client.SendAsync(Chat("sk-one"))).CacheStatus());

        // Same key as a cache without the option (no key change for requests the callback does not claim).
        using var same = await plain.Client.SendAsync(Chat("sk-one"));
        Assert.Equal(first.CacheStatus()[^12..], same.CacheStatus()[^12..]);
    }

    [Fact]
    public async Task An_identity_key_never_equals_a_credential_key_and_organization_and_project_stay_keyed()
    {
        using var harness = CacheHarness.Create(Options(HeaderTenant));
        using var byCredential = await harness.Client.SendAsync(Chat("acme"));
        using var byIdentity = await harness.Client.SendAsync(ChatFor("acme", "acme"));
        Assert.NotEqual(byCredential.CacheStatus()[^12..], byIdentity.CacheStatus()[^12..]);

        var orgA = ChatFor("acme", "t1");
        orgA.Headers.TryAddWithoutValidation("OpenAI-Organization", "org-a");
        var orgB = ChatFor("acme", "t2");
        orgB.Headers.TryAddWithoutValidation("OpenAI-Organization", "org-b");
        await harness.Client.SendAsync(orgA);
        Assert.Contains("fwd=miss", (await harness.Client.SendAsync(orgB)).CacheStatus());
    }

    [Fact]
    public async Task The_identity_can_come_from_the_resilience_context()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions
        {
            TenantIdentity = args => new ValueTask<string?>(args.Context.Properties.TryGetValue(Tenant, out var t) ? t : null),
        });

        async Task<string> SendAsync(string tenant, string token)
        {
            // The application puts its verified tenant on the request's resilience context (Microsoft.Extensions.Http.Resilience).
            var context = ResilienceContextPool.Shared.Get();
            context.Properties.Set(Tenant, tenant);
            try
            {
                var request = Chat(token);
                request.SetResilienceContext(context);
                using var response = await harness.Client.SendAsync(request);
                return response.CacheStatus();
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }

        Assert.Contains("stored", await SendAsync("acme", "sk-1"));
        Assert.Contains("hit", await SendAsync("acme", "sk-2"));
        Assert.Contains("fwd=miss", await SendAsync("globex", "sk-1"));
    }

    [Fact]
    public async Task A_failing_identity_callback_passes_the_request_through_uncached()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TenantIdentity = _ => throw new InvalidOperationException("no tenant") });
        using var response = await harness.Client.SendAsync(Chat("sk-1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("fwd=bypass; detail=error", response.CacheStatus());
    }

    [Fact]
    public async Task Explained_misses_say_the_tenant_came_from_the_application_without_its_value()
    {
        var logger = new FakeLogger();
        var options = Options(HeaderTenant);
        options.ExplainMisses = true;
        using var harness = CacheHarness.Create(options, logger: logger);
        await harness.Client.SendAsync(ChatFor("tenant-acme-secret-name", "sk-secret-token"));
        var explained = Assert.Single(logger.Collector.GetSnapshot(), r => r.Message.Contains("explained", StringComparison.Ordinal));
        Assert.Contains("tenant-source=application", explained.Message);
        Assert.DoesNotContain("tenant-acme-secret-name", explained.Message);
        Assert.DoesNotContain("sk-secret-token", explained.Message);
    }

    [Fact]
    public async Task The_invalidator_keys_with_the_same_identity()
    {
        var upstream = new MockHttpMessageHandler();
        upstream.Fallback.Respond(_ => CacheHarness.Json(Fixtures.Response("chat.json")));
        var services = new ServiceCollection();
        services.AddHttpClient("a").ConfigurePrimaryHttpMessageHandler(() => upstream).AddResilienceHandler("chat", (p, c) => p.AddChatCache(c));
        services.AddChatCacheOptions("a").Configure(o => o.TenantIdentity = args => new ValueTask<string?>(HeaderTenant(args.Request)));
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("a");

        await client.SendAsync(ChatFor("acme", "token-1"));
        Assert.True(await provider.GetRequiredKeyedService<IChatCacheInvalidator>("a").RemoveAsync(ChatFor("acme", "token-2")));
        Assert.Contains("fwd=miss", (await client.SendAsync(ChatFor("acme", "token-3"))).CacheStatus());
    }
}
