namespace ChatCachePolly.Loopback.Internal;

/// <summary>
/// A "token-ish" splitter: each token is optional leading whitespace followed by a run of letters/digits or a run of
/// punctuation. Concatenating the tokens gives back the input, e.g. <c>The capital of France is Paris.</c> →
/// <c>The| capital| of| France| is| Paris|.</c> and <c>{"city":"Paris"}</c> → <c>{"|city|":"|Paris|"}</c>.
/// </summary>
internal static class Tokenizer
{
    public static List<string> Split(string text)
    {
        var tokens = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i < text.Length)
            {
                var word = char.IsLetterOrDigit(text[i]);
                while (i < text.Length && !char.IsWhiteSpace(text[i]) && char.IsLetterOrDigit(text[i]) == word)
                {
                    i++;
                }
            }

            tokens.Add(text[start..i]);
        }

        return tokens;
    }

    public static int Count(string text) => Split(text).Count;
}
