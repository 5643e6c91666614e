//! The crate's one `unsafe` corner: rav1d's dav1d-style C API behind a safe function.
//!
//! rav1d (the Rust port of dav1d) only exposes the C functions (`dav1d_open`,
//! `dav1d_send_data`, `dav1d_get_picture`, ...). [`decode_av1`] drives them for one still
//! picture and copies its planes into owned buffers, so nothing borrowed from the decoder
//! escapes. Each resource has a guard whose `Drop` releases it, so every path (success,
//! error, early return) frees the input buffer (`dav1d_data_unref`), the picture
//! (`dav1d_picture_unref`) and the decoder (`dav1d_close`).
//!
//! The decoder does not log and refuses frames larger than the pixel limit it is given.
//!
//! A panic inside rav1d cannot unwind through its `extern "C"` functions: it aborts the
//! process. rav1d 1.1.0 has such a panic on *every* decode error when it runs with a single
//! frame context (upstream issue memorysafety/rav1d#1497: `on_error` unwraps a frame header
//! that `rav1d_decode_frame_exit` already dropped), and one flipped byte in the tile data is
//! enough to reach it. So the decoder runs with two frame contexts (two worker threads, at
//! most two frames in flight), where errors take the frame-threading path and come back from
//! `dav1d_get_picture`; the picture is then collected by draining. Once that fix is
//! released, one thread and one frame context would do.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Format, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbaImage::from_pixel(40, 30, image::Rgba([10, 200, 30, 128]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! let to = |format: &str| Params {
//!     filters: vec![Filter::new("format", format)],
//!     ..Default::default()
//! };
//! let avif = process(&png, &to("avif"), &Options::default()).unwrap();
//! // Reading the AVIF back decodes its AV1 payloads (colour and alpha) with rav1d.
//! let png = process(avif.bytes(), &to("png"), &Options::default()).unwrap();
//! assert_eq!((png.format(), png.width(), png.height()), (Format::Png, 40, 30));
//! ```

#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dSettings};
use rav1d::include::dav1d::headers::{
    DAV1D_CHR_COLOCATED, DAV1D_CHR_VERTICAL, DAV1D_PIXEL_LAYOUT_I400, DAV1D_PIXEL_LAYOUT_I420,
    DAV1D_PIXEL_LAYOUT_I422, DAV1D_PIXEL_LAYOUT_I444,
};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib::{
    dav1d_close, dav1d_data_create, dav1d_data_unref, dav1d_default_settings, dav1d_get_picture,
    dav1d_open, dav1d_picture_unref, dav1d_send_data,
};

use super::super::error::ProcessError;
use super::yuv::{Colour, Layout, Picture, Plane, Planes, Siting};

/// dav1d's "try again" result: a negative errno.
const AGAIN: i32 = -libc::EAGAIN;

/// Send/receive rounds before giving up on a payload that never yields a picture.
const MAX_ROUNDS: usize = 64;

fn failed(what: &str, code: i32) -> ProcessError {
    ProcessError::image(format_args!("avif: AV1 {what} failed (error {code})"))
}

/// Decodes the first picture of one AV1 payload (an AVIF image item).
///
/// `max_pixels` caps width × height; larger frames are refused by the decoder before it
/// allocates them.
pub(crate) fn decode_av1(payload: &[u8], max_pixels: Option<u64>) -> Result<Picture, ProcessError> {
    if payload.is_empty() {
        return Err(ProcessError::image("avif: empty AV1 payload"));
    }
    let decoder = Decoder::open(max_pixels)?;
    let mut data = Data::copy_of(payload)?;
    let mut picture = PictureRef::default();
    for _ in 0..MAX_ROUNDS {
        if data.pending() {
            // SAFETY: the context is open (the guard closes it only on drop) and `data.0` is
            // a live `Dav1dData` that rav1d may read and overwrite.
            let sent =
                unsafe { dav1d_send_data(Some(decoder.0), Some(NonNull::from(&mut data.0))) };
            if sent.0 < 0 && sent.0 != AGAIN {
                return Err(failed("decode", sent.0));
            }
        }
        // SAFETY: the context is open, and `picture.0` is a live `Dav1dPicture` that rav1d
        // overwrites (it holds nothing: the previous rounds got none and released the slot).
        let got =
            unsafe { dav1d_get_picture(Some(decoder.0), Some(NonNull::from(&mut picture.0))) };
        if got.0 == 0 {
            return picture.copy_out();
        }
        if got.0 != AGAIN {
            return Err(failed("decode", got.0));
        }
        // No picture yet, but the slot now owns rav1d's empty-picture block.
        picture.release();
        // "Try again": send the rest of the data, or, once it is all in, ask again, which
        // drains the frame threads.
    }
    Err(ProcessError::image("avif: AV1 payload yields no picture"))
}

