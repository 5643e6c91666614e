//! The registry: one [`FilterSpec`] for every filter name the engine or the service knows.

use crate::path::split_args;

/// Who acts on a filter.
///
/// ```
/// use imagor_tower::processing::filter::{self, FilterKind};
///
/// // The HTTP service picks out its own filters this way.
/// let service: Vec<_> = filter::filters()
///     .iter()
///     .filter(|f| f.kind() == FilterKind::Service)
///     .map(|f| f.name())
///     .collect();
/// assert!(service.contains(&"attachment"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterKind {
    /// A pipeline operation, run on the canvas in URL order after the geometry (`fill`,
    /// `rotate`, `blur`, `watermark`, ...). Some names imagor runs in its pipeline are
    /// registered but not implemented yet (`to_colorspace`, `draw_detections`, `redact`,
    /// `redact_oval`): they are ignored, but still count toward the filter-op limit.
    Pipeline,
    /// Read before decoding: it shapes the geometry plan or chooses the frames that are
    /// decoded (`upscale`, `no_upscale`, `stretch`, `orient`, `focal`, `max_frames`, `page`).
    Plan,
    /// An encoder setting (`format`, `autojpg`, `quality`, `lossless`, `max_bytes`,
    /// `strip_icc`, `strip_exif`, `strip_metadata`).
    Encoder,
    /// Asks the `/meta` answer for a summary of the image (`avgcolor`, `blurhash`,
    /// `thumbhash`).
    Metadata,
    /// Handled by the HTTP service, not by processing (`expire`, `max_age`, `attachment`,
    /// `raw`, `preview`, `fallback_format`).
    Service,
}

/// How a filter's argument text (between the parentheses) splits into arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// No arguments; any text is ignored.
    Empty,
    /// The whole text is one argument.
    One,
    /// Arguments separated by commas.
    List,
    /// Arguments separated by commas outside parentheses: a nested path or a text may hold
    /// its own filter list (`image`, `watermark`, `text`, `label`).
    Nested,
    /// Numbers separated by `x`, `,` or `:` (`focal`).
    Focal,
}

/// How the work budget weighs a filter on each pixel of the canvas it runs on (see
/// [`estimate`](crate::processing::estimate)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Weight {
    /// No pixel work.
    Free,
    /// One pass over the pixels, and a copy of the canvas.
    Pixel,
    /// A round trip through CIE LCh, and a copy of the canvas.
    Lab,
    /// A Gaussian blur: the mask width of its sigma (skipped on animations).
    Blur,
    /// An unsharp mask: two LCh round trips and the mask width, with its temporaries
    /// (skipped on animations).
    Sharpen,
    /// One pass; the canvas grows to the target box plus the URL padding.
    Fill,
    /// One pass; the canvas grows by the padding arguments.
    Padding,
    /// One pass to find the border (skipped on animations).
    Trim,
    /// Decoding and scaling the overlay, and compositing it.
    Watermark,
    /// Rendering the nested URL, and compositing it.
    Image,
}

/// One registered filter: its name, its [`FilterKind`], its argument parser and its cost.
///
/// ```
/// use imagor_tower::processing::filter::{self, FilterKind};
///
/// let blur = filter::lookup("blur").unwrap();
/// assert_eq!((blur.name(), blur.kind()), ("blur", FilterKind::Pipeline));
/// assert_eq!(blur.args("3,1.5"), ["3", "1.5"]);
/// assert!(blur.counts_as_op());
/// assert!(!filter::lookup("format").unwrap().counts_as_op());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    name: &'static str,
    kind: FilterKind,
    syntax: Syntax,
    counts_as_op: bool,
    weight: Weight,
    example: &'static str,
}

impl FilterSpec {
    /// The filter's name, as written in URLs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Who acts on the filter.
    pub fn kind(&self) -> FilterKind {
        self.kind
    }

    /// Whether the filter counts toward the filter-op limit (`VIPS_MAX_FILTER_OPS`): the
    /// names imagor runs in its pipeline loop, `strip_icc` and `strip_exif` included.
    pub fn counts_as_op(&self) -> bool {
        self.counts_as_op
    }

    /// A typical argument text for the filter (empty for filters without arguments), as
    /// written between the parentheses.
    pub fn example(&self) -> &'static str {
        self.example
    }

    /// Splits the argument text (between the parentheses) into the filter's arguments.
    /// Empty text gives no arguments; a filter without arguments ignores its text.
    pub fn args<'a>(&self, text: &'a str) -> Vec<&'a str> {
        if text.is_empty() {
            return Vec::new();
        }
        match self.syntax {
            Syntax::Empty => Vec::new(),
            Syntax::One => vec![text],
            Syntax::List => text.split(',').collect(),
            Syntax::Nested => split_args(text),
            Syntax::Focal => text.split(['x', ',', ':']).collect(),
        }
    }

    /// How the work budget weighs the filter.
    pub(crate) fn weight(&self) -> Weight {
        self.weight
    }
}

