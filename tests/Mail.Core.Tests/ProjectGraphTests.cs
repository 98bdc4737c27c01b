using System.Xml.Linq;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>
/// The project reference graph: dependencies point inward (edge → core, functions → core, never core → edge or
/// functions), and the README's graph is the one the .csproj files declare (what `dotnet list reference` prints, read
/// here from the project XML), so neither can drift without a failing test.
/// </summary>
public sealed class ProjectGraphTests
{
    private static readonly string[] ProductFolders = ["core", "edge", "functions"];

    /// <summary>Every product project ("core/Mail.Core") with the projects its .csproj references, as the same names.</summary>
    private static Dictionary<string, SortedSet<string>> ReferencesInProjectFiles()
    {
        var root = HostProcess.RepositoryRoot;
        var graph = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        // One project per folder, core/X/X.csproj: not deeper, where builds generate projects of their own (obj/).
        foreach (var folder in ProductFolders)
            foreach (var csproj in Directory.EnumerateDirectories(Path.Combine(root, folder))
                         .SelectMany(d => Directory.EnumerateFiles(d, "*.csproj", SearchOption.TopDirectoryOnly)))
            {
                var projectDir = Path.GetDirectoryName(csproj)!;
                var references = XDocument.Load(csproj).Descendants()
                    .Where(e => e.Name.LocalName == "ProjectReference")
                    .Select(e => (string?)e.Attribute("Include") ?? throw new InvalidOperationException($"{csproj}: ProjectReference without Include"))
                    .Select(include => Name(root, Path.GetDirectoryName(Path.GetFullPath(Path.Combine(projectDir, include.Replace('\\', '/'))))!));
                graph.Add(Name(root, projectDir), new SortedSet<string>(references, StringComparer.Ordinal));
            }
        return graph;
    }

    private static string Name(string root, string projectDir) => Path.GetRelativePath(root, projectDir).Replace('\\', '/');

    /// <summary>
    /// The graph in the README's fenced block after the <c>project-graph</c> marker: one project per line, "X → A, B"
    /// (or "X" alone when it references nothing); a line starting with spaces continues the previous project's list.
    /// </summary>
    internal static Dictionary<string, SortedSet<string>> ParseReadmeGraph(string readme)
    {
        var marker = readme.IndexOf("<!-- project-graph", StringComparison.Ordinal);
        Assert.True(marker >= 0, "README.md has no <!-- project-graph --> marker");
        var open = readme.IndexOf("```", marker, StringComparison.Ordinal);
        var start = readme.IndexOf('\n', open) + 1;
        var end = readme.IndexOf("```", start, StringComparison.Ordinal);
        var graph = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        SortedSet<string>? current = null;
        foreach (var line in readme[start..end].Split('\n'))
        {
            if (line.Trim().Length == 0) continue;
            string list;
            if (char.IsWhiteSpace(line[0]))
            {
                Assert.True(current is not null, $"README graph: a continuation line before any project: {line}");
                list = line;
            }
            else
            {
                var arrow = line.IndexOf('→');
                var project = (arrow < 0 ? line : line[..arrow]).Trim();
                current = new SortedSet<string>(StringComparer.Ordinal);
                Assert.True(graph.TryAdd(project, current), $"README graph lists {project} twice");
                list = arrow < 0 ? "" : line[(arrow + 1)..];
            }
            foreach (var reference in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                current!.Add(reference);
        }
        return graph;
    }

    [Fact]
    public void No_core_project_references_an_edge_or_functions_project()
    {
        var wrong = ReferencesInProjectFiles()
            .Where(p => p.Key.StartsWith("core/", StringComparison.Ordinal))
            .SelectMany(p => p.Value.Where(r => !r.StartsWith("core/", StringComparison.Ordinal)).Select(r => $"{p.Key} → {r}"))
            .ToList();
        Assert.True(wrong.Count == 0, "core must not depend on edge or functions: " + string.Join("; ", wrong));
    }

    [Fact]
    public void Functions_reference_no_edge_project()
    {
        var wrong = ReferencesInProjectFiles()
            .Where(p => p.Key.StartsWith("functions/", StringComparison.Ordinal))
            .SelectMany(p => p.Value.Where(r => r.StartsWith("edge/", StringComparison.Ordinal)).Select(r => $"{p.Key} → {r}"))
            .ToList();
        Assert.True(wrong.Count == 0, "the Functions app must not depend on the edge: " + string.Join("; ", wrong));
    }

    [Fact]
    public void The_README_graph_is_the_graph_of_the_project_files()
    {
        var actual = ReferencesInProjectFiles();
        var written = ParseReadmeGraph(File.ReadAllText(Path.Combine(HostProcess.RepositoryRoot, "README.md")));
        var differences = new List<string>();
        foreach (var project in actual.Keys.Union(written.Keys).Order(StringComparer.Ordinal))
        {
            if (!written.TryGetValue(project, out var w)) { differences.Add($"{project} is missing from the README graph"); continue; }
            if (!actual.TryGetValue(project, out var a)) { differences.Add($"{project} is in the README graph but has no .csproj"); continue; }
            differences.AddRange(a.Except(w).Select(r => $"{project} → {r}: in the .csproj, not in the README"));
            differences.AddRange(w.Except(a).Select(r => $"{project} → {r}: in the README, not in the .csproj"));
        }
        Assert.True(differences.Count == 0, "README.md's project graph has drifted:\n" + string.Join("\n", differences));
    }

    [Fact]
    public void The_README_graph_parser_reads_continuations_and_projects_without_references()
    {
        var graph = ParseReadmeGraph("""
            <!-- project-graph -->
            ```
            core/A
            edge/B → core/A,
                     core/C
            ```
            """);
        Assert.Empty(graph["core/A"]);
        Assert.Equal(["core/A", "core/C"], graph["edge/B"]);
    }
}
