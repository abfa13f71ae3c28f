//! Language-specific text analysis for the embedded customer agent: stop
//! words, light suffix stripping (stemming) and language detection, for
//! Polish (`pl`) and English (`en`). Other languages get normalised words
//! with nothing removed or stripped.
//!
//! Stemming is deliberately light: a stem keeps at least three letters.
//!
//! - Polish (after [diacritic folding](crate::text::normalize), so `ą` is
//!   `a`): one suffix is stripped, the longest that leaves a stem of three
//!   letters, among the noun and adjective case endings (`-ach -ami -ego -emu -ich -ych
//!   -imi -ymi -iem -om -ow -ej -ie -ia -ii -iu -ym -im -em`, single vowels
//!   `-a -e -i -o -u -y`), `-owanie -owania`, and the infinitive endings
//!   `-ac -ec -ic -yc`. `fakturę`, `faktura`, `faktury` and `fakturami` are
//!   all `faktur`; `konsultantem` is `konsultant`.
//! - English: first the plural: `-ies` becomes `-y`, `-sses` becomes
//!   `-ss`, `-es` after `s x z ch sh` and `-s` (not after `s`, `u` or `i`)
//!   are stripped; then `-ing` or `-ed` is stripped, and a doubled final
//!   consonant undoubled (`submitted`, `submitting` are `submit`). `hours` is
//!   `hour`, `opening` is `open`, `invoices` is `invoice`, `readings` is
//!   `read`.
//!
//! Stop words are the function words and conversational fillers of each
//! language ("jak", "czy", "mogę", "proszę"; "how", "can", "please",
//! "want"): they carry no meaning a knowledge base could match.

use crate::text;

/// The languages with stop words and stemming.
pub const ANALYSED: &[&str] = &["pl", "en"];

/// The words of `text` that matter for matching in language `lang`:
/// normalised, stop words removed, stemmed.
pub fn terms(text: &str, lang: &str) -> Vec<String> {
    text::words(text)
        .into_iter()
        .filter(|w| !is_stopword(w, lang))
        .map(|w| stem(&w, lang))
        .collect()
}

/// Whether `word` (normalised) is a stop word of `lang`.
pub fn is_stopword(word: &str, lang: &str) -> bool {
    match base(lang) {
        "pl" => POLISH_STOPWORDS.contains(&word),
        "en" => ENGLISH_STOPWORDS.contains(&word),
        _ => false,
    }
}

/// Strips one suffix from `word` (normalised) by the rules of `lang`.
pub fn stem(word: &str, lang: &str) -> String {
    match base(lang) {
        "pl" => stem_polish(word),
        "en" => stem_english(word),
        _ => word.to_owned(),
    }
}

/// Guesses the language of `text` from its letters and stop words: each
/// Polish letter with a diacritic (`ą ć ę ł ń ó ś ź ż`) counts two for
/// Polish, each stop word of only one of the two languages counts one for
/// it. `None` on a tie (including no evidence at all).
pub fn detect(text: &str) -> Option<&'static str> {
    let mut pl = 0usize;
    let mut en = 0usize;
    for c in text.chars() {
        if "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ".contains(c) {
            pl += 2;
        }
    }
    for word in text::words(text) {
        let in_pl = POLISH_STOPWORDS.contains(&word.as_str());
        let in_en = ENGLISH_STOPWORDS.contains(&word.as_str());
        if in_pl && !in_en {
            pl += 1;
        } else if in_en && !in_pl {
            en += 1;
        }
    }
    match pl.cmp(&en) {
        std::cmp::Ordering::Greater => Some("pl"),
        std::cmp::Ordering::Less => Some("en"),
        std::cmp::Ordering::Equal => None,
    }
}

/// The primary subtag of a language tag: `pl` for `pl-PL`.
pub fn base(lang: &str) -> &str {
    lang.split(['-', '_']).next().unwrap_or(lang)
}

const MIN_STEM: usize = 3;

#[rustfmt::skip]
const POLISH_SUFFIXES: &[&str] = &[
    "owanie", "owania", "ach", "ami", "ego", "emu", "ich", "ych", "imi", "ymi", "iem", "om", "ow",
    "ej", "ie", "ia", "ii", "iu", "ym", "im", "em", "ac", "ec", "ic", "yc", "a", "e", "i", "o",
    "u", "y",
];

fn stem_polish(word: &str) -> String {
    let mut best: Option<&str> = None;
    for suffix in POLISH_SUFFIXES {
        if let Some(rest) = word.strip_suffix(suffix)
            && rest.chars().count() >= MIN_STEM
            && best.is_none_or(|b| rest.len() < b.len())
        {
            best = Some(rest);
        }
    }
    best.unwrap_or(word).to_owned()
}

fn stem_english(word: &str) -> String {
    let singular = english_singular(word);
    for suffix in ["ing", "ed"] {
        if let Some(rest) = singular.strip_suffix(suffix)
            && rest.chars().count() >= MIN_STEM
        {
            return undouble(rest);
        }
    }
    singular
}

