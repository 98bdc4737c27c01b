using System.Globalization;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Defences;
using Mail.Defences.Restrictions;
using Microsoft.Extensions.Configuration;

namespace Mail.Host.Import;

/// <summary>
/// `mail import postfix [--config-dir /etc/postfix] [--dovecot-users FILE] [--dry-run]`: reads main.cf, the tables it
/// names and a Dovecot passwd-file, and makes the same server here: settings (into the data directory's settings.json,
/// see <see cref="HostSettings"/>), domains, users with their hashes and aliases, through the same commands `mail domain
/// add`, `mail user add --password-hash`, `mail user quota` and `mail alias add` run. Tables are copied into
/// <c>DATA/postfix/</c> (their postmap source text), so the data directory no longer needs /etc/postfix.
/// Every main.cf parameter that is not carried over is printed on its own line with the reason. Running it again with
/// the same input leaves the same state.
/// </summary>
public sealed class PostfixImport(MailStores stores, string dataDirectory, IDnsResolver dns, TextWriter output)
{
    /// <summary>The plan: what main.cf and the passwd-file become here.</summary>
    private readonly Dictionary<string, IReadOnlyList<string>> _settings = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _settingOrder = [];
    private readonly SortedSet<string> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<DovecotPasswdFile.Entry> _users = [];
    private readonly List<(string Alias, List<string> Targets)> _aliases = [];
    private readonly List<string> _notMapped = [];
    private readonly List<(string From, string To)> _tableCopies = [];
    private bool _dryRun;

    public async Task<int> RunAsync(string configDirectory, string? dovecotUsers, bool dryRun)
    {
        _dryRun = dryRun;
        var mainCfPath = Path.Combine(configDirectory, "main.cf");
        if (!File.Exists(mainCfPath)) return Fail($"{mainCfPath} does not exist (--config-dir names the directory of main.cf)");
        if (dovecotUsers is not null && !File.Exists(dovecotUsers)) return Fail($"--dovecot-users: {dovecotUsers} does not exist");
        PostfixMainCf cf;
        try
        {
            cf = PostfixMainCf.Parse(await File.ReadAllTextAsync(mainCfPath));
        }
        catch (FormatException e)
        {
            return Fail($"{mainCfPath}: {e.Message}");
        }

        MapParameters(cf);
        if (dovecotUsers is not null) ReadUsers(dovecotUsers, cf);
        CheckMailboxMaps(cf);

        // What `mail serve` will build from these settings, built now: an import that would stop it is not written.
        var imported = new ConfigurationBuilder().AddInMemoryCollection(Flatten()).Build();
        try
        {
            var defences = Mail.Configuration.InboundChecks.DefencesSection(imported);
            defences?.BuildSmtpPolicy(dns, stores.State, TimeProvider.System);
            defences?.BuildContentChecks();
        }
        catch (Exception e) when (e is RestrictionConfigException or Mail.Defences.RegexpTables.RegexpTableException or Mail.Configuration.SettingsException)
        {
            return Fail($"the imported Defences settings would not start: {e.Message}");
        }

        foreach (var line in _notMapped) output.WriteLine("not mapped: " + line);
        return dryRun ? PrintPlan() : await ApplyAsync();
    }

    // ---- main.cf ----------------------------------------------------------------------------------------------------

    private void MapParameters(PostfixMainCf cf)
    {
        var handled = new HashSet<string>(StringComparer.Ordinal);
        void Done(params string[] names) => handled.UnionWith(names);

        if (cf.IsSet("myhostname"))
        {
            Set("Smtp:HostName", cf["myhostname"]);
            Set("Imap:HostName", cf["myhostname"]);
        }
        Done("myhostname", "mydomain", "myorigin");

        // Postfix's defaults where ours differ, so the same sessions get the same replies.
        Set("Smtp:RecipientDelimiter", cf["recipient_delimiter"]);
        Done("recipient_delimiter");
        var size = cf["message_size_limit"];
        if (long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var octets) && octets > 0 && octets <= int.MaxValue) Set("Smtp:MaxMessageSize", size);
        else NotMapped("message_size_limit", size, octets == 0 ? "0 (no limit) has no equivalent: Smtp:MaxMessageSize stays at its default" : "not a size in octets");
        Done("message_size_limit");
        MapInt(cf, "smtpd_recipient_limit", "Smtp:MaxRecipients", handled);
        MapInt(cf, "unknown_client_reject_code", "Defences:UnknownClientRejectCode", handled);
        MapInt(cf, "unknown_address_reject_code", "Defences:UnknownAddressRejectCode", handled);
        Set("Defences:DelayReject", YesNo(cf["smtpd_delay_reject"]) ? "true" : "false");
        Done("smtpd_delay_reject");

