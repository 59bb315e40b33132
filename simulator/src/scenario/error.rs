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
    /// The field path (`fleet[1].segment`). For errors of the TOML layer it is
    /// read back from the text at the error (a best effort: `None` when the
    /// position names no key); the message starts with it either way.
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

    /// A syntax or type error from the TOML deserializer. Its message names the
    /// problem but not always the key ("invalid type: string, expected u32"), so
    /// the key path is recovered from the text at the error's span.
    pub fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = self.position(offset);
        let mut message = e.message().trim_end().to_string();
        if let Some(hint) = unknown_name_hint(&message) {
            message.push_str(&hint);
        }
        let field = e.span().and_then(|_| key_path_at(self.src, offset));
        if let Some(f) = &field {
            message = format!("{f}: {message}");
        }
        ScenarioError {
            origin: self.origin.to_string(),
            line,
            column,
            field,
            message,
        }
    }
}

/// serde's "unknown field `cout`, expected one of `name`, `count`" (or
/// "unknown variant ...") gets "; did you mean `count`?".
fn unknown_name_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (name, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected")?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    nearest(name, candidates.iter().copied()).map(|c| format!("; did you mean `{c}`?"))
}

/// The dotted key path (`fleet[1].link.loss`) of the value at byte `offset`,
/// from the table headers before it and the `key =` on its line. A best effort
/// on the text: a value spread over several lines gets its table's path only.
pub(super) fn key_path_at(src: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    let this_line = &src[line_start..line_end];
    // Table headers up to and including this line (a "missing field" error
    // points at the header of the table that lacks it).
    let upto = if this_line.trim_start().starts_with('[') {
        line_end
    } else {
        line_start
    };
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut table: Vec<String> = Vec::new();
    for raw in src[..upto].lines() {
        let l = raw.trim();
        let (name, array) = if let Some(n) = l.strip_prefix("[[") {
            (n.split("]]").next().unwrap_or(""), true)
        } else if let Some(n) = l.strip_prefix('[') {
            (n.split(']').next().unwrap_or(""), false)
        } else {
            continue;
        };
        let parts: Vec<String> = name
            .split('.')
            .map(|p| p.trim().trim_matches('"').to_string())
            .collect();
        let full = parts.join(".");
        if array {
            counts.retain(|(k, _)| !k.starts_with(&format!("{full}.")));
            match counts.iter_mut().find(|(k, _)| *k == full) {
                Some((_, n)) => *n += 1,
                None => counts.push((full.clone(), 0)),
            }
        }
        table = (1..=parts.len())
            .map(|i| {
                let prefix = parts[..i].join(".");
                match counts.iter().find(|(k, _)| *k == prefix) {
                    Some((_, n)) => format!("{}[{n}]", parts[i - 1]),
                    None => parts[i - 1].clone(),
                }
            })
            .collect();
    }
    let mut path = table;
    if upto == line_start {
        path.extend(inline_keys(&src[line_start..offset]));
    }
    (!path.is_empty()).then(|| path.join("."))
}

/// The keys open at the end of `text` (a line up to the error):
/// `link = { loss = ` gives `["link", "loss"]`.
fn inline_keys(text: &str) -> Vec<String> {
    let mut levels: Vec<Option<String>> = vec![None];
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let mut s = String::new();
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                    s.push(d);
                }
                word = s;
            }
            '=' => {
                if let Some(top) = levels.last_mut() {
                    *top = Some(std::mem::take(&mut word));
                }
            }
            '{' => levels.push(None),
            '}' => {
                levels.pop();
                if levels.is_empty() {
                    levels.push(None);
                }
            }
            ',' => {
                if let Some(top) = levels.last_mut() {
                    *top = None;
                }
                word.clear();
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => word.push(c),
            c if c.is_whitespace() => {}
            _ => word.clear(),
        }
    }
    levels
        .into_iter()
        .flatten()
        .filter(|k| !k.is_empty())
        .collect()
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

    #[test]
    fn key_paths_follow_headers_and_inline_tables() {
        let src = "name = 1\n[[server]]\nx = 1\n[[server.file]]\na = 1\n[[server]]\n[[server.file]]\nb = 2\n[[fleet]]\nlink = { loss = 2, latency_us = \"x\" }\n";
        let at = |needle: &str| key_path_at(src, src.find(needle).unwrap());
        assert_eq!(at("1\n[[server]]").as_deref(), Some("name"));
        assert_eq!(at("1\n[[server.file]]").as_deref(), Some("server[0].x"));
        assert_eq!(
            at("1\n[[server]]\n[[server.file]]").as_deref(),
            Some("server[0].file[0].a")
        );
        assert_eq!(at("2\n[[fleet]]").as_deref(), Some("server[1].file[0].b"));
        assert_eq!(at("\"x\"").as_deref(), Some("fleet[0].link.latency_us"));
        assert_eq!(at("[[fleet]]").as_deref(), Some("fleet[0]"));
    }

    #[test]
    fn unknown_fields_get_the_nearest_known_one() {
        assert_eq!(
            unknown_name_hint("unknown field `cout`, expected one of `name`, `count`").as_deref(),
            Some("; did you mean `count`?")
        );
        assert_eq!(
            unknown_name_hint("unknown field `zzzzzz`, expected `name`"),
            None
        );
    }
}
