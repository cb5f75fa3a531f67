using System.Reflection;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// Where a relative cassette path points. Under <c>dotnet test</c> the current directory is the build output
/// (<c>bin/Release/net10.0/</c>), where recordings are lost on clean and never committed; so a relative path resolves against
/// the test project's own folder when the build recorded it, and against the current directory otherwise.
/// </summary>
/// <remarks>
/// <para>The package's <c>buildTransitive/ChatCachePolly.targets</c> records the folder of every test project
/// (<c>IsTestProject</c>, set by <c>Microsoft.NET.Test.Sdk</c> and xUnit) as
/// <c>[assembly: AssemblyMetadata("ChatCachePolly.ProjectDirectory", "...")]</c>; set the MSBuild property
/// <c>ChatCacheProjectDirectoryMetadata</c> to <c>false</c> to leave it out.</para>
/// <para>The folder is looked for once: on the entry assembly (xUnit v3 and other self-hosted runners), otherwise on the loaded
/// assemblies (VSTest's <c>testhost</c>), used only when exactly one folder is recorded and it exists on this machine (a test
/// binary copied elsewhere falls back to the current directory). An absolute path is always used as it is.</para>
/// </remarks>
internal static class CassettePaths
{
    /// <summary>The assembly metadata key the build writes the test project's folder under.</summary>
    public const string ProjectDirectoryKey = "ChatCachePolly.ProjectDirectory";

    private static readonly Lazy<string?> Project = new(FindProjectDirectory);

    /// <summary>The full path <paramref name="directory"/> (absolute, or relative to the test project or current directory) names.</summary>
    public static string Resolve(string directory) => Resolve(directory, Project.Value);

    internal static string Resolve(string directory, string? projectDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        return Path.IsPathFullyQualified(directory) || projectDirectory is null
            ? Path.GetFullPath(directory)
            : Path.GetFullPath(directory, projectDirectory);
    }

    /// <summary>The test project's folder the build recorded, or null.</summary>
    internal static string? ProjectDirectoryOf(IEnumerable<Assembly> assemblies)
    {
        string? found = null;
        foreach (var assembly in assemblies)
        {
            if (assembly.IsDynamic)
            {
                continue;
            }

            foreach (var metadata in assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
            {
                if (metadata.Key == ProjectDirectoryKey && metadata.Value is { Length: > 0 } value && Directory.Exists(value))
                {
                    if (found is not null && !string.Equals(found, value, StringComparison.Ordinal))
                    {
                        return null; // two test projects in one process: no way to tell which one a store belongs to
                    }

                    found = value;
                }
            }
        }

        return found;
    }

    private static string? FindProjectDirectory()
    {
        try
        {
            if (Assembly.GetEntryAssembly() is { } entry && ProjectDirectoryOf([entry]) is { } own)
            {
                return own;
            }

            return ProjectDirectoryOf(AppDomain.CurrentDomain.GetAssemblies());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or TypeLoadException)
        {
            return null; // an assembly whose attributes cannot be read: the current directory, as before
        }
    }
}
