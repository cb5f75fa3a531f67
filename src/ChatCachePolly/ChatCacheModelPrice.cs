namespace ChatCachePolly;

/// <summary>
/// What one model's tokens cost, per million, in <see cref="ChatCacheStrategyOptions.Currency"/>: the prices
/// <c>chatcache.cost_saved</c> values every served hit at. Copy them from your provider's price page and your contract; the
/// library ships none, because they change. Validated with the options: each price between 0 and 1,000,000.
/// </summary>
/// <example>
/// In <c>appsettings.json</c>:
/// <code language="json">
/// "ModelPrices": {
///   "gpt-4o-mini": { "InputPerMillionTokens": 0.15, "CachedInputPerMillionTokens": 0.075, "OutputPerMillionTokens": 0.60 }
/// }
/// </code>
/// </example>
public sealed class ChatCacheModelPrice
{
    /// <summary>Gets or sets the price of a million input tokens the provider did not answer from its own prompt cache.</summary>
    public decimal InputPerMillionTokens { get; set; }

    /// <summary>
    /// Gets or sets the price of a million input tokens the provider answered from its own prompt cache (OpenAI
    /// <c>cached_tokens</c>, Anthropic <c>cache_read_input_tokens</c>, Gemini <c>cachedContentTokenCount</c>).
    /// </summary>
    /// <value>Defaults to <see langword="null"/>: cached input tokens are valued at <see cref="InputPerMillionTokens"/>.</value>
    public decimal? CachedInputPerMillionTokens { get; set; }

    /// <summary>Gets or sets the price of a million output tokens (reasoning tokens included, as providers bill them).</summary>
    public decimal OutputPerMillionTokens { get; set; }
}