/// The registry entry of `name`; `None` for names no stage knows (they are ignored).
///
/// ```
/// use imagor_tower::processing::filter::{lookup, FilterKind};
///
/// assert_eq!(lookup("attachment").map(|f| f.kind()), Some(FilterKind::Service));
/// assert_eq!(lookup("Fill"), None); // names are case-sensitive
/// ```
pub fn lookup(name: &str) -> Option<&'static FilterSpec> {
    REGISTRY.iter().find(|spec| spec.name == name)
}

/// Every registered filter, in the order of the registry.
///
/// ```
/// use imagor_tower::processing::filter::filters;
///
/// assert!(filters().iter().any(|f| f.name() == "watermark"));
/// ```
pub fn filters() -> &'static [FilterSpec] {
    REGISTRY
}

/// A pipeline operation: counted by the filter-op limit.
const fn op(
    name: &'static str,
    syntax: Syntax,
    weight: Weight,
    example: &'static str,
) -> FilterSpec {
    FilterSpec {
        name,
        kind: FilterKind::Pipeline,
        syntax,
        counts_as_op: true,
        weight,
        example,
    }
}

/// A setting read by one stage: not counted by the filter-op limit, no pixel work.
const fn setting(
    name: &'static str,
    kind: FilterKind,
    syntax: Syntax,
    example: &'static str,
) -> FilterSpec {
    FilterSpec {
        name,
        kind,
        syntax,
        counts_as_op: false,
        weight: Weight::Free,
        example,
    }
}

/// An encoder setting that imagor runs in its pipeline loop, so that it counts as an op.
const fn counted(name: &'static str) -> FilterSpec {
    FilterSpec {
        counts_as_op: true,
        ..setting(name, FilterKind::Encoder, Syntax::Empty, "")
    }
}

use FilterKind::{Encoder, Metadata, Plan, Service};
use Syntax::{Empty, Focal, List, Nested, One};

