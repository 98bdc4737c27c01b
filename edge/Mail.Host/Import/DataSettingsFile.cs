using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace Mail.Host.Import;

/// <summary>
/// Writes settings into the data directory's <see cref="HostSettings.DataSettingsFile"/> as configuration keys
/// ("Section:Key", lists as "Key:0", "Key:1"). Keys already in the file that the new ones do not touch stay; a key that
/// is written replaces the whole subtree under it (a shorter list leaves no old elements behind), so writing the same
/// settings twice gives the same file. Written with Utf8JsonWriter (no reflection: the host is Native AOT).
/// </summary>
public static class DataSettingsFile
{
    public static void Merge(string dataDirectory, IReadOnlyDictionary<string, IReadOnlyList<string>> settings)
    {
        var path = Path.Combine(dataDirectory, HostSettings.DataSettingsFile);
        var flat = new SortedDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (File.Exists(path))
        {
            var existing = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
            foreach (var (k, v) in existing.AsEnumerable())
                if (v is not null) flat[k] = v;
        }
        foreach (var key in settings.Keys)
            foreach (var old in flat.Keys.Where(k => k.Equals(key, StringComparison.OrdinalIgnoreCase) || k.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase)).ToList())
                flat.Remove(old);
        foreach (var (key, values) in settings)
        {
            if (values.Count == 1 && !IsList(key)) flat[key] = values[0];
            else for (var i = 0; i < values.Count; i++) flat[$"{key}:{i}"] = values[i];
        }
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, Render(flat), new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Keys that are lists in the settings even with one element.</summary>
    private static bool IsList(string key) => key.EndsWith(":MyNetworks", StringComparison.OrdinalIgnoreCase)
                                              || key.EndsWith(":AuthorizedDestinations", StringComparison.OrdinalIgnoreCase);

    private sealed class Node
    {
        public string? Value;
        public readonly SortedDictionary<string, Node> Children = new(StringComparer.OrdinalIgnoreCase);
    }

    private static string Render(SortedDictionary<string, string> flat)
    {
        var root = new Node();
        foreach (var (key, value) in flat)
        {
            var node = root;
            foreach (var part in key.Split(':'))
            {
                if (!node.Children.TryGetValue(part, out var child)) node.Children[part] = child = new Node();
                node = child;
            }
            node.Value = value;
        }
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            Write(w, root);
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void Write(Utf8JsonWriter w, Node node)
    {
        if (node.Children.Count == 0)
        {
            w.WriteStringValue(node.Value ?? "");
            return;
        }
        var indexes = node.Children.Keys.Select(k => int.TryParse(k, out var n) ? n : -1).ToList();
        if (indexes.All(n => n >= 0) && indexes.Order().SequenceEqual(Enumerable.Range(0, indexes.Count)))
        {
            w.WriteStartArray();
            foreach (var (_, child) in node.Children.OrderBy(kv => int.Parse(kv.Key, System.Globalization.CultureInfo.InvariantCulture))) Write(w, child);
            w.WriteEndArray();
            return;
        }
        w.WriteStartObject();
        foreach (var (name, child) in node.Children)
        {
            w.WritePropertyName(name);
            Write(w, child);
        }
        w.WriteEndObject();
    }
}
