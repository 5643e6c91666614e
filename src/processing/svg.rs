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

use std::collections::{HashMap, HashSet};

use image::RgbaImage;
use resvg::tiny_skia;
use resvg::usvg;

use super::decode::Decoded;
use super::plan::Plan;
use super::{Format, Limits, ProcessError};
use crate::path::Params;

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
/// Work a document may cost to draw, in the rough nanoseconds of [`Cost`] (a few seconds).
const MAX_WORK: u64 = 1 << 32;
/// Deepest nesting drawn: of groups in the parsed tree, and of the element chains usvg and
/// resvg recurse along (see [`depth`]). At most about 3.5 KiB of stack per level was measured
/// (pattern fills inside pattern tiles), so 256 levels take under 1 MiB: safe on a 2 MiB
/// thread, and with a wide margin on the service's pixel threads.
pub const MAX_SVG_DEPTH: usize = 256;
/// A layer or tile may be this many times the raster's area at most (resvg's own clamp).
const MAX_LAYER_RATIO: u64 = 4;
/// Bytes the raster and its layers may hold at once, whatever the limits (4 GiB).
const MAX_BYTES: u64 = 1 << 32;

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

/// Parses `input`, with every external or embedded image left out.
///
/// The XML is weighed before `usvg` converts it: the elements it would build, counting
/// each `use` as a copy of what it points to and each marker as drawn at every number of a
/// path's data. usvg allows a million elements, which takes it tens of seconds, and does not
/// count marker copies at all.
pub(crate) fn parse(input: &[u8]) -> Result<usvg::Tree, ProcessError> {
    let failed = |err: &dyn std::fmt::Display| ProcessError::image(format_args!("svg: {err}"));
    if input.len() > MAX_SVG_BYTES {
        return Err(ProcessError::image(format_args!(
            "svg: larger than {} MiB",
            MAX_SVG_BYTES >> 20
        )));
    }
    let text = std::str::from_utf8(input).map_err(|err| failed(&err))?;
    let xml_options = roxmltree::ParsingOptions {
        // A DOCTYPE is only read when it has no internal subset, so no entity is declared.
        allow_dtd: match doctype(text) {
            Doctype::None => false,
            Doctype::External => true,
            Doctype::InternalSubset => {
                return Err(ProcessError::image(
                    "svg: DTD internal subsets (entity declarations) are not allowed",
                ));
            }
        },
        nodes_limit: MAX_XML_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let document =
        roxmltree::Document::parse_with_options(text, xml_options).map_err(|err| failed(&err))?;
    if depth(&document) > MAX_SVG_DEPTH {
        return Err(ProcessError::image("svg: nested too deeply"));
    }
    if weigh(&document) > MAX_ELEMENTS {
        return Err(too_complex());
    }
    let options = usvg::Options {
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    usvg::Tree::from_xmltree(&document, &options).map_err(|err| failed(&err))
}

/// The largest SVG source read, in bytes (4 MiB). Larger documents are refused before they
/// are parsed.
pub const MAX_SVG_BYTES: usize = 4 << 20;
/// XML nodes (elements, text, comments) a document may hold.
const MAX_XML_NODES: u32 = 2_000_000;

/// What the prolog of a document declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Doctype {
    /// No `<!DOCTYPE>` (or a prolog the XML parser will refuse anyway).
    None,
    /// A `<!DOCTYPE>` naming an external DTD only (as Illustrator writes); the DTD is never
    /// read, so it declares nothing.
    External,
    /// A `<!DOCTYPE … [ … ]>` with an internal subset, where entities are declared.
    InternalSubset,
}

/// Reads the prolog of `text` (byte order mark, XML declaration, comments, processing
/// instructions, white space) up to the `<!DOCTYPE`, and says whether that has an internal
/// subset. Quoted identifiers may hold `[` and `>`.
fn doctype(text: &str) -> Doctype {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        if let Some(after) = rest.strip_prefix("<?") {
            let Some(end) = after.find("?>") else {
                return Doctype::None;
            };
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let Some(end) = after.find("-->") else {
                return Doctype::None;
            };
            rest = &after[end + 3..];
        } else {
            break;
        }
    }
    let Some(declaration) = rest.strip_prefix("<!DOCTYPE") else {
        return Doctype::None;
    };
    let mut quote = None;
    for byte in declaration.bytes() {
        match (quote, byte) {
            (Some(open), _) if byte == open => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'[') => return Doctype::InternalSubset,
            (None, b'>') => return Doctype::External,
            (None, _) => {}
        }
    }
    Doctype::None
}

