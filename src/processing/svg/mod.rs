//! SVG sources: parsed with `usvg`, rasterised with `resvg`, then processed like any other
//! image.
//!
//! * Size: the raster is made at the SVG's own size (`width`/`height`, or the `viewBox`),
//!   rounded up. When the output is much smaller it is drawn at 1/2, 1/4 or 1/8 of that size
//!   (the same reductions as JPEG shrink-on-load); when a resize enlarges it, it is drawn up
//!   to 8 times larger instead of being upscaled as pixels, as libvips renders SVG at the scale
//!   the output needs. Enlargement backs off to what the limits allow.
//! * Limits: the declared size is checked against [`Limits`] before anything is drawn, so a
//!   document declaring `width="100000000"` fails at once with
//!   [`ProcessError::MaxResolution`]; the raster also stays within `max_alloc` (and 4 GiB
//!   even without limits). Before usvg converts the XML, the document is weighed: the
//!   elements it expands to, each `use` counted as a copy of its target and each marker as
//!   copied to every vertex. Before drawing, the parsed tree is measured: nesting
//!   depth, the pixels each shape, layer, filter primitive, clip path, mask and pattern tile
//!   touches at the chosen scale, and the memory of the layers alive at once. A document
//!   over those budgets is refused with [`ProcessError::Image`] rather than left to run.
//! * Hostile XML: a source over [`MAX_SVG_BYTES`] (4 MiB) is refused unread. A
//!   `<!DOCTYPE>` naming an external DTD (as Illustrator writes) is accepted and the DTD is
//!   never read; a DOCTYPE with an internal subset is refused, as that is where entities are
//!   declared (one 100 KB entity referenced 200,000 times would expand to 20 GB). Documents
//!   whose elements chain deeper than [`MAX_SVG_DEPTH`] (256) levels, counting children,
//!   `href` targets and `url(#…)` references (what usvg and resvg recurse along), are refused
//!   before usvg converts them, so drawing never overflows the stack. Each of these answers
//!   [`ProcessError::Image`] (406).
//! * Nothing outside the document is read: external and embedded images (`<image>`,
//!   `feImage` with a URL) are not drawn, and there are no fonts, so `<text>` is not drawn
//!   either.
//! * The raster is RGBA; with no `format(...)` the output is JPEG, as in imagor, and `/meta`
//!   reports the format as `svg`.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Format, Options};
//!
//! let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">
//!   <rect width="120" height="80" fill="#08f"/>
//! </svg>"##;
//! assert_eq!(Format::sniff(svg), Some(Format::Svg));
//!
//! // `/60x0/filters:format(png)/drawing.svg`
//! let params = Params {
//!     width: 60,
//!     filters: vec![Filter::new("format", "png")],
//!     ..Default::default()
//! };
//! let output = process(svg, &params, &Options::default()).unwrap();
//! assert_eq!((output.format(), output.width(), output.height()), (Format::Png, 60, 40));
//! ```

mod guard;
mod raster;

use resvg::usvg;

use super::decoded::Decoded;
use super::error::ProcessError;
use super::format::Format;
use super::limits::Limits;
use super::plan::Plan;
use crate::path::Params;
use guard::parse;
pub use guard::{MAX_SVG_BYTES, MAX_SVG_DEPTH};
use raster::Raster;

/// How large to draw an SVG, relative to its own size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scale {
    /// Draw at 1/n of the SVG's size (1: its own size).
    Reduce(u32),
    /// Draw n times larger than the SVG's size.
    Enlarge(u32),
}

/// The largest enlargement drawn.
const MAX_ENLARGE: u32 = 8;

