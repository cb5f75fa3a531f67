using Microsoft.Extensions.Options;

namespace ChatCachePolly.DependencyInjection;

/// <summary>Source-generated DataAnnotations validation of <see cref="ChatCacheStrategyOptions"/> (no reflection: trim and AOT safe).</summary>
[OptionsValidator]
internal sealed partial class ChatCacheStrategyOptionsValidator : IValidateOptions<ChatCacheStrategyOptions>;