/// How deep drawing `document` may recurse: the longest chain of elements through their
/// children, `href` targets (`use`, gradients, patterns, filters, `textPath`) and `url(#…)`
/// references in attributes (clip paths, masks, filters, markers, pattern fills).
///
/// usvg and resvg recurse along these chains, so this bounds the stack drawing needs. A
/// chain that loops counts as long as the document has elements; references in `<style>`
/// sheets, which may apply anywhere, multiply the depth by one more for each element they
/// name that is not a gradient.
fn depth(document: &roxmltree::Document<'_>) -> usize {
    let mut ids = HashMap::new();
    for node in document.descendants().filter(roxmltree::Node::is_element) {
        if let Some(id) = node.attribute("id") {
            ids.entry(id).or_insert(node);
        }
    }
    let mut styled = HashSet::new();
    for sheet in document
        .descendants()
        .filter(|node| node.has_tag_name((SVG_NS, "style")))
    {
        for text in sheet.children().filter_map(|node| node.text()) {
            for id in url_ids(text) {
                let leaf = ids.get(id).is_some_and(|target| {
                    matches!(
                        target.tag_name().name(),
                        "linearGradient" | "radialGradient"
                    )
                });
                if !leaf {
                    styled.insert(id);
                }
            }
        }
    }
    let mut depths: HashMap<roxmltree::NodeId, usize> = HashMap::new();
    let mut open = HashSet::new();
    let mut looped = false;
    let root = document.root_element();
    let mut stack = vec![(root, false)];
    while let Some((node, ready)) = stack.pop() {
        if depths.contains_key(&node.id()) {
            continue;
        }
        let next = references(node, &ids);
        if ready {
            let deepest = next
                .iter()
                .filter_map(|part| depths.get(&part.id()))
                .max()
                .copied()
                .unwrap_or(0);
            depths.insert(node.id(), deepest + 1);
            open.remove(&node.id());
        } else if open.insert(node.id()) {
            stack.push((node, true));
            for part in next {
                if open.contains(&part.id()) {
                    looped = true;
                } else if !depths.contains_key(&part.id()) {
                    stack.push((part, false));
                }
            }
        }
    }
    let deepest = if looped {
        document
            .descendants()
            .filter(roxmltree::Node::is_element)
            .count()
    } else {
        depths.values().copied().max().unwrap_or(0)
    };
    deepest.saturating_mul(styled.len() + 1)
}

/// The elements drawing `node` recurses into: its child elements, its `href` target and the
/// targets of `url(#…)` in its attributes.
fn references<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    ids: &HashMap<&str, roxmltree::Node<'a, 'input>>,
) -> Vec<roxmltree::Node<'a, 'input>> {
    let mut found: Vec<_> = node
        .children()
        .filter(roxmltree::Node::is_element)
        .collect();
    for attribute in node.attributes() {
        let value = attribute.value();
        let targets: Vec<&str> = if attribute.name() == "href" {
            value.trim().strip_prefix('#').into_iter().collect()
        } else {
            url_ids(value).collect()
        };
        found.extend(
            targets
                .into_iter()
                .filter_map(|id| ids.get(id).copied())
                .filter(|target| *target != node),
        );
    }
    found
}

/// The ids named by `url(#id)` in `text` (quotes and spaces around the id allowed).
fn url_ids(text: &str) -> impl Iterator<Item = &str> {
    text.split("url(").skip(1).filter_map(|after| {
        let inside = after.split(')').next()?;
        let inside = inside.trim().trim_matches(['"', '\'']).trim();
        inside.strip_prefix('#')
    })
}
/// Elements a document may expand to (a few seconds of usvg's work).
const MAX_ELEMENTS: u64 = 200_000;

