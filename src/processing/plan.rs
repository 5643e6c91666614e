//! [`Plan`]: the geometry of a request, worked out from the source size and the URL alone.
//!
//! The rules are documented on [`Plan`]; the rounding and clamping helpers live here.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{HAlign, Params};
//! use imagor_tower::processing::{Plan, Rect};
//!
//! // `/100x200/left/...` on a 1634×2224 image: scale to 147×200, keep the left 100 columns.
//! let params = Params { width: 100, height: 200, h_align: Some(HAlign::Left), ..Default::default() };
//! let plan = Plan::new(1634, 2224, &params);
//! assert_eq!(plan.resize(), Some((147, 200)));
//! assert_eq!(plan.window(), Some(Rect::new(0, 0, 100, 200)));
//! assert_eq!(plan.output_size(), (100, 200));
//!
//! // `/fit-in/100x100/...` on the same image: fit inside, keeping the aspect ratio.
//! let params = Params { fit_in: true, width: 100, height: 100, ..Default::default() };
//! assert_eq!(Plan::new(1634, 2224, &params).output_size(), (73, 100));
//! ```

use super::filter::Settings;
use crate::path::{HAlign, Params, VAlign};

/// A rectangle in pixels: top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Distance from the left edge.
    pub left: u32,
    /// Distance from the top edge.
    pub top: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// A rectangle at (`left`, `top`) of size `width` × `height`.
    pub const fn new(left: u32, top: u32, width: u32, height: u32) -> Self {
        Self {
            left,
            top,
            width,
            height,
        }
    }
}

/// The geometry steps for one image and one URL, worked out from the source size and the
/// URL alone.
///
/// This is pure arithmetic (no pixels), following imagor's geometry steps in order:
///
/// 1. **Manual crop** `AxB:CxD`: fractions when left < 1, top < 1, right ≤ 1 and
///    bottom ≤ 1 (rounded to the nearest pixel), otherwise pixels. Right/bottom 0 mean "to the
///    edge", and, as in imagor, the far edge is `size − 1`, so the last column and row are never
///    kept. All four 0 means no crop.
/// 2. **Target size**: `adaptive-` variants swap the box to the image's orientation; a
///    zero side follows the aspect ratio (rounded, as imagor's shrink-on-load path produces;
///    capped at the image size without upscaling); `full-fit-in` enlarges the box so the image
///    covers it.
/// 3. **Resize** by mode: `fit-in` fits inside the box; `stretch` resizes to the
///    box exactly; otherwise fill-crop scales to cover the box and cuts a window aligned
///    by `left`/`right` or `top`/`bottom` (centre otherwise). Upscaling is on by default, off
///    for `fit-in` and `adaptive-fit-in`, and switched by `upscale()` / `no_upscale()`.
/// 4. **Flips** from a minus sign on the width or height.
///
/// Resized sides are rounded to the nearest pixel (halves away from zero), like libvips.
/// `trim` and `focal(...)` need the pixels: the engine measures them and passes them in;
/// `smart` windows are placed by the engine's saliency search after planning.
///
/// The steps run in this order: [`crop`](Self::crop) the source, [`resize`](Self::resize) the
/// result, cut the [`window`](Self::window) out of the resized image, then flip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    source: (u32, u32),
    crop: Option<Rect>,
    resize: Option<(u32, u32)>,
    window: Option<Rect>,
    target: (u32, u32),
    output: (u32, u32),
    h_flip: bool,
    v_flip: bool,
    /// The source pixels were loaded at 1/`shrink` scale (shrink-on-load).
    shrink: u32,
}

/// Which end of the image a fill-crop window keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    Low,
    Centre,
    High,
}

impl Plan {
    /// Plans `params` for an upright source of `width` × `height` pixels (after EXIF
    /// orientation). Reads the `upscale()`, `no_upscale()` and `stretch()` filters.
    pub fn new(width: u32, height: u32, params: &Params) -> Self {
        Self::with_settings(
            width,
            height,
            params,
            &Settings::from_filters(&params.filters),
        )
    }

    pub(crate) fn with_settings(
        width: u32,
        height: u32,
        params: &Params,
        settings: &Settings,
    ) -> Self {
        Self::with_extras(width, height, params, settings, Extras::default())
    }

