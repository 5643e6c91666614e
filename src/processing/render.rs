//! Rendering: decoding a source (or drawing a `color:` canvas) and running the geometry and
//! the pipeline filters on it, up to the canvas that gets encoded. Used by
//! [`process`](super::process), [`metadata`](super::metadata) and, for nested `image()`
//! overlays, by the overlay filter (through [`nested_overlay`]).

use image::DynamicImage;

use super::decode;
use super::decoded;
use super::error::ProcessError;
use super::filter::{self, OutputRequest, Settings};
use super::format::Format;
use super::ops;
use super::options::Options;
use super::paint::{self, color_canvas_size, source_color};
use super::pipeline;
use super::plan::{self, Plan};
use super::svg;
use crate::path::Params;

/// The canvas after the geometry and the pipeline, before encoding.
#[derive(Debug)]
pub(super) enum Rendered {
    /// One image, with the source format and ICC profile.
    Still {
        image: image::DynamicImage,
        source: Format,
        icc_profile: Option<Vec<u8>>,
    },
    /// The frames of an animated GIF or WebP, with their delays and loop count.
    Frames(decoded::Animation),
}

/// Decodes `input` and runs the geometry and the pipeline.
pub(super) fn render(
    input: &[u8],
    params: &Params,
    settings: &Settings,
    requested: Option<Format>,
    options: &Options,
) -> Result<Rendered, ProcessError> {
    options.check_decodable(input)?;
    let source = Format::sniff(input);
    let animated_source = matches!(source, Some(Format::Gif | Format::Webp));
    let animated_output =
        requested.is_none_or(|format| matches!(format, Format::Gif | Format::Webp));
    if animated_source && animated_output {
        let (limits, cancel) = (&options.limits, &options.cancel);
        let animation =
            decode::animation(input, limits, settings.max_frames, settings.page, cancel)?;
        if let Some(mut animation) = animation {
            animation.frames = animate(animation.frames, params, settings, options)?;
            return Ok(Rendered::Frames(animation));
        }
    }

    // Shrink-on-load: the plan for the full-size source says how far the decoder may reduce.
    let quarter_orient = settings.orient.is_some_and(|a| a == 90 || a == 270);
    let upright = |(w, h): (u32, u32)| if quarter_orient { (h, w) } else { (w, h) };
    let shrink = |w, h| {
        let (w, h) = upright((w, h));
        Plan::with_settings(w, h, params, settings).shrink_factor(params)
    };
    let decoded = if source == Some(Format::Svg) {
        // SVG may also be drawn larger than its own size when the resize enlarges it.
        svg::decode(input, &options.limits, |w, h| {
            let (w, h) = upright((w, h));
            svg::scale_for(&Plan::with_settings(w, h, params, settings), params)
        })?
    } else {
        let orient = settings.orient.is_none();
        decode::decode_scaled(input, &options.limits, orient, shrink, &options.cancel)?
    };
    options.cancel.check()?;
    let mut source = decoded.image;
    if let Some(angle) = settings.orient
        && let Some(turned) = ops::canvas::rotate(&source, angle, &options.cancel)?
    {
        source = turned;
    }
    let full_size = if decoded.shrink > 1 {
        upright(decoded.source_size)
    } else {
        (source.width(), source.height())
    };
    let image = still(source, full_size, decoded.shrink, params, settings, options)?;
    Ok(Rendered::Still {
        image,
        source: decoded.format,
        icc_profile: decoded.icc_profile,
    })
}

/// Trim, focal point, geometry (with `smart` placement), flips and pipeline on one upright
/// image.
///
/// `full_size` is the upright size of the source before shrink-on-load, and `shrink` the
/// factor the decoder reduced it by (1: not reduced). The plan is made in full-size pixels;
/// trim, focal points and `smart` never run on a reduced image (`Plan::shrink_factor`).
fn still(
    source: image::DynamicImage,
    full_size: (u32, u32),
    shrink: u32,
    params: &Params,
    settings: &Settings,
    options: &Options,
) -> Result<image::DynamicImage, ProcessError> {
    let (width, height) = full_size;
    let cancel = &options.cancel;
    let trim = if params.trim {
        let by = params.trim_by.unwrap_or_default();
        ops::trim::find(&source, by, params.trim_tolerance as f64, cancel)?
    } else {
        None
    };
    let focus = filter::focal_point(&params.filters, width, height);
    let extras = plan::Extras { trim, focus };
    let mut plan = Plan::with_extras(width, height, params, settings, extras).loaded_at(shrink);
    if params.smart && focus.is_none() {
        ops::smart::place(&source, &mut plan, cancel)?;
    }
    let (out_width, out_height) = plan.output_size();
    options.limits.check(out_width, out_height)?;
    let image = ops::resize::apply(source, &plan, cancel)?;
    finish(image, &plan, params, options, None)
}

/// The canvas of a `color:` source after crop, flips and pipeline.
pub(super) fn render_color(
    params: &Params,
    settings: &Settings,
    options: &Options,
) -> Result<image::DynamicImage, ProcessError> {
    let colour = source_color(&params.image).ok_or(ProcessError::InvalidColor)?;
    let (width, height) = color_canvas_size(params, &options.limits)?;
    let image = ops::canvas::solid(width, height, colour, &options.cancel)?;

    // Only the manual crop of the geometry applies: plan without a target size.
    let crop_only = Params {
        width: 0,
        height: 0,
        fit_in: false,
        stretch: false,
        ..params.clone()
    };
    let plan = Plan::with_settings(width, height, &crop_only, settings);
    let flips = Plan::with_settings(width, height, params, settings);
    let image = ops::resize::apply(image, &plan, &options.cancel)?;
    finish(image, &flips, params, options, None)
}

