//! Presets: named sets of path options, used in a URL as a `preset:NAME` segment.
//!
//! A preset's value is written as imagor path options without an image, e.g.
//! `fit-in/200x200/filters:format(webp)`. In a URL, the segment `preset:NAME` (or
//! `preset:A,B`, applied in that order) may stand wherever an option segment may, before the
//! filters, and is expanded in place:
//!
//! * a group of options the preset sets (trim, crop, fit-in, stretch, size, padding,
//!   alignments, smart, meta) replaces what came before it, and is replaced by the same group
//!   written after it: `/unsafe/preset:thumb/300x300/photo.jpg` has the preset's fit-in and
//!   format, but a 300x300 size;
//! * filters are concatenated in order: the preset's, then those of a later preset or of the
//!   URL's `filters:` segment.
//!
//! Signatures cover the path as written, `preset:` segments included, as imagor signs the
//! path it receives; the expansion happens after the signature check. With
//! [`Presets::only_presets`], a URL must be `preset:` segments followed by the image and
//! nothing else, so that no client can ask for processing the operator has not defined.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{parse, Filter, PresetError, Presets};
//!
//! let presets = Presets::new()
//!     .with("thumb", "fit-in/200x200/filters:format(webp)")?
//!     .with("gray", "filters:grayscale()")?;
//!
//! let p = presets.parse("/unsafe/preset:thumb,gray/filters:quality(80)/photo.jpg")?;
//! assert!(p.fit_in);
//! assert_eq!((p.width, p.height), (200, 200));
//! assert_eq!(
//!     p.filters,
//!     [Filter::new("format", "webp"), Filter::new("grayscale", ""), Filter::new("quality", "80")]
//! );
//! assert_eq!(p.image, "photo.jpg");
//! // The signed text is the path as written.
//! assert_eq!(p.path, "preset:thumb,gray/filters:quality(80)/photo.jpg");
//!
//! // Without presets, the segment is part of the image, as imagor reads it.
//! assert_eq!(parse("/unsafe/preset:thumb/photo.jpg").image, "preset:thumb/photo.jpg");
//!
//! assert_eq!(
//!     presets.parse("/unsafe/preset:nope/photo.jpg"),
//!     Err(PresetError::Unknown("nope".into()))
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use super::params::Params;
use super::parse::{Cursor, parse, read_rest};

/// The prefix of a preset segment.
const PREFIX: &str = "preset:";

/// A table of named presets, and whether URLs may use anything else. See the
/// [module docs](self).
///
/// # Example
///
/// ```
/// use imagor_tower::path::{PresetError, Presets};
///
/// let presets = Presets::new().with("thumb", "fit-in/200x200")?.only_presets(true);
/// assert_eq!(presets.len(), 1);
/// assert_eq!(presets.get("thumb").map(|p| p.width), Some(200));
///
/// assert!(presets.parse("/unsafe/preset:thumb/a.jpg").is_ok());
/// assert_eq!(presets.parse("/unsafe/preset:thumb/300x0/a.jpg"), Err(PresetError::OnlyPresets));
/// assert_eq!(presets.parse("/unsafe/a.jpg"), Err(PresetError::OnlyPresets));
/// # Ok::<(), imagor_tower::path::PresetDefinitionError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Presets {
    table: BTreeMap<String, Params>,
    only: bool,
}

impl Presets {
    /// An empty table. `preset:` segments are still read as presets (and any name is
    /// unknown), unlike a service with no presets at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines (or redefines) the preset `name` as `options`, imagor path options without an
    /// image such as `fit-in/200x200/filters:format(webp)`.
    ///
    /// # Errors
    ///
    /// A [`PresetDefinitionError`] when the name is empty or holds `,` or `/`, or the value is
    /// empty, refers to another preset, or holds anything that is not a path option (an image
    /// path, or options out of imagor's segment order).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::Presets;
    ///
    /// let mut presets = Presets::new();
    /// presets.insert("small", "100x100/smart")?;
    /// assert!(presets.get("small").unwrap().smart);
    ///
    /// let err = presets.insert("bad", "100x100/photo.jpg").unwrap_err();
    /// assert_eq!(err.name(), "bad");
    /// assert!(err.to_string().contains("photo.jpg"), "{err}");
    /// assert!(presets.insert("a,b", "100x100").is_err());
    /// assert!(presets.insert("x", "preset:small").is_err());
    /// # Ok::<(), imagor_tower::path::PresetDefinitionError>(())
    /// ```
    pub fn insert(&mut self, name: &str, options: &str) -> Result<(), PresetDefinitionError> {
        check_name(name)?;
        let params = parse_options(name, options)?;
        self.table.insert(name.to_owned(), params);
        Ok(())
    }

