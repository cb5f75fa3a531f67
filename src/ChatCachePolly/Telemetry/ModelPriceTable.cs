using System.Collections.Concurrent;
using System.Collections.Frozen;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// <see cref="ChatCacheStrategyOptions.ModelPrices"/>, frozen when the strategy is built: the price of a served entry's model,
/// and what its original answer cost.
/// </summary>
/// <remarks>
/// A model is found by its id (case-insensitive), else by its base id: the id without a <c>models/</c> prefix (Gemini) and without
/// a trailing date or version (<c>-2024-07-18</c>, <c>-20250929</c>, <c>-001</c>), so a dated id uses its base entry unless it is
/// listed itself. Matching is by hand on the id's characters (no regular expression per hit); what a model id resolved to is
/// remembered, for at most <see cref="MaxRemembered"/> ids (model ids come from upstream answers: the memo must stay bounded).
/// </remarks>
internal sealed class ModelPriceTable
{
    internal const int MaxRemembered = 1024;
    private const double PerMillion = 1_000_000d;

    private readonly FrozenDictionary<string, Price> _prices;
    private readonly ConcurrentDictionary<string, Price?> _resolved = new(StringComparer.Ordinal);

    private ModelPriceTable(string currency, FrozenDictionary<string, Price> prices)
    {
        Currency = currency;
        _prices = prices;
    }

    /// <summary>Gets the currency the prices are in.</summary>
    public string Currency { get; }

    /// <summary>Gets the number of priced models.</summary>
    public int Count => _prices.Count;

    /// <summary>The table of <paramref name="options"/>, or <see langword="null"/> when it prices no model (cost is then off).</summary>
    public static ModelPriceTable? From(ChatCacheStrategyOptions options)
    {
        if (options.ModelPrices is not { Count: > 0 } prices)
        {
            return null;
        }

        var frozen = new Dictionary<string, Price>(prices.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (model, price) in prices)
        {
            if (!string.IsNullOrWhiteSpace(model) && price is not null)
            {
                frozen[model.Trim()] = new Price(
                    (double)price.InputPerMillionTokens / PerMillion,
                    (double)(price.CachedInputPerMillionTokens ?? price.InputPerMillionTokens) / PerMillion,
                    (double)price.OutputPerMillionTokens / PerMillion);
            }
        }

        return frozen.Count == 0 ? null : new ModelPriceTable(options.Currency, frozen.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>Finds the price of <paramref name="model"/> (by its id, else by its base id).</summary>
    public bool TryGet(string? model, out Price price)
    {
        if (string.IsNullOrEmpty(model))
        {
            price = default;
            return false;
        }

        if (_prices.TryGetValue(model, out price))
        {
            return true;
        }

        if (!_resolved.TryGetValue(model, out var resolved))
        {
            resolved = Resolve(model);
            if (_resolved.Count < MaxRemembered)
            {
                _resolved.TryAdd(model, resolved);
            }
        }

        price = resolved.GetValueOrDefault();
        return resolved.HasValue;
    }

    /// <summary>What <paramref name="usage"/> cost at <paramref name="price"/>, by token type.</summary>
    public static (double Input, double CachedInput, double Output) Cost(in Price price, TokenUsage usage) =>
        (usage.UncachedInputTokens * price.Input, Math.Min(usage.CachedInputTokens, usage.InputTokens) * price.CachedInput, usage.OutputTokens * price.Output);

    private Price? Resolve(string model)
    {
        string candidate = model;
        if (candidate.StartsWith("models/", StringComparison.OrdinalIgnoreCase))
        {
            candidate = candidate["models/".Length..];
            if (_prices.TryGetValue(candidate, out var unprefixed))
            {
                return unprefixed;
            }
        }

        // Strip trailing dated or versioned parts one at a time: gpt-4o-mini-2024-07-18 -> gpt-4o-mini,
        // claude-sonnet-4-5-20250929 -> claude-sonnet-4-5, gemini-1.5-flash-002 -> gemini-1.5-flash.
        while (BaseOf(candidate) is { } shorter)
        {
            candidate = shorter;
            if (_prices.TryGetValue(candidate, out var price))
            {
                return price;
            }
        }

        return null;
    }

    /// <summary>The id without its trailing date (<c>-YYYY-MM-DD</c>, <c>-YYYYMMDD</c>) or version (<c>-NNN</c>), or null.</summary>
    internal static string? BaseOf(string model)
    {
        ReadOnlySpan<char> id = model;
        if (id.Length > 11 && id[^11] == '-' && id[^6] == '-' && id[^3] == '-'
            && AllDigits(id[^10..^6]) && AllDigits(id[^5..^3]) && AllDigits(id[^2..]))
        {
            return model[..^11];
        }

        if (id.Length > 9 && id[^9] == '-' && AllDigits(id[^8..]))
        {
            return model[..^9];
        }

        if (id.Length > 4 && id[^4] == '-' && AllDigits(id[^3..]))
        {
            return model[..^4];
        }

        return null;
    }

    private static bool AllDigits(ReadOnlySpan<char> span)
    {
        foreach (char c in span)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Prices of one token (not one million), in the table's currency.</summary>
    internal readonly record struct Price(double Input, double CachedInput, double Output);
}
