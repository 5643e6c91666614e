//! The `/params` endpoint body: imagor's JSON for a parsed path, byte for byte.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::parse;
//!
//! let json = parse("/params/unsafe/0.5x0.5:1x1/a.png").to_params_json();
//! assert!(json.contains("\"crop_left\": 0.5,\n  \"crop_top\": 0.5,\n  \"crop_right\": 1,"));
//! ```

use std::fmt::Write as _;

use super::params::Params;

impl Params {
    /// The `/params` endpoint body: JSON indented with two spaces, fields in the
    /// order of imagor's `imagorpath.Params` struct, empty values (false, 0, empty text, empty list) omitted,
    /// `params_endpoint` never printed, `is_unsafe` printed as `unsafe`, and a filter's
    /// `args` omitted when empty. Numbers and strings are written as Go's `encoding/json`
    /// writes them: whole floats without `.0`, `<` `>` `&` as `\u003c` `\u003e` `\u0026`.
    /// No trailing newline.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::parse;
    ///
    /// let p = parse("/params/unsafe/200x0/filters:label(<b>,1,2):grayscale()/a.png");
    /// assert_eq!(
    ///     p.to_params_json(),
    ///     r#"{
    ///   "path": "200x0/filters:label(\u003cb\u003e,1,2):grayscale()/a.png",
    ///   "image": "a.png",
    ///   "unsafe": true,
    ///   "width": 200,
    ///   "filters": [
    ///     {
    ///       "name": "label",
    ///       "args": "\u003cb\u003e,1,2"
    ///     },
    ///     {
    ///       "name": "grayscale"
    ///     }
    ///   ]
    /// }"#
    /// );
    /// ```
    pub fn to_params_json(&self) -> String {
        let mut out = JsonObject::new();
        out.string("path", &self.path);
        out.string("image", &self.image);
        out.boolean("base64_image", self.base64_image);
        out.boolean("unsafe", self.is_unsafe);
        out.string("hash", &self.hash);
        out.boolean("meta", self.meta);
        out.boolean("trim", self.trim);
        out.string("trim_by", self.trim_by.map_or("", |t| t.as_str()));
        out.integer("trim_tolerance", self.trim_tolerance);
        out.float("crop_left", self.crop_left);
        out.float("crop_top", self.crop_top);
        out.float("crop_right", self.crop_right);
        out.float("crop_bottom", self.crop_bottom);
        out.boolean("fit_in", self.fit_in);
        out.boolean("adaptive_fit_in", self.adaptive_fit_in);
        out.boolean("full_fit_in", self.full_fit_in);
        out.boolean("stretch", self.stretch);
        out.integer("width", self.width);
        out.integer("height", self.height);
        out.integer("padding_left", self.padding_left);
        out.integer("padding_top", self.padding_top);
        out.integer("padding_right", self.padding_right);
        out.integer("padding_bottom", self.padding_bottom);
        out.boolean("h_flip", self.h_flip);
        out.boolean("v_flip", self.v_flip);
        out.string("h_align", self.h_align.map_or("", |a| a.as_str()));
        out.string("v_align", self.v_align.map_or("", |a| a.as_str()));
        out.boolean("smart", self.smart);
        if !self.filters.is_empty() {
            out.key("filters");
            out.buf.push('[');
            for (i, filter) in self.filters.iter().enumerate() {
                if i > 0 {
                    out.buf.push(',');
                }
                out.buf.push_str("\n    {\n      \"name\": ");
                push_json_string(&mut out.buf, &filter.name);
                if !filter.args.is_empty() {
                    out.buf.push_str(",\n      \"args\": ");
                    push_json_string(&mut out.buf, &filter.args);
                }
                out.buf.push_str("\n    }");
            }
            out.buf.push_str("\n  ]");
        }
        out.finish()
    }
}

/// A two-space indented top-level object that skips empty values.
struct JsonObject {
    buf: String,
    empty: bool,
}

impl JsonObject {
    fn new() -> Self {
        Self {
            buf: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        self.buf.push_str("\n  ");
        push_json_string(&mut self.buf, key);
        self.buf.push_str(": ");
    }

    fn string(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.key(key);
            push_json_string(&mut self.buf, value);
        }
    }

    fn boolean(&mut self, key: &str, value: bool) {
        if value {
            self.key(key);
            self.buf.push_str("true");
        }
    }

    fn integer(&mut self, key: &str, value: i64) {
        if value != 0 {
            self.key(key);
            let _ = write!(self.buf, "{value}");
        }
    }