    /// [`insert`](Self::insert) as a builder step.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn with(mut self, name: &str, options: &str) -> Result<Self, PresetDefinitionError> {
        self.insert(name, options)?;
        Ok(self)
    }

    /// Refuse every URL that is not one or more `preset:` segments followed by the image
    /// (`IMAGOR_ONLY_PRESETS`): no option segment and no `filters:` of its own. Clients can
    /// then only ask for what the presets define, which makes serving unsigned (`unsafe/`)
    /// URLs safe.
    #[must_use]
    pub fn only_presets(mut self, only: bool) -> Self {
        self.only = only;
        self
    }

    /// Whether [`only_presets`](Self::only_presets) is on.
    pub fn is_only_presets(&self) -> bool {
        self.only
    }

    /// The options of the preset `name`, as parsed ([`Params::path`] is its value).
    pub fn get(&self, name: &str) -> Option<&Params> {
        self.table.get(name)
    }

    /// The names of the presets, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.table.keys().map(String::as_str)
    }

    /// How many presets there are.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// [`parse`](super::parse) with the `preset:` segments expanded.
    ///
    /// # Errors
    ///
    /// A [`PresetError`] for an unknown or empty preset name, and with
    /// [`only_presets`](Self::only_presets) for a URL that is not presets plus the image.
    pub fn parse(&self, path: &str) -> Result<Params, PresetError> {
        let mut params = parse(path);
        self.expand(&mut params)?;
        Ok(params)
    }

    /// Reads `params.path` again with the `preset:` segments expanded, keeping the fields
    /// the signature segment set (`hash`, `is_unsafe`, `params_endpoint`) and `path` itself.
    /// A service parses with [`parse`](super::parse), checks the signature of `path`, then
    /// expands. On error `params` is left as it was.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{parse, Presets, Signer};
    ///
    /// let presets = Presets::new().with("thumb", "fit-in/200x200")?;
    /// let signer = Signer::new("secret");
    /// let url = signer.sign_url("preset:thumb/photo.jpg");
    ///
    /// let mut params = parse(&url);
    /// assert!(signer.verify(&params.path, &params.hash));
    /// presets.expand(&mut params)?;
    /// assert_eq!((params.width, params.height), (200, 200));
    /// assert_eq!(params.generate(), "fit-in/200x200/photo.jpg");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expand(&self, params: &mut Params) -> Result<(), PresetError> {
        let mut expanded = Params {
            params_endpoint: params.params_endpoint,
            path: params.path.clone(),
            is_unsafe: params.is_unsafe,
            hash: params.hash.clone(),
            ..Params::default()
        };
        let mut hook =
            |cursor: &mut Cursor<'_>, params: &mut Params| self.take_segments(cursor, params);
        let summary = read_rest(&mut expanded, &params.path, Some(&mut hook))?;
        if self.only && (summary.options || summary.presets == 0) {
            return Err(PresetError::OnlyPresets);
        }
        *params = expanded;
        Ok(())
    }

    /// Consumes the `preset:` segments at the cursor and applies them to `params`; returns
    /// how many presets were applied.
    fn take_segments(
        &self,
        cursor: &mut Cursor<'_>,
        params: &mut Params,
    ) -> Result<usize, PresetError> {
        let mut applied = 0;
        while let Some(names) = cursor.take(|segment| segment.strip_prefix(PREFIX)) {
            for name in names.split(',') {
                if name.is_empty() {
                    return Err(PresetError::EmptyName);
                }
                let preset = self
                    .table
                    .get(name)
                    .ok_or_else(|| PresetError::Unknown(name.to_owned()))?;
                overlay(params, preset);
                applied += 1;
            }
        }
        Ok(applied)
    }
}

