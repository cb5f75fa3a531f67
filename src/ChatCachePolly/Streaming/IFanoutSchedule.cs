namespace ChatCachePolly.Streaming;

/// <summary>
/// A test seam that lets a systematic explorer interleave the steps inside fan-out operations (the tests' <c>FanoutExplorer</c>
/// pauses a thread at a point and runs another). Production code never sets one: each point then costs one null check.
/// </summary>
/// <remarks>
/// Points sit between the operations' atomic steps (lock sections, volatile publications, callbacks), never inside the
/// fan-out's lock, so a thread paused at one holds nothing another thread needs.
/// </remarks>
internal interface IFanoutSchedule
{
    /// <summary>The current thread is between two steps of a fan-out operation; it may be paused here.</summary>
    void Point(string name);

    /// <summary>
    /// <paramref name="reader"/> is about to wait for <paramref name="wake"/>; once that completes, its continuation starts with
    /// the point <c>read:woken</c>.
    /// </summary>
    void Waiting(FanoutReader reader, Task wake);
}