fn english_singular(word: &str) -> String {
    let long_enough = |rest: &str| rest.chars().count() >= MIN_STEM;
    if let Some(rest) = word.strip_suffix("ies")
        && long_enough(rest)
    {
        return format!("{rest}y");
    }
    if let Some(rest) = word.strip_suffix("sses") {
        return format!("{rest}ss");
    }
    if let Some(rest) = word.strip_suffix("es")
        && long_enough(rest)
        && ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|e| rest.ends_with(e))
    {
        return rest.to_owned();
    }
    if let Some(rest) = word.strip_suffix('s')
        && long_enough(rest)
        && !rest.ends_with(['s', 'u', 'i'])
    {
        return rest.to_owned();
    }
    word.to_owned()
}

/// `submitt` → `submit`; `fall`, `miss`, `buzz` keep their double letter.
fn undouble(stem: &str) -> String {
    let mut chars = stem.chars().rev();
    if let (Some(a), Some(b)) = (chars.next(), chars.next())
        && a == b
        && a.is_ascii_alphabetic()
        && !"aeiouylsz".contains(a)
    {
        let mut out = stem.to_owned();
        out.pop();
        return out;
    }
    stem.to_owned()
}

/// Polish stop words, normalised (diacritics folded).
#[rustfmt::skip]
const POLISH_STOPWORDS: &[&str] = &[
    "a", "aby", "albo", "ale", "bez", "bo", "by", "byc", "bym", "chce", "chcialabym", "chcialbym",
    "co", "czy", "dla", "do", "dobry", "dzien", "dziekuje", "gdy", "gdzie", "halo", "hej", "i",
    "ich", "ile", "ja", "jak", "jaka", "jaki", "jakich", "jakie", "jakim", "jesli", "jest",
    "jestem", "jeszcze", "jezeli", "juz", "kiedy", "kto", "ktora", "ktore", "ktory", "lub", "ma",
    "mam", "masz", "mi", "mnie", "moge", "moglby", "moglabys", "moj", "moja", "moje", "mojego",
    "mojej", "my", "mozesz", "mozna", "na", "nad", "nie", "o", "od", "on", "ona", "oni", "oraz",
    "po", "pod", "potrzebuje", "powiedz", "powiedziec", "prosze", "przez", "przy", "robic", "sa",
    "sie", "ta", "tak", "takze", "te", "tego", "tej", "ten", "to", "tu", "ty", "tym", "u", "w",
    "we", "wiedziec", "witam", "wy", "z", "za", "ze", "zeby", "zrobic",
];

/// English stop words, normalised (apostrophes dropped: `dont`, `im`).
#[rustfmt::skip]
const ENGLISH_STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being", "but", "by",
    "can", "could", "did", "do", "does", "dont", "for", "from", "had", "has", "have", "he",
    "hello", "help", "her", "hi", "his", "how", "i", "if", "im", "in", "into", "is", "it", "its",
    "know", "like", "may", "me", "might", "must", "my", "need", "no", "not", "of", "on", "or",
    "our", "please", "shall", "she", "should", "so", "some", "tell", "thanks", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "us", "want", "was",
    "we", "were", "what", "when", "where", "which", "who", "whom", "whose", "why", "will", "with",
    "would", "yes", "you", "your", "yours",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polish_forms_share_a_stem() {
        for (forms, stem) in [
            (
                &["fakturę", "faktura", "faktury", "fakturami"][..],
                "faktur",
            ),
            (
                &["konsultant", "konsultantem", "konsultantów"][..],
                "konsultant",
            ),
            (&["prąd", "prądu"][..], "prad"),
            (&["umowa", "umowie", "umowy"][..], "umow"),
            (&["reklamacja", "reklamację", "reklamacji"][..], "reklamacj"),
            (&["zapłacić"][..], "zaplac"),
        ] {
            for form in forms {
                assert_eq!(terms(form, "pl"), vec![stem.to_owned()], "{form}");
            }
        }
    }

    #[test]
    fn english_forms_share_a_stem() {
        for (forms, stem) in [
            (&["hour", "hours"][..], "hour"),
            (&["open", "opening", "opened"][..], "open"),
            (&["invoice", "invoices"][..], "invoice"),
            (&["submit", "submitted", "submitting"][..], "submit"),
            (&["reading", "readings"][..], "read"),
            (&["company", "companies"][..], "company"),
            (&["address", "addresses"][..], "address"),
        ] {
            for form in forms {
                assert_eq!(terms(form, "en"), vec![stem.to_owned()], "{form}");
            }
        }
    }

    #[test]
    fn detects_by_letters_and_stop_words() {
        assert_eq!(detect("Gdzie jest mój rachunek?"), Some("pl"));
        assert_eq!(detect("zazolc"), None);
        assert_eq!(detect("Where is the bill?"), Some("en"));
        assert_eq!(detect("ile kosztuje bilet do kina"), Some("pl"));
        assert_eq!(detect("what is the weather on Mars"), Some("en"));
    }
}
