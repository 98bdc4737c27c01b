using System.Net;
using System.Text;

namespace Mail.Testing;

/// <summary>A loopback HTTP server that gives every request the same answer: a download that fails, a storage
/// service that refuses (403).</summary>
public sealed class CannedHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>http://127.0.0.1:PORT/ — every path under it gets the answer.</summary>
    public string BaseUrl { get; private set; } = "";

    public int Requests => Volatile.Read(ref _requests);
    private int _requests;

    public static Task<CannedHttpServer> StartAsync(int status, string contentType, string body, IReadOnlyDictionary<string, string>? headers = null)
    {
        var s = new CannedHttpServer();
        s.BaseUrl = $"http://127.0.0.1:{FreePort.Tcp()}/";
        s._listener.Prefixes.Add(s.BaseUrl);
        s._listener.Start();
        var bytes = Encoding.UTF8.GetBytes(body);
        s._loop = Task.Run(async () =>
        {
            while (s._listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await s._listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                Interlocked.Increment(ref s._requests);
                ctx.Response.StatusCode = status;
                ctx.Response.ContentType = contentType;
                foreach (var (k, v) in headers ?? new Dictionary<string, string>()) ctx.Response.Headers[k] = v;
                ctx.Response.ContentLength64 = bytes.Length;
                await ctx.Response.OutputStream.WriteAsync(bytes);
                ctx.Response.Close();
            }
        });
        return Task.FromResult(s);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
