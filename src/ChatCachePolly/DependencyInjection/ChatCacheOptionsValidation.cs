using System.ComponentModel.DataAnnotations;
using System.Text;
using ChatCachePolly.Storage.Cassettes;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.DependencyInjection;

/// <summary>
/// Validates <see cref="ChatCacheStrategyOptions"/> before any store or strategy is built from them, however they were bound:
/// options registered with <c>services.Configure&lt;ChatCacheStrategyOptions&gt;(name, ...)</c> (no <c>AddChatCacheOptions</c>,
/// so no registered validator) or mutated after <c>AddChatCache(options)</c> would otherwise reach a store constructor and
/// fail there with an argument exception that does not name the option. Runs when a pipeline is built (and rebuilt on a
/// reload), never per request.
/// </summary>
internal static class ChatCacheOptionsValidation
{
    private static readonly ChatCacheStrategyOptionsValidator DataAnnotations = new();

    /// <summary>
    /// The dependency injection entry points: the same validators <c>AddChatCacheOptions(name)</c> registers (DataAnnotations
    /// and the distributed cache registration check), failing with the same <see cref="OptionsValidationException"/>.
    /// </summary>
    /// <exception cref="OptionsValidationException">The options are invalid.</exception>
    public static void ThrowIfInvalid(string optionsName, ChatCacheStrategyOptions options, IServiceProvider serviceProvider)
    {
        var result = new ValidateOptionsResultBuilder();
        result.AddResult(DataAnnotations.Validate(optionsName, options));
        result.AddResult(new ChatCacheStoreOptionsValidator(serviceProvider).Validate(optionsName, options));
        var outcome = result.Build();
        if (outcome.Failed)
        {
            throw new OptionsValidationException(optionsName, typeof(ChatCacheStrategyOptions), outcome.Failures);
        }
    }

    /// <summary>
    /// The entry points without dependency injection: DataAnnotations, failing with a <see cref="ValidationException"/> shaped
    /// like Polly's own options validation (<c>The 'ChatCacheStrategyOptions' are invalid.</c>, then one line per error).
    /// </summary>
    /// <exception cref="ValidationException">The options are invalid.</exception>
    public static void ThrowIfInvalid(ChatCacheStrategyOptions options)
    {
        var result = DataAnnotations.Validate(options.Name, options);
        var failures = (result.Failed ? result.Failures : []).Concat(CassetteModes.Validate(options)).ToList();
        if (failures.Count != 0)
        {
            var message = new StringBuilder($"The '{nameof(ChatCacheStrategyOptions)}' are invalid.").AppendLine().AppendLine("Validation Errors:");
            foreach (var failure in failures)
            {
                message.AppendLine(failure);
            }

            throw new ValidationException(message.ToString());
        }
    }
}
