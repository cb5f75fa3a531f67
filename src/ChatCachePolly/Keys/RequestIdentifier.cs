using ChatCachePolly.Http;

namespace ChatCachePolly.Keys;

/// <summary>Why a request is not cached.</summary>
internal enum RequestVerdict
{
    /// <summary>Cacheable: it has a key.</summary>
    Cacheable,

    /// <summary>Not a POST with a JSON body to a cacheable path.</summary>
    NotCacheable,

    /// <summary>The body is larger than the request cap.</summary>
    TooLarge,

    /// <summary>The body's length cannot be known without reading it (a one-shot stream): passed through unread.</summary>
    UnknownLength,

    /// <summary>Invalid JSON, invalid UTF-8, duplicate member names, too deep.</summary>
    InvalidBody,

    /// <summary>A streamed request to an endpoint that has no streamed form.</summary>
    UnsupportedStream,

    /// <summary>
    /// Its result depends on server state (on /responses: <c>conversation</c>, <c>"background": true</c>, a <c>prompt</c>
    /// without a <c>version</c>).
    /// </summary>
    Stateful,
}

/// <summary>The identity of a request as the cache sees it.</summary>
/// <remarks>
/// <see cref="RequestBody"/> is a copy of the body as sent, taken on the miss path only for a store that writes requests down
/// (cassettes: the recording shows the request for review); null otherwise, and always null on a hit.
/// </remarks>
internal readonly record struct RequestIdentity(
    RequestVerdict Verdict, ChatCacheKey Key, EndpointKind Endpoint, bool Stream, KeyExplanation? Explanation = null, AliasToken Alias = default, RequestBodyFacts Facts = default, byte[]? RequestBody = null, ulong[]? Tags = null, string? RequestModel = null);

/// <summary>
/// Turns a request into its cache key: classify (method, path, media type), read the body without breaking re-sends, and hash
/// the canonical form. Shared by the strategy and by invalidation, so both always compute the same key.
/// </summary>
internal sealed class RequestIdentifier(RequestClassifier classifier, RequestKeyBuilder keyBuilder, string partition, int maxRequestBodyBytes, bool explain, int aliasCapacity)
{
    private readonly KeyAliasTable? _aliases = explain ? null : new KeyAliasTable(aliasCapacity);

    /// <summary>Gets the alias table (tests and diagnostics); null when misses are explained (every key is computed in full).</summary>
    internal KeyAliasTable? Aliases => _aliases;

    /// <summary>
    /// Remembers the alias of a request that was just answered from the cache, so its next byte-identical repeat skips
    /// canonicalization. Called on hits only: a request that never repeats never costs an alias.
    /// </summary>
    public void RememberAlias(in RequestIdentity identity)
    {
        if (_aliases is not null && (identity.Alias.Preimage is not null || identity.Alias.Alias != default))
        {
            _aliases.Add(identity.Alias, identity.Key, identity.Facts);
        }
    }

    /// <summary>
    /// Whether the answer comes as a stream: <c>"stream": true</c> (OpenAI, Anthropic); Ollama's chat and generate unless
    /// <c>"stream": false</c> (they stream by default); Gemini's <c>:streamGenerateContent</c> with <c>alt=sse</c> (without it the
    /// answer is one JSON array, stored and replayed like any JSON body).
    /// </summary>
    internal static bool IsStreamed(HttpRequestMessage request, EndpointKind endpoint, in RequestBodyFacts facts) => endpoint switch
    {
        EndpointKind.OllamaChat or EndpointKind.OllamaGenerate => !facts.StreamFalse,
        EndpointKind.GeminiStreamGenerateContent => Protocols.ProtocolHeaders.HasSseAlt(request.RequestUri!.Query),
        _ => facts.Stream,
    };

