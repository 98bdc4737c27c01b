using System.Text;
using MimeKit.Text;

namespace Mail.Defences.ContentChecks;

/// <summary>The visible text of an HTML body: tags removed, entities decoded, script/style dropped,
/// block elements turned into line breaks (so body_checks see one line per paragraph or row).</summary>
public static class HtmlText
{
    private static readonly HashSet<string> BlockTags = new(StringComparer.OrdinalIgnoreCase)
    {
        "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "hr", "title", "td", "th",
    };

    public static string ToText(string html)
    {
        var sb = new StringBuilder(html.Length / 2);
        var tokenizer = new HtmlTokenizer(new StringReader(html)) { DecodeCharacterReferences = true };
        var skipDepth = 0;
        while (tokenizer.ReadNextToken(out var token))
        {
            switch (token)
            {
                case HtmlTagToken tag when tag.Name.Equals("script", StringComparison.OrdinalIgnoreCase) || tag.Name.Equals("style", StringComparison.OrdinalIgnoreCase):
                    if (!tag.IsEmptyElement) skipDepth = tag.IsEndTag ? Math.Max(0, skipDepth - 1) : skipDepth + 1;
                    break;
                case HtmlTagToken tag when BlockTags.Contains(tag.Name):
                    sb.Append('\n');
                    break;
                case HtmlDataToken data when skipDepth == 0 && token.Kind == HtmlTokenKind.Data:
                    sb.Append(data.Data);
                    break;
            }
        }
        return sb.ToString();
    }
}