/// Applies a preset where it stands: each group of options it sets replaces that group,
/// and its filters are appended.
fn overlay(params: &mut Params, preset: &Params) {
    let p = preset;
    if p.meta {
        params.meta = true;
    }
    if p.trim {
        params.trim = true;
        params.trim_by = p.trim_by;
        params.trim_tolerance = p.trim_tolerance;
    }
    if [p.crop_left, p.crop_top, p.crop_right, p.crop_bottom] != [0.0; 4] {
        params.crop_left = p.crop_left;
        params.crop_top = p.crop_top;
        params.crop_right = p.crop_right;
        params.crop_bottom = p.crop_bottom;
    }
    if p.fit_in {
        params.fit_in = true;
        params.adaptive_fit_in = p.adaptive_fit_in;
        params.full_fit_in = p.full_fit_in;
    }
    if p.stretch {
        params.stretch = true;
    }
    if p.width != 0 || p.height != 0 || p.h_flip || p.v_flip {
        params.width = p.width;
        params.height = p.height;
        params.h_flip = p.h_flip;
        params.v_flip = p.v_flip;
    }
    let padding = [
        p.padding_left,
        p.padding_top,
        p.padding_right,
        p.padding_bottom,
    ];
    if padding != [0; 4] {
        params.padding_left = p.padding_left;
        params.padding_top = p.padding_top;
        params.padding_right = p.padding_right;
        params.padding_bottom = p.padding_bottom;
    }
    if p.h_align.is_some() {
        params.h_align = p.h_align;
    }
    if p.v_align.is_some() {
        params.v_align = p.v_align;
    }
    if p.smart {
        params.smart = true;
    }
    params.filters.extend(p.filters.iter().cloned());
}

fn check_name(name: &str) -> Result<(), PresetDefinitionError> {
    let reason = if name.is_empty() {
        "a preset name cannot be empty"
    } else if name.contains([',', '/']) {
        "a preset name cannot contain ',' or '/'"
    } else {
        return Ok(());
    };
    Err(PresetDefinitionError::new(name, reason))
}

/// A preset's value as options: all of it must be read as option segments and filters.
fn parse_options(name: &str, options: &str) -> Result<Params, PresetDefinitionError> {
    let value = options.trim();
    if value.trim_matches('/').is_empty() {
        return Err(PresetDefinitionError::new(name, "the value is empty"));
    }
    // Every segment is read as `/`-terminated, so that a last option is not an image.
    let text = if value.ends_with('/') {
        value.to_owned()
    } else {
        format!("{value}/")
    };
    let mut params = Params {
        path: value.to_owned(),
        ..Params::default()
    };
    // Without presets of its own, reading cannot fail.
    let _ = read_rest::<PresetError>(&mut params, &text, None);
    if params.image.starts_with(PREFIX) {
        return Err(PresetDefinitionError::new(
            name,
            "a preset cannot use another preset (preset:...)",
        ));
    }
    if !params.image.is_empty() {
        let rest = params.image.trim_end_matches('/');
        return Err(PresetDefinitionError::new(
            name,
            format!(
                "{rest:?} is not an imagor path option: a preset holds options only, no image \
                 path, in imagor's order (meta, trim, crop, fit-in, stretch, size, padding, \
                 alignment, smart, filters)"
            ),
        ));
    }
    Ok(params)
}

/// Why a URL's `preset:` segments could not be expanded. The service answers 400 for an
/// unknown or empty name and 403 when only presets are allowed.
///
/// # Example
///
/// ```
/// use imagor_tower::path::PresetError;
///
/// assert_eq!(PresetError::Unknown("x".into()).to_string(), "unknown preset: x");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresetError {
    /// No preset has this name.
    Unknown(String),
    /// `preset:` with no name, or an empty name in a list (`preset:a,,b`).
    EmptyName,
    /// Only presets are allowed, and the URL has options of its own or no preset.
    OnlyPresets,
}

impl fmt::Display for PresetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => write!(f, "unknown preset: {name}"),
            Self::EmptyName => f.write_str("empty preset name"),
            Self::OnlyPresets => f.write_str("only preset URLs are allowed: preset:NAME/IMAGE"),
        }
    }
}