/// The elements `document` expands to (see [`parse`]), saturating a little over
/// [`MAX_ELEMENTS`].
fn weigh(document: &roxmltree::Document<'_>) -> u64 {
    let mut ids = HashMap::new();
    for node in document.descendants().filter(roxmltree::Node::is_element) {
        if let Some(id) = node.attribute("id") {
            ids.entry(id).or_insert(node);
        }
    }
    let root = document.root_element();
    let mut plain = HashMap::new();
    let total = weigh_from(root, &ids, 0, &mut plain);
    // Marker contents are copied to every vertex of the shapes that use them; which shapes
    // do is decided by styles, so every shape counts as using the largest marker.
    let marker = document
        .descendants()
        .filter(|node| node.has_tag_name((SVG_NS, "marker")))
        .filter_map(|node| plain.get(&node.id()).copied())
        .max();
    match marker {
        Some(marker) => weigh_from(root, &ids, marker, &mut HashMap::new()),
        None => total,
    }
}

/// The SVG namespace.
const SVG_NS: &str = "http://www.w3.org/2000/svg";
/// The XLink namespace (`xlink:href`).
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";

/// The elements under `root`, each shape adding `marker` per number of its data, saturating
/// a little over [`MAX_ELEMENTS`]. Walks with its own stack; a `use` inside what it points to
/// counts nothing, as usvg skips it.
fn weigh_from<'a, 'input>(
    root: roxmltree::Node<'a, 'input>,
    ids: &HashMap<&str, roxmltree::Node<'a, 'input>>,
    marker: u64,
    weights: &mut HashMap<roxmltree::NodeId, u64>,
) -> u64 {
    let cap = MAX_ELEMENTS + 1;
    let mut open = HashSet::new();
    let mut stack = vec![(root, false)];
    while let Some((node, ready)) = stack.pop() {
        if weights.contains_key(&node.id()) {
            continue;
        }
        let parts = parts(node, ids);
        if ready {
            let own = 1 + numbers(node).saturating_mul(marker);
            let total = parts
                .iter()
                .filter_map(|part| weights.get(&part.id()))
                .fold(own, |sum, &weight| sum.saturating_add(weight));
            weights.insert(node.id(), total.min(cap));
            open.remove(&node.id());
        } else if open.insert(node.id()) {
            stack.push((node, true));
            for part in parts {
                if !weights.contains_key(&part.id()) && !open.contains(&part.id()) {
                    stack.push((part, false));
                }
            }
        }
    }
    weights.get(&root.id()).copied().unwrap_or(0)
}

/// What an element is built from: the element a `use` points to, or its child elements.
fn parts<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    ids: &HashMap<&str, roxmltree::Node<'a, 'input>>,
) -> Vec<roxmltree::Node<'a, 'input>> {
    if node.has_tag_name((SVG_NS, "use")) {
        let href = node
            .attribute("href")
            .or_else(|| node.attribute((XLINK_NS, "href")));
        href.and_then(|href| href.trim().strip_prefix('#'))
            .and_then(|id| ids.get(id).copied())
            .filter(|target| *target != node)
            .into_iter()
            .collect()
    } else {
        node.children()
            .filter(roxmltree::Node::is_element)
            .collect()
    }
}

/// The numbers in a shape's geometry (path data, polyline points), which bound its vertices.
fn numbers(node: roxmltree::Node<'_, '_>) -> u64 {
    let data = match node.tag_name().name() {
        "path" => node.attribute("d"),
        "polyline" | "polygon" => node.attribute("points"),
        "line" => return 2,
        _ => None,
    };
    let Some(data) = data else {
        return 0;
    };
    let is_number = |b: u8| b.is_ascii_digit() || b == b'.';
    let mut count = 0u64;
    let mut previous = false;
    for byte in data.bytes() {
        let current = is_number(byte);
        if current && !previous {
            count += 1;
        }
        previous = current;
    }
    count
}

/// A checked raster size and the transform that draws the tree onto it.
#[derive(Debug)]
struct Raster {
    width: u32,
    height: u32,
    scale_x: f32,
    scale_y: f32,
    source_size: (u32, u32),
    shrink: u32,
}