/// The registry. Adding a filter is one entry here, plus its implementation in the stage its
/// kind names.
static REGISTRY: &[FilterSpec] = &[
    // Pipeline operations, in imagor's order.
    op("image", Nested, Weight::Image, "/50x50/logo.png,10,10"),
    op("watermark", Nested, Weight::Watermark, "logo.png,10,10,50"),
    op("round_corner", List, Weight::Pixel, "10,10,white"),
    op("rotate", One, Weight::Pixel, "90"),
    op("label", Nested, Weight::Pixel, "hello,10,10,20,red"),
    op("text", Nested, Weight::Pixel, "hello,10,10"),
    op("grayscale", Empty, Weight::Pixel, ""),
    op("invert", Empty, Weight::Pixel, ""),
    op("brightness", One, Weight::Pixel, "20"),
    op("contrast", One, Weight::Pixel, "20"),
    op("modulate", List, Weight::Lab, "10,20,30"),
    op("hue", One, Weight::Lab, "90"),
    op("saturation", One, Weight::Lab, "50"),
    op("rgb", List, Weight::Pixel, "10,20,30"),
    op("blur", List, Weight::Blur, "2,1"),
    op("sharpen", List, Weight::Sharpen, "1,2,true"),
    op("background_color", One, Weight::Pixel, "white"),
    op("fill", One, Weight::Fill, "white"),
    op("padding", List, Weight::Padding, "red,5"),
    op("proportion", One, Weight::Pixel, "50"),
    op("crop", List, Weight::Pixel, "10,10,100,100"),
    op("trim", List, Weight::Trim, "1,bottom-right"),
    counted("strip_icc"),
    counted("strip_exif"),
    op("to_colorspace", One, Weight::Free, "srgb"),
    op("pixelate", One, Weight::Pixel, "10"),
    op("draw_detections", Empty, Weight::Free, ""),
    op("redact", List, Weight::Free, "blur,10"),
    op("redact_oval", List, Weight::Free, "blur,10"),
    // Read before decoding.
    setting("upscale", Plan, Empty, ""),
    setting("no_upscale", Plan, Empty, ""),
    setting("stretch", Plan, Empty, ""),
    setting("orient", Plan, One, "90"),
    setting("focal", Plan, Focal, "10x20:110x120"),
    setting("max_frames", Plan, One, "3"),
    setting("page", Plan, One, "2"),
    // Encoder settings (`strip_icc` and `strip_exif` are above, with the counted ones).
    setting("format", Encoder, One, "webp"),
    setting("autojpg", Encoder, Empty, ""),
    setting("quality", Encoder, One, "80"),
    setting("lossless", Encoder, Empty, ""),
    setting("max_bytes", Encoder, One, "100000"),
    setting("strip_metadata", Encoder, Empty, ""),
    // `/meta` summaries.
    setting("avgcolor", Metadata, Empty, ""),
    setting("blurhash", Metadata, List, "4,3"),
    setting("thumbhash", Metadata, Empty, ""),
    // The HTTP service's filters.
    setting("expire", Service, One, "1700000000000"),
    setting("max_age", Service, One, "3600"),
    setting("attachment", Service, One, "photo.jpg"),
    setting("raw", Service, Empty, ""),
    setting("preview", Service, Empty, ""),
    setting("fallback_format", Service, One, "webp"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The filter names a stage's `match` arms act on, from the source of the function
    /// `function` in `source`: every `"name"` before the `=>` of an arm.
    fn arms(source: &str, function: &str) -> Vec<String> {
        let start = source
            .find(&format!("fn {function}("))
            .unwrap_or_else(|| panic!("no fn {function}"));
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
        let mut names = Vec::new();
        for line in body.lines() {
            let line = line.trim_start().trim_start_matches('|').trim_start();
            if !line.starts_with('"') {
                continue;
            }
            let head = line.split("=>").next().unwrap_or_default();
            let head = head.split(" if ").next().unwrap_or_default();
            for part in head.split('|') {
                let part = part.trim();
                if let Some(name) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                    names.push(name.to_owned());
                }
            }
        }
        assert!(!names.is_empty(), "no match arms found in fn {function}");
        names
    }

    #[test]
    fn names_are_unique_and_every_entry_parses() {
        let mut seen = HashSet::new();
        for spec in filters() {
            assert!(seen.insert(spec.name()), "{} registered twice", spec.name());
            let url = format!("unsafe/filters:{}({})/a.jpg", spec.name(), spec.example());
            let params = crate::path::parse(&url);
            assert_eq!(params.filters.len(), 1, "{url}");
            assert_eq!(params.filters[0].name, spec.name(), "{url}");
            assert_eq!(params.filters[0].args, spec.example(), "{url}");
            let args = spec.args(&params.filters[0].args);
            match spec.syntax {
                Syntax::Empty => assert!(args.is_empty(), "{url}"),
                Syntax::One => assert_eq!(args, [spec.example()], "{url}"),
                Syntax::List | Syntax::Nested | Syntax::Focal => {
                    assert!(args.len() > 1, "{url}: {args:?}");
                }
            }
            assert_eq!(lookup(spec.name()), Some(spec));
        }
        assert_eq!(lookup("no_such_filter"), None);
    }

    #[test]
    fn the_pipeline_runs_only_registered_pipeline_operations() {
        // Fails when a filter is added to the executor but not to the registry.
        let executed = arms(include_str!("../pipeline.rs"), "apply");
        for name in &executed {
            let kind = lookup(name).map(FilterSpec::kind);
            assert_eq!(kind, Some(FilterKind::Pipeline), "pipeline runs `{name}`");
        }
        // And every pipeline operation with pixel work is executed.
        for spec in filters() {
            if spec.kind() == FilterKind::Pipeline && spec.weight() != Weight::Free {
                assert!(executed.iter().any(|n| n == spec.name()), "{}", spec.name());
            }
        }
    }

    #[test]
    fn the_other_stages_read_only_registered_filters() {
        let settings = arms(include_str!("settings.rs"), "from_filters");
        for name in &settings {
            let kind = lookup(name).map(FilterSpec::kind);
            assert!(
                matches!(kind, Some(FilterKind::Plan | FilterKind::Encoder)),
                "settings read `{name}` ({kind:?})"
            );
        }
        for spec in filters() {
            if matches!(spec.kind(), FilterKind::Plan | FilterKind::Encoder) {
                let read = settings.iter().any(|n| n == spec.name())
                    || matches!(spec.name(), "focal" | "strip_exif");
                assert!(read, "{} is read by no stage", spec.name());
            }
        }
        for name in arms(include_str!("../meta.rs"), "read") {
            let kind = lookup(&name).map(FilterSpec::kind);
            assert!(
                matches!(kind, Some(FilterKind::Metadata | FilterKind::Encoder)),
                "/meta reads `{name}` ({kind:?})"
            );
        }
    }

    #[test]
    fn only_pipeline_operations_carry_pixel_work() {
        for spec in filters() {
            if spec.kind() != FilterKind::Pipeline {
                assert_eq!(spec.weight(), Weight::Free, "{}", spec.name());
            }
            if spec.counts_as_op() {
                assert!(
                    spec.kind() == FilterKind::Pipeline
                        || matches!(spec.name(), "strip_icc" | "strip_exif"),
                    "{}",
                    spec.name()
                );
            }
        }
    }
}
