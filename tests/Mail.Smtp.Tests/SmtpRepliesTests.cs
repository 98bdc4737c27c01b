using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using Mail.Smtp.Protocol;

namespace Mail.Smtp.Tests;

using CatalogueReply = Mail.Smtp.Protocol.SmtpReply;

/// <summary>The reply catalogue (SmtpReplies, SmtpHostReplies): every reply it can produce, named or made by a factory.</summary>
public sealed class SmtpRepliesTests
{
    /// <summary>Every named reply, and every factory's reply for sample arguments (found by reflection, so a new one is checked too).</summary>
    private static List<(string Name, CatalogueReply Reply)> All()
    {
        var all = new List<(string, CatalogueReply)>();
        var host = SmtpHostReplies.For("mx.example.test");
        foreach (var (type, target) in new (Type, object?)[] { (typeof(SmtpReplies), null), (typeof(SmtpHostReplies), host) })
        {
            var flags = BindingFlags.Public | (target is null ? BindingFlags.Static : BindingFlags.Instance);
            foreach (var f in type.GetFields(flags).Where(f => f.FieldType == typeof(CatalogueReply)))
                all.Add(($"{type.Name}.{f.Name}", (CatalogueReply)f.GetValue(target)!));
            foreach (var p in type.GetProperties(flags).Where(p => p.PropertyType == typeof(CatalogueReply)))
                all.Add(($"{type.Name}.{p.Name}", (CatalogueReply)p.GetValue(target)!));
            foreach (var m in type.GetMethods(flags | BindingFlags.DeclaredOnly).Where(m => m.ReturnType == typeof(CatalogueReply) && !m.IsSpecialName))
            {
                var args = m.GetParameters().Select(p => Sample(p.ParameterType)).ToArray();
                all.Add(($"{type.Name}.{m.Name}()", (CatalogueReply)m.Invoke(target, args)!));
            }
        }
        return all;
    }

    private static object Sample(Type t) =>
        t == typeof(string) ? "sample" : t == typeof(long) ? 1000L : t == typeof(int) ? 1000 : t == typeof(bool) ? false
        : t == typeof(IPAddress) ? IPAddress.Loopback : throw new InvalidOperationException($"no sample for {t}");

    [Fact]
    public void Catalogue_is_found()
    {
        // Guards the reflection above: if it found nothing, the tests below would pass vacuously.
        var all = All();
        Assert.True(all.Count > 80, $"only {all.Count} replies found");
        Assert.Contains(all, r => r.Name == "SmtpReplies.NeedMail");
        Assert.Contains(all, r => r.Name == "SmtpHostReplies.Bye");
        Assert.Contains(all, r => r.Name == "SmtpReplies.Queued()");
    }

    [Fact]
    public void No_two_names_for_the_same_reply()
    {
        var duplicates = All().GroupBy(r => r.Reply.ToString()).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(r => r.Name))}").ToList();
        Assert.True(duplicates.Count == 0, string.Join("\n", duplicates));
    }

    [Fact]
    public void Codes_are_well_formed_and_enhanced_class_matches_the_reply()
    {
        var enhanced = new Regex(@"^[245]\.\d{1,3}\.\d{1,3}$");
        var wrong = new List<string>();
        foreach (var (name, reply) in All())
        {
            if (reply.Code is < 200 or > 599) wrong.Add($"{name}: code {reply.Code}");
            if (reply.Text.Length == 0 || reply.Text.Contains('\r') || reply.Text.Contains('\n')) wrong.Add($"{name}: text");
            if (reply.EnhancedCode is null)
            {
                // RFC 2034 section 3: only the greeting, HELO/EHLO's 250, 334 and 354 go without one.
                if (reply.Code is not (220 or 250 or 334 or 354) || (reply.Code == 220 && !reply.Text.Contains("ESMTP")))
                    wrong.Add($"{name}: {reply.Code} without an enhanced code");
            }
            else if (!enhanced.IsMatch(reply.EnhancedCode) || reply.EnhancedCode[0] - '0' != reply.Code / 100)
                wrong.Add($"{name}: {reply.Code} with {reply.EnhancedCode}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public async Task Encoded_replies_are_the_bytes_the_writer_formats()
    {
        foreach (var (name, reply) in All().Where(r => r.Reply.IsEncoded))
        {
            var formatted = new Pipe();
            new SmtpReplyWriter(formatted.Writer).Write(reply.Code, reply.EnhancedCode, reply.Text, last: !reply.Continues);
            await formatted.Writer.FlushAsync();
            var read = await formatted.Reader.ReadAsync();
            Assert.True(read.Buffer.ToArray().AsSpan().SequenceEqual(reply.Encoded), name);
            Assert.Equal(reply.ToString() + "\r\n", System.Text.Encoding.UTF8.GetString(reply.Encoded));
        }
    }

    [Fact]
    public void Host_replies_follow_the_host_name()
    {
        Assert.Equal("221 2.0.0 a.example Bye", SmtpHostReplies.For("a.example").Bye.ToString());
        Assert.Equal("221 2.0.0 b.example Bye", SmtpHostReplies.For("b.example").Bye.ToString());
        Assert.Equal("220-b.example ESMTP", SmtpHostReplies.For("b.example").GreetingBanner.ToString());
    }
}
