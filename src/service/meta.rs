//! `/meta/...` (URL.md §10): the source is loaded and processed like an image request, and
//! the answer is the JSON description of the result ([`processing::Metadata`]) instead of
//! the encoded image.
//!
//! Metadata answers skip result storage and are not cached by the service.
//!
//! # Example
//!
//! ```
//! use imagor_tower::ImageService;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let service = ImageService::new().unsafe_urls(true);
//! let req = http::Request::get("/unsafe/meta/30x20/filters:format(png)/color:red")
//!     .body(())
//!     .unwrap();
//! let res = service.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["content-type"], "application/json");
//! # });
//! ```

use http::{Method, Response};
use tower::Service;

use super::{Head, ImageService, estimated_bytes};
use crate::body::Body;
use crate::loader::SourceRequest;
use crate::path::Params;
use crate::processing;
use crate::service::response;
use crate::{Blob, Error};

impl<Src> ImageService<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
{
    /// Loads the source of `params`, processes it on the pixel threads and answers with its
    /// metadata JSON.
    pub(super) async fn meta_response(
        &self,
        params: &Params,
        head: &Head,
    ) -> Result<Response<Body>, Error> {
        let settings = &self.settings;
        let cancel = processing::Cancel::new();
        let ticket = self.admit().await?;
        let input = if processing::is_color_source(&params.image) {
            None
        } else {
            let blob = self.load(&params.image, head.headers.clone()).await?;
            Some(blob.into_bytes())
        };
        let options = settings.process.clone().cancel(cancel.clone());
        let params = params.clone();
        let bytes = estimated_bytes(input.as_deref(), &params, &options);
        let meta = self
            .process_blocking(ticket, bytes, &cancel, move || match input {
                Some(input) => processing::metadata(&input, &params, &options),
                None => processing::metadata_color(&params, &options),
            })
            .await?;
        Ok(response::bytes_response(
            "application/json",
            meta.to_json().into(),
            head.method == Method::HEAD,
        ))
    }
}