    /// <param name="options">The strategy's options.</param>
    /// <param name="partition">The partition keys are made in.</param>
    /// <param name="responseIds">A cassette store's Responses ids (see <see cref="RequestKeyBuilder.ResponseIds"/>), or null.</param>
    public static RequestIdentifier Create(ChatCacheStrategyOptions options, string partition, CassetteResponseIds? responseIds = null) => new(
        new RequestClassifier((IEnumerable<string>?)options.CacheablePaths ?? ChatCacheStrategyOptions.DefaultCacheablePaths, options.Protocols),
        new RequestKeyBuilder(
            options.IgnoredBodyFields is null ? IgnoredMembers.Default : new IgnoredMembers(options.IgnoredBodyFields),
            options.AdditionalKeyHeaders,
            keyCredentials: options.Store != ChatCacheStoreKind.Cassette,
            ordinalToolCallIds: options.Store == ChatCacheStoreKind.Cassette && options.CassetteStableVolatileValues,
            responseIds),
        partition,
        options.MaxRequestBodyBytes,
        options.ExplainMisses,
        aliasCapacity: Math.Max(1024, Math.Min(options.MaxEntries, 1_000_000 / 4) * 4));

    /// <param name="request">The request.</param>
    /// <param name="continueOnCapturedContext">Whether continuations run on the captured context.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <param name="tenantIdentity">The application's tenant identity digest (<see cref="RequestKeyBuilder.TenantIdentityDigest"/>)
    /// that stands for the credential headers, or null. Requests keyed with one skip the alias table (its frames key the
    /// credential headers): they are always canonicalized.</param>
    /// <param name="readModel">Whether to read the requested model into <see cref="RequestIdentity.RequestModel"/> (for a recorded span).</param>
    public async ValueTask<RequestIdentity> IdentifyAsync(HttpRequestMessage request, bool continueOnCapturedContext, CancellationToken cancellationToken, byte[]? tenantIdentity = null, bool readModel = false)
    {
        if (!classifier.TryClassify(request, out var endpoint, out bool plainUri))
        {
            return new(RequestVerdict.NotCacheable, default, default, false);
        }

        var (status, body) = await RequestBodyReader.ReadAsync(request.Content!, maxRequestBodyBytes, continueOnCapturedContext, cancellationToken)
            .ConfigureAwait(continueOnCapturedContext);
        if (status != RequestBodyStatus.Read)
        {
            return new(status == RequestBodyStatus.TooLarge ? RequestVerdict.TooLarge : RequestVerdict.UnknownLength, default, endpoint, false);
        }

        try
        {
            // A byte-identical repeat is resolved through its alias; anything new is canonicalized and remembered.
            ChatCacheKey key = default;
            RequestBodyFacts facts = default;
            AliasToken token = default;
            var aliases = tenantIdentity is null ? _aliases : null;
            if (aliases is null || !aliases.TryResolve(keyBuilder, request, body.Span, partition, out key, out facts, out token, plainUri, endpoint))
            {
                if (!keyBuilder.TryBuild(request, body.Span, partition, endpoint, tenantIdentity, out key, out facts))
                {
                    return new(RequestVerdict.InvalidBody, default, endpoint, false);
                }
            }

            // Embeddings have no streamed form: an unexpected "stream": true is passed through untouched.
            if (facts.Stream && Protocols.Endpoints.IsEmbeddings(endpoint))
            {
                return new(RequestVerdict.UnsupportedStream, default, endpoint, true);
            }

            bool stream = IsStreamed(request, endpoint, facts);

            // A conversation, a background run or the current version of a stored prompt depends on state the server keeps and
            // changes: never replay it. (A prompt with an explicit version is fixed, and the version is in the key.) Anthropic's
            // code-execution containers and remote MCP servers keep state and have side effects a replay cannot reproduce.
            if ((endpoint == EndpointKind.Responses && (facts.HasConversation || facts.Background || facts.HasUnversionedPrompt))
                || (endpoint == EndpointKind.AnthropicMessages && facts.HasServerTools))
            {
                return new(RequestVerdict.Stateful, default, endpoint, stream);
            }

            // Opt-in diagnostics: what went into the key, part by part (off the hot path unless asked for).
            var explanation = explain ? KeyExplanation.Create(request, body.Span, partition, endpoint, keyBuilder, key, tenantIdentity) : null;
            // The requested model is read only for a span that will carry it (gen_ai.request.model): nothing when nobody listens.
            string? model = !readModel ? null : Payloads.RequestModel.Of(endpoint, request.RequestUri, body.Span, facts);
            return new(RequestVerdict.Cacheable, key, endpoint, stream, explanation, token, facts, RequestModel: model);
        }
        finally
        {
            body.Return();
        }
    }
}
