namespace Mail.Spf;

/// <summary>Unwinds an evaluation to a permerror (syntax error, limits exceeded).</summary>
internal sealed class SpfPermErrorException(string message) : Exception(message);

/// <summary>Unwinds an evaluation to a temperror (DNS failure, overall timeout).</summary>
internal sealed class SpfTempErrorException(string message) : Exception(message);