/// The scale for `plan`, a plan of the URL over the SVG's own (upright) size.
///
/// Reduce when shrink-on-load applies; enlarge when the resize grows the whole image and no
/// coordinates of the URL (a manual crop, `focal(...)`) are in source pixels.
pub(crate) fn scale_for(plan: &Plan, params: &Params) -> Scale {
    let shrink = plan.shrink_factor(params);
    if shrink > 1 {
        return Scale::Reduce(shrink);
    }
    let pixel_coordinates = plan.crop().is_some()
        || params.filters.iter().any(|f| f.name == "focal")
        || params.crop_left != 0.0
        || params.crop_top != 0.0
        || params.crop_right != 0.0
        || params.crop_bottom != 0.0;
    let Some((rw, rh)) = plan.resize() else {
        return Scale::Reduce(1);
    };
    if pixel_coordinates {
        return Scale::Reduce(1);
    }
    let (sw, sh) = plan.source_size();
    let ratio = (f64::from(rw) / f64::from(sw.max(1))).max(f64::from(rh) / f64::from(sh.max(1)));
    if ratio > 1.0 {
        // At most MAX_ENLARGE, so the cast cannot truncate.
        Scale::Enlarge((ratio.ceil() as u32).clamp(2, MAX_ENLARGE))
    } else {
        Scale::Reduce(1)
    }
}

/// Parses and rasterises `input` at the size `scale` picks from the SVG's own size.
///
/// An enlargement is lowered until the raster fits the limits and the drawing budget; a
/// reduction is reported in [`Decoded::shrink`] like JPEG shrink-on-load.
pub(crate) fn decode(
    input: &[u8],
    limits: &Limits,
    scale: impl FnOnce(u32, u32) -> Scale,
) -> Result<Decoded, ProcessError> {
    let tree = parse(input)?;
    let (width, height) = own_size(&tree);
    limits.check(width, height)?;
    let raster = match scale(width, height) {
        Scale::Enlarge(factor) => (2..=factor.min(MAX_ENLARGE))
            .rev()
            .find_map(|k| Raster::enlarged(&tree, width, height, k, limits).ok())
            .map_or_else(|| Raster::reduced(&tree, width, height, 1, limits), Ok)?,
        Scale::Reduce(factor) => Raster::reduced(&tree, width, height, factor.max(1), limits)?,
    };
    let image = raster.draw(&tree)?;
    Ok(Decoded {
        image: image::DynamicImage::ImageRgba8(image),
        format: Format::Svg,
        icc_profile: None,
        source_size: raster.source_size,
        shrink: raster.shrink,
    })
}

/// The SVG's own size in pixels, rounded up, at least 1.
pub(crate) fn own_size(tree: &usvg::Tree) -> (u32, u32) {
    // Float-to-int casts saturate, so a huge declared size stays huge and fails the limits.
    let side = |v: f32| (v.ceil() as u32).max(1);
    (side(tree.size().width()), side(tree.size().height()))
}

#[cfg(test)]
mod tests {
    use super::guard::{Doctype, MAX_ELEMENTS, depth, doctype, weigh};
    use super::*;

    fn svg(body: &str, size: &str) -> Vec<u8> {
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" {size}>{body}</svg>"#).into_bytes()
    }