impl std::error::Error for PresetError {}

/// A preset that cannot be defined: its name and what is wrong with it or its value.
///
/// # Example
///
/// ```
/// use imagor_tower::path::Presets;
///
/// let err = Presets::new().with("", "100x100").unwrap_err();
/// assert_eq!(err.name(), "");
/// assert_eq!(err.reason(), "a preset name cannot be empty");
/// assert_eq!(err.to_string(), "preset \"\": a preset name cannot be empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresetDefinitionError {
    name: String,
    reason: String,
}

impl PresetDefinitionError {
    fn new(name: &str, reason: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// The preset's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What is wrong, without the name.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PresetDefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "preset {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for PresetDefinitionError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{Filter, HAlign, Signer};

    fn presets() -> Presets {
        Presets::new()
            .with("thumb", "fit-in/200x200/filters:format(webp)")
            .and_then(|p| p.with("gray", "filters:grayscale()"))
            .and_then(|p| p.with("left", "left/"))
            .and_then(|p| p.with("wide", "/adaptive-full-fit-in/-400x0/"))
            .unwrap()
    }

    #[test]
    fn a_preset_alone_expands() {
        let p = presets().parse("/unsafe/preset:thumb/photo.jpg").unwrap();
        assert!(p.is_unsafe && p.fit_in && !p.adaptive_fit_in);
        assert_eq!((p.width, p.height), (200, 200));
        assert_eq!(p.filters, [Filter::new("format", "webp")]);
        assert_eq!(p.image, "photo.jpg");
        assert_eq!(p.path, "preset:thumb/photo.jpg");
        assert_eq!(
            p.generate(),
            "fit-in/200x200/filters:format(webp)/photo.jpg"
        );
    }

    #[test]
    fn later_segments_override_and_filters_concatenate() {
        let p = presets()
            .parse("/unsafe/preset:thumb/300x100/filters:grayscale():quality(80)/a/b.jpg")
            .unwrap();
        assert!(p.fit_in);
        assert_eq!((p.width, p.height), (300, 100));
        assert_eq!(
            p.filters,
            [
                Filter::new("format", "webp"),
                Filter::new("grayscale", ""),
                Filter::new("quality", "80")
            ]
        );
        assert_eq!(p.image, "a/b.jpg");
        // A later fit-in keyword replaces the whole fit-in group of the preset.
        let p = presets()
            .parse("/unsafe/preset:wide/full-fit-in/a.jpg")
            .unwrap();
        assert!(p.fit_in && p.full_fit_in && !p.adaptive_fit_in);
        assert!(p.h_flip);
    }

    #[test]
    fn a_preset_after_a_segment_overrides_it_in_place() {
        let p = presets().parse("/unsafe/50x50/preset:thumb/a.jpg").unwrap();
        assert_eq!((p.width, p.height), (200, 200));
        // But it keeps what it does not set.
        let p = presets().parse("/unsafe/fit-in/preset:left/a.jpg").unwrap();
        assert!(p.fit_in);
        assert_eq!(p.h_align, Some(HAlign::Left));
    }

    #[test]
    fn several_presets_apply_in_order() {
        let a = presets().parse("/unsafe/preset:gray,thumb/a.jpg").unwrap();
        assert_eq!(
            a.filters,
            [Filter::new("grayscale", ""), Filter::new("format", "webp")]
        );
        let b = presets()
            .parse("/unsafe/preset:thumb/preset:wide/a.jpg")
            .unwrap();
        assert!(b.adaptive_fit_in && b.full_fit_in);
        assert_eq!((b.width, b.height, b.h_flip), (400, 0, true));
        assert_eq!(b.filters, [Filter::new("format", "webp")]);
    }

    #[test]
    fn unknown_and_empty_names_fail() {
        let presets = presets();
        for (url, err) in [
            (
                "/unsafe/preset:nope/a.jpg",
                PresetError::Unknown("nope".into()),
            ),
            (
                "/unsafe/preset:thumb,nope/a.jpg",
                PresetError::Unknown("nope".into()),
            ),
            ("/unsafe/preset:/a.jpg", PresetError::EmptyName),
            ("/unsafe/preset:thumb,/a.jpg", PresetError::EmptyName),
        ] {
            assert_eq!(presets.parse(url), Err(err), "{url}");
        }
        // After the filters, the rest is the image, whatever it looks like.
        let p = presets
            .parse("/unsafe/filters:blur(1)/preset:nope/a.jpg")
            .unwrap();
        assert_eq!(p.image, "preset:nope/a.jpg");
        // Without a slash after it, the text is the image.
        let p = presets.parse("/unsafe/preset:nope").unwrap();
        assert_eq!(p.image, "preset:nope");
    }

    #[test]
    fn signatures_cover_the_path_as_written() {
        let signer = Signer::new("s");
        let url = signer.sign_url("preset:thumb/filters:grayscale()/photo.jpg");
        let mut params = parse(&url);
        assert!(signer.verify(&params.path, &params.hash));
        presets().expand(&mut params).unwrap();
        assert_eq!(params.path, "preset:thumb/filters:grayscale()/photo.jpg");
        assert_eq!(params.hash, signer.sign(&params.path));
        assert_eq!(params.width, 200);
        assert_eq!(params.filters.len(), 2);
    }

    #[test]
    fn only_presets_refuses_everything_else() {
        let only = presets().only_presets(true);
        assert!(only.is_only_presets());
        assert!(only.parse("/unsafe/preset:thumb/photo.jpg").is_ok());
        assert!(
            only.parse("/unsafe/preset:thumb,gray/dir/photo.jpg")
                .is_ok()
        );
        assert!(
            only.parse("/abcdefghijklmnopqrstuvwxyz/preset:thumb/preset:gray/a.jpg")
                .is_ok()
        );
        for url in [
            "/unsafe/photo.jpg",
            "/unsafe/preset:thumb/300x200/photo.jpg",
            "/unsafe/preset:thumb/filters:blur(5)/photo.jpg",
            "/unsafe/preset:thumb/filters:/photo.jpg",
            "/unsafe/meta/preset:thumb/photo.jpg",
            "/unsafe/fit-in/preset:thumb/photo.jpg",
            "/unsafe/preset:thumb/smart/photo.jpg",
        ] {
            assert_eq!(only.parse(url), Err(PresetError::OnlyPresets), "{url}");
        }
        // Errors leave the params untouched.
        let mut params = parse("/unsafe/300x200/a.jpg");
        let before = params.clone();
        assert!(only.expand(&mut params).is_err());
        assert_eq!(params, before);
    }

    #[test]
    fn definitions_are_checked() {
        let mut presets = Presets::new();
        for (name, value, needle) in [
            ("", "100x100", "cannot be empty"),
            ("a,b", "100x100", "cannot contain"),
            ("a/b", "100x100", "cannot contain"),
            ("x", "", "the value is empty"),
            ("x", " / ", "the value is empty"),
            (
                "x",
                "100x100/photo.jpg",
                "\"photo.jpg\" is not an imagor path option",
            ),
            ("x", "filters:blur(2)/photo.jpg", "\"photo.jpg\""),
            ("x", "100x100/fit-in", "\"fit-in\""),
            ("x", "unsafe/100x100", "\"unsafe/100x100\""),
            ("x", "preset:thumb", "another preset"),
            ("x", "100x100/preset:thumb/", "another preset"),
        ] {
            let err = presets.insert(name, value).unwrap_err();
            assert_eq!(err.name(), name);
            assert!(err.reason().contains(needle), "{name:?} {value:?}: {err}");
        }
        assert!(presets.is_empty());
        presets.insert("ok", " /meta/trim/10x10:90x90/fit-in/stretch/100x100/5x5/right/bottom/smart/filters:blur(1) ").unwrap();
        let p = presets.get("ok").unwrap();
        assert!(p.meta && p.trim && p.fit_in && p.stretch && p.smart);
        assert_eq!(p.padding_left, 5);
        assert_eq!(p.filters, [Filter::new("blur", "1")]);
        assert_eq!(presets.names().collect::<Vec<_>>(), ["ok"]);
        // Redefining replaces.
        presets.insert("ok", "10x10").unwrap();
        assert_eq!(presets.len(), 1);
        assert_eq!(presets.get("ok").map(|p| p.width), Some(10));
    }
}
