//! Mirroring in place: [`horizontal`] reverses every row, [`vertical`] swaps rows top to
//! bottom. No pixel is converted and nothing is allocated for 8-bit images.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Options};
//!
//! // A 2×1 image, red then blue. `-0x0` (h_flip) puts blue first.
//! let mut source = image::RgbImage::new(2, 1);
//! source.put_pixel(0, 0, image::Rgb([255, 0, 0]));
//! source.put_pixel(1, 0, image::Rgb([0, 0, 255]));
//! # let mut png = Vec::new();
//! # source.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
//! let params = Params { h_flip: true, ..Default::default() };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! let flipped = image::load_from_memory(output.bytes()).unwrap().to_rgb8();
//! assert_eq!(flipped.get_pixel(0, 0).0, [0, 0, 255]);
//! ```

use image::DynamicImage;

/// Mirrors left-right.
pub(crate) fn horizontal(image: &mut DynamicImage) {
    let pixel = usize::from(image.color().bytes_per_pixel());
    let row = row_len(image);
    match samples_mut(image) {
        Some(samples) if row > 0 => {
            for line in samples.chunks_exact_mut(row) {
                // Reversing the bytes of a row reverses the pixel order and also each pixel's
                // channels; reversing each pixel again restores the channels.
                line.reverse();
                if pixel > 1 {
                    line.chunks_exact_mut(pixel).for_each(<[u8]>::reverse);
                }
            }
        }
        Some(_) => {}
        None => *image = image.fliph(),
    }
}

/// Mirrors top-bottom.
pub(crate) fn vertical(image: &mut DynamicImage) {
    let row = row_len(image);
    match samples_mut(image) {
        Some(samples) if row > 0 => {
            let mut rows = samples.chunks_exact_mut(row);
            while let (Some(top), Some(bottom)) = (rows.next(), rows.next_back()) {
                top.swap_with_slice(bottom);
            }
        }
        Some(_) => {}
        None => *image = image.flipv(),
    }
}

/// Bytes per row of an 8-bit image.
fn row_len(image: &DynamicImage) -> usize {
    usize::try_from(image.width())
        .unwrap_or(usize::MAX)
        .saturating_mul(usize::from(image.color().bytes_per_pixel()))
}

/// The samples of an 8-bit image; `None` for deeper layouts.
fn samples_mut(image: &mut DynamicImage) -> Option<&mut [u8]> {
    match image {
        DynamicImage::ImageLuma8(buffer) => Some(&mut **buffer),
        DynamicImage::ImageLumaA8(buffer) => Some(&mut **buffer),
        DynamicImage::ImageRgb8(buffer) => Some(&mut **buffer),
        DynamicImage::ImageRgba8(buffer) => Some(&mut **buffer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, LumaA, Rgb, Rgb32FImage};

    fn numbered(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([x as u8, y as u8, (x * 10 + y) as u8])
        }))
    }

    #[test]
    fn horizontal_matches_image_crate() {
        for (w, h) in [(1, 1), (2, 3), (5, 4), (7, 1)] {
            let mut mine = numbered(w, h);
            horizontal(&mut mine);
            assert_eq!(mine, numbered(w, h).fliph(), "{w}x{h}");
        }
    }

    #[test]
    fn vertical_matches_image_crate() {
        for (w, h) in [(1, 1), (3, 2), (4, 5), (1, 7)] {
            let mut mine = numbered(w, h);
            vertical(&mut mine);
            assert_eq!(mine, numbered(w, h).flipv(), "{w}x{h}");
        }
    }

    #[test]
    fn keeps_channels_of_grey_alpha() {
        let mut image = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(3, 1, |x, _| {
            LumaA([x as u8, 100 + x as u8])
        }));
        horizontal(&mut image);
        let DynamicImage::ImageLumaA8(buffer) = image else {
            panic!("layout changed");
        };
        assert_eq!(buffer.into_raw(), vec![2, 102, 1, 101, 0, 100]);
    }

    #[test]
    fn deeper_layouts_fall_back() {
        let source =
            DynamicImage::ImageRgb32F(Rgb32FImage::from_fn(2, 1, |x, _| Rgb([x as f32, 0.0, 0.0])));
        let mut image = source.clone();
        horizontal(&mut image);
        vertical(&mut image);
        assert_eq!(image, source.fliph().flipv());
    }
}
