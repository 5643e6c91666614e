//! Shell-style patterns with the rules of Go's `path.Match`, which imagor uses for allowed
//! hosts, proxy hosts and accepted media types.
//!
//! `*` matches any run of characters other than `/`, `?` one character other than `/`,
//! `[abc]`, `[a-z]` and `[^a-z]` one character of (or not of) a class, and `\x` the
//! character `x`. The whole text must match.

use std::fmt;

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*`
    Star,
    /// `?`
    One,
    /// A literal character.
    Char(char),
    /// `[...]`: inclusive ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadPattern(String);

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed pattern `{}`", self.0)
    }
}

impl std::error::Error for BadPattern {}

impl Glob {
    /// Compiles `pattern`.
    pub(crate) fn new(pattern: &str) -> Result<Self, BadPattern> {
        let bad = || BadPattern(pattern.to_owned());
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::One),
                '\\' => tokens.push(Token::Char(chars.next().ok_or_else(bad)?)),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                            break;
                        }
                        let lo = class_char(&mut chars).ok_or_else(bad)?;
                        let hi = if chars.next_if_eq(&'-').is_some() {
                            class_char(&mut chars).ok_or_else(bad)?
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                other => tokens.push(Token::Char(other)),
            }
        }
        Ok(Self {
            source: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether all of `text` matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        // matched[j]: the tokens seen so far match the first j characters.
        let mut matched = vec![false; chars.len() + 1];
        matched[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; chars.len() + 1];
            for j in 0..=chars.len() {
                next[j] = match token {
                    Token::Star => matched[j] || (j > 0 && next[j - 1] && chars[j - 1] != '/'),
                    single => j > 0 && matched[j - 1] && single.accepts(chars[j - 1]),
                };
            }
            matched = next;
        }
        matched[chars.len()]
    }
}

impl Token {
    /// Whether this one-character token accepts `c`.
    fn accepts(&self, c: char) -> bool {
        match self {
            Self::Star => c != '/',
            Self::One => c != '/',
            Self::Char(expected) => *expected == c,
            Self::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// One character of a class: not `-` or `]` unless escaped.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next(),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).unwrap().matches(text)
    }

    #[test]
    fn follows_go_path_match() {
        let cases = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a?b", "a/b", false),
            ("[\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("*x", "xxx", true),
            ("*.example.com", "cdn.example.com", true),
            ("*.example.com", "a.b.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "example.com:8080", false),
            ("image/*", "image/png", true),
            ("image/*", "text/html", false),
            ("*/*", "", false),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches(pattern, text), expected, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn rejects_malformed_patterns() {
        for pattern in ["[", "[^", "[]a]", "[-]", "[x-]", "a\\", "[a-"] {
            assert!(Glob::new(pattern).is_err(), "{pattern:?}");
        }
        assert_eq!(Glob::new("a*b").unwrap().as_str(), "a*b");
    }

    #[test]
    fn long_inputs_stay_linear_per_token() {
        let text = "a".repeat(5000);
        assert!(!matches("*a*a*a*a*a*b", &text));
        assert!(matches("*a*a*a*a*a*", &text));
    }
}