impl Raster {
    /// Drawn at 1/`factor` of the own size `width` × `height`.
    fn reduced(
        tree: &usvg::Tree,
        width: u32,
        height: u32,
        factor: u32,
        limits: &Limits,
    ) -> Result<Self, ProcessError> {
        let raster = Self {
            width: width.div_ceil(factor),
            height: height.div_ceil(factor),
            scale_x: width as f32 / factor as f32 / tree.size().width(),
            scale_y: height as f32 / factor as f32 / tree.size().height(),
            source_size: (width, height),
            shrink: factor,
        };
        raster.check(tree, limits)?;
        Ok(raster)
    }

    /// Drawn `factor` times larger than the own size.
    fn enlarged(
        tree: &usvg::Tree,
        width: u32,
        height: u32,
        factor: u32,
        limits: &Limits,
    ) -> Result<Self, ProcessError> {
        let (Some(w), Some(h)) = (width.checked_mul(factor), height.checked_mul(factor)) else {
            return Err(ProcessError::MaxResolution);
        };
        limits.check(w, h)?;
        let raster = Self {
            width: w,
            height: h,
            scale_x: w as f32 / tree.size().width(),
            scale_y: h as f32 / tree.size().height(),
            source_size: (w, h),
            shrink: 1,
        };
        raster.check(tree, limits)?;
        Ok(raster)
    }

    fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The raster's bytes against `max_alloc`, then the drawing budget.
    fn check(&self, tree: &usvg::Tree, limits: &Limits) -> Result<(), ProcessError> {
        let memory = limits.max_alloc.map_or(MAX_BYTES, |max| max.min(MAX_BYTES));
        if self.area().saturating_mul(4) > memory {
            return Err(ProcessError::MaxResolution);
        }
        let cost = Cost::measure(tree, self)?;
        if cost.work > MAX_WORK || cost.live.saturating_mul(4) > memory {
            return Err(too_complex());
        }
        Ok(())
    }

    fn draw(&self, tree: &usvg::Tree) -> Result<RgbaImage, ProcessError> {
        let mut pixmap =
            tiny_skia::Pixmap::new(self.width, self.height).ok_or(ProcessError::MaxResolution)?;
        let transform = tiny_skia::Transform::from_scale(self.scale_x, self.scale_y);
        resvg::render(tree, transform, &mut pixmap.as_mut());
        RgbaImage::from_raw(self.width, self.height, pixmap.take_demultiplied())
            .ok_or_else(|| ProcessError::image("svg raster has the wrong size"))
    }
}

fn too_complex() -> ProcessError {
    ProcessError::image("svg is too complex to draw")
}

/// What drawing a tree costs, measured without drawing it.
///
/// Work is counted in rough nanoseconds of drawing: a plain fill costs about one per pixel,
/// while layers, clip paths, masks and filters go through slower paths. The weights come
/// from timing resvg on this kind of document; they only need to be right within a small
/// factor to stop documents that would draw for minutes.
#[derive(Debug, Default)]
struct Cost {
    /// Work, summed over everything drawn.
    work: u64,
    /// The most pixels held at once in layers, filter results and tiles.
    live: u64,
}

/// Work per pixel of a shape's box (fill and stroke).
const FILL_WORK: u64 = 2;
/// Work per path point per pixel row it may cross (edge building and scan conversion).
const EDGE_WORK: u64 = 4;
/// Work per pixel of a layer (opacity, blending, filters, clip and mask targets).
const LAYER_WORK: u64 = 64;
/// Work per pixel of a clip path applied.
const CLIP_WORK: u64 = 64;
/// Work per pixel of a mask applied.
const MASK_WORK: u64 = 128;

/// A group waiting to be measured.
struct Pending<'a> {
    group: &'a usvg::Group,
    /// The transform from the group's coordinates to pixels, when its contents are placed on
    /// the raster. `None` inside clip paths, masks, patterns and filter images, where each node
    /// is charged the whole surface instead.
    transform: Option<tiny_skia::Transform>,
    /// The pixels of the surface the group draws on.
    surface: u64,
    depth: usize,
    /// Pixels held by the layers around this group.
    live: u64,
}

impl Cost {
    fn measure(tree: &usvg::Tree, raster: &Raster) -> Result<Self, ProcessError> {
        let canvas = raster.area().max(1);
        let mut cost = Self::default();
        let mut pending = vec![Pending {
            group: tree.root(),
            transform: Some(tiny_skia::Transform::from_scale(
                raster.scale_x,
                raster.scale_y,
            )),
            surface: canvas,
            depth: 0,
            live: canvas,
        }];
        while let Some(item) = pending.pop() {
            if item.depth > MAX_SVG_DEPTH {
                return Err(too_complex());
            }
            for node in item.group.children() {
                cost.node(node, &item, canvas, &mut pending)?;
            }
            if cost.work > MAX_WORK {
                return Err(too_complex());
            }
        }
        Ok(cost)
    }

