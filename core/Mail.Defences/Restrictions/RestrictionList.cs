using System.Text;

namespace Mail.Defences.Restrictions;

/// <summary>The outcome of a whole list: the decision, plus side effects and warnings gathered on the way.</summary>
public sealed record RestrictionDecision(RestrictionResult Result, RestrictionEffects Effects)
{
    public RestrictionOutcome Outcome => Result.Outcome;
}

/// <summary>
/// An ordered restriction list in main.cf words, e.g.
/// <c>permit_mynetworks, reject_unauth_destination, check_client_access hash:/etc/postfix/access, warn_if_reject reject_non_fqdn_sender</c>.
/// Elements are separated by commas and/or whitespace; <c>{ ... }</c> groups (as in inline: tables) stay one element.
/// Evaluation follows Postfix: the first PERMIT or REJECT ends the list; DUNNO goes on; reaching the end is DUNNO
/// (the caller treats that as "not refused"); <c>warn_if_reject</c> turns the next restriction's reject into a logged
/// warning; <c>defer_if_permit</c>/<c>defer_if_reject</c> (and the DEFER_IF_* access actions) turn a later permit/reject into 450.
/// </summary>
public sealed class RestrictionList
{
    private RestrictionList(string setting, IReadOnlyList<Restriction> items)
    {
        Setting = setting;
        Items = items;
    }

    /// <summary>The setting it came from (e.g. "smtpd_recipient_restrictions"), for messages.</summary>
    public string Setting { get; }

    public IReadOnlyList<Restriction> Items { get; }

    public static RestrictionList Empty(string setting) => new(setting, []);

    /// <summary>Parses a list. Throws <see cref="RestrictionConfigException"/> naming <paramref name="setting"/> for unknown
    /// names, missing arguments, unreadable tables or services a restriction needs but that are not configured.</summary>
    public static RestrictionList Parse(string value, string setting, RestrictionOptions options)
    {
        var tokens = Tokenize(value);
        var items = new List<Restriction>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var name = tokens[i];
            if (FindClass(options, name) is { } classList)
            {
                items.Add(new ClassRestriction(name, classList, options, setting));
                continue;
            }
            if (!Builtins.Catalog.TryGetValue(name, out var entry))
                throw new RestrictionConfigException($"{setting}: unknown restriction '{name}'");
            string? arg = null;
            if (entry.TakesArgument)
            {
                if (i + 1 >= tokens.Count || Builtins.Catalog.ContainsKey(tokens[i + 1]))
                    throw new RestrictionConfigException($"{setting}: '{name}' needs an argument");
                arg = tokens[++i];
            }
            var text = arg is null ? name.ToLowerInvariant() : $"{name.ToLowerInvariant()} {arg}";
            try
            {
                items.Add(entry.Create(text, arg, options, setting));
            }
            catch (RestrictionConfigException e) when (!e.Message.StartsWith(setting, StringComparison.Ordinal))
            {
                throw new RestrictionConfigException($"{setting}: '{text}': {e.Message}");
            }
        }
        if (items.Count > 0 && items[^1] is ModifierRestriction)
            throw new RestrictionConfigException($"{setting}: '{items[^1].Text}' at the end of the list has nothing to modify");
        return new RestrictionList(setting, items);
    }

    /// <summary>Whether <paramref name="name"/> is a restriction this project implements, and whether it takes an argument
    /// (a table, a DNSBL zone, a number).</summary>
    public static bool IsBuiltin(string name, out bool takesArgument)
    {
        takesArgument = Builtins.Catalog.TryGetValue(name, out var entry) && entry.TakesArgument;
        return entry is not null;
    }

    private static string? FindClass(RestrictionOptions options, string name) =>
        options.RestrictionClasses.FirstOrDefault(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>Checks every class once at startup (so a typo inside a class is a startup error too, and class loops are found).</summary>
    public static void ValidateClasses(RestrictionOptions options)
    {
        foreach (var (name, value) in options.RestrictionClasses)
        {
            if (Builtins.Catalog.ContainsKey(name))
                throw new RestrictionConfigException($"smtpd_restriction_classes: '{name}' is the name of a built-in restriction");
            ClassRestriction.Resolve(name, value, options, "smtpd_restriction_classes", []);
        }
    }

    public async Task<RestrictionDecision> EvaluateAsync(SmtpFacts facts, RestrictionOptions options, SmtpStage stage, CancellationToken cancellationToken = default)
    {
        var context = new RestrictionContext(facts, options, stage);
        var result = await EvaluateItemsAsync(context, cancellationToken);
        // An implicit permit at the end of the list also triggers defer_if_permit.
        if (result.Outcome == RestrictionOutcome.Dunno && context.DeferIfPermit is { } why)
            result = AccessAction.Reply(options.DeferCode, why, "", "defer_if_permit");
        return new RestrictionDecision(result, context.Effects);
    }

    internal async Task<RestrictionResult> EvaluateItemsAsync(RestrictionContext context, CancellationToken cancellationToken)
    {
        var warnNext = false;
        foreach (var item in Items)
        {
            if (item is ModifierRestriction)
            {
                warnNext = true;
                continue;
            }
            var r = await item.EvaluateAsync(context, cancellationToken);
            var warned = warnNext;
            warnNext = false;
            switch (r.Outcome)
            {
                case RestrictionOutcome.Dunno:
                    continue;
                case RestrictionOutcome.Reject when warned:
                    context.Effects.Warnings.Add($"reject_warning: {r.Reply} ({r.DecidedBy})");
                    continue;
                case RestrictionOutcome.Reject when context.DeferIfReject is { } why && r.Code >= 500:
                    return AccessAction.Reply(context.Options.DeferCode, why, "", $"defer_if_reject, then {r.DecidedBy}");
                case RestrictionOutcome.Permit when context.DeferIfPermit is { } why:
                    return AccessAction.Reply(context.Options.DeferCode, why, "", $"defer_if_permit, then {r.DecidedBy}");
                default:
                    return r;
            }
        }
        return RestrictionResult.Dunno;
    }

    /// <summary>Splits at commas and whitespace, keeping "{ ... }" groups (nested) and "type:{...}" together.</summary>
    public static List<string> Tokenize(string value)
    {
        var tokens = new List<string>();
        var sb = new StringBuilder();
        var depth = 0;
        foreach (var ch in value)
        {
            if (depth == 0 && (ch == ',' || char.IsWhiteSpace(ch)))
            {
                if (sb.Length > 0) tokens.Add(sb.ToString());
                sb.Clear();
                continue;
            }
            if (ch == '{') depth++;
            else if (ch == '}' && depth > 0) depth--;
            sb.Append(ch);
        }
        if (depth != 0) throw new RestrictionConfigException($"unbalanced '{{' in '{value}'");
        if (sb.Length > 0) tokens.Add(sb.ToString());
        return tokens;
    }

    public override string ToString() => string.Join(", ", Items.Select(i => i.Text));
}