/// Runs the geometry and the pipeline on every frame of an animation. `trim` and `smart`
/// do not apply to animations; `focal(...)` does.
fn animate(
    frames: Vec<(image::RgbaImage, image::Delay)>,
    params: &Params,
    settings: &Settings,
    options: &Options,
) -> Result<Vec<(image::RgbaImage, image::Delay)>, ProcessError> {
    let Some((first, _)) = frames.first() else {
        return Err(ProcessError::image("animation has no frames"));
    };
    let (mut width, mut height) = first.dimensions();
    if settings
        .orient
        .is_some_and(|angle| angle == 90 || angle == 270)
    {
        std::mem::swap(&mut width, &mut height);
    }
    let extras = plan::Extras {
        trim: None,
        focus: filter::focal_point(&params.filters, width, height),
    };
    let plan = Plan::with_extras(width, height, params, settings, extras);
    let (out_width, out_height) = plan.output_size();
    let count = u32::try_from(frames.len()).unwrap_or(u32::MAX);
    options
        .limits
        .check(out_width, out_height.saturating_mul(count))?;
    let animated = frames.len() > 1;
    let mut done = Vec::with_capacity(frames.len());
    let cancel = &options.cancel;
    for (buffer, delay) in frames {
        cancel.check()?;
        let mut frame = image::DynamicImage::ImageRgba8(buffer);
        if let Some(angle) = settings.orient
            && let Some(turned) = ops::canvas::rotate(&frame, angle, cancel)?
        {
            frame = turned;
        }
        let frame = ops::resize::apply(frame, &plan, cancel)?;
        let index = done.len();
        let frame = finish(frame, &plan, params, options, animated.then_some(index))?;
        done.push((frame.into_rgba8(), delay));
    }
    let (width, height) = done.first().map_or((0, 0), |(frame, _)| frame.dimensions());
    // Canvas filters give every frame the same size; guard against a mismatch anyway.
    if done
        .iter()
        .any(|(frame, _)| frame.dimensions() != (width, height))
    {
        return Err(ProcessError::image("animation frames differ in size"));
    }
    Ok(done)
}

pub(super) fn requested_format(settings: &Settings) -> Result<Option<Format>, ProcessError> {
    match settings.output {
        OutputRequest::Source => Ok(None),
        #[cfg(not(feature = "avif"))]
        OutputRequest::Format(Format::Avif) => Err(super::avif::not_built_in()),
        OutputRequest::Format(format) => Ok(Some(format)),
        OutputRequest::Unsupported => Err(ProcessError::UnsupportedFormat),
    }
}

/// Flips, pipeline filters and the final size check. `frame` is the index of an animation
/// frame, `None` for a still image.
fn finish(
    mut image: image::DynamicImage,
    plan: &Plan,
    params: &Params,
    options: &Options,
    frame: Option<usize>,
) -> Result<image::DynamicImage, ProcessError> {
    options.cancel.check()?;
    if plan.h_flip() {
        ops::flip::horizontal(&mut image);
    }
    if plan.v_flip() {
        ops::flip::vertical(&mut image);
    }
    let padding = [
        params.padding_left,
        params.padding_top,
        params.padding_right,
        params.padding_bottom,
    ]
    .map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX));
    let mut canvas = pipeline::Canvas {
        image,
        target: plan.target_size(),
        padding,
        quarter_turned: false,
        animated: frame.is_some(),
        limits: &options.limits,
        overlay: Some(ops::overlay::Context {
            options,
            frame: frame.unwrap_or(0),
            animated: frame.is_some(),
            render: nested_overlay,
        }),
        cancel: &options.cancel,
    };
    pipeline::run(&mut canvas, &params.filters)?;
    options
        .limits
        .check(canvas.image.width(), canvas.image.height())?;
    Ok(canvas.image)
}

/// Renders the nested URL of an `image()` overlay (already under the policy, at its depth):
/// a `color:` canvas, or its source from the request's overlays. A still canvas takes the
/// first frame of an animated source, an animated one (`animated`) its frame number `frame`,
/// cycled. `None` when the source was not handed in (the overlay is skipped).
pub(super) fn nested_overlay(
    nested: &Params,
    options: &Options,
    animated: bool,
    frame: usize,
) -> Result<Option<DynamicImage>, ProcessError> {
    let settings = Settings::from_filters(&nested.filters);
    if paint::is_color_source(&nested.image) {
        return render_color(nested, &settings, options).map(Some);
    }
    let Some(input) = options.overlays.get(&nested.image) else {
        return Ok(None);
    };
    let still = (!animated).then_some(Format::Png);
    match render(input, nested, &settings, still, options)? {
        Rendered::Still { image, .. } => Ok(Some(image)),
        Rendered::Frames(frames) => {
            ops::overlay::pick(frames.into_iter().map(|(f, _)| f).collect(), frame).map(Some)
        }
    }
}
