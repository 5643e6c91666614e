//! Loading the sources of `watermark(...)` and `image(...)` overlays (FILTERS.md §5.2–5.3)
//! before the pixel work.
//!
//! The service lists the image keys the URL's overlay filters name, nested `image()` paths
//! included ([`processing::overlay_sources`]), loads them all through the same source stack
//! as the main image (with the request's headers, at once, each under the load timeout), and
//! hands them to processing in [`processing::Options::overlays`]. A missing overlay source
//! fails the request as the loader does (404 for an unknown key); `image()` paths nested
//! deeper than [`processing::MAX_DEPTH`] levels answer 400.
//!
//! # Example
//!
//! ```
//! use imagor_tower::{Blob, Error, ImageService};
//! use imagor_tower::loader::{SourceRequest, service_fn_loader};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let png = |rgb| {
//!     let mut bytes = Vec::new();
//!     image::RgbImage::from_pixel(40, 40, image::Rgb(rgb))
//!         .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
//!         .unwrap();
//!     bytes
//! };
//! let (photo, logo) = (png([255, 255, 255]), png([0, 0, 255]));
//! let loader = service_fn_loader(move |req: SourceRequest| {
//!     let bytes = match req.key() {
//!         "photo.png" => Some(photo.clone()),
//!         "logo.png" => Some(logo.clone()),
//!         _ => None,
//!     };
//!     async move { bytes.map(Blob::new).ok_or(Error::NotFound) }
//! });
//! let service = ImageService::new().unsafe_urls(true).loader(loader);
//!
//! let req = http::Request::get("/unsafe/filters:watermark(logo.png,0,0,0,50,50)/photo.png")
//!     .body(())
//!     .unwrap();
//! assert_eq!(service.clone().oneshot(req).await.unwrap().status(), 200);
//!
//! let req = http::Request::get("/unsafe/filters:watermark(nope.png,0,0,0)/photo.png")
//!     .body(())
//!     .unwrap();
//! assert_eq!(service.oneshot(req).await.unwrap().status(), 404);
//! # });
//! ```

use http::HeaderMap;
use tower::Service;

use super::ImageService;
use crate::loader::SourceRequest;
use crate::path::Params;
use crate::processing::{self, Overlays};
use crate::{Blob, Error};

impl<Src> ImageService<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
{
    /// Loads every overlay source `params` needs; empty when it has no overlay filters.
    pub(super) async fn load_overlays(
        &self,
        params: &Params,
        headers: &HeaderMap,
    ) -> Result<Overlays, Error> {
        let keys = processing::overlay_sources(params)?;
        if keys.is_empty() {
            return Ok(Overlays::new());
        }
        let loads = keys.into_iter().map(|key| async move {
            let blob = self.load(&key, headers.clone()).await?;
            Ok::<_, Error>((key, blob.into_bytes()))
        });
        let loaded = futures::future::try_join_all(loads).await?;
        let mut overlays = Overlays::new();
        for (key, bytes) in loaded {
            overlays.insert(key, bytes);
        }
        Ok(overlays)
    }
}
