//! The embedded customer agent's knowledge base: a TOML file of questions
//! and answers, and BM25 retrieval over it.
//!
//! # Format
//!
//! ```toml
//! [[entry]]
//! question = "Jak mogę zapłacić fakturę?"        # or/and:
//! questions = ["Gdzie zapłacę rachunek?"]        # more ways to ask
//! keywords = ["przelew", "płatność"]             # optional
//! answer = "Fakturę zapłacisz przelewem ..."
//! lang = "pl"
//! ```
//!
//! Every entry needs at least one question, an answer and its language;
//! unknown keys are refused (a misspelt `qestion` would otherwise silently
//! make an entry unreachable). Errors name the entry (from 1, in file order)
//! and the field.
//!
//! # Scoring
//!
//! Each question of an entry is one document of the index of the entry's
//! language, and so are the entry's keywords, together; the text is analysed by
//! [`lang::terms`] (normalised, stop words removed, stemmed). An utterance is
//! analysed once per language and scored against that language's documents
//! with Okapi BM25 ([`K1`] = 1.2, [`B`] = 0.75, IDF
//! `ln(1 + (N - n + 0.5) / (n + 0.5))`), each distinct term of the
//! utterance counted once.
//!
//! The confidence of a document is
//!
//! ```text
//! confidence = min(1, bm25(utterance, doc) / bm25(doc, doc)) * sqrt(coverage)
//! coverage   = Σ idf(t), t in the utterance and in doc / Σ idf(t), t in the utterance
//! ```
//!
//! The first factor compares the score with the score the document's own
//! text gets (so the exact question, in any word order, case or
//! diacritics, scores 1); the second lowers it when much of what the caller
//! said is not in the question (a word the index has never seen weighs as
//! much as the rarest word). An unrelated sentence shares no terms and
//! scores 0. The best document over the allowed languages wins; its entry's
//! language is the language of the utterance.

use crate::lang;
use std::collections::BTreeMap;

/// BM25 term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25 document-length normalisation.
pub const B: f64 = 0.75;
/// The longest answer, in characters (the bot protocol's limit too).
pub const MAX_ANSWER: usize = crate::protocol::MAX_TEXT;

/// A parsed and indexed knowledge base. Immutable; share it with `Arc`.
#[derive(Clone, Debug)]
pub struct KnowledgeBase {
    entries: Vec<Entry>,
    indexes: Vec<Index>,
}

/// One entry of the knowledge base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Every way of asking, `question` first, then `questions`.
    pub questions: Vec<String>,
    /// Extra words that point at this entry.
    pub keywords: Vec<String>,
    /// What the bot says.
    pub answer: String,
    /// The language of the questions and the answer, lower case (`pl`).
    pub lang: String,
}

/// The best entry for an utterance.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// Index of the entry in [`KnowledgeBase::entries`].
    pub entry: usize,
    /// The question of the entry that matched best (the first one when
    /// the keywords matched best).
    pub question: String,
    /// The entry's answer.
    pub answer: String,
    /// The entry's language.
    pub language: String,
    /// How sure the match is, 0..=1 (see the module documentation).
    pub confidence: f64,
    /// The raw BM25 score.
    pub score: f64,
}

