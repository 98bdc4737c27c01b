namespace Mail.Configuration;

/// <summary>A setting is wrong; the message names it (e.g. "Dns:NameServers:0"). Hosts print it and stop.</summary>
public sealed class SettingsException(string message, Exception? inner = null) : Exception(message, inner);
