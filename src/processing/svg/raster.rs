//! Drawing a parsed SVG: the raster size and transform ([`Raster`]), checked against the
//! limits and a drawing budget measured on the parsed tree (work, layers alive at once,
//! nesting) before anything is drawn.

use image::RgbaImage;
use resvg::tiny_skia;
use resvg::usvg;

use super::guard::{MAX_SVG_DEPTH, too_complex};
use crate::processing::error::ProcessError;
use crate::processing::limits::Limits;

/// Work a document may cost to draw, in the rough nanoseconds of [`Cost`] (a few seconds).
const MAX_WORK: u64 = 1 << 32;
/// A layer or tile may be this many times the raster's area at most (resvg's own clamp).
const MAX_LAYER_RATIO: u64 = 4;
/// Bytes the raster and its layers may hold at once, whatever the limits (4 GiB).
const MAX_BYTES: u64 = 1 << 32;

/// A checked raster size and the transform that draws the tree onto it.
#[derive(Debug)]
pub(super) struct Raster {
    width: u32,
    height: u32,
    scale_x: f32,
    scale_y: f32,
    pub(super) source_size: (u32, u32),
    pub(super) shrink: u32,
}

impl Raster {
    /// Drawn at 1/`factor` of the own size `width` × `height`.
    pub(super) fn reduced(
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
    pub(super) fn enlarged(
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

    pub(super) fn draw(&self, tree: &usvg::Tree) -> Result<RgbaImage, ProcessError> {
        let mut pixmap =
            tiny_skia::Pixmap::new(self.width, self.height).ok_or(ProcessError::MaxResolution)?;
        let transform = tiny_skia::Transform::from_scale(self.scale_x, self.scale_y);
        resvg::render(tree, transform, &mut pixmap.as_mut());
        RgbaImage::from_raw(self.width, self.height, pixmap.take_demultiplied())
            .ok_or_else(|| ProcessError::image("svg raster has the wrong size"))
    }
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
