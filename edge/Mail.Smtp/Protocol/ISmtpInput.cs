using System.IO.Pipelines;

namespace Mail.Smtp.Protocol;

/// <summary>The session's input as the DATA and BDAT readers see it: reads with the session's timeout and shutdown handling.</summary>
internal interface ISmtpInput
{
    PipeReader Reader { get; }

    /// <summary>Null when the session must end (timeout or shutdown; the 421 has been written).</summary>
    ValueTask<ReadResult?> ReadAsync(TimeSpan timeout);
}

/// <summary>Where message octets go (the message store writer of the current transaction).</summary>
internal interface IMessageSink
{
    ValueTask WriteAsync(ReadOnlyMemory<byte> data);
}