    /// As [`with_settings`](Self::with_settings), with a trim box and a focal point worked
    /// out from the pixels.
    pub(crate) fn with_extras(
        width: u32,
        height: u32,
        params: &Params,
        settings: &Settings,
        extras: Extras,
    ) -> Self {
        let mut h_flip = params.h_flip;
        let mut v_flip = params.v_flip;
        // A negative size set by a program is a flip, as when a URL is generated.
        if params.width < 0 {
            h_flip = !h_flip;
        }
        if params.height < 0 {
            v_flip = !v_flip;
        }
        let mut plan = Self {
            source: (width, height),
            crop: None,
            resize: None,
            window: None,
            target: (width, height),
            output: (width, height),
            h_flip,
            v_flip,
            shrink: 1,
        };
        if width == 0 || height == 0 {
            return plan;
        }

        plan.crop = manual_crop(width, height, params);
        if let Some(trim) = extras.trim {
            // The trim segment: the kept box is the crop box ∩ the trim box.
            let base = plan.crop.unwrap_or(Rect::new(0, 0, width, height));
            if let Some(kept) = intersect(base, trim) {
                plan.crop = (kept != Rect::new(0, 0, width, height)).then_some(kept);
            }
        }
        let (iw, ih) = plan
            .crop
            .map_or((width, height), |crop| (crop.width, crop.height));

        let upscale = settings
            .upscale
            .unwrap_or(!params.fit_in || params.full_fit_in);
        let stretch = params.stretch || settings.stretch;
        let (w, h) = target_size(iw, ih, params, upscale);
        plan.target = (w, h);

        let (iw64, ih64, w64, h64) = (u64::from(iw), u64::from(ih), u64::from(w), u64::from(h));
        let larger_on_one_side = w < iw || h < ih;
        if params.fit_in {
            if upscale || larger_on_one_side {
                plan.resize = Some(fit_inside(iw64, ih64, w64, h64));
            }
        } else if stretch {
            if upscale || (w < iw && h < ih) {
                plan.resize = Some((w, h));
            }
        } else if upscale || larger_on_one_side {
            let (mut rw, mut rh) = cover(iw64, ih64, w64, h64);
            if !upscale && (rw > iw || rh > ih) {
                // Without upscaling the scale is capped at 1, so the window can be smaller
                // than the box.
                (rw, rh) = (iw, ih);
            }
            let (ww, wh) = (w.min(rw), h.min(rh));
            // The box is relatively wider than the image: the cut is vertical.
            let vertical_cut =
                u128::from(w64) * u128::from(ih64) > u128::from(iw64) * u128::from(h64);
            let anchor = if params.smart {
                Anchor::Centre
            } else if vertical_cut {
                match params.v_align {
                    Some(VAlign::Top) => Anchor::Low,
                    Some(VAlign::Bottom) => Anchor::High,
                    _ => Anchor::Centre,
                }
            } else {
                match params.h_align {
                    Some(HAlign::Left) => Anchor::Low,
                    Some(HAlign::Right) => Anchor::High,
                    _ => Anchor::Centre,
                }
            };
            let (left, top) = match extras.focus {
                Some((fx, fy)) => {
                    // `focal(...)`: centre the window on the focal point, clamped.
                    let crop = plan.crop.unwrap_or(Rect::new(0, 0, width, height));
                    let fx = (fx - f64::from(crop.left)) / f64::from(iw);
                    let fy = (fy - f64::from(crop.top)) / f64::from(ih);
                    (focal_offset(rw, ww, fx), focal_offset(rh, wh, fy))
                }
                None => (offset(rw, ww, anchor), offset(rh, wh, anchor)),
            };
            plan.resize = Some((rw, rh));
            plan.window = Some(Rect::new(left, top, ww, wh));
        }

        // Drop steps that change nothing.
        if plan.resize == Some((iw, ih)) {
            plan.resize = None;
        }
        let (rw, rh) = plan.resize.unwrap_or((iw, ih));
        if plan.window == Some(Rect::new(0, 0, rw, rh)) {
            plan.window = None;
        }
        plan.output = plan
            .window
            .map_or((rw, rh), |window| (window.width, window.height));
        plan
    }