    #[test]
    fn draws_at_its_own_size() {
        let input = svg(
            r##"<rect width="10" height="5" fill="#f00"/>"##,
            r#"width="10" height="5""#,
        );
        let decoded = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1)).expect("svg");
        let image = decoded.image.to_rgba8();
        assert_eq!(image.dimensions(), (10, 5));
        assert_eq!(image.get_pixel(3, 3).0, [255, 0, 0, 255]);
        assert_eq!(decoded.format, Format::Svg);
        assert_eq!((decoded.source_size, decoded.shrink), ((10, 5), 1));
    }

    #[test]
    fn view_box_gives_the_size_and_transparency_stays() {
        let input = svg(
            r##"<rect width="50" height="50" fill="#00f"/>"##,
            r#"viewBox="0 0 100 40""#,
        );
        let image = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1))
            .expect("svg")
            .image
            .to_rgba8();
        assert_eq!(image.dimensions(), (100, 40));
        assert_eq!(image.get_pixel(10, 10).0, [0, 0, 255, 255]);
        assert_eq!(image.get_pixel(90, 10).0[3], 0);
    }

    #[test]
    fn reduces_and_enlarges() {
        let input = svg(
            r##"<rect width="64" height="30" fill="#0f0"/>"##,
            r#"width="64" height="30""#,
        );
        let asked = std::cell::Cell::new(None);
        let decoded = decode(&input, &Limits::default(), |w, h| {
            asked.set(Some((w, h)));
            Scale::Reduce(4)
        })
        .expect("svg");
        assert_eq!(asked.get(), Some((64, 30)));
        assert_eq!((decoded.source_size, decoded.shrink), ((64, 30), 4));
        assert_eq!(
            (decoded.image.width(), decoded.image.height()),
            (16, 8),
            "sides rounded up"
        );

        let decoded = decode(&input, &Limits::default(), |_, _| Scale::Enlarge(3)).expect("svg");
        assert_eq!((decoded.source_size, decoded.shrink), ((192, 90), 1));
        assert_eq!((decoded.image.width(), decoded.image.height()), (192, 90));

        // The enlargement backs off to what the limits allow.
        let limits = Limits {
            max_width: Some(130),
            ..Limits::default()
        };
        let decoded = decode(&input, &limits, |_, _| Scale::Enlarge(8)).expect("svg");
        assert_eq!(decoded.image.width(), 128);
    }

    #[test]
    fn huge_declared_sizes_fail_before_drawing() {
        let input = svg("", r#"width="100000000" height="100000000""#);
        let started = std::time::Instant::now();
        assert!(matches!(
            decode(&input, &Limits::default(), |_, _| Scale::Reduce(1)),
            Err(ProcessError::MaxResolution)
        ));
        // Even without limits the raster is never allocated at that size.
        assert!(decode(&input, &Limits::no_limits(), |_, _| Scale::Reduce(1)).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn broken_documents_are_image_errors() {
        for input in [
            &b"<svg"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"0\" height=\"10\"/>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><g></svg>",
            b"\xff\xfe<\0s\0v\0g\0",
        ] {
            assert!(
                matches!(
                    decode(input, &Limits::default(), |_, _| Scale::Reduce(1)),
                    Err(ProcessError::Image(_))
                ),
                "{input:?}"
            );
        }
    }

    /// `input` is refused as an image error, within `seconds` (a guard against a hang).
    fn refused_within(input: &[u8], seconds: u64) {
        let started = std::time::Instant::now();
        let result = decode(input, &Limits::default(), |_, _| Scale::Reduce(1));
        assert!(
            matches!(result, Err(ProcessError::Image(_))),
            "{:?}",
            result.map(|d| d.source_size)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(seconds));
    }

    #[test]
    fn costly_documents_are_refused_quickly() {
        // 200000 full-canvas rectangles through nested `use`: refused from the XML.
        let mut body = String::from(r#"<defs><rect id="l0" width="4000" height="4000"/>"#);
        for level in 1..=5 {
            body.push_str(&format!(r#"<g id="l{level}">"#));
            for _ in 0..10 {
                body.push_str(&format!(r##"<use href="#l{}"/>"##, level - 1));
            }
            body.push_str("</g>");
        }
        body.push_str(r##"</defs><use href="#l5"/><use href="#l5"/>"##);
        let input = svg(&body, r#"width="4000" height="4000""#);
        refused_within(&input, 10);

        // A marker drawn at each of 20000 vertices: refused from the XML, before usvg copies it.
        let mut points = String::new();
        for i in 0..20_000 {
            points.push_str(&format!(" {} {}", i % 100, i % 7));
        }
        let input = svg(
            &format!(
                r#"<marker id="m">{}</marker><polyline points="{points}" marker-mid="url(#m)"/>"#,
                r#"<rect width="1" height="1"/>"#.repeat(10)
            ),
            r#"width="100" height="100""#,
        );
        refused_within(&input, 5);

        // Few elements, but 300 chained masks over the whole canvas: over the drawing budget.
        let mut body = String::new();
        for i in 0..300 {
            let chained = if i > 0 {
                format!(r##" mask="url(#m{})""##, i - 1)
            } else {
                String::new()
            };
            body.push_str(&format!(
                r#"<mask id="m{i}"{chained}><rect width="500" height="500" fill="white"/></mask>"#
            ));
        }
        body.push_str(r##"<rect width="500" height="500" mask="url(#m299)"/>"##);
        let input = svg(&body, r#"width="500" height="500""#);
        let document = std::str::from_utf8(&input).expect("utf-8");
        let xml = roxmltree::Document::parse(document).expect("xml");
        assert!(weigh(&xml) < MAX_ELEMENTS);
        refused_within(&input, 5);

        // A turbulence with a billion octaves.
        let input = svg(
            r#"<filter id="f"><feTurbulence baseFrequency="0.05" numOctaves="1000000000"/></filter>
               <rect width="100" height="100" filter="url(#f)"/>"#,
            r#"width="100" height="100""#,
        );
        refused_within(&input, 5);

        // A pattern tile far larger than the picture.
        let input = svg(
            r#"<pattern id="p" width="100000" height="100000" patternUnits="userSpaceOnUse">
                 <rect width="5" height="5"/></pattern>
               <rect width="100" height="100" fill="url(#p)"/>"#,
            r#"width="100" height="100""#,
        );
        refused_within(&input, 5);
    }

    #[test]
    fn doctypes_with_an_internal_subset_are_refused() {
        assert_eq!(doctype("<svg/>"), Doctype::None);
        let illustrator = r#"<?xml version="1.0"?>
<!-- Generator: Adobe Illustrator -->
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>"#;
        assert_eq!(doctype(illustrator), Doctype::External);
        let decoded = decode(illustrator.as_bytes(), &Limits::default(), |_, _| {
            Scale::Reduce(1)
        })
        .expect("an external DTD is accepted");
        assert_eq!(decoded.image.width(), 4);

        // A `[` inside a quoted identifier is not a subset.
        assert_eq!(
            doctype(r#"<!DOCTYPE svg SYSTEM "a[b>.dtd"><svg/>"#),
            Doctype::External
        );
        let bomb = r#"<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]>
<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><desc>&a;&a;</desc></svg>"#;
        assert_eq!(doctype(bomb), Doctype::InternalSubset);
        let err = decode(bomb.as_bytes(), &Limits::default(), |_, _| Scale::Reduce(1))
            .map(|d| d.source_size)
            .unwrap_err();
        assert!(err.to_string().contains("DTD"), "{err}");
        // Also behind a byte order mark and a comment.
        let hidden = format!("\u{feff}<!-- x --><?pi?>{bomb}");
        assert_eq!(doctype(&hidden), Doctype::InternalSubset);
    }

    #[test]
    fn large_documents_are_refused_unread() {
        let mut input = svg("", r#"width="4" height="4""#);
        input.resize(MAX_SVG_BYTES + 1, b' ');
        let err = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1))
            .map(|d| d.source_size)
            .unwrap_err();
        assert!(err.to_string().contains("larger than 4 MiB"), "{err}");
    }

    #[test]
    fn depth_follows_children_references_and_style_sheets() {
        let measure = |body: &str| {
            let text = String::from_utf8(svg(body, "")).expect("utf-8");
            depth(&roxmltree::Document::parse(&text).expect("xml"))
        };
        // svg > g > g > rect.
        assert_eq!(measure("<g><g><rect/></g></g>"), 4);
        // A `use` reaches its target; a mask reference reaches the mask's contents.
        let chained = r##"<defs><g id="a"><g><rect/></g></g></defs>
            <mask id="m"><use href="#a"/></mask><rect style="mask: url( '#m' )"/>"##;
        // svg > rect -> mask > use -> g > g > rect
        assert_eq!(measure(chained), 7);
        // A loop counts as every element.
        assert_eq!(
            measure(r##"<g id="a"><g><use href="#b"/></g></g><g id="b"><use href="#a"/></g>"##),
            6
        );
        // A style sheet naming a pattern may apply anywhere: the depth doubles.
        let styled = r##"<style>rect { fill: url(#p) }</style>
            <pattern id="p"><g><rect/></g></pattern><g><rect/></g>"##;
        assert_eq!(measure(styled), 2 * 4);
        // A gradient is a leaf.
        let gradient = r##"<style>.c { fill: url(#g) }</style>
            <linearGradient id="g"><stop/></linearGradient><g><rect class="c"/></g>"##;
        assert_eq!(measure(gradient), 3);
    }

    #[test]
    fn deep_documents_are_refused_before_usvg() {
        let nested = |depth: usize| {
            svg(
                &format!(
                    "{}<rect width=\"2\" height=\"2\"/>{}",
                    "<g>".repeat(depth),
                    "</g>".repeat(depth)
                ),
                r#"width="4" height="4""#,
            )
        };
        for deep in [MAX_SVG_DEPTH, 5000] {
            let err = decode(&nested(deep), &Limits::default(), |_, _| Scale::Reduce(1))
                .map(|d| d.source_size)
                .unwrap_err();
            assert!(err.to_string().contains("nested too deeply"), "{err}");
        }
        // svg > (depth - 2) groups > rect is exactly the limit.
        let decoded = decode(&nested(MAX_SVG_DEPTH - 2), &Limits::default(), |_, _| {
            Scale::Reduce(1)
        })
        .expect("at the limit");
        assert_eq!(decoded.image.width(), 4);
    }

    #[test]
    fn weighs_use_copies_and_markers() {
        let weight = |body: &str| {
            let text = String::from_utf8(svg(body, "")).expect("utf-8");
            weigh(&roxmltree::Document::parse(&text).expect("xml"))
        };
        // The root and two rectangles.
        assert_eq!(weight("<rect/><rect/>"), 3);
        // A group of two, and three copies of it.
        let copies = r##"<g id="g"><rect/><rect/></g>
            <use href="#g"/><use xlink:href="#g" xmlns:xlink="http://www.w3.org/1999/xlink"/>
            <use href="#g"/>"##;
        assert_eq!(weight(copies), 1 + 3 + 3 * (1 + 3));
        // A `use` pointing at itself or at its own group counts as itself.
        assert_eq!(weight(r##"<use id="u" href="#u"/>"##), 2);
        assert_eq!(weight(r##"<g id="a"><use href="#a"/></g>"##), 3);
        // With a marker (of two elements), each number of a shape's data adds one copy.
        assert_eq!(
            weight(r#"<marker><rect/></marker><path d="M1 2L3.5-4"/>"#),
            1 + 2 + (1 + 4 * 2)
        );
    }

    #[test]
    fn ordinary_effects_are_drawn() {
        let input = svg(
            r##"<filter id="b"><feGaussianBlur stdDeviation="2"/></filter>
               <pattern id="p" width="4" height="4" patternUnits="userSpaceOnUse">
                 <rect width="2" height="2" fill="#000"/></pattern>
               <g opacity="0.5"><rect width="40" height="40" fill="url(#p)"/></g>
               <circle cx="20" cy="20" r="10" fill="#f00" filter="url(#b)"/>"##,
            r#"width="40" height="40""#,
        );
        let image = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1))
            .expect("svg")
            .image
            .to_rgba8();
        assert_eq!(image.dimensions(), (40, 40));
        assert!(image.get_pixel(20, 20).0[0] > 200);
    }

    #[test]
    fn external_images_are_not_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let png = dir.path().join("secret.png");
        image::RgbaImage::from_pixel(4, 4, image::Rgba([255, 0, 0, 255]))
            .save(&png)
            .expect("write png");
        let input = svg(
            &format!(r#"<image href="{}" width="4" height="4"/>"#, png.display()),
            r#"width="4" height="4""#,
        );
        let image = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1))
            .expect("svg")
            .image
            .to_rgba8();
        assert!(image.pixels().all(|p| p.0[3] == 0));
    }

    #[test]
    fn enlarges_only_plain_resizes() {
        let plain = Params {
            width: 300,
            height: 300,
            ..Params::default()
        };
        let plan = Plan::new(100, 50, &plain);
        assert_eq!(scale_for(&plan, &plain), Scale::Enlarge(6));
        let cropped = Params {
            crop_right: 50.0,
            crop_bottom: 50.0,
            ..plain
        };
        let plan = Plan::new(100, 50, &cropped);
        assert_eq!(scale_for(&plan, &cropped), Scale::Reduce(1));
        let small = Params {
            width: 10,
            height: 5,
            ..Params::default()
        };
        let plan = Plan::new(1000, 500, &small);
        assert_eq!(scale_for(&plan, &small), Scale::Reduce(8));
        let plan = Plan::new(100, 50, &Params::default());
        assert_eq!(scale_for(&plan, &Params::default()), Scale::Reduce(1));
    }
}
