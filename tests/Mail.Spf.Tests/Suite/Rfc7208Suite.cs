using System.Net;
using Mail.Testing.Dns;
using YamlDotNet.RepresentationModel;

namespace Mail.Spf.Tests.Suite;

/// <summary>One case of the openspf RFC 7208 test suite.</summary>
public sealed record SuiteCase(string Scenario, string Name, string Helo, string Host, string MailFrom, IReadOnlyList<string> Results, string? Explanation);

/// <summary>One "---" document of the suite: its cases and its zone data.</summary>
public sealed record SuiteScenario(int Index, string Description, IReadOnlyList<SuiteCase> Cases, YamlMappingNode? ZoneData);

/// <summary>
/// Reads <c>../shared/testdata/spf/rfc7208-tests.yml</c> (located from the repository root, the folder holding
/// Cloud.sln) and loads a scenario's zone data into a <see cref="TestDnsServer"/> with the conventions of the suite's
/// reference driver (pyspf's testspf.py).
/// </summary>
public static class Rfc7208Suite
{
    private static readonly Lazy<IReadOnlyList<SuiteScenario>> Loaded = new(Load);

    public static IReadOnlyList<SuiteScenario> Scenarios => Loaded.Value;

    public static string FilePath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Cloud.sln")))
                    return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "testdata", "spf", "rfc7208-tests.yml"));
            throw new FileNotFoundException($"No Cloud.sln above {AppContext.BaseDirectory}: cannot locate the SPF test suite.");
        }
    }

    private static IReadOnlyList<SuiteScenario> Load()
    {
        var path = FilePath;
        if (!File.Exists(path)) throw new FileNotFoundException($"The RFC 7208 SPF test suite is missing: {path}", path);
        var yaml = new YamlStream();
        using (var reader = new StreamReader(path)) yaml.Load(reader);
        var scenarios = new List<SuiteScenario>();
        foreach (var doc in yaml.Documents)
        {
            var root = (YamlMappingNode)doc.RootNode;
            var description = Scalar(root, "description") ?? $"scenario {scenarios.Count}";
            var cases = new List<SuiteCase>();
            if (root.Children.TryGetValue(new YamlScalarNode("tests"), out var testsNode))
            {
                foreach (var (key, value) in ((YamlMappingNode)testsNode).Children)
                {
                    var t = (YamlMappingNode)value;
                    var resultNode = t.Children[new YamlScalarNode("result")];
                    IReadOnlyList<string> results = resultNode is YamlSequenceNode seq
                        ? seq.Children.Select(c => ((YamlScalarNode)c).Value!.Trim()).ToList()
                        : [((YamlScalarNode)resultNode).Value!.Trim()];
                    cases.Add(new SuiteCase(description, ((YamlScalarNode)key).Value!,
                        Scalar(t, "helo") ?? "", Scalar(t, "host")!, Scalar(t, "mailfrom") ?? "", results, Scalar(t, "explanation")));
                }
            }
            root.Children.TryGetValue(new YamlScalarNode("zonedata"), out var zone);
            scenarios.Add(new SuiteScenario(scenarios.Count, description, cases, zone as YamlMappingNode));
        }
        return scenarios;
    }

    private static string? Scalar(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode s ? s.Value : null;

    private static readonly DnsRecordType[] QueriedTypes =
        [DnsRecordType.A, DnsRecordType.AAAA, DnsRecordType.MX, DnsRecordType.PTR, DnsRecordType.TXT, DnsRecordType.SPF, DnsRecordType.CNAME];

    /// <summary>
    /// Serves a scenario's zone data. As in the reference driver: SPF entries are also published as TXT unless the
    /// name has any TXT entry ("TXT: NONE" means "no TXT, and none generated"); generated TXT records come after the
    /// listed ones; a TIMEOUT entry makes every type not already answered by an earlier entry time out.
    /// </summary>
    public static void LoadZone(TestDnsServer server, SuiteScenario scenario)
    {
        if (scenario.ZoneData is null) return;
        foreach (var (nameNode, entriesNode) in scenario.ZoneData.Children)
        {
            var name = ((YamlScalarNode)nameNode).Value!;
            var items = new List<(string Type, YamlNode? Value)>();
            var generated = new List<(string, YamlNode?)>();
            var hasTxt = false;
            foreach (var entry in ((YamlSequenceNode)entriesNode).Children)
            {
                if (entry is YamlScalarNode { Value: "TIMEOUT" })
                {
                    items.Add(("TIMEOUT", null));
                    continue;
                }
                foreach (var (typeNode, value) in ((YamlMappingNode)entry).Children)
                {
                    var type = ((YamlScalarNode)typeNode).Value!;
                    if (type == "TXT") hasTxt = true;
                    if (type == "SPF") generated.Add(("TXT", value));
                    if (type == "TXT" && value is YamlScalarNode { Value: "NONE" }) continue;
                    items.Add((type, value));
                }
            }
            if (!hasTxt) items.AddRange(generated);

            foreach (var type in QueriedTypes)
            {
                var seen = false;
                foreach (var (t, value) in items)
                {
                    if (t == "TIMEOUT")
                    {
                        if (!seen) server.SetTimeout(name, type);
                        break;
                    }
                    if (!string.Equals(t, type.ToString(), StringComparison.Ordinal)) continue;
                    seen = true;
                    AddRecord(server, name, type, value!);
                }
            }
        }
    }

    private static void AddRecord(TestDnsServer server, string name, DnsRecordType type, YamlNode value)
    {
        switch (type)
        {
            case DnsRecordType.TXT:
            case DnsRecordType.SPF:
                IEnumerable<string> strings = value is YamlSequenceNode seq
                    ? seq.Children.Select(c => ((YamlScalarNode)c).Value ?? "")
                    : [((YamlScalarNode)value).Value ?? ""];
                server.AddTxt(name, strings, type: type);
                break;
            case DnsRecordType.MX:
                var mx = (YamlSequenceNode)value;
                server.AddMx(name, int.Parse(((YamlScalarNode)mx.Children[0]).Value!, System.Globalization.CultureInfo.InvariantCulture), ((YamlScalarNode)mx.Children[1]).Value ?? "");
                break;
            default:
                server.Add(name, type, ((YamlScalarNode)value).Value!);
                break;
        }
    }

    /// <summary>The client address of a case (the suite writes IPv6 in any case).</summary>
    public static IPAddress Host(SuiteCase c) => IPAddress.Parse(c.Host);
}