/// Why a knowledge base was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KbError {
    /// The text is not TOML.
    #[error("the knowledge base is not valid TOML: {0}")]
    Syntax(String),
    /// A top-level key other than `entry`.
    #[error("unknown top-level key `{0}`: a knowledge base holds only `[[entry]]` tables")]
    UnknownKey(String),
    /// `entry` is not an array of tables.
    #[error("`entry` must be an array of tables, written `[[entry]]`")]
    NotEntries,
    /// No entries at all.
    #[error(
        "the knowledge base has no entries: add `[[entry]]` tables with `question`, `answer` and `lang`"
    )]
    NoEntries,
    /// A problem with one field of one entry.
    #[error("entry {entry}, `{field}`: {problem}")]
    Entry {
        /// The entry's position in the file, from 1.
        entry: usize,
        /// The field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// One language's BM25 index.
#[derive(Clone, Debug)]
struct Index {
    lang: String,
    docs: Vec<Doc>,
    /// Document frequency of every term.
    df: BTreeMap<String, usize>,
    avgdl: f64,
}

#[derive(Clone, Debug)]
struct Doc {
    entry: usize,
    /// The question of the entry it holds; `None` for the keywords.
    question: Option<usize>,
    tf: BTreeMap<String, u32>,
    len: usize,
    /// The score of its own terms against itself.
    own: f64,
}

const FIELDS: &[&str] = &["question", "questions", "keywords", "answer", "lang"];

impl KnowledgeBase {
    /// Parses and indexes a knowledge base from the text of its TOML file.
    pub fn parse(text: &str) -> Result<KnowledgeBase, KbError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| KbError::Syntax(e.to_string().trim().to_owned()))?;
        if let Some(key) = table.keys().find(|k| k.as_str() != "entry") {
            return Err(KbError::UnknownKey(key.clone()));
        }
        let items = match table.get("entry") {
            None => return Err(KbError::NoEntries),
            Some(toml::Value::Array(items)) => items,
            Some(_) => return Err(KbError::NotEntries),
        };
        if items.is_empty() {
            return Err(KbError::NoEntries);
        }
        let entries = items
            .iter()
            .enumerate()
            .map(|(i, item)| entry(i + 1, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KnowledgeBase::from_entries(entries))
    }

    /// Indexes entries built in code. Questions without a word to match
    /// (only stop words) are left out of the index.
    pub fn from_entries(entries: Vec<Entry>) -> KnowledgeBase {
        let mut indexes: Vec<Index> = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            let at = match indexes.iter().position(|x| x.lang == entry.lang) {
                Some(at) => at,
                None => {
                    indexes.push(Index {
                        lang: entry.lang.clone(),
                        docs: Vec::new(),
                        df: BTreeMap::new(),
                        avgdl: 0.0,
                    });
                    indexes.len() - 1
                }
            };
            let Some(index) = indexes.get_mut(at) else {
                continue;
            };
            let keywords: Vec<String> = entry
                .keywords
                .iter()
                .flat_map(|k| lang::terms(k, &entry.lang))
                .collect();
            let questions = entry
                .questions
                .iter()
                .enumerate()
                .map(|(q, question)| (Some(q), lang::terms(question, &entry.lang)));
            for (question, terms) in questions.chain(std::iter::once((None, keywords))) {
                if terms.is_empty() {
                    continue;
                }
                let mut tf = BTreeMap::new();
                let len = terms.len();
                for term in terms {
                    *tf.entry(term).or_insert(0) += 1;
                }
                index.docs.push(Doc {
                    entry: e,
                    question,
                    tf,
                    len,
                    own: 0.0,
                });
            }
        }
        for index in &mut indexes {
            index.finish();
        }
        KnowledgeBase { entries, indexes }
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The languages of the entries, in order of first appearance.
    pub fn languages(&self) -> Vec<&str> {
        self.indexes.iter().map(|i| i.lang.as_str()).collect()
    }

    /// Whether some entry is in one of `languages` (any, when empty).
    pub fn serves(&self, languages: &[String]) -> bool {
        self.indexes.iter().any(|i| allowed(&i.lang, languages))
    }

    /// The best entry for `utterance` among the entries in `languages` (all
    /// entries when empty). `None` when no word of the utterance occurs in
    /// any of them. Ties go to the language listed first, then to the
    /// earlier entry.
    pub fn best(&self, utterance: &str, languages: &[String]) -> Option<Match> {
        let mut best: Option<(f64, f64, &Index, &Doc)> = None;
        for index in self.ordered(languages) {
            let Some((confidence, score, doc)) = index.best(utterance) else {
                continue;
            };
            if best.is_none_or(|(c, ..)| confidence > c) {
                best = Some((confidence, score, index, doc));
            }
        }
        let (confidence, score, index, doc) = best?;
        let entry = self.entries.get(doc.entry)?;
        Some(Match {
            entry: doc.entry,
            question: entry
                .questions
                .get(doc.question.unwrap_or(0))
                .cloned()
                .unwrap_or_default(),
            answer: entry.answer.clone(),
            language: index.lang.clone(),
            confidence,
            score,
        })
    }

    /// The indexes of `languages` in their order (all, in file order, when
    /// empty).
    fn ordered<'a>(&'a self, languages: &'a [String]) -> Vec<&'a Index> {
        if languages.is_empty() {
            return self.indexes.iter().collect();
        }
        let mut out: Vec<&Index> = Vec::new();
        for want in languages {
            for index in &self.indexes {
                if allowed(&index.lang, std::slice::from_ref(want))
                    && !out.iter().any(|o| std::ptr::eq(*o, index))
                {
                    out.push(index);
                }
            }
        }
        out
    }
}

/// Whether an entry language is among `languages` (compared by primary
/// subtag, case-insensitively; every language is when the list is empty).
pub fn allowed(lang: &str, languages: &[String]) -> bool {
    languages.is_empty()
        || languages
            .iter()
            .any(|l| lang::base(l).eq_ignore_ascii_case(lang::base(lang)))
}

impl Index {
    fn finish(&mut self) {
        let total: usize = self.docs.iter().map(|d| d.len).sum();
        self.avgdl = if self.docs.is_empty() {
            0.0
        } else {
            total as f64 / self.docs.len() as f64
        };
        for doc in &self.docs {
            for term in doc.tf.keys() {
                *self.df.entry(term.clone()).or_insert(0) += 1;
            }
        }
        let owns: Vec<f64> = self
            .docs
            .iter()
            .map(|doc| {
                let terms: Vec<String> = doc.tf.keys().cloned().collect();
                self.score(&terms, doc).0
            })
            .collect();
        for (doc, own) in self.docs.iter_mut().zip(owns) {
            doc.own = own;
        }
    }

