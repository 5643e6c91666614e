//! [`Params`] → canonical path text.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::parse;
//!
//! // Canonical form: `center`/`middle` are dropped, equal paddings are shortened.
//! let p = parse("/unsafe/300x200/10x10:10x10/center/middle/img.jpg");
//! assert_eq!(p.generate(), "300x200/10x10/img.jpg");
//! ```

use std::fmt::{self, Write as _};

use base64::Engine as _;

use super::escape::push_path_escaped;
use super::params::{HAlign, Params, TrimBy, VAlign};
use super::parse::B64_URL_NO_PAD;

/// Image prefixes that would be read as a segment and so force escaping.
const KEYWORD_PREFIXES: [&str; 10] = [
    "trim/", "meta/", "fit-in/", "stretch/", "top/", "left/", "right/", "bottom/", "center/",
    "smart/",
];

impl Params {
    /// The canonical path for these fields, without the signature segment.
    ///
    /// Prepend `unsafe/` or a signature yourself (see [`Signer::sign_url`](super::Signer::sign_url)).
    /// `params_endpoint`, `path`, `is_unsafe` and `hash` are not used. Segments are written in
    /// grammar order; `center` and `middle` are never written; a negative width or height
    /// toggles the matching flip and is written as positive; the fit-in keyword is written
    /// only when `fit_in` is set (its `adaptive-`/`full-` prefixes come from the other two
    /// flags); the image is percent-escaped when it contains `?`, `(`, `)` or `,` or starts
    /// with a keyword, and written as `b64:` + unpadded base64url when `base64_image` is set.
    ///
    /// The same text is produced by the [`Display`](fmt::Display) implementation.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{parse, Filter, Params};
    ///
    /// let p = Params {
    ///     width: -167,
    ///     height: -169,
    ///     image: "foobar".into(),
    ///     ..Params::default()
    /// };
    /// assert_eq!(p.generate(), "-167x-169/foobar");
    ///
    /// let p = Params {
    ///     fit_in: true,
    ///     width: 300,
    ///     filters: vec![Filter::new("fill", "white")],
    ///     image: "photo (1).jpg".into(),
    ///     ..Params::default()
    /// };
    /// let path = p.generate();
    /// assert_eq!(path, "fit-in/300x0/filters:fill(white)/photo%20%281%29.jpg");
    /// assert_eq!(parse(&format!("unsafe/{path}")).image, "photo (1).jpg");
    /// ```
    pub fn generate(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every segment is followed by `/`; the image (possibly empty) comes last.
        if self.meta {
            f.write_str("meta/")?;
        }
        if self.trim || self.trim_by.is_some() {
            f.write_str("trim")?;
            if self.trim_by == Some(TrimBy::BottomRight) {
                f.write_str(":bottom-right")?;
            }
            if self.trim_tolerance > 0 {
                write!(f, ":{}", self.trim_tolerance)?;
            }
            f.write_char('/')?;
        }
        let crop = [
            self.crop_left,
            self.crop_top,
            self.crop_right,
            self.crop_bottom,
        ];
        if crop.iter().any(|&v| v > 0.0) {
            // `f64`'s Display is the shortest round-tripping decimal and never uses an
            // exponent, like Go's FormatFloat(v, 'f', -1, 64).
            let [left, top, right, bottom] = crop;
            write!(f, "{left}x{top}:{right}x{bottom}/")?;
        }
        if self.fit_in {
            if self.adaptive_fit_in {
                f.write_str("adaptive-")?;
            }
            if self.full_fit_in {
                f.write_str("full-")?;
            }
            f.write_str("fit-in/")?;
        }
        if self.stretch {
            f.write_str("stretch/")?;
        }
        // imagor writes the size only for flips, a size or left/top padding; a padding such as
        // `0x0:1x0` alone then reads back as a crop. Writing `0x0/` before any padding keeps the
        // round trip exact (docs/compatibility.md).
        if self.h_flip
            || self.v_flip
            || self.width != 0
            || self.height != 0
            || self.padding_left > 0
            || self.padding_top > 0
            || self.padding_right > 0
            || self.padding_bottom > 0
        {
            let h_flip = self.h_flip != (self.width < 0);
            let v_flip = self.v_flip != (self.height < 0);
            write!(
                f,
                "{}{}x{}{}/",
                if h_flip { "-" } else { "" },
                self.width.unsigned_abs(),
                if v_flip { "-" } else { "" },
                self.height.unsigned_abs(),
            )?;
        }
        let padding = [
            self.padding_left,
            self.padding_top,
            self.padding_right,
            self.padding_bottom,
        ];
        if padding.iter().any(|&v| v > 0) {
            let [left, top, right, bottom] = padding;
            if left == right && top == bottom {
                write!(f, "{left}x{top}/")?;
            } else {
                write!(f, "{left}x{top}:{right}x{bottom}/")?;
            }
        }
        match self.h_align {
            Some(a @ (HAlign::Left | HAlign::Right)) => write!(f, "{}/", a.as_str())?,
            Some(HAlign::Center) | None => {}
        }
        match self.v_align {
            Some(a @ (VAlign::Top | VAlign::Bottom)) => write!(f, "{}/", a.as_str())?,
            Some(VAlign::Middle) | None => {}
        }
        if self.smart {
            f.write_str("smart/")?;
        }
        if !self.filters.is_empty() {
            f.write_str("filters:")?;
            for (i, filter) in self.filters.iter().enumerate() {
                if i > 0 {
                    f.write_char(':')?;
                }
                write!(f, "{}({})", filter.name, filter.args)?;
            }
            f.write_char('/')?;
        }
        if self.base64_image || needs_escape(&self.image) {
            f.write_str(&image_text(&self.image, self.base64_image))
        } else {
            f.write_str(&self.image)
        }
    }
}

