using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>The commands of any state (RFC 9051 6.1: CAPABILITY, NOOP, LOGOUT; RFC 2971 ID), and the two that only
/// set or describe the session (RFC 5161 ENABLE, RFC 2342 NAMESPACE).</summary>
internal sealed partial class ImapSession
{
    private string Capability(ArgReader r)
    {
        r.ExpectEnd();
        _conn.WriteLine($"* CAPABILITY {Capabilities}");
        return "OK CAPABILITY completed";
    }

    private static string Noop(ArgReader r, string name)
    {
        r.ExpectEnd();
        return $"OK {name} completed";
    }

    private string Logout(ArgReader r)
    {
        r.ExpectEnd();
        _conn.WriteLine("* BYE Logging out");
        _state = SessionState.Logout;
        return "OK LOGOUT completed";
    }

    private string Id(ArgReader r)
    {
        // RFC 2971: the client's fields are read (and ignored); we say who we are.
        r.Space();
        if (!r.TryAtom("NIL"))
        {
            r.Expect('(');
            var first = true;
            while (!r.TryChar(')'))
            {
                if (!first) r.Space();
                first = false;
                r.String();
                r.Space();
                r.NString();
            }
        }
        r.ExpectEnd();
        _conn.WriteLine("* ID (\"name\" \"Mail.Imap\" \"vendor\" \"Mail\")");
        return "OK ID completed";
    }

    private string Enable(ArgReader r)
    {
        var enabled = new List<string>();
        do
        {
            r.Space();
            var cap = r.Atom().ToUpperInvariant();
            switch (cap)
            {
                case "IMAP4REV2" when !_rev2:
                    _rev2 = true;
                    enabled.Add("IMAP4rev2");
                    break;
                case "CONDSTORE" when !_condStore:
                    _condStore = true;
                    enabled.Add("CONDSTORE");
                    break;
                case "QRESYNC" when EnableQresync():
                    enabled.Add("QRESYNC");
                    break;
                case "UTF8=ACCEPT" when !_utf8Accept:
                    _utf8Accept = true;
                    enabled.Add("UTF8=ACCEPT");
                    break;
            }
        } while (!r.AtEnd);
        _conn.WriteLine(enabled.Count == 0 ? "* ENABLED" : "* ENABLED " + string.Join(' ', enabled));
        return "OK ENABLE completed";
    }

    private string Namespace(ArgReader r)
    {
        r.ExpectEnd();
        _conn.WriteLine("* NAMESPACE ((\"\" \"/\")) NIL NIL");
        return "OK NAMESPACE completed";
    }
}