    fn idf(&self, term: &str) -> f64 {
        let n = self.docs.len() as f64;
        let df = self.df.get(term).copied().unwrap_or(0) as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The BM25 score of `terms` (distinct) against `doc`, and the summed
    /// IDF of the terms that occur in it.
    fn score(&self, terms: &[String], doc: &Doc) -> (f64, f64) {
        let mut score = 0.0;
        let mut matched = 0.0;
        let norm = if self.avgdl > 0.0 {
            1.0 - B + B * doc.len as f64 / self.avgdl
        } else {
            1.0
        };
        for term in terms {
            let Some(&tf) = doc.tf.get(term) else {
                continue;
            };
            let tf = f64::from(tf);
            let idf = self.idf(term);
            score += idf * tf * (K1 + 1.0) / (tf + K1 * norm);
            matched += idf;
        }
        (score, matched)
    }

    /// The best document for an utterance: (confidence, score, document).
    fn best(&self, utterance: &str) -> Option<(f64, f64, &Doc)> {
        let terms = distinct(lang::terms(utterance, &self.lang));
        let weight: f64 = terms.iter().map(|t| self.idf(t)).sum();
        if terms.is_empty() || weight <= 0.0 {
            return None;
        }
        let mut best: Option<(f64, f64, &Doc)> = None;
        for doc in &self.docs {
            let (score, matched) = self.score(&terms, doc);
            if score <= 0.0 || doc.own <= 0.0 {
                continue;
            }
            let confidence =
                ((score / doc.own).min(1.0) * (matched / weight).sqrt()).clamp(0.0, 1.0);
            if best.is_none_or(|(c, ..)| confidence > c) {
                best = Some((confidence, score, doc));
            }
        }
        best
    }
}

fn distinct(mut terms: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    terms.retain(|t| seen.insert(t.clone()));
    terms
}

fn entry(at: usize, item: &toml::Value) -> Result<Entry, KbError> {
    let problem = |field: &str, problem: String| KbError::Entry {
        entry: at,
        field: field.to_owned(),
        problem,
    };
    let toml::Value::Table(table) = item else {
        return Err(problem(
            "entry",
            "must be a table, written `[[entry]]`".into(),
        ));
    };
    if let Some(key) = table.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(problem(
            key,
            format!("unknown field; an entry has {}", FIELDS.join(", ")),
        ));
    }
    let mut questions = Vec::new();
    if let Some(value) = table.get("question") {
        questions.push(text(value).map_err(|p| problem("question", p))?);
    }
    if let Some(value) = table.get("questions") {
        questions.extend(texts(value).map_err(|p| problem("questions", p))?);
    }
    if questions.is_empty() {
        return Err(problem(
            "question",
            "missing: give the question in `question` (or several in `questions`)".into(),
        ));
    }
    let keywords = match table.get("keywords") {
        Some(value) => texts(value).map_err(|p| problem("keywords", p))?,
        None => Vec::new(),
    };
    let answer = match table.get("answer") {
        Some(value) => text(value).map_err(|p| problem("answer", p))?,
        None => return Err(problem("answer", "missing: what the bot says".into())),
    };
    if answer.chars().count() > MAX_ANSWER {
        return Err(problem(
            "answer",
            format!("longer than {MAX_ANSWER} characters"),
        ));
    }
    let lang = match table.get("lang") {
        Some(value) => text(value).map_err(|p| problem("lang", p))?,
        None => {
            return Err(problem(
                "lang",
                "missing: the language of the question and answer, such as \"pl\" or \"en\"".into(),
            ));
        }
    };
    if !is_language_tag(&lang) {
        return Err(problem(
            "lang",
            format!("`{lang}` is not a language tag such as \"pl\", \"en\" or \"pt-BR\""),
        ));
    }
    let lang = lang.to_ascii_lowercase();
    for (field, question) in table
        .get("question")
        .map(|_| "question")
        .into_iter()
        .chain(std::iter::repeat("questions"))
        .zip(&questions)
    {
        if lang::terms(question, &lang).is_empty() {
            return Err(problem(
                field,
                format!("\"{question}\" has no word to match (only stop words or punctuation)"),
            ));
        }
    }
    Ok(Entry {
        questions,
        keywords,
        answer,
        lang,
    })
}

fn text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        toml::Value::String(_) => Err("must not be empty".into()),
        other => Err(format!("must be text, found {}", other.type_str())),
    }
}

fn texts(value: &toml::Value) -> Result<Vec<String>, String> {
    let toml::Value::Array(items) = value else {
        return Err(format!(
            "must be a list of texts, found {}",
            value.type_str()
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| text(item).map_err(|p| format!("item {}: {p}", i + 1)))
        .collect()
}

/// `pl`, `en`, `pt-BR`: two or three letters, then optional subtags.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts
            .all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()))
}