/// An open decoder, closed on drop.
struct Decoder(Dav1dContext);

impl Decoder {
    fn open(max_pixels: Option<u64>) -> Result<Self, ProcessError> {
        let mut settings = MaybeUninit::<Dav1dSettings>::uninit();
        // SAFETY: `dav1d_default_settings` writes a whole `Dav1dSettings` through the pointer,
        // which points to writable memory of the right size and alignment.
        unsafe { dav1d_default_settings(NonNull::from(&mut settings).cast()) };
        // SAFETY: fully initialised by the call above.
        let mut settings = unsafe { settings.assume_init() };
        // Two frame contexts, not one: see the module docs (rav1d#1497).
        settings.n_threads = 2;
        settings.max_frame_delay = 2;
        // Only the highest spatial layer, as AVIF readers do.
        settings.all_layers = 0;
        settings.frame_size_limit = max_pixels.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        // SAFETY: `logger` is dav1d's `{ cookie, callback }` pair of nullable pointers; all
        // zero bytes is the documented "no callback, no logging" value.
        unsafe { std::ptr::write_bytes(&raw mut settings.logger, 0, 1) };
        let mut context: Option<Dav1dContext> = None;
        // SAFETY: both pointers are to live locals; `dav1d_open` reads the settings and
        // writes the context (or `None` on failure).
        let opened = unsafe {
            dav1d_open(
                Some(NonNull::from(&mut context)),
                Some(NonNull::from(&mut settings)),
            )
        };
        match context {
            Some(context) if opened.0 == 0 => Ok(Self(context)),
            _ => Err(failed("decoder set-up", opened.0)),
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let mut context = Some(self.0);
        // SAFETY: the context came from `dav1d_open` and is closed exactly once, here; no
        // picture or data guard outlives it (they are declared after it and drop first).
        unsafe { dav1d_close(Some(NonNull::from(&mut context))) };
    }
}

/// An input buffer owned by rav1d, released on drop.
struct Data(Dav1dData);

impl Data {
    fn copy_of(payload: &[u8]) -> Result<Self, ProcessError> {
        let mut data = Self(Dav1dData::default());
        // SAFETY: `data.0` is a live `Dav1dData` for rav1d to fill in; the returned pointer is
        // to `payload.len()` writable bytes owned by `data.0` (or null on failure).
        let buffer = unsafe { dav1d_data_create(Some(NonNull::from(&mut data.0)), payload.len()) };
        if buffer.is_null() || data.0.sz != payload.len() {
            return Err(ProcessError::image("avif: cannot allocate the AV1 input"));
        }
        // SAFETY: `buffer` holds `payload.len()` writable bytes that nothing else references
        // yet, and cannot overlap `payload`, which rav1d did not allocate.
        unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), buffer, payload.len()) };
        Ok(data)
    }

    /// Whether some of the input has not been taken by the decoder yet.
    fn pending(&self) -> bool {
        self.0.sz > 0
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a live `Dav1dData` (possibly already emptied by the decoder,
        // which unref accepts).
        unsafe { dav1d_data_unref(Some(NonNull::from(&mut self.0))) };
    }
}

/// A picture reference, released on drop.
#[derive(Default)]
struct PictureRef(Dav1dPicture);

impl Drop for PictureRef {
    fn drop(&mut self) {
        self.release();
    }
}

impl PictureRef {
    /// Releases whatever the slot holds and leaves it empty, allocation-free.
    ///
    /// `dav1d_picture_unref` (and `dav1d_get_picture` when it has no picture) leave behind
    /// an "empty" picture that still owns one freshly allocated reference-counted ITU-T T.35
    /// block, which no dav1d function frees without allocating another: 48 bytes lost per
    /// picture and per "try again" (found by the `decode_avif` fuzz target under
    /// LeakSanitizer). That block is freed here, so a long-running server does not grow.
    fn release(&mut self) {
        // SAFETY: `self.0` is either the zeroed default, an empty picture left by rav1d, or a
        // picture from `dav1d_get_picture`; unref accepts all three and leaves an empty one.
        unsafe { dav1d_picture_unref(Some(NonNull::from(&mut self.0))) };
        self.0.itut_t35 = None;
        self.0.n_itut_t35 = 0;
        if let Some(block) = self.0.itut_t35_ref.take() {
            // SAFETY: rav1d wrote this reference with `RawArc::from_arc` when it converted its
            // empty picture into `self.0`, and it was taken out of the slot just now, so this
            // is the only conversion back to the `Arc`, which is then dropped.
            drop(unsafe { block.into_arc() });
        }
    }

