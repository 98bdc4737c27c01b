using Microsoft.Extensions.Logging;

namespace Mail.Imap.Tests;

/// <summary>Keeps every log line ("Level: message", then the exception's type when one is logged) for a test to look at.</summary>
public sealed class ListLoggerFactory : ILoggerFactory, ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get { lock (_lines) return _lines.ToList(); }
    }

    /// <summary>The first line matching <paramref name="match"/>, waiting for it (the server logs after the client
    /// has seen the connection end); fails after 30 seconds with the lines logged.</summary>
    public async Task<string> WaitForAsync(Func<string, bool> match)
    {
        for (var i = 0; i < 300; i++)
        {
            if (Lines.FirstOrDefault(match) is { } line) return line;
            await Task.Delay(100);
        }
        Assert.Fail("No such log line; logged:\n" + string.Join('\n', Lines));
        return "";
    }

    public ILogger CreateLogger(string categoryName) => this;
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var line = $"{logLevel}: {formatter(state, exception)}" + (exception is null ? "" : $" [{exception.GetType().Name}]");
        lock (_lines) _lines.Add(line);
    }
}
