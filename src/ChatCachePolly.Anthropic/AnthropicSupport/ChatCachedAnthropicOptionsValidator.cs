using Microsoft.Extensions.Options;

namespace ChatCachePolly.AnthropicSupport;

/// <summary>
/// Validates the <see cref="ChatCachedAnthropicOptions"/> of one registration name, without reflection. Messages name the registration
/// and the setting; they never contain a credential.
/// </summary>
internal sealed class ChatCachedAnthropicOptionsValidator(ChatCachedAnthropicRegistration registration, IServiceProvider services) : IValidateOptions<ChatCachedAnthropicOptions>
{
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(24);

    public ValidateOptionsResult Validate(string? name, ChatCachedAnthropicOptions options)
    {
        if (!string.Equals(name, registration.Name, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        string prefix = $"ChatCachedAnthropic '{name}': ";

        if (string.IsNullOrWhiteSpace(options.ApiKey) && string.IsNullOrWhiteSpace(options.AuthToken) && !ChatCachedAnthropicClients.RepliesOnlyFromCassettes(services, registration.Name))
        {
            failures.Add(prefix + "ApiKey (or AuthToken) is required (set the 'ApiKey' setting of its configuration section). A cassette store in Replay mode needs none.");
        }

        if (options.Endpoint is { } endpoint
            && (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp)))
        {
            failures.Add(prefix + "Endpoint must be an absolute http or https URI, for example https://api.anthropic.com.");
        }

        if (options.DefaultMaxOutputTokens is < 1 or > 1_000_000)
        {
            failures.Add(prefix + $"DefaultMaxOutputTokens must be between 1 and 1,000,000 (was {options.DefaultMaxOutputTokens}).");
        }

        if (options.AttemptTimeout < MinTimeout || options.AttemptTimeout > MaxTimeout)
        {
            failures.Add(prefix + $"AttemptTimeout must be between 10 ms and 24 hours (was {options.AttemptTimeout}).");
        }

        if (options.TotalTimeout < MinTimeout || options.TotalTimeout > MaxTimeout)
        {
            failures.Add(prefix + $"TotalTimeout must be between 10 ms and 24 hours (was {options.TotalTimeout}).");
        }
        else if (options.TotalTimeout < options.AttemptTimeout)
        {
            failures.Add(prefix + $"TotalTimeout ({options.TotalTimeout}) must not be less than AttemptTimeout ({options.AttemptTimeout}).");
        }

        if (options.MaxRetryAttempts is < 0 or > 100)
        {
            failures.Add(prefix + $"MaxRetryAttempts must be between 0 and 100 (was {options.MaxRetryAttempts}).");
        }

        if (options.RetryDelay < TimeSpan.Zero || options.RetryDelay > TimeSpan.FromHours(1))
        {
            failures.Add(prefix + $"RetryDelay must be between zero and one hour (was {options.RetryDelay}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
