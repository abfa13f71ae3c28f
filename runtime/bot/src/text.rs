//! Text normalisation and trigger phrases.
//!
//! Everything the customer agent compares (trigger phrases, caller
//! utterances, knowledge-base questions) goes through [`normalize`] first, so
//! that case, diacritics and punctuation never decide a match:
//!
//! 1. every character is lower-cased;
//! 2. Latin letters with diacritics are folded to their base letters through
//!    a table (Polish `ą ć ę ł ń ó ś ź ż` become `a c e l n o s z z`;
//!    `ß` becomes `ss`, `æ` `ae`, `œ` `oe`, `þ` `th`, ...), and combining
//!    marks (text in decomposed form) are dropped;
//! 3. apostrophes are dropped (`don't` is the word `dont`);
//! 4. anything that is not a letter or a digit separates words, and
//!    separators collapse to one space, with none at either end.
//!
//! The result is a fixed point: normalising it again changes nothing.
//!
//! A [`Phrase`] is one trigger: its words must appear as consecutive whole
//! words of the utterance. A word written with a trailing `*` matches any
//! word that starts with it (`refund*` matches `refund`, `refunds` and
//! `refunded`); without it, `refund` matches only `refund`.

/// Normalises text for comparison: lower case, diacritics folded, apostrophes
/// dropped, every run of other non-alphanumeric characters turned into one
/// space, no space at either end.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A separator is written only before the next word, so that runs collapse
    // and nothing trails.
    let mut gap = false;
    for c in text.chars() {
        if is_apostrophe(c) || is_combining(c) {
            continue;
        }
        for lower in c.to_lowercase() {
            if is_combining(lower) {
                continue;
            }
            let folded = fold(lower);
            let mut push = |ch: char| {
                if ch.is_alphanumeric() && !is_combining(ch) {
                    if gap && !out.is_empty() {
                        out.push(' ');
                    }
                    gap = false;
                    out.push(ch);
                } else {
                    gap = true;
                }
            };
            match folded {
                Fold::One(ch) => push(ch),
                Fold::Two(a, b) => {
                    push(a);
                    push(b);
                }
            }
        }
    }
    out
}

/// The words of `text` after [`normalize`].
pub fn words(text: &str) -> Vec<String> {
    normalize(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The built-in phrases by which a caller asks for a human (one of the
/// default triggers), in Polish and English. A trailing `*` matches any
/// ending, which covers Polish inflection (`konsultant*`: konsultant,
/// konsultanta, konsultantem, konsultantką, konsultantów).
pub const ASKS_FOR_HUMAN: &[&str] = &[
    // Polish.
    "konsultant*",
    "człowiek*",
    "operator*",
    "doradc*",
    "żyw* osob*",
    "prawdziw* osob*",
    "żywy człowiek",
    "z kimś z obsługi",
    "połącz* z kimś",
    "rozmawiać z kimś",
    // English.
    "human",
    "humans",
    "human being",
    "a person",
    "real person",
    "real people",
    "live person",
    "agent*",
    "representative*",
    "consultant*",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk to somebody",
    "speak to somebody",
];

/// One trigger phrase, ready for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phrase {
    /// The phrase as written, for logs and handoff reasons.
    pub source: String,
    /// Its normalised words, each with whether it matches as a prefix.
    words: Vec<(String, bool)>,
}

impl Phrase {
    /// Prepares a phrase. A word ending in `*` matches any word that starts
    /// with it. `None` when nothing but separators remains (such a phrase
    /// could only match everything or nothing).
    pub fn new(source: &str) -> Option<Phrase> {
        let mut words = Vec::new();
        for raw in source.split_whitespace() {
            let stem = raw.trim_end_matches('*');
            let prefix = stem.len() != raw.len();
            let parts = self::words(stem);
            let last = parts.len().saturating_sub(1);
            for (i, part) in parts.into_iter().enumerate() {
                words.push((part, prefix && i == last));
            }
        }
        if words.is_empty() {
            return None;
        }
        Some(Phrase {
            source: source.to_owned(),
            words,
        })
    }

    /// Whether the phrase occurs in `words` (already normalised, as from
    /// [`words`]) as consecutive whole words.
    pub fn matches<S: AsRef<str>>(&self, words: &[S]) -> bool {
        let n = self.words.len();
        if n == 0 || n > words.len() {
            return false;
        }
        words.windows(n).any(|window| {
            window
                .iter()
                .zip(&self.words)
                .all(|(word, (want, prefix))| {
                    let word = word.as_ref();
                    if *prefix {
                        word.starts_with(want.as_str())
                    } else {
                        word == want
                    }
                })
        })
    }

    /// Whether the phrase occurs in `text` (any text: it is normalised here).
    pub fn matches_text(&self, text: &str) -> bool {
        self.matches(&words(text))
    }
}

/// The first of `phrases` that occurs in `words` (normalised words).
pub fn find<'p, S: AsRef<str>>(phrases: &'p [Phrase], words: &[S]) -> Option<&'p Phrase> {
    phrases.iter().find(|p| p.matches(words))
}

/// Prepares every phrase of `sources`, dropping those that are empty after
/// normalisation.
pub fn phrases<S: AsRef<str>>(sources: &[S]) -> Vec<Phrase> {
    sources
        .iter()
        .filter_map(|s| Phrase::new(s.as_ref()))
        .collect()
}

/// What a lower-case character folds to.
enum Fold {
    One(char),
    Two(char, char),
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`')
}

/// Combining marks: what remains of diacritics in decomposed text.
fn is_combining(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// The Latin fold table (Latin-1 Supplement and Latin Extended-A, lower
/// case, plus a few letters of Latin Extended-B used in Europe).
fn fold(c: char) -> Fold {
    let one = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ǎ' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' | 'ð' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'ǐ' => 'i',
        'ĵ' => 'j',
        'ķ' | 'ĸ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'ǒ' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' | 'ſ' => 's',
        'ţ' | 'ť' | 'ŧ' | 'ț' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' | 'ǔ' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        'ß' => return Fold::Two('s', 's'),
        'æ' => return Fold::Two('a', 'e'),
        'œ' => return Fold::Two('o', 'e'),
        'þ' => return Fold::Two('t', 'h'),
        'ĳ' => return Fold::Two('i', 'j'),
        other => other,
    };
    Fold::One(one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_polish_and_collapses_separators() {
        assert_eq!(normalize("  Zażółć GĘŚLĄ jaźń!!  "), "zazolc gesla jazn");
        assert_eq!(normalize("ZWROT PIENIĘDZY!"), "zwrot pieniedzy");
        assert_eq!(normalize("e-mail,\tplease..."), "e mail please");
        assert_eq!(normalize("don't"), "dont");
        assert_eq!(normalize("Straße"), "strasse");
        // Decomposed: e + combining acute.
        assert_eq!(normalize("cafe\u{301}"), "cafe");
        assert_eq!(normalize("...?!"), "");
    }

    #[test]
    fn a_phrase_with_a_star_matches_a_prefix() {
        let p = Phrase::new("refund*").expect("a phrase");
        assert!(p.matches_text("I was refunded"));
        assert!(p.matches_text("refund"));
        let p = Phrase::new("refund").expect("a phrase");
        assert!(!p.matches_text("I was refunded"));
        assert!(Phrase::new(" * ").is_none());
    }
}
