using ChatCachePolly.Storage.Cassettes;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>Where a relative cassette directory points: next to the test project when the build recorded it, else the current directory.</summary>
public sealed class CassettePathsTests
{
    [Fact]
    public void A_relative_directory_resolves_against_the_recorded_project_folder()
    {
        string project = Path.Combine(Path.GetTempPath(), "proj");
        Assert.Equal(Path.Combine(project, "cassettes"), CassettePaths.Resolve("cassettes", project));
        Assert.Equal(Path.Combine(project, "data", "cassettes"), CassettePaths.Resolve(Path.Combine("data", "cassettes"), project));
    }

    [Fact]
    public void Without_a_recorded_project_folder_a_relative_directory_resolves_against_the_current_directory()
    {
        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "cassettes"), CassettePaths.Resolve("cassettes", projectDirectory: null));
    }

    [Fact]
    public void An_absolute_directory_is_used_as_it_is()
    {
        string absolute = Path.Combine(Path.GetTempPath(), "elsewhere", "cassettes");
        Assert.Equal(absolute, CassettePaths.Resolve(absolute, Path.Combine(Path.GetTempPath(), "proj")));
    }

    [Fact]
    public void Assemblies_without_the_build_metadata_record_no_folder()
    {
        // This test project references the library by project, without the package's build file: nothing is recorded.
        Assert.Null(CassettePaths.ProjectDirectoryOf([typeof(CassettePathsTests).Assembly, typeof(ChatCacheStrategyOptions).Assembly]));
        Assert.Null(CassettePaths.ProjectDirectoryOf([]));
    }
}
