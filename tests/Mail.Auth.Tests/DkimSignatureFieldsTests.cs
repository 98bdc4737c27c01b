using System.Globalization;
using Mail.Auth.Dkim;

namespace Mail.Auth.Tests;

/// <summary>
/// DKIM-Signature tag parsing (RFC 6376 3.2, 3.5) pinned case by case: whitespace and empty tags, malformed and
/// repeated names, every validation and its message, case folding of a=, c=, d= and i= (non-ASCII included). The
/// expectations were produced by the earlier Dictionary-based parser, so the span scanner that replaced it (run on
/// every message) is held to the same answers.
/// </summary>
public sealed class DkimSignatureFieldsTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1;a=RSA-SHA256;d=Example.COM.;s= sel ;h=From : To:subject;bh=AA AA;b=A A\tA;c=Relaxed/SIMPLE", "OK a=rsa-sha256|RsaSha256|b=AAA|bh=AAAA|c=Relaxed/Simple|d=example.com|s=sel|h=From,To,subject|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=RSA-SHA256|d=Example.COM.|s=sel|h=From : To:subject|bh=AA AA|b=A A\tA|c=Relaxed/SIMPLE" },
        { " v = 1 ; a = rsa-sha256 ; d = example.com ; s = x ; h = from ; bh = AAAA ; b = AAAA ;", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA;;", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=", "ERR missing b= tag", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; b=BBBB", "ERR duplicate tag \"b\"", "ERR duplicate tag \"b\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; z=1; z=2", "ERR duplicate tag \"z\"", "ERR duplicate tag \"z\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; 1z=1", "ERR malformed tag name \"1z\"", "ERR malformed tag name \"1z\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; z-z=1", "ERR malformed tag name \"z-z\"", "ERR malformed tag name \"z-z\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; _z=1", "ERR malformed tag name \"_z\"", "ERR malformed tag name \"_z\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; z_9=1; =x", "ERR malformed tag \"=x\"", "ERR malformed tag \"=x\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; novalue", "ERR malformed tag \"novalue\"", "ERR malformed tag \"novalue\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; x==y", "ERR invalid expiration x==y", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|x==y" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=subject; bh=AAAA; b=AAAA", "ERR From is not among the signed header fields", "v=1|a=rsa-sha256|d=example.com|s=x|h=subject|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from::to; bh=AAAA; b=AAAA", "ERR empty header name in h=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from::to|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from:to:; bh=AAAA; b=AAAA", "ERR empty header name in h=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from:to:|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; h=from; bh=AAAA; b=AAAA", "ERR missing s= tag", "v=1|a=rsa-sha256|d=example.com|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=; h=from; bh=AAAA; b=AAAA", "ERR missing s= tag", "v=1|a=rsa-sha256|d=example.com|s=|h=from|bh=AAAA|b=AAAA" },
        { "v=2; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "ERR unsupported version v=2", "v=2|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "ERR missing v= tag", "a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-md5; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-md5||b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-md5|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=ed25519-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "OK a=ed25519-sha256|Ed25519Sha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=ed25519-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha1; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-sha1|RsaSha1|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha1|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; i=@evil.test; s=x; h=from; bh=AAAA; b=AAAA", "ERR i= domain is not d= or a subdomain of it", "v=1|a=rsa-sha256|d=example.com|i=@evil.test|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; i=user@Sub.Example.Com.; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=user@Sub.Example.Com.|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|i=user@Sub.Example.Com.|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; i=user; s=x; h=from; bh=AAAA; b=AAAA", "ERR i= has no @", "v=1|a=rsa-sha256|d=example.com|i=user|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; i=a@b@example.com; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=a@b@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|i=a@b@example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; i=@notexample.com; s=x; h=from; bh=AAAA; b=AAAA", "ERR i= domain is not d= or a subdomain of it", "v=1|a=rsa-sha256|d=example.com|i=@notexample.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=-5", "ERR invalid body length l=-5", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|l=-5" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=0", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=0|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|l=0" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=12345", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=12345|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|l=12345" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=+5", "ERR invalid body length l=+5", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|l=+5" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=99999999999999999999", "ERR invalid body length l=99999999999999999999", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|l=99999999999999999999" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=", "ERR invalid body length l=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|l=" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; t=1700000000; x=1800000000", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=11/14/2023 22:13:20 +00:00|x=01/15/2027 08:00:00 +00:00", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|t=1700000000|x=1800000000" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; t=1700000000; x=1600000000", "ERR x= is earlier than t=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|t=1700000000|x=1600000000" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; t=9999999999999", "ERR invalid timestamp t=9999999999999", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|t=9999999999999" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; t=999999999999", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=12/31/9999 23:59:59 +00:00|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|t=999999999999" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; t=", "ERR invalid timestamp t=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|t=" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; x=abc", "ERR invalid expiration x=abc", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|x=abc" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; q=dns/txt", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|q=dns/txt" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; q=DNS/TXT:other", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=DNS/TXT:other|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|q=DNS/TXT:other" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; q=other: dns/txt ", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=other: dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|q=other: dns/txt" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; q=other", "ERR unsupported query method q=other", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|q=other" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; q=", "ERR unsupported query method q=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|q=" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=relaxed", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Relaxed/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=relaxed" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=simple/", "ERR invalid canonicalization c=simple/", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=simple/" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=/relaxed", "ERR invalid canonicalization c=/relaxed", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=/relaxed" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=relaxed/relaxed/relaxed", "ERR invalid canonicalization c=relaxed/relaxed/relaxed", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=relaxed/relaxed/relaxed" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=", "ERR invalid canonicalization c=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=nowsp", "ERR invalid canonicalization c=nowsp", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=nowsp" },
        { "v=1; a=; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "ERR missing a= tag", "v=1|a=|d=example.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h= FROM ; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=FROM|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=FROM|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; i=", "ERR i= has no @", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|i=" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=to:from:FROM:Subject:date:message-id:x-custom; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=to,from,FROM,Subject,date,message-id,x-custom|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=to:from:FROM:Subject:date:message-id:x-custom|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=exémple.com; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=exémple.com|s=x|h=from|i=@exémple.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=exémple.com|s=x|h=from|bh=AAAA|b=AAAA" },
        { ";;;", "ERR missing v= tag", "" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; Z=1; z=2", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|Z=1|z=2" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=sİmple/relaxed", "ERR invalid canonicalization c=sİmple/relaxed", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=sİmple/relaxed" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; c=ſimple", "ERR invalid canonicalization c=ſimple", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|c=ſimple" },
        { "v=1; a=rsa-sha256; d=Example.com; s=x; h=from; bh=AAAA; b=AAAA; i=joe@İſ.EXAMPLE.com", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=joe@İſ.EXAMPLE.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=Example.com|s=x|h=from|bh=AAAA|b=AAAA|i=joe@İſ.EXAMPLE.com" },
        { "v=1; a=rsa-sha256; d=ıexample.com; s=x; h=from; bh=AAAA; b=AAAA; i=joe@İEXAMPLE.com", "ERR i= domain is not d= or a subdomain of it", "v=1|a=rsa-sha256|d=ıexample.com|s=x|h=from|bh=AAAA|b=AAAA|i=joe@İEXAMPLE.com" },
        { "v=1; a=RSA-SHA1; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; i=joe@sub.EXAMPLE.com..", "OK a=rsa-sha1|RsaSha1|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=joe@sub.EXAMPLE.com..|l=|q=dns/txt|t=|x=", "v=1|a=RSA-SHA1|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|i=joe@sub.EXAMPLE.com.." },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; i=joe@xexample.com", "ERR i= domain is not d= or a subdomain of it", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|i=joe@xexample.com" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; i=joe@.example.com", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=joe@.example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|i=joe@.example.com" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; x=1700000000", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt|t=|x=11/14/2023 22:13:20 +00:00", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|x=1700000000" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; q=dns/txt:dns/txt", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=example.com|s=x|h=from|i=@example.com|l=|q=dns/txt:dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com|s=x|h=from|bh=AAAA|b=AAAA|q=dns/txt:dns/txt" },
        { "v=1; a=rsa-sha256; d=example.com...; s=x; h=from\t:\r\n to; bh=A\r\n A; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AA|c=Simple/Simple|d=example.com|s=x|h=from,to|i=@example.com|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=example.com...|s=x|h=from\t:\r\n to|bh=A\r\n A|b=AAAA" },
        { "v=1; a=rsa-sha256; d=.; s=x; h=from; bh=AAAA; b=AAAA", "OK a=rsa-sha256|RsaSha256|b=AAAA|bh=AAAA|c=Simple/Simple|d=|s=x|h=from|i=@|l=|q=dns/txt|t=|x=", "v=1|a=rsa-sha256|d=.|s=x|h=from|bh=AAAA|b=AAAA" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; this_is_a_very_long_tag_name_of_more_than_forty_chars-x=1", "ERR malformed tag name \"this_is_a_very_long_tag_name_of_more_tha...\"", "ERR malformed tag name \"this_is_a_very_long_tag_name_of_more_tha...\"" },
        { "v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; this is a very long malformed tag of more than forty chars", "ERR malformed tag \"this is a very long malformed tag of mor...\"", "ERR malformed tag \"this is a very long malformed tag of mor...\"" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Parses_as_before(string value, string fields, string tags)
    {
        var f = DkimSignatureFields.Parse(value, out var error);
        Assert.Equal(fields, f is null
            ? $"ERR {error}"
            : string.Create(CultureInfo.InvariantCulture, $"OK a={f.AlgorithmName}|{f.Algorithm}|b={f.Signature}|bh={f.BodyHash}|c={f.HeaderCanonicalization}/{f.BodyCanonicalization}|d={f.Domain}|s={f.Selector}|h={string.Join(",", f.SignedHeaders)}|i={f.Identity}|l={f.BodyLength}|q={f.QueryMethods}|t={f.Timestamp}|x={f.Expiration}"));

        var list = TagList.Parse(value, out var listError);
        Assert.Equal(tags, list is null ? $"ERR {listError}" : string.Join("|", list.Select(kv => kv.Key + "=" + kv.Value)));
    }
}
