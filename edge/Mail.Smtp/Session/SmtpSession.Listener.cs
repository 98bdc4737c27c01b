using Mail.Core.Listening;

namespace Mail.Smtp.Session;

// The session as the shared ListenerHost runs it. A stop is asked by RequestStop ("421 4.3.2" at the next read), not by
// the host's token, so a connection costs no token registration.
internal sealed partial class SmtpSession : IListenerSession
{
    Task IListenerSession.RunAsync(CancellationToken stopping) => RunAsync();

    void IListenerSession.OnStopping() => RequestStop();

    ValueTask IAsyncDisposable.DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
