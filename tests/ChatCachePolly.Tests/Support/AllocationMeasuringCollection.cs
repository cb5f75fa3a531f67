namespace ChatCachePolly.Tests.Support;

/// <summary>
/// Tests that measure process-wide allocations (<see cref="GC.GetTotalAllocatedBytes(bool)"/>) run in this collection, alone:
/// another test class allocating in parallel would be counted as theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasuringCollection
{
    public const string Name = "Allocation-measuring tests (run alone)";
}