/// <summary>
/// The lists for every stage, read from main.cf-style settings (keys as in main.cf, e.g. "smtpd_recipient_restrictions").
/// Defaults follow Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination;
/// every other list is empty.
/// </summary>
public sealed class RestrictionSet
{
    public static readonly IReadOnlyDictionary<SmtpStage, string> SettingNames = new Dictionary<SmtpStage, string>
    {
        [SmtpStage.Client] = "smtpd_client_restrictions",
        [SmtpStage.Helo] = "smtpd_helo_restrictions",
        [SmtpStage.Sender] = "smtpd_sender_restrictions",
        [SmtpStage.Relay] = "smtpd_relay_restrictions",
        [SmtpStage.Recipient] = "smtpd_recipient_restrictions",
        [SmtpStage.Data] = "smtpd_data_restrictions",
        [SmtpStage.EndOfData] = "smtpd_end_of_data_restrictions",
    };

    public const string DefaultRelayRestrictions = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination";

    private readonly Dictionary<SmtpStage, RestrictionList> _lists;

    private RestrictionSet(Dictionary<SmtpStage, RestrictionList> lists, RestrictionOptions options)
    {
        _lists = lists;
        Options = options;
    }

    public RestrictionOptions Options { get; }

    public RestrictionList this[SmtpStage stage] => _lists[stage];

    /// <summary>Every key must be one of <see cref="SettingNames"/>: a typo must not silently disable a defence.</summary>
    public static RestrictionSet FromSettings(IReadOnlyDictionary<string, string> settings, RestrictionOptions options)
    {
        foreach (var key in settings.Keys)
            if (!SettingNames.Values.Contains(key, StringComparer.OrdinalIgnoreCase))
                throw new RestrictionConfigException($"unknown setting '{key}' (known: {string.Join(", ", SettingNames.Values)})");
        RestrictionList.ValidateClasses(options);
        var lists = new Dictionary<SmtpStage, RestrictionList>();
        foreach (var (stage, name) in SettingNames)
        {
            var value = settings.FirstOrDefault(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)).Value
                        ?? (stage == SmtpStage.Relay ? DefaultRelayRestrictions : "");
            lists[stage] = RestrictionList.Parse(value, name, options);
        }
        return new RestrictionSet(lists, options);
    }

    public Task<RestrictionDecision> EvaluateAsync(SmtpStage stage, SmtpFacts facts, CancellationToken cancellationToken = default) =>
        _lists[stage].EvaluateAsync(facts, Options, stage, cancellationToken);
}

/// <summary>A smtpd_restriction_classes name used in a list: evaluates the class's list in place. Parsed on first use
/// (classes may refer to each other; <see cref="RestrictionList.ValidateClasses"/> checks them at startup).</summary>
internal sealed class ClassRestriction(string name, string value, RestrictionOptions options, string setting) : Restriction(name)
{
    private RestrictionList? _list;

    public override async ValueTask<RestrictionResult> EvaluateAsync(RestrictionContext context, CancellationToken cancellationToken)
    {
        _list ??= RestrictionList.Parse(value, $"{setting} -> {Text}", options);
        if (context.Depth > 8) throw new RestrictionConfigException($"restriction class '{Text}' nests too deeply");
        context.Depth++;
        try
        {
            return await _list.EvaluateItemsAsync(context, cancellationToken);
        }
        finally
        {
            context.Depth--;
        }
    }

    /// <summary>Parses a class and, recursively, the classes it names; a loop is an error.</summary>
    internal static void Resolve(string name, string value, RestrictionOptions options, string setting, HashSet<string> path)
    {
        if (!path.Add(name.ToLowerInvariant())) throw new RestrictionConfigException($"{setting}: restriction class loop through '{name}'");
        var list = RestrictionList.Parse(value, $"{setting}: {name}", options);
        foreach (var item in list.Items.OfType<ClassRestriction>())
            Resolve(item.Text, options.RestrictionClasses.First(kv => string.Equals(kv.Key, item.Text, StringComparison.OrdinalIgnoreCase)).Value, options, setting, path);
        path.Remove(name.ToLowerInvariant());
    }
}
