using Mail.Core.Accounts;
using Mail.Core.Forwarding;
using Mail.Storage.Embedded;
using Microsoft.Extensions.Configuration;

namespace Mail.Host;

/// <summary>
/// The embedded data directory ("DataDirectory", default ./data) and the stores inside it:
/// <c>mailbox-messages/</c> the copies delivered to mailboxes (segments), <c>messages/</c> those written before the
/// copies had segments or by a process other than the server (files), <c>queue/messages</c> the originals the edge
/// accepted (segments),
/// <c>queue/inbound</c> and <c>queue/outbound</c> spools, <c>mail.db</c>
/// (SQLite: users, domains, state and mailbox indexes), <c>tls/selfsigned.pfx</c>,
/// <c>dkim/DOMAIN/SELECTOR.pem</c> (DKIM private keys, mode 0600).
/// Shared by `mail serve` and the admin commands, so both see the same data.
/// </summary>
public sealed class DataLayout
{
    private readonly Lazy<SegmentMessageStore> _originals;
    private readonly Lazy<EmbeddedMessageStore> _messages;
    private readonly Lazy<SpoolQueue> _inbound;
    private readonly Lazy<SpoolQueue> _outbound;

    private DataLayout(string root)
    {
        Root = root;
        // The message stores and spools are opened on first use: opening them scans their files, which an admin
        // command about users or domains, or `mail serve` in cloud mode, has no reason to do.
        // The edge's commit does not wait for the disk: queueing the envelope in the inbound spool waits for the same
        // group commit, one sync for both. An envelope a machine crash kept without its message was never acknowledged:
        // dropped at load.
        // No index files: the originals are deleted once delivered, so a start finds few segments to scan.
        _originals = new(() => new SegmentMessageStore(Path.Combine(root, "queue", "messages"), deferCommitTo: SpoolQueue.EnqueueCommit, indexFiles: false));
        // A mailbox copy is durable once the group commit's write-back and fdatasync cover its segment, where a file
        // each took two syncfs (data, then name). Copies already in messages/ stay there and are read as before.
        _messages = new(() => new EmbeddedMessageStore(new FileMessageStore(Path.Combine(root, "messages")), Originals,
            new SegmentMessageStore(Path.Combine(root, "mailbox-messages"), deferrable: true)));
        _inbound = new(() => new SpoolQueue(Path.Combine(root, "queue"), "inbound",
            keep: envelope => Messages.Exists(envelope.MessageRef)));
        _outbound = new(() => new SpoolQueue(Path.Combine(root, "queue"), "outbound"));
        State = new SqliteStateStore(DatabasePath, watched: DirectoryPartitions.Contains);
        // A message no mailbox row references any more (expunged, its mailbox deleted) is deleted from the store.
        Mailboxes = new SqliteMailboxStore(DatabasePath, messages: () => Messages);
        Secrets = new FileSecretStore(root);
        Directory = new MailDirectory(State) { Srs = new SenderRewriting(Secrets) };
    }

    public string Root { get; }
    public string DatabasePath => Path.Combine(Root, "mail.db");
    public string SelfSignedCertificatePath => Path.Combine(Root, "tls", "selfsigned.pfx");
    /// <summary>Every message, wherever it lives: what the pipeline, the IMAP gateway and the CLI read.</summary>
    public EmbeddedMessageStore Messages => _messages.Value;
    /// <summary>Where the SMTP edge writes what it accepts.</summary>
    public SegmentMessageStore Originals => _originals.Value;
    public SpoolQueue Inbound => _inbound.Value;
    public SpoolQueue Outbound => _outbound.Value;
    public SqliteStateStore State { get; }
    public SqliteMailboxStore Mailboxes { get; }
    public MailDirectory Directory { get; }
    /// <summary>Private keys as files under the data directory (secret "dkim/example.com/202612r.pem" is that path).</summary>
    public FileSecretStore Secrets { get; }

    /// <summary>
    /// Closes the message stores opened so far (`mail serve` at shutdown, once nothing writes any more): their open
    /// segments lose the zeros written ahead of their end, and the copies' segments get their index files. A start
    /// after a crash, without this, scans what no index covers instead.
    /// </summary>
    public void CloseMessageStores()
    {
        if (_messages.IsValueCreated) _messages.Value.Copies?.Dispose();
        if (_originals.IsValueCreated) _originals.Value.Dispose();
    }

    /// <summary>Opens (creating when missing) the data directory named by the "DataDirectory" setting.</summary>
    /// <exception cref="HostFailureException">The directory cannot be created or written (EX_IOERR), naming the setting.</exception>
    public static DataLayout Open(IConfiguration configuration)
    {
        var configured = HostSettings.DataDirectory(configuration);
        string root;
        try
        {
            root = Path.GetFullPath(configured);
            System.IO.Directory.CreateDirectory(root);
            var probe = Path.Combine(root, ".write-probe");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new HostFailureException(ExitCodes.IoError, $"data directory '{configured}'", $"cannot be written: {e.Message}", "DataDirectory", e);
        }
        return new DataLayout(root);
    }
}

/// <summary>A setting is wrong; the message names it. `mail` prints it and exits with EX_CONFIG (78).</summary>
public sealed class ConfigurationException(string message) : Exception(message);
