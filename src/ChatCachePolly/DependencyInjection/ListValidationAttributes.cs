using System.ComponentModel.DataAnnotations;

namespace ChatCachePolly.DependencyInjection;

/// <summary>Validates <see cref="ChatCacheStrategyOptions.IgnoredBodyFields"/>: no empty names, and never a field that changes what is cached.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class IgnorableBodyFieldsAttribute : ValidationAttribute
{
    private static readonly string[] NeverIgnorable = ["stream", "background", "conversation"];

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not IEnumerable<string> names)
        {
            return ValidationResult.Success;
        }

        foreach (var name in names)
        {
            if (string.IsNullOrEmpty(name))
            {
                return new ValidationResult("IgnoredBodyFields must not contain an empty name.", [validationContext.MemberName ?? "IgnoredBodyFields"]);
            }

            if (Array.IndexOf(NeverIgnorable, name) >= 0)
            {
                return new ValidationResult($"IgnoredBodyFields must not contain '{name}': it decides whether and how a request is cached.", [validationContext.MemberName ?? "IgnoredBodyFields"]);
            }
        }

        return ValidationResult.Success;
    }
}

/// <summary>Validates <see cref="ChatCacheStrategyOptions.CacheablePaths"/>: each a non-empty path suffix starting with '/'.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class CacheablePathsAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not IEnumerable<string> paths)
        {
            return ValidationResult.Success;
        }

        foreach (var path in paths)
        {
            if (string.IsNullOrEmpty(path) || path[0] != '/' || path.Length < 2)
            {
                return new ValidationResult($"CacheablePaths entries must be path suffixes starting with '/', such as '/chat/completions'; '{path}' is not.", [validationContext.MemberName ?? "CacheablePaths"]);
            }
        }

        return ValidationResult.Success;
    }
}

/// <summary>
/// Validates <see cref="ChatCacheStrategyOptions.ModelPrices"/>: non-empty model ids, and every price present, non-negative and
/// below a million per million tokens.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class ModelPricesAttribute : ValidationAttribute
{
    private const decimal MaxPrice = 1_000_000m;

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not IEnumerable<KeyValuePair<string, ChatCacheModelPrice>> prices)
        {
            return ValidationResult.Success;
        }

        string member = validationContext.MemberName ?? "ModelPrices";
        foreach (var (model, price) in prices)
        {
            if (string.IsNullOrWhiteSpace(model))
            {
                return new ValidationResult("ModelPrices must not contain an empty model id.", [member]);
            }

            if (price is null)
            {
                return new ValidationResult($"ModelPrices['{model}'] has no prices.", [member]);
            }

            if (price.InputPerMillionTokens is < 0 or > MaxPrice
                || price.OutputPerMillionTokens is < 0 or > MaxPrice
                || price.CachedInputPerMillionTokens is < 0 or > MaxPrice)
            {
                return new ValidationResult($"ModelPrices['{model}']: every price must be between 0 and 1,000,000 per million tokens.", [member]);
            }
        }

        return ValidationResult.Success;
    }
}