/// Images that would otherwise be misread as a segment are percent-escaped, as imagor's
/// path generator does.
fn needs_escape(image: &str) -> bool {
    image.contains(['?', '(', ')', ',']) || KEYWORD_PREFIXES.iter().any(|k| image.starts_with(k))
}

/// The image as it appears in a path.
fn image_text(image: &str, base64: bool) -> String {
    if base64 {
        let mut out = String::from("b64:");
        B64_URL_NO_PAD.encode_string(image, &mut out);
        out
    } else if needs_escape(image) {
        let mut out = String::with_capacity(image.len() + 16);
        push_path_escaped(&mut out, image);
        out
    } else {
        image.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::params::Filter;

    #[test]
    fn every_segment_in_order() {
        let p = Params {
            meta: true,
            trim: true,
            trim_by: Some(TrimBy::BottomRight),
            trim_tolerance: 100,
            crop_left: 0.2,
            crop_top: 0.15,
            crop_right: 1.5,
            crop_bottom: 12.0,
            fit_in: true,
            adaptive_fit_in: true,
            full_fit_in: true,
            stretch: true,
            width: 300,
            height: -200,
            h_flip: true,
            padding_left: 1,
            padding_top: 2,
            padding_right: 3,
            padding_bottom: 4,
            h_align: Some(HAlign::Right),
            v_align: Some(VAlign::Bottom),
            smart: true,
            filters: vec![Filter::new("a", ""), Filter::new("b", "1,2")],
            image: "img.png".into(),
            ..Params::default()
        };
        assert_eq!(
            p.generate(),
            "meta/trim:bottom-right:100/0.2x0.15:1.5x12/adaptive-full-fit-in/stretch/\
             -300x-200/1x2:3x4/right/bottom/smart/filters:a():b(1,2)/img.png"
        );
    }

    #[test]
    fn empty_and_partial() {
        assert_eq!(Params::default().generate(), "");
        let p = Params {
            meta: true,
            ..Params::default()
        };
        assert_eq!(p.generate(), "meta/");
        let p = Params {
            trim_by: Some(TrimBy::TopLeft),
            h_align: Some(HAlign::Center),
            v_align: Some(VAlign::Middle),
            padding_top: 5,
            padding_bottom: 5,
            image: "a".into(),
            ..Params::default()
        };
        assert_eq!(p.generate(), "trim/0x0/0x5/a");
    }

    #[test]
    fn extreme_sizes_do_not_overflow() {
        let p = Params {
            width: i64::MIN,
            height: i64::MAX,
            ..Params::default()
        };
        assert_eq!(p.generate(), "-9223372036854775808x9223372036854775807/");
    }

    #[test]
    fn images() {
        assert_eq!(image_text("a/b.jpg", false), "a/b.jpg");
        assert_eq!(image_text("trim/img", false), "trim%2Fimg");
        assert_eq!(image_text("a?b=1", false), "a%3Fb=1");
        assert_eq!(image_text("hello", true), "b64:aGVsbG8");
        assert_eq!(image_text("", true), "b64:");
    }
}
