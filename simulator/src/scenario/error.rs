//! Errors that point at the file: `origin:LINE:COLUMN: message`, the form
//! compilers use, so editors and terminals make them clickable.

use std::fmt::Display;
use std::ops::Range;

/// A scenario file that cannot be run, and where it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct ScenarioError {
    /// The file name (or other origin) given to [`super::Scenario::from_toml`].
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The field path (`fleet[1].segment`) for errors found after parsing;
    /// `None` for syntax and type errors, whose message names the key itself.
    pub field: Option<String>,
    /// What is wrong and, where possible, what would be right.
    pub message: String,
}

/// Turns byte spans of one source text into errors with line and column.
pub(super) struct Locator<'a> {
    pub src: &'a str,
    pub origin: &'a str,
}

impl Locator<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    /// An error about `field`, whose value sits at `span`.
    pub fn at(&self, span: Range<usize>, field: &str, message: impl Display) -> ScenarioError {
        let (line, column) = self.position(span.start);
        ScenarioError {
            origin: self.origin.to_string(),
            line,
            column,
            field: Some(field.to_string()),
            message: format!("{field}{message}"),
        }
    }

    /// A syntax or type error from the TOML deserializer.
    pub fn from_toml(&self, e: &toml::de::Error) -> ScenarioError {
        let (line, column) = self.position(e.span().map_or(0, |s| s.start));
        ScenarioError {
            origin: self.origin.to_string(),
            line,
            column,
            field: None,
            message: e.message().trim_end().to_string(),
        }
    }
}

/// The candidate closest to `input` in edit distance, when it is close enough
/// to be a typo (at most a third of the longer word, and at least 1).
pub(super) fn nearest<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let input_l = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&input_l, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (input.chars().count().max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean "x"?` or nothing.
pub(super) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    match nearest(input, candidates) {
        Some(c) => format!("; did you mean \"{c}\"?"),
        None => String::new(),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let l = Locator {
            src: "a = 1\nbé = 2\n",
            origin: "x",
        };
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(6), (2, 1));
        // "bé = " is 6 bytes, 5 characters: the value starts at column 6.
        assert_eq!(l.position(12), (2, 6));
        assert_eq!(l.position(1000), (3, 1));
    }

    #[test]
    fn nearest_finds_typos_only() {
        let c = ["office", "lab"];
        assert_eq!(nearest("ofice", c), Some("office"));
        assert_eq!(nearest("Lab", c), Some("lab"));
        assert_eq!(nearest("production", c), None);
        assert_eq!(levenshtein("edk2-bz496", "edk2-bz469"), 2);
    }
}
