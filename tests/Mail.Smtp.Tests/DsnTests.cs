using Mail.Core.Model;

namespace Mail.Smtp.Tests;

/// <summary>RFC 3461 DSN parameters: parsed, xtext-decoded, validated, carried in the envelope.</summary>
public sealed class DsnTests
{
    [Fact]
    public async Task Dsn_parameters_reach_the_envelope_decoded()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test> RET=hdrs ENVID=QQ+2Bid+3D1 SIZE=500")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+2Bx+40example.test")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<bob@example.test> NOTIFY=NEVER")).Code);
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: dsn\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal(DsnRet.Hdrs, env.MailFromParameters.Ret);
        Assert.Equal("QQ+id=1", env.MailFromParameters.EnvId);
        Assert.Equal(500, env.MailFromParameters.Size);
        Assert.Equal(DsnNotify.Success | DsnNotify.Delay, env.Recipients[0].Notify);
        Assert.Equal("rfc822;Alice+x@example.test", env.Recipients[0].ORcpt);
        Assert.Equal(DsnNotify.Never, env.Recipients[1].Notify);
        Assert.Null(env.Recipients[1].ORcpt);
    }

    [Theory]
    [InlineData("MAIL FROM:<a@other.test> RET=ALL")]
    [InlineData("MAIL FROM:<a@other.test> ENVID=bad+zz")]
    [InlineData("MAIL FROM:<a@other.test> ENVID=has+")]
    public async Task Bad_mail_dsn_parameters_get_501(string command)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync(command)).Last);
    }

    [Theory]
    [InlineData("NOTIFY=NEVER,SUCCESS")]
    [InlineData("NOTIFY=SOMETIMES")]
    [InlineData("NOTIFY=SUCCESS,SUCCESS")]
    [InlineData("ORCPT=rfc822")]
    [InlineData("ORCPT=;alice@example.test")]
    [InlineData("ORCPT=rfc822;bad+4")]
    public async Task Bad_rcpt_dsn_parameters_get_501(string parameter)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync($"RCPT TO:<alice@example.test> {parameter}")).Last);
    }

    [Fact]
    public async Task Python_smtplib_passes_dsn_options()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var script = """
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('py.client.test')
assert s.has_extn('dsn') and s.has_extn('pipelining') and s.has_extn('chunking') and s.has_extn('starttls')
s.sendmail('py@other.test', ['alice@example.test'], 'Subject: py\r\n\r\nfrom python\r\n',
           mail_options=['RET=FULL', 'ENVID=py1'], rcpt_options=['NOTIFY=FAILURE'])
s.quit()
print('sent')
""";
        var result = await Mail.Testing.ExternalProcess.RunAsync("python3", ["-c", script, s.Mx.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Contains("sent", result.StdOut);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal(DsnRet.Full, env.MailFromParameters.Ret);
        Assert.Equal("py1", env.MailFromParameters.EnvId);
        Assert.Equal(DsnNotify.Failure, env.Recipients[0].Notify);
        Assert.Equal("py.client.test", env.Client.Helo);
    }
}
