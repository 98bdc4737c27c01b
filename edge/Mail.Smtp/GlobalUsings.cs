// The policy seam the server calls (ISmtpSessionPolicy, SmtpSessionFacts, SmtpListenerRole) is declared in the core
// abstractions so that core libraries can implement it without referencing the SMTP server.
global using Mail.Core.SmtpPolicy;