    fn add(&mut self, pixels: u64, weight: u64) {
        self.work = self
            .work
            .saturating_add(pixels.max(1).saturating_mul(weight));
    }

    fn hold(&mut self, pixels: u64) {
        self.live = self.live.max(pixels);
    }

    fn node<'a>(
        &mut self,
        node: &'a usvg::Node,
        at: &Pending<'a>,
        canvas: u64,
        pending: &mut Vec<Pending<'a>>,
    ) -> Result<(), ProcessError> {
        // Pixels and pixel rows of a box on the surface.
        let extent = |rect: tiny_skia::Rect| match at.transform {
            Some(transform) => rect.transform(transform).map_or((0, 0), |r| {
                let rows = pixels(1.0, r.height());
                (pixels(r.width(), r.height()).min(at.surface), rows)
            }),
            None => (at.surface, at.surface.isqrt()),
        };
        match node {
            usvg::Node::Path(path) => {
                let (area, rows) = extent(path.abs_stroke_bounding_box());
                self.add(area, FILL_WORK);
                let points = u64::try_from(path.data().points().len()).unwrap_or(u64::MAX);
                self.add(points.saturating_mul(rows.min(at.surface)), EDGE_WORK);
                let paints = [
                    path.fill().map(usvg::Fill::paint),
                    path.stroke().map(usvg::Stroke::paint),
                ];
                for paint in paints.into_iter().flatten() {
                    if let usvg::Paint::Pattern(pattern) = paint {
                        self.pattern(pattern, path.abs_transform(), at, canvas, pending)?;
                    }
                }
            }
            usvg::Node::Image(image) => {
                self.add(extent(image.abs_bounding_box()).0, LAYER_WORK);
                if let usvg::ImageKind::SVG(nested) = image.kind() {
                    pending.push(at.inside(nested.root(), at.surface));
                }
            }
            usvg::Node::Text(text) => self.add(extent(text.abs_stroke_bounding_box()).0, FILL_WORK),
            usvg::Node::Group(group) => self.group(group, at, &extent, pending),
        }
        Ok(())
    }

    fn group<'a>(
        &mut self,
        group: &'a usvg::Group,
        at: &Pending<'a>,
        extent: &dyn Fn(tiny_skia::Rect) -> (u64, u64),
        pending: &mut Vec<Pending<'a>>,
    ) {
        let mut live = at.live;
        let mut surface = at.surface;
        if group.should_isolate() {
            let layer = extent(group.abs_layer_bounding_box().to_rect())
                .0
                .min(at.surface.saturating_mul(MAX_LAYER_RATIO));
            self.add(layer, LAYER_WORK);
            live = live.saturating_add(layer);
            surface = layer.max(1);
        }
        let scale = at.transform.map_or(1.0, |t| {
            let (sx, sy) = t.pre_concat(group.abs_transform()).get_scale();
            sx.max(sy)
        });
        for filter in group.filters() {
            for primitive in filter.primitives() {
                self.add(surface, filter_work(primitive.kind(), scale));
                live = live.saturating_add(surface);
                if let usvg::filter::Kind::Image(image) = primitive.kind() {
                    pending.push(at.inside(image.root(), surface));
                }
            }
        }
        let mut clip = group.clip_path();
        while let Some(path) = clip {
            self.add(surface, CLIP_WORK);
            pending.push(at.inside(path.root(), surface));
            clip = path.clip_path();
        }
        let mut mask = group.mask();
        while let Some(current) = mask {
            self.add(surface, MASK_WORK);
            live = live.saturating_add(surface);
            pending.push(at.inside(current.root(), surface));
            mask = current.mask();
        }
        self.hold(live);
        pending.push(Pending {
            group,
            transform: at.transform,
            surface: at.surface,
            depth: at.depth + 1,
            live,
        });
    }

    /// A pattern fill: its tile is allocated and its contents drawn into it for each shape.
    fn pattern<'a>(
        &mut self,
        pattern: &'a usvg::Pattern,
        shape: tiny_skia::Transform,
        at: &Pending<'a>,
        canvas: u64,
        pending: &mut Vec<Pending<'a>>,
    ) -> Result<(), ProcessError> {
        let base = at.transform.unwrap_or_default();
        let (sx, sy) = base
            .pre_concat(shape)
            .pre_concat(pattern.transform())
            .get_scale();
        let rect = pattern.rect();
        let tile = pixels(rect.width() * sx, rect.height() * sy);
        if tile > canvas.saturating_mul(MAX_LAYER_RATIO) {
            return Err(too_complex());
        }
        self.add(tile, LAYER_WORK);
        self.hold(at.live.saturating_add(tile));
        pending.push(at.inside(pattern.root(), tile.max(1)));
        Ok(())
    }
}