    /// Copies the planes and colour codes out of a picture returned by `dav1d_get_picture`.
    fn copy_out(&self) -> Result<Picture, ProcessError> {
        let picture = &self.0;
        let bad = || ProcessError::image("avif: AV1 picture has an unexpected shape");
        let width = usize::try_from(picture.p.w).map_err(|_| bad())?;
        let height = usize::try_from(picture.p.h).map_err(|_| bad())?;
        if width == 0 || height == 0 {
            return Err(bad());
        }
        let layout = match picture.p.layout {
            DAV1D_PIXEL_LAYOUT_I400 => Layout::Mono,
            DAV1D_PIXEL_LAYOUT_I420 => Layout::Yuv420,
            DAV1D_PIXEL_LAYOUT_I422 => Layout::Yuv422,
            DAV1D_PIXEL_LAYOUT_I444 => Layout::Yuv444,
            _ => return Err(bad()),
        };
        let depth = u8::try_from(picture.p.bpc).map_err(|_| bad())?;
        let seq = picture.seq_hdr.ok_or_else(bad)?;
        // SAFETY: a returned picture points to its sequence header, which lives as long as
        // the picture reference (released only when `self` drops).
        let seq = unsafe { seq.as_ref() };
        let colour = Colour {
            matrix: u16::try_from(seq.mtrx).unwrap_or(2),
            full_range: seq.color_range != 0,
        };
        let siting = Siting {
            cosited_x: seq.chr == DAV1D_CHR_VERTICAL || seq.chr == DAV1D_CHR_COLOCATED,
            cosited_y: seq.chr == DAV1D_CHR_COLOCATED,
        };
        let mut sizes = vec![(width, height, 0usize)];
        if let Some((w, h)) = layout.chroma_size(width, height) {
            sizes.extend([(w, h, 1), (w, h, 2)]);
        }
        let planes = match depth {
            8 => Planes::Eight(
                sizes
                    .iter()
                    .map(|&(w, h, i)| self.plane::<u8>(w, h, i))
                    .collect::<Result<_, _>>()?,
            ),
            10 | 12 => Planes::Deep(
                sizes
                    .iter()
                    .map(|&(w, h, i)| self.plane::<u16>(w, h, i))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad()),
        };
        Ok(Picture {
            width,
            height,
            depth,
            layout,
            siting,
            colour,
            planes,
        })
    }

    /// Copies plane `index` (`width` × `height` samples of type `T`).
    fn plane<T: Copy>(
        &self,
        width: usize,
        height: usize,
        index: usize,
    ) -> Result<Plane<T>, ProcessError> {
        let bad = || ProcessError::image("avif: AV1 plane has an unexpected layout");
        let picture = &self.0;
        let base = picture
            .data
            .get(index)
            .copied()
            .flatten()
            .ok_or_else(bad)?
            .cast::<T>();
        let stride = picture.stride.get(index.min(1)).copied().ok_or_else(bad)?;
        let stride = usize::try_from(stride).map_err(|_| bad())?;
        let row_bytes = width.checked_mul(size_of::<T>()).ok_or_else(bad)?;
        if stride < row_bytes
            || stride % align_of::<T>() != 0
            || !base.as_ptr().is_aligned()
            || stride
                .checked_mul(height)
                .is_none_or(|n| n > isize::MAX as usize)
        {
            return Err(bad());
        }
        let mut samples = Vec::new();
        samples
            .try_reserve_exact(width.checked_mul(height).ok_or_else(bad)?)
            .map_err(|_| ProcessError::MaxResolution)?;
        for row in 0..height {
            // SAFETY: rav1d allocates each plane as `height` rows of `stride` bytes (checked
            // above to hold `width` samples and to keep alignment), valid while the picture
            // reference is held; `row * stride` stays inside that allocation.
            let line = unsafe {
                let start = base.as_ptr().cast::<u8>().add(row * stride).cast::<T>();
                std::slice::from_raw_parts(start, width)
            };
            samples.extend_from_slice(line);
        }
        Ok(Plane {
            width,
            height,
            samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        let inputs: [&[u8]; 4] = [b"", b"\0", b"\x12\0\x0a\x0b\0\0\0", &[0xff; 64]];
        for input in inputs {
            assert!(decode_av1(input, None).is_err(), "{input:?}");
        }
    }
}
