using System.Collections;
using System.Globalization;
using System.Reflection;
using Mail.Configuration;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Mail.Host.Tests;

/// <summary>
/// Every setting of every bound section reaches its property through the binder `mail serve` uses: the
/// source-generated one, as in the Native AOT build. That binder skips some properties without a word (init-only
/// ones, for instance), so each public settable property gets a value unlike its default from configuration and
/// must come back with it. A property of a type this test does not know fails it, so a new setting is covered too.
/// </summary>
public sealed class ConfigurationBindingTests
{
    [Fact]
    public void Every_Smtp_setting_is_bound() => AssertEverySettingBound("Smtp", ServeSettings.BindSmtp, "Certificate");

    [Fact]
    public void Every_Imap_setting_is_bound() => AssertEverySettingBound("Imap", ServeSettings.BindImap, "Certificate");

    [Fact]
    public void Every_Pop3_setting_is_bound() => AssertEverySettingBound("Pop3", c => ServeSettings.BindPop3(c, ServeSettings.BindImap(c)), "Certificate");

    [Fact]
    public void Every_Outbound_setting_is_bound() => AssertEverySettingBound("Outbound", ServeSettings.BindOutbound);

    [Fact]
    public void Every_Worker_setting_is_bound() => AssertEverySettingBound("Worker", ServeSettings.BindWorker);

    [Fact]
    public void Every_Authentication_setting_is_bound() =>
        AssertEverySettingBound("Authentication", c => InboundChecks.AuthenticationSection(c, "default.example"));

    [Fact]
    public void Every_Defences_setting_is_bound() => AssertEverySettingBound("Defences", c => InboundChecks.DefencesSection(c)!);

    private static void AssertEverySettingBound<T>(string section, Func<IConfiguration, T> bind, params string[] setInCode)
    {
        var data = new Dictionary<string, string?>();
        var expected = new List<(string Key, Func<object, object?> Read, object Value)>();
        Plan(typeof(T), section, o => o, data, expected, setInCode);
        var bound = bind(new ConfigurationBuilder().AddInMemoryCollection(data).Build())!;
        var missed = expected
            .Where(e => !Same(e.Read(bound), e.Value))
            .Select(e => $"{e.Key}: configured {Show(e.Value)}, bound {Show(e.Read(bound))}")
            .ToList();
        Assert.True(missed.Count == 0, "Settings not bound:\n" + string.Join('\n', missed));
        Assert.NotEmpty(expected);
    }

    /// <summary>Chooses a configuration value for every property of <paramref name="type"/> under <paramref name="prefix"/>.</summary>
    private static void Plan(Type type, string prefix, Func<object, object?> read, Dictionary<string, string?> data,
        List<(string, Func<object, object?>, object)> expected, string[] setInCode)
    {
        var defaults = Activator.CreateInstance(type)!;
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.SetMethod is not { IsPublic: true } || setInCode.Contains(p.Name)) continue;
            var key = $"{prefix}:{p.Name}";
            object? Read(object root) => read(root) is { } owner ? p.GetValue(owner) : null;
            var t = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            var current = p.GetValue(defaults);
            if (Scalar(t, current) is { } value)
            {
                data[key] = Convert.ToString(value, CultureInfo.InvariantCulture);
                expected.Add((key, Read, value));
            }
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>) && t.GetGenericArguments()[0] == typeof(string)
                     && Scalar(t.GetGenericArguments()[1], null) is { } entry)
            {
                data[$"{key}:some_key"] = Convert.ToString(entry, CultureInfo.InvariantCulture);
                expected.Add((key, root => Read(root) is IDictionary d && d.Contains("some_key") ? d["some_key"] : null, entry));
            }
            else if (t == typeof(List<string>) || t == typeof(IReadOnlyList<string>))
            {
                data[$"{key}:0"] = "first";
                data[$"{key}:1"] = "second";
                expected.Add((key, root => Read(root) is IEnumerable<string> l ? string.Join(',', l) : null, "first,second"));
            }
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>) && t.GetGenericArguments()[0].Namespace!.StartsWith("Mail", StringComparison.Ordinal))
            {
                // A list of our own settings objects (listeners): one element with every property set.
                Plan(t.GetGenericArguments()[0], $"{key}:0", root => Read(root) is IList { Count: > 0 } l ? l[0] : null, data, expected, setInCode);
            }
            else if (t.IsClass && t.Namespace!.StartsWith("Mail", StringComparison.Ordinal))
            {
                Plan(t, key, Read, data, expected, setInCode);
            }
            else
            {
                Assert.Fail($"{key} has a type this test does not know how to configure: {p.PropertyType}");
            }
        }
    }

    /// <summary>A value unlike <paramref name="current"/> for a scalar type, or null when the type is not scalar.</summary>
    private static object? Scalar(Type t, object? current) => t switch
    {
        _ when t == typeof(string) => "configured-value",
        _ when t == typeof(bool) => !(current is true),
        _ when t == typeof(int) => (current is int i ? i : 0) + 3,
        _ when t == typeof(long) => (current is long l ? l : 0) + 3,
        _ when t == typeof(double) => (current is double d ? d : 0) + 0.5,
        _ when t == typeof(TimeSpan) => (current is TimeSpan s ? s : TimeSpan.Zero) + TimeSpan.FromSeconds(7),
        _ when t.IsEnum => Enum.GetValues(t).Cast<object>().First(v => !v.Equals(current)),
        _ => null,
    };

    private static bool Same(object? actual, object expected) =>
        actual is not null && (actual.Equals(expected) || (actual is TimeSpan a && expected is TimeSpan e && a == e));

    private static string Show(object? v) => v is null ? "null" : Convert.ToString(v, CultureInfo.InvariantCulture) ?? "";
}
