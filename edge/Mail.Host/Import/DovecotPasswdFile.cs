namespace Mail.Host.Import;

/// <summary>
/// A Dovecot passwd-file (doc.dovecot.org, "passwd-file"): one user a line,
/// <c>user:password:uid:gid:gecos:home:shell:extra_fields</c>, where only the first two fields are required and
/// extra_fields are space-separated <c>key=value</c> (userdb_ prefixed ones belong to the userdb, e.g.
/// <c>userdb_quota_rule=*:storage=1G</c>). '#' starts a comment line.
/// </summary>
public static class DovecotPasswdFile
{
    public sealed record Entry(int Line, string User, string Password, IReadOnlyDictionary<string, string> Extra)
    {
        /// <summary>The storage limit of <c>quota_rule=*:storage=SIZE</c> (or userdb_quota_rule), when there is one.</summary>
        public string? QuotaStorage
        {
            get
            {
                var rule = Extra.GetValueOrDefault("userdb_quota_rule") ?? Extra.GetValueOrDefault("quota_rule");
                const string prefix = "*:storage=";
                return rule is not null && rule.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? rule[prefix.Length..] : null;
            }
        }
    }

    public static IReadOnlyList<Entry> Parse(string text)
    {
        var entries = new List<Entry>();
        var lineNo = 0;
        foreach (var raw in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var fields = line.Split(':');
            var extra = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            // extra_fields is the 8th field and may itself contain ':' (quota_rule=*:storage=1G).
            if (fields.Length >= 8)
            {
                foreach (var kv in string.Join(':', fields[7..]).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    var eq = kv.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0) extra[kv[..eq]] = kv[(eq + 1)..];
                    else extra[kv] = "";
                }
            }
            entries.Add(new Entry(lineNo, fields[0].Trim(), fields.Length > 1 ? fields[1] : "", extra));
        }
        return entries;
    }
}
