using ChatCachePolly.Telemetry;

namespace ChatCachePolly.Tests.Telemetry;

/// <summary>Issue 19: <c>default(ChatCacheNotStoredReason)</c> is <c>None</c>, never a reason that reads as "an exception".</summary>
public sealed class NotStoredReasonTests
{
    [Fact]
    public void The_default_reason_is_none_and_every_real_reason_has_its_own_tag()
    {
        Assert.Equal(ChatCacheNotStoredReason.None, default);
        Assert.Equal("none", ChatCacheMetrics.ReasonTag(default));
        var reasons = Enum.GetValues<ChatCacheNotStoredReason>().Where(r => r != ChatCacheNotStoredReason.None).ToList();
        var tags = reasons.Select(ChatCacheMetrics.ReasonTag).ToList();
        Assert.DoesNotContain("none", tags);
        Assert.Equal(reasons.Count, tags.Distinct().Count());
    }
}
