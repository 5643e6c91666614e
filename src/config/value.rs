//! Parsers for option values, following Go's `strconv` and `time` packages so that values
//! imagor accepts are accepted here with the same meaning.
//!
//! # Example
//!
//! ```
//! use imagor_tower::config::ConfigBuilder;
//!
//! let config = ConfigBuilder::new().env([("IMAGOR_SECRET", "s3cr3t")]).build().unwrap();
//! assert_eq!(config.imagor.secret.expose(), "s3cr3t");
//! assert!(!format!("{config:?}").contains("s3cr3t"));
//! ```

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)`: optional sign, then decimal, `0x`/`0X` hex,
/// `0o`/`0O` or leading-`0` octal, `0b`/`0B` binary; `_` may separate digits.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits, after_prefix) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        // A leading zero means octal; the zero itself counts as a digit for `_` placement.
        (8, lower.as_str(), false)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty()
        || digits.ends_with('_')
        || digits.contains("__")
        || (!after_prefix && digits.starts_with('_'))
    {
        return None;
    }
    let mut magnitude: u64 = 0;
    let mut any_digit = false;
    for c in digits.chars().filter(|c| *c != '_') {
        let digit = u64::from(c.to_digit(radix)?);
        magnitude = magnitude
            .checked_mul(u64::from(radix))?
            .checked_add(digit)?;
        any_digit = true;
    }
    if !any_digit {
        return None;
    }
    if negative {
        // i64::MIN has no positive counterpart, so go through i128.
        i64::try_from(-i128::from(magnitude)).ok()
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// An octal permission such as `0755`, `755` or `0o755`, at most `0o7777`.
pub(crate) fn parse_permission(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let mode = u32::from_str_radix(digits.trim_start_matches('0'), 8)
        .ok()
        .or_else(|| digits.bytes().all(|b| b == b'0').then_some(0))?;
    (mode <= 0o7777).then_some(mode)
}

/// A comma-separated list: items trimmed, empty items dropped.
pub(crate) fn parse_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Nanoseconds per duration unit, as Go's `time.ParseDuration` knows them.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // Go accepts `us`, the micro sign U+00B5 and the Greek small letter mu U+03BC.
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Go's `time.ParseDuration`, as signed nanoseconds within Go's `int64` range.
///
/// Accepts `[-+]?` followed by one or more `<number><unit>` terms (`1h30m`, `1.5h`,
/// `2h45m30.5s`, `300ms`), or a bare `0`.
pub(crate) fn parse_go_duration(text: &str) -> Option<i128> {
    // Go's limit: |duration| <= 2^63 ns (exactly 2^63 only when negative).
    const LIMIT: u128 = 1 << 63;
    let text = text.trim();
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        // Integer part.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_text, after_int) = rest.split_at(int_len);
        let mut whole: u128 = 0;
        for b in int_text.bytes() {
            whole = whole * 10 + u128::from(b - b'0');
            if whole > LIMIT {
                return None;
            }
        }
        rest = after_int;
        // Fraction part: digits beyond what fits are read but ignored, as Go does.
        let mut fraction: u128 = 0;
        let mut scale: u128 = 1;
        let mut has_fraction = false;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            let (frac_text, after_frac) = after_dot.split_at(frac_len);
            for b in frac_text.bytes() {
                if scale < 1_000_000_000_000_000_000 {
                    fraction = fraction * 10 + u128::from(b - b'0');
                    scale *= 10;
                }
            }
            has_fraction = frac_len > 0;
            rest = after_frac;
        }
        if int_len == 0 && !has_fraction {
            return None;
        }
        // Unit: everything up to the next digit or dot.
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(index, _)| index);
        let (unit_text, after_unit) = rest.split_at(unit_len);
        let unit = unit_nanos(unit_text)?;
        rest = after_unit;
        let term = whole
            .checked_mul(unit)?
            .checked_add(fraction * unit / scale)?;
        total = total.checked_add(term)?;
        if total > LIMIT {
            return None;
        }
    }
    let signed = i128::try_from(total).ok()?;
    if negative {
        Some(-signed)
    } else if total < LIMIT {
        Some(signed)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i128 = 1_000_000_000;

    #[test]
    fn bool_accepts_exactly_go_spellings() {
        for t in ["1", "t", "T", "TRUE", "true", "True", " true "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "on", "tRUE", "2", "no"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn int_follows_go_base_prefix_rules() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("+7"), Some(7));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("0o17"), Some(15));
        assert_eq!(parse_int("017"), Some(15));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("1_000_000"), Some(1_000_000));
        assert_eq!(parse_int("0x_ff"), Some(255));
        assert_eq!(parse_int("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "abc",
            "1.5",
            "08",
            "0x",
            "_1",
            "1_",
            "1__0",
            "9223372036854775808",
            "99999999999999999999999",
            "1e3",
            "--1",
        ] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn permission_is_octal() {
        assert_eq!(parse_permission("0755"), Some(0o755));
        assert_eq!(parse_permission("755"), Some(0o755));
        assert_eq!(parse_permission("0o644"), Some(0o644));
        assert_eq!(parse_permission("0"), Some(0));
        assert_eq!(parse_permission("0000"), Some(0));
        assert_eq!(parse_permission("7777"), Some(0o7777));
        for bad in ["", "0788", "rwx", "-755", "17777", "0o", "0x1ff"] {
            assert_eq!(parse_permission(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_trims_and_drops_empties() {
        assert_eq!(parse_list(" a , b,,c ,"), ["a", "b", "c"]);
        assert!(parse_list("").is_empty());
        assert!(parse_list(" , ,").is_empty());
    }

    #[test]
    fn duration_accepts_go_syntax() {
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("-0"), Some(0));
        assert_eq!(parse_go_duration("30s"), Some(30 * SECOND));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400 * SECOND));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400 * SECOND));
        assert_eq!(
            parse_go_duration("2h45m30.5s"),
            Some(9_930 * SECOND + SECOND / 2)
        );
        assert_eq!(parse_go_duration("168h"), Some(604_800 * SECOND));
        assert_eq!(parse_go_duration(".5s"), Some(SECOND / 2));
        assert_eq!(parse_go_duration("1.s"), Some(SECOND));
        assert_eq!(parse_go_duration("-1.5s"), Some(-3 * SECOND / 2));
        assert_eq!(parse_go_duration("+5m"), Some(300 * SECOND));
        assert_eq!(parse_go_duration("10us"), Some(10_000));
        assert_eq!(parse_go_duration("10\u{b5}s"), Some(10_000));
        assert_eq!(parse_go_duration("10\u{3bc}s"), Some(10_000));
        assert_eq!(parse_go_duration("7ns"), Some(7));
        assert_eq!(parse_go_duration("0s"), Some(0));
        assert_eq!(parse_go_duration("1m1m"), Some(120 * SECOND));
        assert_eq!(
            parse_go_duration("0.000000001s"),
            Some(1),
            "nanosecond fractions are exact"
        );
        assert_eq!(
            parse_go_duration("2562047h47m16.854775807s"),
            Some(i128::from(i64::MAX))
        );
        assert_eq!(
            parse_go_duration("-2562047h47m16.854775808s"),
            Some(i128::from(i64::MIN))
        );
    }

    #[test]
    fn duration_rejects_what_go_rejects() {
        for bad in [
            "",
            "30",
            "1",
            "abc",
            "s",
            ".s",
            "1x",
            "1d",
            "1 h",
            "h1",
            "-",
            "1h-30m",
            "2562047h47m16.854775808s",
            "9999999999999999999h",
            "99999999999999999999999999ns",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,24}") {
            let _ = parse_go_duration(&text);
            let _ = parse_int(&text);
            let _ = parse_bool(&text);
            let _ = parse_permission(&text);
            let _ = parse_list(&text);
        }

        #[test]
        fn duration_terms_add_up(h in 0u64..10_000, m in 0u64..600, ms in 0u64..100_000) {
            let text = format!("{h}h{m}m{ms}ms");
            let expected = i128::from(((h * 60 + m) * 60_000 + ms) * 1_000_000);
            proptest::prop_assert_eq!(parse_go_duration(&text), Some(expected));
            proptest::prop_assert_eq!(parse_go_duration(&format!("-{text}")), Some(-expected));
        }

        #[test]
        fn decimal_ints_round_trip(n in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(parse_int(&n.to_string()), Some(n));
        }
    }
}
