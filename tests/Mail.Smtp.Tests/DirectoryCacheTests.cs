namespace Mail.Smtp.Tests;

/// <summary>Smtp:DirectoryCacheTtl: RCPT TO answers "our user?" from memory for the TTL, or asks every time with 0.</summary>
public sealed class DirectoryCacheTests
{
    private static async Task<int> RcptAsync(SmtpTestServer s, string recipient)
    {
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<someone@example.net>");
        return (await c.CommandAsync($"RCPT TO:<{recipient}>")).Code;
    }

    [Fact]
    public async Task Within_the_ttl_an_answer_is_reused_even_after_the_directory_changed()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.DirectoryCacheTtl = TimeSpan.FromHours(1));
        Assert.Equal(550, await RcptAsync(s, "carol@example.test"));
        await s.Directory.SetUserAsync("carol@example.test", "pw");
        Assert.Equal(550, await RcptAsync(s, "carol@example.test"));
        // Other questions are still asked.
        await s.Directory.SetUserAsync("dave@example.test", "pw");
        Assert.Equal(250, await RcptAsync(s, "dave@example.test"));
    }

    [Fact]
    public async Task With_ttl_zero_a_new_user_is_accepted_at_once()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.DirectoryCacheTtl = TimeSpan.Zero);
        Assert.Equal(550, await RcptAsync(s, "carol@example.test"));
        await s.Directory.SetUserAsync("carol@example.test", "pw");
        Assert.Equal(250, await RcptAsync(s, "carol@example.test"));
    }

    [Fact]
    public void A_negative_or_huge_ttl_is_a_configuration_error_naming_the_setting()
    {
        var options = new SmtpServerOptions { DirectoryCacheTtl = TimeSpan.FromSeconds(-1) };
        var e = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(options.Validate);
        Assert.Contains("Smtp:DirectoryCacheTtl", e.Message, StringComparison.Ordinal);
    }
}