        // Networks: Postfix writes IPv6 networks as [addr]/len.
        var networks = new List<string>();
        if (cf.IsSet("mynetworks"))
        {
            foreach (var n in cf.List("mynetworks"))
            {
                if (n.Contains(':', StringComparison.Ordinal) && !n.StartsWith('[') && !System.Net.IPNetwork.TryParse(n, out _) || n.StartsWith('/') || n.StartsWith('!'))
                    NotMapped("mynetworks", n, "tables, files and negation in mynetworks are not supported; list the networks");
                else networks.Add(n.Replace("[", "", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal));
            }
        }
        else
        {
            // mynetworks_style = host (the default since compatibility_level 2): the machine's own addresses.
            networks.AddRange(["127.0.0.0/8", "::1/128"]);
            if (cf.IsSet("mynetworks_style") && cf["mynetworks_style"] != "host")
                NotMapped("mynetworks_style", cf["mynetworks_style"], "only 'host' has an equivalent (loopback); list the networks in mynetworks");
        }
        Set("Smtp:MyNetworks", networks);
        Set("Defences:MyNetworks", networks);
        Done("mynetworks", "mynetworks_style");

        // Where mail is accepted: mydestination (local(8) domains), virtual mailbox and alias domains.
        var destinations = new List<string>();
        foreach (var d in TableKeysOrValues(cf, "virtual_mailbox_domains")) { destinations.Add(d); _domains.Add(d); }
        foreach (var d in TableKeysOrValues(cf, "virtual_alias_domains")) { destinations.Add(d); _domains.Add(d); }
        foreach (var d in TableKeysOrValues(cf, "mydestination")) destinations.Add(d);
        if (cf.IsSet("mydestination") && cf["mydestination"].Length > 0)
            NotMapped("mydestination", cf["mydestination"], "its domains are kept as destinations (Defences:AuthorizedDestinations); local(8) delivery to Unix accounts and /etc/aliases are not carried over: users come from the Dovecot passwd-file");
        if (cf["relay_domains"].Length > 0)
            NotMapped("relay_domains", cf["relay_domains"], "relaying for other domains (backup MX) is not supported: the edge accepts only its own domains and users");
        Set("Defences:AuthorizedDestinations", destinations.Distinct(StringComparer.OrdinalIgnoreCase).ToList());
        Done("virtual_mailbox_domains", "virtual_alias_domains", "mydestination", "relay_domains");