    /// Moves the fill-crop window to (`left`, `top`) of the resized image, kept inside it.
    pub(crate) fn move_window(&mut self, left: u32, top: u32) {
        let (rw, rh) = self.resize.unwrap_or_else(|| {
            self.crop
                .map_or(self.source, |crop| (crop.width, crop.height))
        });
        if let Some(window) = &mut self.window {
            window.left = left.min(rw.saturating_sub(window.width));
            window.top = top.min(rh.saturating_sub(window.height));
        }
    }

    /// The upright source size the plan was made for.
    pub fn source_size(&self) -> (u32, u32) {
        self.source
    }

    /// The manual crop, in source pixels, if any.
    pub fn crop(&self) -> Option<Rect> {
        self.crop
    }

    /// The size the (cropped) image is resized to, if it is resized.
    pub fn resize(&self) -> Option<(u32, u32)> {
        self.resize
    }

    /// The part of the resized image that is kept (fill-crop), if not all of it.
    pub fn window(&self) -> Option<Rect> {
        self.window
    }

    /// The target box after zero sides, `adaptive-` and `full-fit-in` are worked out
    /// (imagor's target box). `fill(...)` will extend the canvas to this box.
    pub fn target_size(&self) -> (u32, u32) {
        self.target
    }

    /// The size of the image after the geometry steps.
    pub fn output_size(&self) -> (u32, u32) {
        self.output
    }

    /// Mirror left-right after resizing.
    pub fn h_flip(&self) -> bool {
        self.h_flip
    }

    /// Mirror top-bottom after resizing.
    pub fn v_flip(&self) -> bool {
        self.v_flip
    }

    /// Whether crop, resize and window leave the image as it is (flips aside).
    pub fn keeps_pixels(&self) -> bool {
        self.crop.is_none() && self.resize.is_none() && self.window.is_none()
    }

    /// The largest shrink-on-load factor (1, 2, 4 or 8) for this plan: the source reduced by
    /// it still has at least twice as many pixels as the output on both sides of the area that
    /// is kept, so the final resize always has a factor of two left to filter the blockier
    /// reduced decode (libvips' thumbnail leaves the same margin, and imagor's outputs match
    /// it). 1 when the image is not reduced, and for requests that look at the whole source
    /// (`trim`, `smart`, `focal(...)`, `/meta`).
    pub(crate) fn shrink_factor(&self, params: &Params) -> u32 {
        let whole_source = params.trim
            || params.smart
            || params.meta
            || params
                .filters
                .iter()
                .any(|f| matches!(f.name.as_str(), "focal" | "trim"));
        if whole_source || self.resize.is_none() {
            return 1;
        }
        let area = self.source_area();
        let (ow, oh) = (f64::from(self.output.0), f64::from(self.output.1));
        [8u32, 4, 2]
            .into_iter()
            .find(|&k| {
                let k = f64::from(k);
                (area.width / k).floor() >= 2.0 * ow && (area.height / k).floor() >= 2.0 * oh
            })
            .unwrap_or(1)
    }

    /// The same plan for a source that was loaded at 1/`factor` scale: the geometry (sizes,
    /// crop, window) stays in full-scale pixels, the resampling reads the reduced image.
    pub(crate) fn loaded_at(mut self, factor: u32) -> Self {
        self.shrink = factor.max(1);
        self
    }

    /// The area of the source, in fractional source pixels, that ends up in the output: the
    /// crop, resize and window folded into one resampling step. With shrink-on-load the area
    /// is in pixels of the reduced image.
    pub(crate) fn source_area(&self) -> SourceArea {
        let crop = self
            .crop
            .unwrap_or(Rect::new(0, 0, self.source.0, self.source.1));
        let (rw, rh) = self.resize.unwrap_or((crop.width, crop.height));
        let window = self.window.unwrap_or(Rect::new(0, 0, rw, rh));
        let sx = f64::from(crop.width) / f64::from(rw.max(1));
        let sy = f64::from(crop.height) / f64::from(rh.max(1));
        let left = f64::from(crop.left) + f64::from(window.left) * sx;
        let top = f64::from(crop.top) + f64::from(window.top) * sy;
        // Keep the area inside the source despite float rounding.
        let width = (f64::from(window.width) * sx).min(f64::from(self.source.0) - left);
        let height = (f64::from(window.height) * sy).min(f64::from(self.source.1) - top);
        let k = f64::from(self.shrink.max(1));
        SourceArea {
            left: left / k,
            top: top / k,
            width: width / k,
            height: height / k,
        }
    }
}

