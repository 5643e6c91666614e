//! Server-side rules over a URL's filters: imagor's `VIPS_DISABLE_FILTERS`, `VIPS_DISABLE_BLUR`,
//! `VIPS_MAX_FILTER_OPS`, `VIPS_MAX_ANIMATION_FRAMES` and `VIPS_STRIP_METADATA`
//! (imagor's libvips processor options, <https://github.com/cshum/imagor#configuration>).
//!
//! A [`FilterPolicy`] rewrites the filter list the processor sees, never the URL: the result
//! key, `/params` and the signature still use the filters as written.
//!
//! * Disabled filters are dropped from every stage (decode planning, pipeline, encoder).
//! * `disable_blur` disables `blur` and `sharpen` and turns `fill(blur)` into a black fill.
//! * With a filter-op limit N, the filters that count as ops (those whose
//!   [registry entry](super::filter::FilterSpec::counts_as_op) says so) at position N or
//!   later in the whole list are dropped. Every filter counts toward the position, disabled
//!   ones and encoder settings included, and encoder settings after N still apply.
//! * A frame limit caps animations as a `max_frames(N)` filter would; a URL's own
//!   `max_frames(n)` can only lower it.
//! * `strip_metadata` acts as a `strip_metadata()` filter on every URL, and
//!   `strip_color_profile` as a `strip_icc()` one.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path;
//! use imagor_tower::processing::FilterPolicy;
//!
//! let policy = FilterPolicy::new().disable_filters(["fill"]).max_filter_ops(Some(2));
//! let params = path::parse("unsafe/filters:fill(red):quality(70):blur(2):format(png)/a.jpg");
//! let seen: Vec<_> = policy.apply(&params).filters.iter().map(|f| f.name.clone()).collect();
//! // `fill` is disabled; `blur` is a pipeline filter at position 2, past the limit.
//! assert_eq!(seen, ["quality", "format"]);
//! ```

use std::borrow::Cow;

use super::filter::lookup;
use crate::path::{Filter, Params};

/// Server-side limits and switches applied to the filters of every URL (see the
/// [module docs](self)). The default changes nothing.
///
/// ```
/// use imagor_tower::processing::{FilterPolicy, Options};
///
/// let options = Options::default().policy(
///     FilterPolicy::new()
///         .disable_blur(true)
///         .max_animation_frames(Some(10))
///         .strip_metadata(true),
/// );
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterPolicy {
    disabled: Vec<String>,
    disable_blur: bool,
    max_filter_ops: Option<usize>,
    max_animation_frames: Option<u32>,
    strip_metadata: bool,
    strip_color_profile: bool,
}

impl FilterPolicy {
    /// A policy that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filters skipped in every stage (`VIPS_DISABLE_FILTERS`). Names are case-sensitive, as
    /// filter names are; blank entries are ignored.
    pub fn disable_filters<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.disabled = names
            .into_iter()
            .map(Into::into)
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect();
        self
    }

    /// Disables `blur` and `sharpen`, and makes `fill(blur)` a black fill (`VIPS_DISABLE_BLUR`).
    pub fn disable_blur(mut self, disable: bool) -> Self {
        self.disable_blur = disable;
        self
    }

    /// Runs only the pipeline filters at positions below `limit` in the filter list
    /// (`VIPS_MAX_FILTER_OPS`); `None` or `Some(0)` is unlimited.
    pub fn max_filter_ops(mut self, limit: Option<usize>) -> Self {
        self.max_filter_ops = limit.filter(|&n| n > 0);
        self
    }

    /// Keeps at most this many frames of an animation (`VIPS_MAX_ANIMATION_FRAMES`); `None`
    /// is unlimited, and `Some(0)` acts as 1.
    pub fn max_animation_frames(mut self, limit: Option<u32>) -> Self {
        self.max_animation_frames = limit.map(|n| n.max(1));
        self
    }

    /// Drops the ICC profile and all metadata from every output (`VIPS_STRIP_METADATA`).
    pub fn strip_metadata(mut self, strip: bool) -> Self {
        self.strip_metadata = strip;
        self
    }

    /// Drops the ICC profile from every output, after converting to sRGB
    /// (`VIPS_STRIP_COLOR_PROFILE`), as a `strip_icc()` filter on every URL would.
    pub fn strip_color_profile(mut self, strip: bool) -> Self {
        self.strip_color_profile = strip;
        self
    }

    fn is_disabled(&self, name: &str) -> bool {
        (self.disable_blur && matches!(name, "blur" | "sharpen"))
            || self.disabled.iter().any(|d| d == name)
    }

    /// The parameters as the processor should see them: borrowed unchanged when the policy
    /// has nothing to do.
    pub fn apply<'a>(&self, params: &'a Params) -> Cow<'a, Params> {
        if *self == Self::default() {
            return Cow::Borrowed(params);
        }
        let limit = self.max_filter_ops.unwrap_or(usize::MAX);
        let mut filters: Vec<Filter> = params
            .filters
            .iter()
            .enumerate()
            .filter(|(_, f)| !self.is_disabled(&f.name))
            .filter(|(position, f)| *position < limit || !counts_as_op(&f.name))
            .map(|(_, f)| {
                if self.disable_blur && f.name == "fill" && f.args.trim() == "blur" {
                    Filter::new("fill", "black")
                } else {
                    f.clone()
                }
            })
            .collect();
        if let Some(frames) = self.max_animation_frames {
            filters.push(Filter::new("max_frames", frames.to_string()));
        }
        if self.strip_metadata {
            filters.push(Filter::new("strip_metadata", ""));
        }
        if self.strip_color_profile {
            filters.push(Filter::new("strip_icc", ""));
        }
        if filters == params.filters {
            return Cow::Borrowed(params);
        }
        Cow::Owned(Params {
            filters,
            ..params.clone()
        })
    }
}

