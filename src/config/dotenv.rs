//! The dotenv-style config file: `NAME=value` lines.
//!
//! Rules (a superset of what imagor's config file parser accepts):
//! * blank lines and lines starting with `#` are skipped;
//! * an optional `export ` prefix is allowed (so the file can also be `source`d by a shell);
//! * the name is everything before the first `=`, trimmed; the value everything after, trimmed;
//! * a value in double quotes may use the escapes `\n`, `\r`, `\t`, `\"` and `\\` (other
//!   backslashes are kept as written); a value in single quotes or backquotes is taken
//!   literally; after the closing quote only whitespace and an optional `# comment` may follow;
//! * an unquoted value is taken literally, including any `#` (imagor does not strip inline
//!   comments either, so quote a value if you want a comment after it);
//! * a line without `=`, an empty name or an unterminated quote is an error.
//!
//! # Example
//!
//! ```
//! use imagor_tower::config::ConfigBuilder;
//!
//! let config = ConfigBuilder::new()
//!     .dotenv_text("# comment\nexport IMAGOR_SECRET=\"s3cret\" # signing key\nPORT=9000\n")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.imagor.secret.expose(), "s3cret");
//! assert_eq!(config.server.port, 9000);
//! ```

/// One `NAME=value` entry with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// A syntax error at a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// Parses the whole file.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index.saturating_add(1);
        let fail = |message: &str| SyntaxError {
            line,
            message: message.to_owned(),
        };
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let statement = strip_export(trimmed);
        let Some((name, value)) = statement.split_once('=') else {
            return Err(fail("expected NAME=value"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(fail("missing name before `=`"));
        }
        let value = unquote(value.trim()).map_err(|message| fail(&message))?;
        entries.push(Entry {
            line,
            name: name.to_owned(),
            value,
        });
    }
    Ok(entries)
}

fn strip_export(line: &str) -> &str {
    match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    }
}

fn unquote(value: &str) -> Result<String, String> {
    let Some(quote) = value
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))
    else {
        return Ok(value.to_owned());
    };
    let body = &value[quote.len_utf8()..];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((index, c)) = chars.next() {
        if c == quote {
            let after = body[index + c.len_utf8()..].trim_start();
            if after.is_empty() || after.starts_with('#') {
                return Ok(out);
            }
            return Err(format!("unexpected text after the closing {quote}"));
        }
        if c == '\\' && quote == '"' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Err(format!("missing closing {quote}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn skips_comments_and_blank_lines() {
        let text = "\n# a comment\n   # indented comment\n\nPORT=8080\n\r\n";
        assert_eq!(pairs(text), [pair("PORT", "8080")]);
    }

    #[test]
    fn trims_names_and_values_and_splits_on_first_equals() {
        assert_eq!(
            pairs("  IMAGOR_BASE_PARAMS =  filters:fill(a=b)  \n"),
            [pair("IMAGOR_BASE_PARAMS", "filters:fill(a=b)")]
        );
    }

    #[test]
    fn export_prefix_is_optional() {
        assert_eq!(
            pairs("export PORT=1\nexport\tBIND=:2\nexporter=3\n"),
            [pair("PORT", "1"), pair("BIND", ":2"), pair("exporter", "3")]
        );
    }

    #[test]
    fn double_quotes_process_escapes() {
        assert_eq!(
            pairs(r#"A="a b\n\t\"c\"\\ \q""#),
            [pair("A", "a b\n\t\"c\"\\ \\q")]
        );
        assert_eq!(pairs(r#"A="""#), [pair("A", "")]);
        assert_eq!(
            pairs(r#"A="x # not a comment" # comment"#),
            [pair("A", "x # not a comment")]
        );
    }

    #[test]
    fn single_quotes_and_backquotes_are_literal() {
        assert_eq!(pairs(r"A='a\nb'"), [pair("A", r"a\nb")]);
        assert_eq!(pairs("A=`x\"y`"), [pair("A", "x\"y")]);
    }

    #[test]
    fn unquoted_values_keep_hashes_and_inner_quotes() {
        assert_eq!(pairs("A=abc#def # x"), [pair("A", "abc#def # x")]);
        assert_eq!(pairs("A=it's"), [pair("A", "it's")]);
        assert_eq!(pairs("A="), [pair("A", "")]);
    }

    #[test]
    fn handles_bom_and_crlf() {
        assert_eq!(
            pairs("\u{feff}A=1\r\nB=2\r\n"),
            [pair("A", "1"), pair("B", "2")]
        );
    }

    #[test]
    fn reports_line_numbers() {
        let err = parse("A=1\n\nJUSTANAME\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("NAME=value"));
        assert_eq!(parse("=x").unwrap_err().line, 1);
        let err = parse("A=\"open\n").unwrap_err();
        assert!(err.message.contains("missing closing"), "{err:?}");
        let err = parse("A='x' y\n").unwrap_err();
        assert!(err.message.contains("after the closing"), "{err:?}");
        assert_eq!(parse("A=1\nB=2").unwrap()[1].line, 2);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
            let _ = parse(&text);
        }

        #[test]
        fn quoted_values_round_trip(value in "[^\"\\\\\r\n]{0,32}") {
            let parsed = parse(&format!("A=\"{value}\"")).unwrap();
            proptest::prop_assert_eq!(&parsed[0].value, &value);
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "\"", "'", "A=\"\\", "A=\"é\\", "é=ü", "export", "export ", "=", "#",
        ] {
            let _ = parse(text);
        }
    }
}