impl<'a> Pending<'a> {
    /// A clip path, mask, pattern or filter image drawn on a surface of `surface` pixels.
    fn inside(&self, group: &'a usvg::Group, surface: u64) -> Self {
        Self {
            group,
            transform: None,
            surface,
            depth: self.depth + 1,
            live: self.live.saturating_add(surface),
        }
    }
}

/// Whole pixels in `width` × `height` (negative, NaN: none; saturating).
fn pixels(width: f32, height: f32) -> u64 {
    let area = f64::from(width.max(0.0)) * f64::from(height.max(0.0));
    // Saturating cast; NaN becomes 0.
    area.ceil() as u64
}

/// Work per pixel of a filter primitive, `scale` being pixels per user unit.
fn filter_work(kind: &usvg::filter::Kind, scale: f32) -> u64 {
    use usvg::filter::Kind;
    match kind {
        Kind::Turbulence(fe) => u64::from(fe.num_octaves()).saturating_mul(64).max(32),
        Kind::Morphology(fe) => {
            let side =
                |r: f32| (f64::from(r * scale).round().max(0.0) as u64).saturating_mul(2) + 1;
            side(fe.radius_x().get())
                .saturating_mul(side(fe.radius_y().get()))
                .saturating_mul(2)
        }
        Kind::ConvolveMatrix(fe) => {
            let matrix = fe.matrix();
            u64::from(matrix.columns())
                .saturating_mul(u64::from(matrix.rows()))
                .saturating_mul(4)
        }
        Kind::GaussianBlur(_) | Kind::DropShadow(_) => 512,
        Kind::DiffuseLighting(_) | Kind::SpecularLighting(_) => 64,
        _ => 32,
    }
}

#[cfg(test)]
mod tests {
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
        let started = std::time::Instant::now();
        let result = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1));
        assert!(
            matches!(result, Err(ProcessError::Image(_))),
            "{:?}",
            result.map(|d| d.source_size)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));

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
        let started = std::time::Instant::now();
        let result = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1));
        assert!(
            matches!(result, Err(ProcessError::Image(_))),
            "{:?}",
            result.map(|d| d.source_size)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

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
        let started = std::time::Instant::now();
        let result = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1));
        assert!(
            matches!(result, Err(ProcessError::Image(_))),
            "{:?}",
            result.map(|d| d.source_size)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        // A turbulence with a billion octaves.
        let input = svg(
            r#"<filter id="f"><feTurbulence baseFrequency="0.05" numOctaves="1000000000"/></filter>
               <rect width="100" height="100" filter="url(#f)"/>"#,
            r#"width="100" height="100""#,
        );
        let result = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1));
        assert!(
            matches!(result, Err(ProcessError::Image(_))),
            "{:?}",
            result.map(|d| d.source_size)
        );

        // A pattern tile far larger than the picture.
        let input = svg(
            r#"<pattern id="p" width="100000" height="100000" patternUnits="userSpaceOnUse">
                 <rect width="5" height="5"/></pattern>
               <rect width="100" height="100" fill="url(#p)"/>"#,
            r#"width="100" height="100""#,
        );
        let result = decode(&input, &Limits::default(), |_, _| Scale::Reduce(1));
        assert!(
            matches!(result, Err(ProcessError::Image(_))),
            "{:?}",
            result.map(|d| d.source_size)
        );
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