/// Whether `name` counts toward the filter-op limit, as its registry entry says (unknown
/// names do not).
fn counts_as_op(name: &str) -> bool {
    lookup(name).is_some_and(|spec| spec.counts_as_op())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(policy: &FilterPolicy, path: &str) -> Vec<String> {
        let params = crate::path::parse(path);
        policy
            .apply(&params)
            .filters
            .iter()
            .map(|f| format!("{}({})", f.name, f.args))
            .collect()
    }

    #[test]
    fn default_borrows() {
        let params = crate::path::parse("unsafe/filters:blur(2)/a.jpg");
        assert!(matches!(
            FilterPolicy::new().apply(&params),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn disabled_filters_leave_every_stage() {
        let policy = FilterPolicy::new().disable_filters(["fill", " format ", ""]);
        assert_eq!(
            names(
                &policy,
                "unsafe/filters:fill(white):format(jpeg):quality(5)/a.gif"
            ),
            ["quality(5)"]
        );
    }

    #[test]
    fn disable_blur_turns_fill_blur_black() {
        let policy = FilterPolicy::new().disable_blur(true);
        assert_eq!(
            names(
                &policy,
                "unsafe/filters:blur(3):sharpen(1):fill(blur):fill(red)/a.jpg"
            ),
            ["fill(black)", "fill(red)"]
        );
    }

    #[test]
    fn filter_ops_count_every_position_but_cut_only_the_pipeline() {
        let policy = FilterPolicy::new()
            .disable_filters(["grayscale"])
            .max_filter_ops(Some(2));
        // Positions: grayscale 0 (disabled, still counted), fill 1, quality 2, blur 3, format 4.
        assert_eq!(
            names(
                &policy,
                "unsafe/filters:grayscale():fill(red):quality(50):blur(2):format(png)/a.jpg"
            ),
            ["fill(red)", "quality(50)", "format(png)"]
        );
        assert_eq!(
            FilterPolicy::new().max_filter_ops(Some(0)),
            FilterPolicy::new()
        );
    }

    #[test]
    fn frame_limit_and_strip_metadata_become_filters() {
        let policy = FilterPolicy::new()
            .max_animation_frames(Some(0))
            .strip_metadata(true);
        assert_eq!(
            names(&policy, "unsafe/filters:max_frames(6)/a.gif"),
            ["max_frames(6)", "max_frames(1)", "strip_metadata()"]
        );
    }

    #[test]
    fn max_filter_ops_cuts_exactly_the_registry_ops() {
        // Every registered filter, at position 1 behind one setting, under a limit of 1.
        let policy = FilterPolicy::new().max_filter_ops(Some(1));
        for spec in crate::processing::filter::filters() {
            let path = format!(
                "unsafe/filters:quality(80):{}({})/a.jpg",
                spec.name(),
                spec.example()
            );
            let kept = names(&policy, &path).len() == 2;
            assert_eq!(kept, !spec.counts_as_op(), "{}", spec.name());
        }
        // Unknown names are never cut, and take a position.
        assert_eq!(
            names(&policy, "unsafe/filters:no_such(1):blur(2):fill(red)/a.jpg"),
            ["no_such(1)"]
        );
    }

    #[test]
    fn every_registered_filter_can_be_disabled() {
        for spec in crate::processing::filter::filters() {
            let policy = FilterPolicy::new().disable_filters([spec.name()]);
            let path = format!(
                "unsafe/filters:{}({}):no_such()/a.jpg",
                spec.name(),
                spec.example()
            );
            assert_eq!(names(&policy, &path), ["no_such()"], "{}", spec.name());
        }
        let policy = FilterPolicy::new().disable_filters(["no_such"]);
        assert_eq!(
            names(&policy, "unsafe/filters:no_such():blur(2)/a.jpg"),
            ["blur(2)"]
        );
    }
}