/// What the plan needs from the pixels: the `trim` box and the `focal(...)` point, both in
/// upright source pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Extras {
    /// The box `trim` keeps.
    pub(crate) trim: Option<Rect>,
    /// The weighted centre of the `focal(...)` rectangles.
    pub(crate) focus: Option<(f64, f64)>,
}

/// The overlap of two rectangles, if they overlap.
fn intersect(a: Rect, b: Rect) -> Option<Rect> {
    let left = a.left.max(b.left);
    let top = a.top.max(b.top);
    let right = a
        .left
        .saturating_add(a.width)
        .min(b.left.saturating_add(b.width));
    let bottom = a
        .top
        .saturating_add(a.height)
        .min(b.top.saturating_add(b.height));
    (right > left && bottom > top).then(|| Rect::new(left, top, right - left, bottom - top))
}

/// Offset of a window of `inner` pixels centred on the fraction `at` of `outer` pixels, kept
/// inside (imagor truncates).
fn focal_offset(outer: u32, inner: u32, at: f64) -> u32 {
    let max = f64::from(outer.saturating_sub(inner));
    let wanted = f64::from(outer) * at - f64::from(inner) / 2.0;
    // A NaN fraction never panics: `min` drops it and the cast saturates.
    wanted.min(max).max(0.0) as u32
}

/// A fractional rectangle of the source that is resampled to the output size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SourceArea {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// The manual crop `l x t : r x b` of the URL, in pixels (fractions of the size when
/// below 1), including imagor's `size − 1` far edge.
fn manual_crop(width: u32, height: u32, params: &Params) -> Option<Rect> {
    let (l, t, r, b) = (
        params.crop_left,
        params.crop_top,
        params.crop_right,
        params.crop_bottom,
    );
    if !(l > 0.0 || t > 0.0 || r > 0.0 || b > 0.0) {
        return None;
    }
    let (fw, fh) = (f64::from(width), f64::from(height));
    let (mut left, mut top, mut right, mut bottom) = (l.max(0.0), t.max(0.0), r, b);
    if l < 1.0 && t < 1.0 && r <= 1.0 && b <= 1.0 {
        left = (left * fw).round();
        top = (top * fh).round();
        right = (right * fw).round();
        bottom = (bottom * fh).round();
    }
    if right == 0.0 {
        right = fw - 1.0;
    }
    if bottom == 0.0 {
        bottom = fh - 1.0;
    }
    right = right.min(fw - 1.0);
    bottom = bottom.min(fh - 1.0);
    if !(right > left && bottom > top) {
        return None;
    }
    // Truncate like Go's int(); float-to-int casts saturate and never panic.
    let rect = Rect::new(
        left as u32,
        top as u32,
        (right - left) as u32,
        (bottom - top) as u32,
    );
    (rect.width > 0 && rect.height > 0).then_some(rect)
}

/// The target box: the box the image is resized against.
fn target_size(iw: u32, ih: u32, params: &Params, upscale: bool) -> (u32, u32) {
    let clamp = |v: i64| u32::try_from(v.unsigned_abs()).unwrap_or(u32::MAX);
    let (mut w, mut h) = (clamp(params.width), clamp(params.height));
    if params.adaptive_fit_in && w > 0 && h > 0 && ((iw > ih) != (w > h)) {
        std::mem::swap(&mut w, &mut h);
    }
    if w == 0 && h == 0 {
        return (iw, ih);
    }
    if w == 0 {
        w = scale_side(iw, h, ih);
        if !upscale {
            w = w.min(iw);
        }
    } else if h == 0 {
        h = scale_side(ih, w, iw);
        if !upscale {
            h = h.min(ih);
        }
    }
    if params.fit_in && params.full_fit_in {
        let image_aspect = f64::from(iw) / f64::from(ih);
        let box_aspect = f64::from(w) / f64::from(h);
        if image_aspect < box_aspect {
            h = to_side((f64::from(w) / image_aspect).ceil());
        } else {
            w = to_side((f64::from(h) * image_aspect).ceil());
        }
    }
    (w, h)
}