    fn float(&mut self, key: &str, value: f64) {
        if value != 0.0 {
            self.key(key);
            push_json_float(&mut self.buf, value);
        }
    }

    fn finish(mut self) -> String {
        // Go's MarshalIndent writes an empty object as `{}`.
        if !self.empty {
            self.buf.push('\n');
        }
        self.buf.push('}');
        self.buf
    }
}

/// A JSON string as Go's `encoding/json` escapes it (HTML-safe).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{00}'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// A number as Go's `encoding/json` writes a float64: shortest round-tripping digits, plain
/// decimal notation unless the magnitude is below 1e-6 or at least 1e21 (then `1e+21`,
/// `1e-7`). JSON has no NaN or infinity; those are written as `null`.
fn push_json_float(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str("null");
        return;
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let start = out.len();
        let _ = write!(out, "{value:e}");
        // Rust writes `1e21`; Go writes `1e+21`.
        if let Some(e) = out.get(start..).and_then(|s| s.find('e'))
            && out.as_bytes().get(start + e + 1) != Some(&b'-')
        {
            out.insert(start + e + 1, '+');
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::parse::parse;

    #[test]
    fn spec_example() {
        let p = parse("/params/unsafe/fit-in/500x400/0x20/filters:fill(white):grayscale()/img.png");
        let expected = r#"{
  "path": "fit-in/500x400/0x20/filters:fill(white):grayscale()/img.png",
  "image": "img.png",
  "unsafe": true,
  "fit_in": true,
  "width": 500,
  "height": 400,
  "padding_top": 20,
  "padding_bottom": 20,
  "filters": [
    {
      "name": "fill",
      "args": "white"
    },
    {
      "name": "grayscale"
    }
  ]
}"#;
        assert_eq!(p.to_params_json(), expected);
    }

    #[test]
    fn every_field_in_order() {
        let p = parse(
            "/params/VTAq7YIRbEXgtwAcsTMhAjvBuT8=/meta/trim:bottom-right:5/0.5x.25:1.5x100/\
             adaptive-full-fit-in/stretch/-10x-20/1x2:3x4/center/middle/smart/filters:a(<b>)/b64:aGVsbG8",
        );
        let json = p.to_params_json();
        let keys: Vec<&str> = json
            .lines()
            .filter_map(|l| l.strip_prefix("  \""))
            .filter_map(|l| l.split('"').next())
            .collect();
        // A signed path: every field but `unsafe` (whose place the spec example shows).
        assert_eq!(
            keys,
            [
                "path",
                "image",
                "base64_image",
                "hash",
                "meta",
                "trim",
                "trim_by",
                "trim_tolerance",
                "crop_left",
                "crop_top",
                "crop_right",
                "crop_bottom",
                "fit_in",
                "adaptive_fit_in",
                "full_fit_in",
                "stretch",
                "width",
                "height",
                "padding_left",
                "padding_top",
                "padding_right",
                "padding_bottom",
                "h_flip",
                "v_flip",
                "h_align",
                "v_align",
                "smart",
                "filters"
            ]
        );
        assert!(json.contains("\"trim_by\": \"bottom-right\",\n"));
        assert!(json.contains("\"crop_top\": 0.25,\n"));
        assert!(json.contains("\"crop_bottom\": 100,\n"));
        assert!(json.contains("\"h_align\": \"center\",\n"));
        assert!(json.contains("\"args\": \"\\u003cb\\u003e\"\n"));
        assert!(json.ends_with("\n    }\n  ]\n}"));
    }

    #[test]
    fn empty_object() {
        assert_eq!(Params::default().to_params_json(), "{}");
    }

    #[test]
    fn strings_like_go() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"\\\n\r\t\u{8}\u{c}\u{1}\u{7f}<>&\u{2028}é");
        let expected = concat!(
            r#""a\"\\\n\r\t\b\f\u0001"#,
            "\u{7f}",
            r#"\u003c\u003e\u0026\u2028é""#
        );
        assert_eq!(s, expected);
    }

    #[test]
    fn floats_like_go() {
        let cases: [(f64, &str); 8] = [
            (10.0, "10"),
            (0.2, "0.2"),
            (-1.5, "-1.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (f64::NAN, "null"),
        ];
        for (value, expected) in cases {
            let mut s = String::new();
            push_json_float(&mut s, value);
            assert_eq!(s, expected);
        }
    }
}
