using System.Globalization;
using System.Text;

namespace Mail.Defences.ContentChecks;

/// <summary>
/// Folds text so one rule catches the usual obfuscations of a word: compatibility forms (NFKC: fullwidth,
/// mathematical letters, ligatures), diacritics (á → a), Cyrillic and Greek look-alikes (Cyrillic "а", Greek "Α" → a),
/// stray accent symbols between letters ("Viagr^a"), zero-width and soft-hyphen characters; then lower case.
/// Digits and punctuation are left alone so ordinary rules keep working on the folded text.
/// </summary>
public static class TextNormalizer
{
    public static string Normalize(string text)
    {
        if (text.Length == 0) return text;
        var compat = text.Normalize(NormalizationForm.FormKC).Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(compat.Length);
        foreach (var rune in compat.EnumerateRunes())
        {
            var cat = Rune.GetUnicodeCategory(rune);
            // Combining marks (the accents split off by NFD) and spacing accents (^ ` ´ ¨ ˜) carry no letter.
            if (cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.ModifierSymbol) continue;
            // Zero-width space/joiners, soft hyphen, BOM, bidi controls: invisible, used to split words.
            if (cat == UnicodeCategory.Format) continue;
            if (rune.IsBmp && Confusables.TryGetValue((char)rune.Value, out var latin))
            {
                sb.Append(latin);
                continue;
            }
            sb.Append(rune.ToString());
        }
        return sb.ToString().ToLowerInvariant().Normalize(NormalizationForm.FormC);
    }

    /// <summary>Cyrillic and Greek letters that render like Latin ones (after NFD, so no accented forms needed).
    /// Upper case maps to upper, lower to lower, so e.g. Greek capital Eta (H) and small eta (n) both come out right.</summary>
    private static readonly Dictionary<char, char> Confusables = Build(
        // Cyrillic upper
        "А=A В=B Е=E Ѕ=S І=I Ј=J К=K М=M Н=H О=O Р=P С=C Т=T У=Y Х=X Ү=Y Һ=H Ԁ=D Ԛ=Q Ԝ=W Ӏ=I " +
        // Cyrillic lower
        "а=a е=e ѕ=s і=i ј=j о=o р=p с=c у=y х=x һ=h ԁ=d ԛ=q ԝ=w ӏ=l ү=y ɡ=g в=b к=k м=m н=h т=t п=n г=r " +
        // Greek upper
        "Α=A Β=B Ε=E Ζ=Z Η=H Ι=I Κ=K Μ=M Ν=N Ο=O Ρ=P Τ=T Υ=Y Χ=X " +
        // Greek lower
        "α=a β=b γ=y ε=e η=n ι=i κ=k ν=v ο=o ρ=p τ=t υ=u χ=x ω=w ϲ=c ϳ=j " +
        // Latin look-alikes outside ASCII
        "ı=i ł=l ø=o đ=d ħ=h ß=s");

    private static Dictionary<char, char> Build(string pairs)
    {
        var d = new Dictionary<char, char>();
        foreach (var p in pairs.Split(' ', StringSplitOptions.RemoveEmptyEntries)) d[p[0]] = p[2];
        return d;
    }
}
