//! Pixel operations, one file per family: [`resize`] (crop, scale and window in one
//! resampling pass through `fast_image_resize`), [`flip`] (in-place mirroring), [`color`]
//! (grey conversion, removing alpha), [`trim`] (finding a uniform border), [`smart`]
//! (placing a crop window by saliency), [`overlay`] (`watermark` and `image`) and [`text`]
//! (`text` and `label` with the bundled DejaVu fonts).
//!
//! Every operation keeps the image's channel layout (grey, grey + alpha, RGB, RGBA) unless
//! changing it is its purpose, and works in place when it can.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(40, 20, image::Rgb([200, 30, 30]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // Resize to 20×10, mirror, and turn grey: three operations.
//! let params = Params {
//!     width: 20,
//!     height: 10,
//!     h_flip: true,
//!     filters: vec![Filter::new("grayscale", "")],
//!     ..Default::default()
//! };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! let decoded = image::load_from_memory(output.bytes()).unwrap();
//! assert_eq!(decoded.color(), image::ColorType::L8);
//! assert_eq!((decoded.width(), decoded.height()), (20, 10));
//! ```

pub(crate) mod adjust;
pub(crate) mod canvas;
pub(crate) mod color;
pub(crate) mod flip;
pub(crate) mod overlay;
pub(crate) mod resize;
pub(crate) mod smart;
pub(crate) mod text;
pub(crate) mod trim;