/// `side × num / den`, rounded half up, at least 1 and at most `u32::MAX`.
fn scale_side(side: u32, num: u32, den: u32) -> u32 {
    let den = u128::from(den.max(1));
    let scaled = (u128::from(side) * u128::from(num) * 2 + den) / (2 * den);
    u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
}

/// A float side length as a pixel count of at least 1 (the cast saturates).
fn to_side(value: f64) -> u32 {
    (value as u32).max(1)
}

/// Fit `iw × ih` inside `w × h` keeping the aspect ratio; the limiting side is exact.
fn fit_inside(iw: u64, ih: u64, w: u64, h: u64) -> (u32, u32) {
    let (iw32, ih32, w32, h32) = (narrow(iw), narrow(ih), narrow(w), narrow(h));
    if u128::from(w) * u128::from(ih) <= u128::from(h) * u128::from(iw) {
        (w32, scale_side(ih32, w32, iw32))
    } else {
        (scale_side(iw32, h32, ih32), h32)
    }
}

/// Scale `iw × ih` to cover `w × h` keeping the aspect ratio; the covering side is exact.
fn cover(iw: u64, ih: u64, w: u64, h: u64) -> (u32, u32) {
    let (iw32, ih32, w32, h32) = (narrow(iw), narrow(ih), narrow(w), narrow(h));
    if u128::from(w) * u128::from(ih) >= u128::from(h) * u128::from(iw) {
        (w32, scale_side(ih32, w32, iw32))
    } else {
        (scale_side(iw32, h32, ih32), h32)
    }
}

