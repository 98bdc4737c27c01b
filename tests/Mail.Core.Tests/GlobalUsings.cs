// The inbound stage runs the checks through the seam declared in the core abstractions (IInboundCheck, InboundContext,
// Verdict, Disposition), so that check libraries (Mail.Auth, Mail.Defences) need not reference this project.
global using Mail.Core.InboundChecks;