        // Restriction classes first: the lists may name them.
        var classes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in cf.List("smtpd_restriction_classes"))
        {
            classes[name] = cf[name];
            Done(name);
        }
        Done("smtpd_restriction_classes");
        var options = new RestrictionOptions { Dns = dns, RestrictionClasses = classes };
        foreach (var (name, value) in classes)
            Set($"Defences:RestrictionClasses:{name}", Restrictions(name, value, options));
        foreach (var name in RestrictionSet.SettingNames.Values)
        {
            if (!cf.IsSet(name)) continue;
            Set($"Defences:Restrictions:{name}", Restrictions(name, cf[name], options));
            Done(name);
        }

        foreach (var (param, setting) in new[] { ("header_checks", "Defences:HeaderChecks"), ("mime_header_checks", "Defences:MimeHeaderChecks"), ("body_checks", "Defences:BodyChecks") })
        {
            Done(param);
            if (cf[param].Length == 0) continue;
            var tables = cf.List(param);
            if (tables.Count > 1) NotMapped(param, string.Join(", ", tables.Skip(1)), "only the first table of a list is read here");
            var spec = tables[0];
            var type = spec.Contains(':', StringComparison.Ordinal) ? spec[..spec.IndexOf(':', StringComparison.Ordinal)].ToLowerInvariant() : "";
            if (type is not ("regexp" or "pcre"))
            {
                NotMapped(param, spec, "only regexp: and pcre: tables are supported for content checks");
                continue;
            }
            if (type == "pcre") NotMapped(param, spec, "read as regexp: with .NET regex syntax (PCRE-only constructs stop `mail serve` naming the line)");
            if (CopyTable(param, spec) is { } copied) Set(setting, "regexp:" + copied[(copied.IndexOf(':', StringComparison.Ordinal) + 1)..]);
        }

        // TLS: the certificate stays where it is (a key is not copied around).
        if (cf.IsSet("smtpd_tls_chain_files") && cf["smtpd_tls_chain_files"].Length > 0)
        {
            var files = cf.List("smtpd_tls_chain_files");
            Set("Tls:CertificatePath", files[0]);
            if (files.Count > 2) NotMapped("smtpd_tls_chain_files", string.Join(", ", files.Skip(1)), "one key and certificate chain only (Tls:CertificatePath, Tls:KeyPath)");
            else if (files.Count == 2) Set("Tls:KeyPath", files[1]);
        }
        else if (cf["smtpd_tls_cert_file"].Length > 0)
        {
            Set("Tls:CertificatePath", cf["smtpd_tls_cert_file"]);
            if (cf["smtpd_tls_key_file"].Length > 0 && cf["smtpd_tls_key_file"] != cf["smtpd_tls_cert_file"]) Set("Tls:KeyPath", cf["smtpd_tls_key_file"]);
        }
        foreach (var key in new[] { "Tls:CertificatePath", "Tls:KeyPath" })
        {
            if (!_settings.TryGetValue(key, out var f) || File.Exists(f[0])) continue;
            NotMapped(key == "Tls:KeyPath" ? "smtpd_tls_key_file" : "smtpd_tls_cert_file", f[0], $"the file does not exist here, so {key} is not set (`mail serve` would stop); the self-signed certificate is used until it is");
            _settings.Remove(key);
            _settingOrder.Remove(key);
        }
        Done("smtpd_tls_chain_files", "smtpd_tls_cert_file", "smtpd_tls_key_file");

        if (cf["relayhost"].Length > 0) Set("Outbound:RelayHost", cf["relayhost"]);
        Done("relayhost");

        if (cf["postscreen_dnsbl_sites"].Length > 0)
        {
            Set("Defences:DnsblSites", string.Join(' ', cf.List("postscreen_dnsbl_sites")));
            MapInt(cf, "postscreen_dnsbl_threshold", "Defences:DnsblThreshold", handled);
            foreach (var n in new[] { "postscreen_dnsbl_allowlist_threshold", "postscreen_dnsbl_whitelist_threshold" })
                if (cf.IsSet(n)) MapInt(cf, n, "Defences:DnsblAllowlistThreshold", handled);
        }
        Done("postscreen_dnsbl_sites", "postscreen_dnsbl_threshold", "postscreen_dnsbl_allowlist_threshold", "postscreen_dnsbl_whitelist_threshold");

        // anvil's limits: per client and per time unit.
        foreach (var (param, setting) in new[] { ("smtpd_client_connection_rate_limit", "ConnectionsPerClient"), ("smtpd_client_message_rate_limit", "MessagesPerClient"), ("smtpd_client_recipient_rate_limit", "RecipientsPerClient") })
            if (cf.IsSet(param)) MapInt(cf, param, "Smtp:RateLimits:" + setting, handled);
        if (cf.IsSet("anvil_rate_time_unit"))
        {
            if (PostfixTime(cf["anvil_rate_time_unit"]) is { } window) Set("Smtp:RateLimits:Window", window.ToString("c", CultureInfo.InvariantCulture));
            else NotMapped("anvil_rate_time_unit", cf["anvil_rate_time_unit"], "not a Postfix time value");
            Done("anvil_rate_time_unit");
        }

        // In-flow control: the same pause, before the first accepted recipient's reply, while mail serve's own worker is behind.
        if (cf.IsSet("in_flow_delay"))
        {
            if (PostfixTime(cf["in_flow_delay"]) is { } delay && delay <= TimeSpan.FromSeconds(10))
                Set("Smtp:InFlowDelay", delay.ToString("c", CultureInfo.InvariantCulture));
            else NotMapped("in_flow_delay", cf["in_flow_delay"], "not a Postfix time value of 0 to 10 seconds");
            Done("in_flow_delay");
        }

        ReadAliases(cf);
        Done("virtual_alias_maps", "virtual_mailbox_maps");

        foreach (var name in cf.Names.Where(n => !handled.Contains(n)))
            NotMapped(name, cf.Raw(name) ?? "", WhyNotMapped(name));
    }

    /// <summary>A restriction list with this project's tables: each element is checked alone with the project's own
    /// parser (so an unknown one is dropped with its reason, not the whole list), tables are copied.</summary>
    private List<string> Restrictions(string parameter, string value, RestrictionOptions options)
    {
        List<string> tokens;
        try
        {
            tokens = RestrictionList.Tokenize(value);
        }
        catch (RestrictionConfigException e)
        {
            NotMapped(parameter, value, e.Message);
            return [];
        }
        var kept = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var name = tokens[i];
            var known = RestrictionList.IsBuiltin(name, out var takesArgument) || options.RestrictionClasses.ContainsKey(name);
            var arg = (known && takesArgument) || (!known && i + 1 < tokens.Count && IsTableSpec(tokens[i + 1])) ? tokens.ElementAtOrDefault(++i) : null;
            var element = arg is null ? name : $"{name} {arg}";
            if (!known)
            {
                NotMapped(parameter, element, WhyRestrictionNotMapped(name));
                continue;
            }
            if (arg is not null && IsTableSpec(arg) && !arg.StartsWith("inline:", StringComparison.OrdinalIgnoreCase))
            {
                if (CopyTable(parameter, arg) is not { } copied) continue;
                arg = copied;
                element = $"{name} {arg}";
            }
            // warn_if_reject and friends alone are "nothing to modify": check them with what they modify.
            if (!string.Equals(name, "warn_if_reject", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    RestrictionList.Parse(element, parameter, options);
                }
                catch (Exception e) when (e is RestrictionConfigException or Mail.Defences.RegexpTables.RegexpTableException)
                {
                    NotMapped(parameter, element, e.Message);
                    if (kept.Count > 0 && string.Equals(kept[^1], "warn_if_reject", StringComparison.OrdinalIgnoreCase)) kept.RemoveAt(kept.Count - 1);
                    continue;
                }
            }
            kept.Add(element);
        }
        if (kept.Count > 0 && string.Equals(kept[^1], "warn_if_reject", StringComparison.OrdinalIgnoreCase)) kept.RemoveAt(kept.Count - 1);
        return [string.Join(", ", kept)];
    }

    private static bool IsTableSpec(string token)
    {
        var colon = token.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && token[..colon].All(char.IsAsciiLetterOrDigit);
    }

    /// <summary>Copies a table's source into DATA/postfix/ and returns its spec there; null (with the reason printed) when
    /// it cannot be read here. hash:, btree:, lmdb: and texthash: are read from the postmap source text next to the .db.</summary>
    private string? CopyTable(string parameter, string spec)
    {
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var type = spec[..colon].ToLowerInvariant();
        var path = spec[(colon + 1)..];
        if (type is "inline") return spec;
        if (type is not ("hash" or "btree" or "lmdb" or "texthash" or "regexp" or "pcre" or "cidr"))
        {
            NotMapped(parameter, spec, $"{type}: tables are not supported (hash:, btree:, lmdb:, texthash:, inline:, regexp:, pcre:, cidr: are)");
            return null;
        }
        if (!File.Exists(path))
        {
            var compiled = new[] { ".db", ".lmdb" }.Select(x => path + x).FirstOrDefault(File.Exists);
            NotMapped(parameter, spec, compiled is not null
                ? $"only {compiled} exists: the text source postmap made it from is needed (recreate it, e.g. `postmap -s {spec} > {path}`)"
                : $"{path} does not exist");
            return null;
        }
        if (_dryRun) return spec; // checked against the source where it is
        var target = TargetPath(path);
        if (!_tableCopies.Contains((path, target)))
        {
            // Copied now, so what is checked below is what `mail serve` will read.
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(path, target, overwrite: true);
            _tableCopies.Add((path, target));
        }
        return $"{type}:{target}";
    }

    private string TargetPath(string source)
    {
        var dir = Path.Combine(dataDirectory, "postfix");
        var name = Path.GetFileName(source);
        var target = Path.Combine(dir, name);
        // Two tables of the same name from different directories: the second gets a suffix.
        for (var n = 2; _tableCopies.Any(c => c.To == target && c.From != source); n++) target = Path.Combine(dir, $"{name}.{n}");
        return target;
    }

    /// <summary>A domain list parameter: names, "/file" names one a line, or tables whose keys are the domains.</summary>
    private List<string> TableKeysOrValues(PostfixMainCf cf, string parameter)
    {
        var result = new List<string>();
        foreach (var item in cf.List(parameter))
        {
            if (IsTableSpec(item))
            {
                var path = item[(item.IndexOf(':', StringComparison.Ordinal) + 1)..];
                if (item.StartsWith("hash:", StringComparison.OrdinalIgnoreCase) || item.StartsWith("texthash:", StringComparison.OrdinalIgnoreCase)
                    || item.StartsWith("btree:", StringComparison.OrdinalIgnoreCase) || item.StartsWith("lmdb:", StringComparison.OrdinalIgnoreCase))
                {
                    if (ReadTable(parameter, item, path) is { } table) result.AddRange(table.Entries.Keys);
                }
                else NotMapped(parameter, item, "only hash:, btree:, lmdb: and texthash: domain tables are read");
            }
            else if (item.StartsWith('/'))
            {
                if (File.Exists(item)) result.AddRange(File.ReadAllLines(item).Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#'));
                else NotMapped(parameter, item, "the file does not exist");
            }
            else result.Add(item.ToLowerInvariant());
        }
        return result;
    }

    private AccessTable? ReadTable(string parameter, string spec, string path)
    {
        if (!File.Exists(path))
        {
            NotMapped(parameter, spec, File.Exists(path + ".db") ? $"only {path}.db exists: the text source postmap made it from is needed" : $"{path} does not exist");
            return null;
        }
        try
        {
            return AccessTable.Parse(File.ReadAllText(path), spec);
        }
        catch (RestrictionConfigException e)
        {
            NotMapped(parameter, spec, e.Message);
            return null;
        }
    }

    /// <summary>virtual_alias_maps: "alias target, target"; "@domain" is the catch-all; a bare target gets @$myorigin,
    /// as Postfix appends it; a key that is only a domain declares a virtual alias domain.</summary>
    private void ReadAliases(PostfixMainCf cf)
    {
        foreach (var spec in cf.List("virtual_alias_maps"))
        {
            if (!IsTableSpec(spec) || !(spec.StartsWith("hash:", StringComparison.OrdinalIgnoreCase) || spec.StartsWith("texthash:", StringComparison.OrdinalIgnoreCase)
                                         || spec.StartsWith("btree:", StringComparison.OrdinalIgnoreCase) || spec.StartsWith("lmdb:", StringComparison.OrdinalIgnoreCase)))
            {
                NotMapped("virtual_alias_maps", spec, "only hash:, btree:, lmdb: and texthash: alias tables are read (pattern aliases have no equivalent)");
                continue;
            }
            if (ReadTable("virtual_alias_maps", spec, spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..]) is not { } table) continue;
            foreach (var (key, value) in table.Entries)
            {
                if (!key.Contains('@', StringComparison.Ordinal))
                {
                    if (key.Contains('.', StringComparison.Ordinal)) _domains.Add(key); // "example.com anything": a virtual alias domain
                    else NotMapped("virtual_alias_maps", $"{key} {value}", "a bare local part matches only local(8) domains; write it as local@domain");
                    continue;
                }
                var targets = value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries)
                    .Select(t => t.Contains('@', StringComparison.Ordinal) ? t : $"{t}@{cf["myorigin"]}").ToList();
                if (targets.Count == 1 && string.Equals(targets[0], key, StringComparison.OrdinalIgnoreCase)) continue; // "a@x a@x" keeps the mailbox: nothing to alias
                if (targets.FirstOrDefault(t => MailDirectory.Canonical(t) is null) is { } bad)
                {
                    NotMapped("virtual_alias_maps", $"{key} {value}", $"'{bad}' is not an address (pipes, files and :include: are not supported)");
                    continue;
                }
                _domains.Add(key[(key.IndexOf('@', StringComparison.Ordinal) + 1)..]);
                _aliases.Add((key, targets));
            }
        }
    }

    private void ReadUsers(string path, PostfixMainCf cf)
    {
        foreach (var e in DovecotPasswdFile.Parse(File.ReadAllText(path)))
        {
            var where = $"{Path.GetFileName(path)} line {e.Line}";
            if (MailDirectory.Canonical(e.User) is not { } user)
            {
                NotMapped(where, e.User, "not an address (local@domain); Dovecot's auth_default_realm is not applied: write the full address");
                continue;
            }
            if (PasswordHasher.Validate(e.Password.Trim()) is { } why && !IsPlain(e.Password))
            {
                NotMapped(where, $"{e.User} {Scheme(e.Password)}", $"{why}: not imported; give the user a password with `mail user add {user} --password-stdin`");
                continue;
            }
            if (e.QuotaStorage is { } q && !QuotaSize.TryParse(q, out _))
                NotMapped(where, $"{e.User} quota_rule={q}", "not a size here (500M, 2G, 0)");
            foreach (var k in e.Extra.Keys.Where(k => !k.EndsWith("quota_rule", StringComparison.OrdinalIgnoreCase)))
                NotMapped(where, $"{e.User} {k}", "extra field without an equivalent");
            _domains.Add(user[(user.IndexOf('@', StringComparison.Ordinal) + 1)..]);
            _users.Add(e with { User = user });
        }
        _ = cf;
    }

    /// <summary>virtual_mailbox_maps names the mailboxes Postfix accepts; one without a passwd-file user has no password here.</summary>
    private void CheckMailboxMaps(PostfixMainCf cf)
    {
        foreach (var spec in cf.List("virtual_mailbox_maps"))
        {
            if (!IsTableSpec(spec)) continue;
            if (ReadTable("virtual_mailbox_maps", spec, spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..]) is not { } table) continue;
            foreach (var key in table.Entries.Keys)
                if (key.Contains('@', StringComparison.Ordinal) && !key.StartsWith('@') && !_users.Any(u => string.Equals(u.User, key, StringComparison.OrdinalIgnoreCase)))
                    NotMapped("virtual_mailbox_maps", key, "no user of that name in the Dovecot passwd-file (--dovecot-users): no password to import, not created");
        }
        if (cf["virtual_mailbox_base"].Length > 0)
            NotMapped("virtual_mailbox_base", cf["virtual_mailbox_base"], "mailboxes live in the data directory; existing mail is not copied (move it over IMAP, e.g. imapsync or doveadm backup)");
    }

    private static bool IsPlain(string password) =>
        password.StartsWith("{PLAIN}", StringComparison.OrdinalIgnoreCase) || password.StartsWith("{CLEARTEXT}", StringComparison.OrdinalIgnoreCase);

    private static string Scheme(string password) =>
        password.StartsWith('{') && password.IndexOf('}', StringComparison.Ordinal) is > 0 and var close ? password[..(close + 1)] : "(no {SCHEME})";

    // ---- plan output and apply --------------------------------------------------------------------------------------

    private int PrintPlan()
    {
        foreach (var key in _settingOrder) output.WriteLine($"would set {key} = {string.Join(", ", _settings[key])}");
        foreach (var d in _domains) output.WriteLine($"would add domain {d}");
        foreach (var u in _users) output.WriteLine($"would add user {u.User}" + (u.QuotaStorage is { } q ? $" (quota {q})" : ""));
        foreach (var (alias, targets) in _aliases) output.WriteLine($"would add alias {alias} -> {string.Join(", ", targets)}");
        output.WriteLine("dry run: nothing written");
        return ExitCodes.Ok;
    }

    private async Task<int> ApplyAsync()
    {
        foreach (var (from, to) in _tableCopies) output.WriteLine($"table {from} copied to {to}");
        DataSettingsFile.Merge(dataDirectory, _settings);
        foreach (var key in _settingOrder) output.WriteLine($"setting {key} = {string.Join(", ", _settings[key])}");
        output.WriteLine($"settings written to {Path.Combine(dataDirectory, HostSettings.DataSettingsFile)}");

        // The same commands as `mail domain add`, `mail user add`, `mail user quota`, `mail alias add`.
        var admin = new AdminCommands(stores, output);
        var aliases = new AliasCommands(stores.Admin, output);
        var failed = 0;
        foreach (var d in _domains) failed += await admin.DomainAddAsync(d) == 0 ? 0 : 1;
        foreach (var u in _users)
        {
            var code = IsPlain(u.Password)
                ? await admin.UserAddAsync(u.User, u.Password[(u.Password.IndexOf('}', StringComparison.Ordinal) + 1)..])
                : await admin.UserAddWithHashAsync(u.User, u.Password.Trim());
            if (code == 0 && u.QuotaStorage is { } q && QuotaSize.TryParse(q, out _)) code = await admin.UserQuotaAsync(u.User, q);
            failed += code == 0 ? 0 : 1;
        }
        foreach (var (alias, targets) in _aliases) failed += await aliases.AddAsync(alias, targets) == 0 ? 0 : 1;
        output.WriteLine($"imported: {_domains.Count} domain(s), {_users.Count} user(s), {_aliases.Count} alias(es), {_settings.Count} setting(s); {_notMapped.Count} line(s) not mapped");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.DataError;
    }

    // ---- helpers ----------------------------------------------------------------------------------------------------

    private void Set(string key, string value) => Set(key, [value]);

    private void Set(string key, IReadOnlyList<string> values)
    {
        if (!_settings.ContainsKey(key)) _settingOrder.Add(key);
        _settings[key] = values;
    }

    private IEnumerable<KeyValuePair<string, string?>> Flatten()
    {
        foreach (var (key, values) in _settings)
        {
            if (values.Count == 1 && !key.EndsWith("MyNetworks", StringComparison.OrdinalIgnoreCase) && !key.EndsWith("AuthorizedDestinations", StringComparison.OrdinalIgnoreCase))
                yield return new(key, values[0]);
            else
                for (var i = 0; i < values.Count; i++) yield return new($"{key}:{i}", values[i]);
        }
    }

    private void MapInt(PostfixMainCf cf, string parameter, string setting, HashSet<string> handled)
    {
        handled.Add(parameter);
        if (int.TryParse(cf[parameter], NumberStyles.None, CultureInfo.InvariantCulture, out _)) Set(setting, cf[parameter]);
        else NotMapped(parameter, cf[parameter], "not a number");
    }

    private void NotMapped(string parameter, string value, string why) => _notMapped.Add($"{parameter} = {value}: {why}");

    private static bool YesNo(string value) => value.Trim().Equals("yes", StringComparison.OrdinalIgnoreCase);

    /// <summary>Postfix time values: a number with an optional unit s, m, h, d, w (seconds by default).</summary>
    private static TimeSpan? PostfixTime(string value)
    {
        var v = value.Trim().ToLowerInvariant();
        var unit = v.Length > 0 && char.IsAsciiLetter(v[^1]) ? v[^1] : 's';
        var number = char.IsAsciiLetter(v.LastOrDefault()) ? v[..^1] : v;
        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return null;
        return unit switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            'w' => TimeSpan.FromDays(7 * n),
            _ => null,
        };
    }

    private int Fail(string message)
    {
        Console.Error.WriteLine("mail: import postfix: " + message);
        return ExitCodes.DataError;
    }

    /// <summary>Why a main.cf parameter has no setting here: one line each, for the operator deciding what to do.</summary>
    private static string WhyNotMapped(string name) => name switch
    {
        "compatibility_level" or "queue_directory" or "command_directory" or "daemon_directory" or "data_directory" or "meta_directory"
            or "shlib_directory" or "sample_directory" or "readme_directory" or "html_directory" or "manpage_directory" or "sendmail_path"
            or "newaliases_path" or "mailq_path" or "mail_owner" or "setgid_group" or "biff" or "maillog_file" or "maillog_file_prefixes"
            or "import_environment" or "process_name" or "syslog_name" or "default_process_limit"
            => "Postfix's own installation and process settings; `mail` has none of these",
        "inet_interfaces" or "inet_protocols" => "listeners are Smtp:Listeners:N:Endpoint (address and port)",
        "alias_maps" or "alias_database" or "local_recipient_maps" or "home_mailbox" or "mailbox_command" or "mailbox_transport"
            => "local(8) delivery to Unix accounts is not supported: users come from the Dovecot passwd-file",
        "smtpd_banner" => "the greeting is '220 Smtp:HostName ESMTP'",
        "smtpd_tls_security_level" or "smtpd_use_tls" or "smtpd_tls_auth_only" or "smtpd_tls_protocols" or "smtpd_tls_mandatory_protocols"
            or "smtpd_tls_ciphers" or "smtpd_tls_mandatory_ciphers" or "smtpd_tls_session_cache_database" or "smtpd_tls_loglevel"
            or "smtpd_tls_received_header" or "tls_preempt_cipherlist" or "smtpd_tls_dh1024_param_file" or "tls_high_cipherlist"
            => "STARTTLS is always offered (TLS 1.2 and later, the platform's ciphers); AUTH only after TLS except from loopback (Smtp:AllowPlaintextAuthOnLoopback)",
        "smtpd_sasl_auth_enable" or "smtpd_sasl_type" or "smtpd_sasl_path" or "smtpd_sasl_security_options" or "smtpd_sasl_local_domain"
            or "broken_sasl_auth_clients" or "smtpd_sasl_authenticated_header"
            => "AUTH is built in on the submission listeners, against the users imported here",
        "smtp_tls_security_level" or "smtp_tls_CAfile" or "smtp_tls_CApath" or "smtp_tls_session_cache_database" or "smtp_tls_loglevel"
            or "smtp_dns_support_level" or "smtp_tls_policy_maps"
            => "outbound TLS is Outbound:TlsPolicy (see docs/outbound.md)",
        "smtp_sasl_auth_enable" or "smtp_sasl_password_maps" or "smtp_sasl_security_options" or "smtp_sasl_tls_security_options"
            => "the relay host's login is Outbound:RelayUser and Outbound:RelayPassword: set them by hand (a password is not copied into settings.json)",
        "virtual_transport" or "virtual_uid_maps" or "virtual_gid_maps" or "virtual_minimum_uid" or "mailbox_size_limit" or "virtual_mailbox_limit"
            => "delivery is built in (no LMTP or virtual(8)); storage limits are per user (mail user quota, Dovecot quota_rule)",
        "transport_maps" => "transports are Outbound:Transports:<domain> ([host]:port); set them by hand",
        "milter_protocol" or "milter_default_action" or "smtpd_milters" or "non_smtpd_milters" or "milter_mail_macros" or "content_filter"
            => "milters and content filters are not supported: DKIM signing, DMARC and the spam score are built in",
        "smtpd_upstream_proxy_protocol" or "smtpd_upstream_proxy_timeout"
            => "PROXY protocol is Smtp:Listeners:N:ProxyProtocol with Smtp:ProxyNetworks (the proxies believed), set by hand",
        "postscreen_greet_wait" or "postscreen_greet_action" or "postscreen_pipelining_enable" or "postscreen_non_smtp_command_enable"
            or "postscreen_bare_newline_enable" or "postscreen_access_list" or "postscreen_blacklist_action" or "postscreen_denylist_action" or "postscreen_dnsbl_action"
            => "postscreen's pregreet test is Smtp:Listeners:N:PregreetDelay (set by hand); its deep protocol tests are not supported",
        "smtputf8_enable" => "SMTPUTF8 is always offered",
        "append_dot_mydomain" or "append_at_myorigin" => "addresses are used as given",
        "smtpd_helo_required" => "not supported: HELO/EHLO is not required before MAIL",
        "disable_vrfy_command" => "VRFY is answered 252 without checking the address",
        "smtpd_client_connection_count_limit" => "per-client concurrency is Smtp:MaxConnectionsPerClient (default 50)",
        "smtpd_reject_unlisted_recipient" or "smtpd_reject_unlisted_sender" => "the edge refuses unknown recipients in our domains itself (550 5.1.1)",
        "relay_recipient_maps" => "relaying for other domains is not supported",
        _ when name.EndsWith("_reject_code", StringComparison.Ordinal) => "only unknown_client_reject_code and unknown_address_reject_code are settings here; the others keep Postfix's default",
        _ => "no equivalent setting here",
    };

    private static string WhyRestrictionNotMapped(string name) => name.ToLowerInvariant() switch
    {
        "reject_unlisted_recipient" or "reject_unlisted_sender" => "the edge refuses unknown recipients of our domains itself (550 5.1.1 User unknown); dropped from the list",
        "reject_unverified_recipient" or "reject_unverified_sender" => "address verification probes are not supported; dropped from the list",
        "reject_sender_login_mismatch" or "reject_authenticated_sender_login_mismatch" or "reject_known_sender_login_mismatch" or "reject_unauthenticated_sender_login_mismatch"
            => "Smtp:RequireSenderOwnership (on by default) refuses an authenticated MAIL FROM that is not the user's own (553 5.7.1); dropped from the list",
        "permit_tls_clientcerts" or "permit_tls_all_clientcerts" or "check_ccert_access" => "client certificates are not supported; dropped from the list",
        "permit_mx_backup" => "relaying as a backup MX is not supported; dropped from the list",
        "reject_multi_recipient_bounce" or "reject_unknown_sender_login" or "permit_rhswl_client" or "reject_plaintext_session" => "not supported; dropped from the list",
        var n when n.EndsWith("_mx_access", StringComparison.Ordinal) || n.EndsWith("_ns_access", StringComparison.Ordinal) || n.EndsWith("_a_access", StringComparison.Ordinal)
            => "MX, NS and A record access checks are not supported; dropped from the list",
        _ => "unknown here (see docs/postfix.md); dropped from the list",
    };
}
