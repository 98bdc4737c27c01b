using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Listening;

namespace Mail.Defences.Restrictions;

/// <summary>
/// Client of the Postfix policy delegation protocol (SMTPD_POLICY_README): the request is "name=value" lines ended by an
/// empty line; the reply is "action=..." (plus optional other attributes) ended by an empty line. Endpoints are written
/// as in main.cf: <c>inet:host:port</c> or <c>unix:/path/to/socket</c>. One connection per request (policy servers
/// such as postgrey and policyd-spf accept both styles); the whole exchange is bounded by the timeout.
/// </summary>
public sealed class PolicyServiceClient
{
    private const int MaxReplyBytes = 16 * 1024;
    private readonly EndPoint _endPoint;
    private readonly TimeSpan _timeout;

    public PolicyServiceClient(EndPoint endPoint, TimeSpan timeout, string name)
    {
        _endPoint = endPoint;
        _timeout = timeout;
        Name = name;
    }

    /// <summary>As configured, e.g. "inet:127.0.0.1:10023".</summary>
    public string Name { get; }

    public static PolicyServiceClient Create(string spec, TimeSpan timeout)
    {
        if (spec.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
            return new PolicyServiceClient(new UnixDomainSocketEndPoint(spec[5..]), timeout, spec);
        var hostPort = spec.StartsWith("inet:", StringComparison.OrdinalIgnoreCase) ? spec[5..] : spec;
        var colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], out var port) || port is < 1 or > 65535)
            throw new RestrictionConfigException($"policy service '{spec}' is not inet:host:port or unix:/path");
        var host = hostPort[..colon].Trim('[', ']');
        EndPoint ep = IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
        return new PolicyServiceClient(ep, timeout, spec);
    }

    /// <summary>Sends one request; returns the action text (e.g. "DUNNO", "DEFER_IF_PERMIT Greylisted"). Throws
    /// <see cref="PolicyServiceException"/> when the server cannot be reached, times out or answers without an action.</summary>
    public async Task<string> QueryAsync(IEnumerable<KeyValuePair<string, string>> attributes, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_timeout);
        try
        {
            using var socket = _endPoint switch
            {
                UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
                IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
                _ => new Socket(SocketType.Stream, ProtocolType.Tcp), // a host name: dual-mode, whatever family it resolves to
            };
            await socket.ConnectAsync(_endPoint, cts.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var request = new StringBuilder();
            foreach (var (k, v) in attributes)
                request.Append(k).Append('=').Append(v.Replace('\n', ' ').Replace('\r', ' ')).Append('\n');
            request.Append('\n');
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cts.Token);
            return await ReadActionAsync(stream, cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PolicyServiceException($"policy service {Name}: no answer within {_timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException e)
        {
            throw new PolicyServiceException($"policy service {Name}: {e.Message}");
        }
        catch (IOException e)
        {
            throw new PolicyServiceException($"policy service {Name}: {e.Message}");
        }
    }

    private async Task<string> ReadActionAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[1024];
        var received = new MemoryStream();
        while (true)
        {
            var n = await stream.ReadAsync(buffer, ct);
            if (n == 0) break;
            received.Write(buffer, 0, n);
            if (received.Length > MaxReplyBytes) throw new PolicyServiceException($"policy service {Name}: reply too long");
            var text = Encoding.UTF8.GetString(received.GetBuffer(), 0, (int)received.Length);
            if (text.StartsWith('\n') || text.Contains("\n\n", StringComparison.Ordinal)) break;
        }
        string? action = null;
        foreach (var line in Encoding.UTF8.GetString(received.GetBuffer(), 0, (int)received.Length).Split('\n'))
        {
            var l = line.TrimEnd('\r');
            if (l.Length == 0) break;
            if (l.StartsWith("action=", StringComparison.OrdinalIgnoreCase)) action = l[7..].Trim();
        }
        return action is { Length: > 0 } ? action : throw new PolicyServiceException($"policy service {Name}: reply without action=");
    }
}

public sealed class PolicyServiceException(string message) : Exception(message);

/// <summary>check_policy_service: asks the server and applies its action like an access table result.</summary>
internal sealed class PolicyServiceRestriction(string text, PolicyServiceClient client) : Restriction(text)
{
    public override async ValueTask<RestrictionResult> EvaluateAsync(RestrictionContext context, CancellationToken cancellationToken)
    {
        var f = context.Facts;
        string? clientName = null, reverseName = null;
        if (f.ClientHostname is not null || context.Options.Dns is not null)
        {
            var h = await context.ClientHostnameAsync(cancellationToken);
            clientName = h.VerifiedName;
            reverseName = h.ReverseName;
        }
        var attributes = new List<KeyValuePair<string, string>>
        {
            new("request", "smtpd_access_policy"),
            new("protocol_state", ProtocolState(context.Stage)),
            new("protocol_name", f.ProtocolName),
            new("helo_name", f.Helo ?? ""),
            new("queue_id", f.QueueId ?? ""),
            new("sender", f.MailFrom ?? ""),
            new("recipient", f.RcptTo ?? ""),
            new("recipient_count", f.RecipientCount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("client_address", f.ClientAddress.Unmapped().ToString()),
            new("client_name", clientName ?? "unknown"),
            new("reverse_client_name", reverseName ?? "unknown"),
            new("instance", f.Instance),
            new("sasl_method", ""),
            new("sasl_username", f.SaslUsername ?? ""),
            new("sasl_sender", ""),
            new("size", f.Size?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "0"),
        };
        string action;
        try
        {
            action = await client.QueryAsync(attributes, cancellationToken);
        }
        catch (PolicyServiceException e)
        {
            context.Effects.Warnings.Add($"{Text}: {e.Message}; using default action");
            action = context.Options.PolicyServiceDefaultAction;
        }
        return await AccessAction.EvaluateAsync(action, Builtins.Subject(context), Text, context, cancellationToken);
    }

    private static string ProtocolState(SmtpStage s) => s switch
    {
        SmtpStage.Client => "CONNECT",
        SmtpStage.Helo => "EHLO",
        SmtpStage.Sender => "MAIL",
        SmtpStage.Relay or SmtpStage.Recipient => "RCPT",
        SmtpStage.Data => "DATA",
        _ => "END-OF-MESSAGE",
    };
}
