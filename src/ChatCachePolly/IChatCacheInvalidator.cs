namespace ChatCachePolly;

/// <summary>
/// Removes cached answers on purpose: the entry a given request would hit ("the model answered wrong, drop it"), every entry
/// of one named client's partition, or every entry. Works on every store.
/// </summary>
/// <remarks>
/// Registered by <c>services.AddChatCacheOptions(name)</c>; resolve it keyed by the HttpClient name, for example
/// <c>provider.GetRequiredKeyedService&lt;IChatCacheInvalidator&gt;("openai")</c> or <c>[FromKeyedServices("openai")]</c>.
/// </remarks>
public interface IChatCacheInvalidator
{
    /// <summary>Removes the entry that <paramref name="request"/> would be answered with, computing its key exactly as the cache does.</summary>
    /// <param name="request">A request as it would be sent through the named client (same URL, credentials and body).</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns><see langword="true"/> when an entry was removed; <see langword="false"/> when there was none or the request is not cacheable.</returns>
    ValueTask<bool> RemoveAsync(HttpRequestMessage request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes every entry of this client's partition tagged <paramref name="tag"/> (<see cref="ChatCacheControl.Tags"/>, the
    /// <c>ChatCache-Tags</c> header, or the automatic <c>model:{model}</c>) that was stored before this call. In a fleet
    /// (<c>AddChatCacheRedis</c>) it reaches every instance; over a plain <c>IDistributedCache</c>, which cannot find entries
    /// by tag, it clears the partition's shared entries instead (coarse, never wrong).
    /// </summary>
    /// <param name="tag">The tag, as written on the requests.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>A task that completes when no entry with the tag can be served any more.</returns>
    ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default);

    /// <summary>Removes every entry of this client's partition.</summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>A task that completes when the partition is empty.</returns>
    ValueTask ClearAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes every entry of every partition this application instance has used since it started (in-memory stores, and the
    /// distributed partitions it has opened). Partitions of a shared distributed store that this instance never used are not
    /// touched: clear them through a client of that partition.
    /// </summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>A task that completes when every partition is empty.</returns>
    ValueTask ClearAllAsync(CancellationToken cancellationToken = default);
}