fn narrow(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Offset of a window of `inner` pixels inside `outer` pixels (libvips `smartcrop` low, centre,
/// high).
fn offset(outer: u32, inner: u32, anchor: Anchor) -> u32 {
    let excess = outer.saturating_sub(inner);
    match anchor {
        Anchor::Low => 0,
        Anchor::Centre => excess / 2,
        Anchor::High => excess,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Filter;

    fn size(width: i64, height: i64) -> Params {
        Params {
            width,
            height,
            ..Default::default()
        }
    }

    #[test]
    fn empty_params_keep_everything() {
        let plan = Plan::new(640, 480, &Params::default());
        assert!(plan.keeps_pixels());
        assert_eq!(plan.output_size(), (640, 480));
        assert_eq!(plan.target_size(), (640, 480));
        assert!(!plan.h_flip() && !plan.v_flip());
    }

    #[test]
    fn zero_sized_source_never_divides_by_zero() {
        for (w, h) in [(0, 0), (0, 10), (10, 0)] {
            let plan = Plan::new(w, h, &size(100, 100));
            assert_eq!(plan.output_size(), (w, h));
        }
    }

    #[test]
    fn manual_crop_pixels_and_fractions() {
        let crop = |l, t, r, b, w, h| {
            let params = Params {
                crop_left: l,
                crop_top: t,
                crop_right: r,
                crop_bottom: b,
                ..Default::default()
            };
            Plan::new(w, h, &params).crop()
        };
        // golden: 30x20:100x150 on the 121×128 GIF → 70×107 (bottom capped at 127).
        assert_eq!(
            crop(30., 20., 100., 150., 121, 128),
            Some(Rect::new(30, 20, 70, 107))
        );
        // golden: 0.1x0.2:0.89x0.72 → 96×66.
        assert_eq!(
            crop(0.1, 0.2, 0.89, 0.72, 121, 128),
            Some(Rect::new(12, 26, 96, 66))
        );
        // 1.0 fractions lose the last column and row.
        assert_eq!(
            crop(0.5, 0.5, 1.0, 1.0, 100, 100),
            Some(Rect::new(50, 50, 49, 49))
        );
        // Right/bottom 0 mean "to the edge" (size − 1).
        assert_eq!(
            crop(50., 50., 0., 0., 512, 320),
            Some(Rect::new(50, 50, 461, 269))
        );
        // All zero: no crop. Empty or inverted boxes: ignored.
        assert_eq!(crop(0., 0., 0., 0., 100, 100), None);
        assert_eq!(crop(60., 10., 50., 20., 100, 100), None);
        assert_eq!(crop(3000., 3000., 5000., 5000., 100, 100), None);
        // Negative left/top count as 0.
        assert_eq!(
            crop(-5., -5., 10., 10., 100, 100),
            Some(Rect::new(0, 0, 10, 10))
        );
        // Hostile values never panic.
        assert_eq!(crop(f64::NAN, 1e300, f64::INFINITY, -1e300, 100, 100), None);
    }

    #[test]
    fn zero_side_follows_aspect_ratio() {
        // golden: 0x50 on the 100×68 Canon JPEG → 74×50 (73.5 rounds up).
        let plan = Plan::new(100, 68, &size(0, 50));
        assert_eq!(plan.output_size(), (74, 50));
        assert_eq!(plan.window(), None);
        // golden: 50x0 → 50×34.
        assert_eq!(Plan::new(100, 68, &size(50, 0)).output_size(), (50, 34));
    }

    #[test]
    fn no_upscale_keeps_small_images() {
        let no_upscale = |w, h| Params {
            filters: vec![Filter::new("no_upscale", "")],
            ..size(w, h)
        };
        // golden: 500x0, 500x200 and 500x400 with no_upscale() on the 202×259 gopher.
        let plan = Plan::new(202, 259, &no_upscale(500, 0));
        assert!(plan.keeps_pixels());
        assert_eq!(plan.target_size(), (500, 259));
        let plan = Plan::new(202, 259, &no_upscale(500, 200));
        assert_eq!(plan.resize(), None);
        assert_eq!(plan.window(), Some(Rect::new(0, 29, 202, 200)));
        assert_eq!(plan.output_size(), (202, 200));
        assert!(Plan::new(202, 259, &no_upscale(500, 400)).keeps_pixels());
    }

    #[test]
    fn fill_crop_anchors() {
        // 1634×2224 to 200×100: scale to 200×272 and cut vertically.
        let with = |v_align, h_align| Params {
            v_align,
            h_align,
            ..size(200, 100)
        };
        let top = Plan::new(1634, 2224, &with(Some(VAlign::Top), None));
        assert_eq!(top.resize(), Some((200, 272)));
        assert_eq!(top.window(), Some(Rect::new(0, 0, 200, 100)));
        let bottom = Plan::new(1634, 2224, &with(Some(VAlign::Bottom), Some(HAlign::Left)));
        assert_eq!(bottom.window(), Some(Rect::new(0, 172, 200, 100)));
        let centre = Plan::new(1634, 2224, &with(Some(VAlign::Middle), Some(HAlign::Right)));
        assert_eq!(centre.window(), Some(Rect::new(0, 86, 200, 100)));
        // A horizontal alignment does not move a vertical cut.
        let left = Plan::new(1634, 2224, &with(None, Some(HAlign::Left)));
        assert_eq!(left.window(), Some(Rect::new(0, 86, 200, 100)));
    }

    #[test]
    fn fit_in_never_upscales_by_default() {
        let fit = |w, h| Params {
            fit_in: true,
            ..size(w, h)
        };
        assert!(Plan::new(70, 87, &fit(100, 100)).keeps_pixels());
        let upscaled = Params {
            filters: vec![Filter::new("upscale", "")],
            ..fit(100, 100)
        };
        assert_eq!(Plan::new(70, 87, &upscaled).output_size(), (80, 100));
    }

    #[test]
    fn stretch_ignores_aspect_ratio() {
        let stretch = Params {
            stretch: true,
            ..size(100, 200)
        };
        assert_eq!(Plan::new(121, 128, &stretch).resize(), Some((100, 200)));
        let fit_wins = Params {
            fit_in: true,
            ..stretch
        };
        assert_eq!(Plan::new(121, 128, &fit_wins).output_size(), (100, 106));
        let by_filter = Params {
            filters: vec![Filter::new("stretch", "")],
            ..size(100, 200)
        };
        assert_eq!(Plan::new(121, 128, &by_filter).output_size(), (100, 200));
    }

    #[test]
    fn negative_sizes_flip() {
        let plan = Plan::new(100, 100, &size(-50, -40));
        assert!(plan.h_flip() && plan.v_flip());
        assert_eq!(plan.output_size(), (50, 40));
        let params = Params {
            h_flip: true,
            ..size(-50, 40)
        };
        assert!(!Plan::new(100, 100, &params).h_flip());
    }

    #[test]
    fn huge_requests_saturate_instead_of_overflowing() {
        let plan = Plan::new(u32::MAX, 1, &size(i64::MAX, 0));
        assert_eq!(plan.output_size().0, u32::MAX);
        let plan = Plan::new(1, u32::MAX, &size(i64::MIN, i64::MIN));
        assert_eq!(plan.output_size(), (u32::MAX, u32::MAX));
        let full = Params {
            fit_in: true,
            full_fit_in: true,
            ..size(u32::MAX.into(), 1)
        };
        let _ = Plan::new(1, u32::MAX, &full).output_size();
    }

    #[test]
    fn shrink_factor_keeps_enough_pixels_for_the_output() {
        let fit = |w, h| Params {
            fit_in: true,
            ..size(w, h)
        };
        let factor = |w, h, params: &Params| Plan::new(w, h, params).shrink_factor(params);
        // The reduced source keeps at least twice the output's pixels on each side.
        assert_eq!(factor(4224, 3168, &size(150, 150)), 8);
        // Fit-in 300×200 is 267×200: an eighth (528×396) is short of 534×400, a quarter is not.
        assert_eq!(factor(4224, 3168, &fit(300, 200)), 4);
        // Cover 512×512 keeps 3168×3168: only a half leaves 1024 on each side.
        assert_eq!(factor(4224, 3168, &size(512, 512)), 2);
        assert_eq!(factor(1600, 1200, &size(400, 300)), 2);
        assert_eq!(factor(1600, 1200, &size(800, 600)), 1);
        // A manual crop counts: 400×300 of the source for a 40×30 output.
        let crop = Params {
            crop_left: 0.0,
            crop_top: 0.0,
            crop_right: 400.0,
            crop_bottom: 300.0,
            ..size(40, 0)
        };
        assert_eq!(factor(4000, 3000, &crop), 4);
        // Upscaling, no resize, and requests that read the whole source: no shrink.
        assert_eq!(factor(100, 100, &size(400, 400)), 1);
        assert_eq!(factor(4000, 3000, &Params::default()), 1);
        for whole in [
            Params {
                smart: true,
                ..size(100, 100)
            },
            Params {
                trim: true,
                ..size(100, 100)
            },
            Params {
                filters: vec![Filter::new("focal", "10x10:20x20")],
                ..size(100, 100)
            },
        ] {
            assert_eq!(factor(4000, 3000, &whole), 1);
        }
    }

    #[test]
    fn loaded_at_scales_the_source_area_only() {
        let plan = Plan::new(4000, 3000, &size(100, 100));
        let shrunk = plan.loaded_at(8);
        assert_eq!(shrunk.output_size(), plan.output_size());
        assert_eq!(shrunk.resize(), plan.resize());
        let (full, area) = (plan.source_area(), shrunk.source_area());
        assert_eq!(
            (area.left, area.top, area.width, area.height),
            (
                full.left / 8.0,
                full.top / 8.0,
                full.width / 8.0,
                full.height / 8.0
            )
        );
    }

    #[test]
    fn source_area_folds_crop_resize_and_window() {
        let params = Params {
            crop_left: 10.0,
            crop_top: 20.0,
            crop_right: 110.0,
            crop_bottom: 70.0,
            ..size(50, 50)
        };
        // Crop 100×50 at (10,20). Covering 50×50 needs scale 1 (height-limited), so there is
        // no resize, only a centred 50×50 window at x = 25 of the crop.
        let plan = Plan::new(200, 100, &params);
        assert_eq!(plan.crop(), Some(Rect::new(10, 20, 100, 50)));
        assert_eq!(plan.resize(), None);
        assert_eq!(plan.window(), Some(Rect::new(25, 0, 50, 50)));
        let area = plan.source_area();
        assert_eq!(
            (area.left, area.top, area.width, area.height),
            (35.0, 20.0, 50.0, 50.0)
        );

        let plan = Plan::new(400, 200, &size(100, 100));
        assert_eq!(plan.resize(), Some((200, 100)));
        let area = plan.source_area();
        assert_eq!(
            (area.left, area.top, area.width, area.height),
            (100.0, 0.0, 200.0, 200.0)
        );
    }
}
