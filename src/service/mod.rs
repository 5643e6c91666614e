//! [`ImageService`]: the HTTP face. Parses and verifies an imagor URL, sends an
//! [`ImageRequest`] down its render stack, and answers.
//!
//! `ImageService<R>` is a [`tower::Service`] over `http::Request<B>` whose `Error` is
//! [`Infallible`]: every failure has already become imagor's status and JSON body, so it mounts
//! directly in axum, hyper or warp. Hosts that render errors themselves call
//! [`ImageService::try_call`] and get a typed [`Error`].
//!
//! What the face does itself: the landing page, `/healthcheck`, `/params/...`, the signature
//! check, `IMAGOR_BASE_PARAMS`, the filters that only change the answer (`expire`, `max_age`,
//! `attachment`), format negotiation from `Accept`, the request deadline, caching headers,
//! validators and conditional requests, and the error body. Everything else (result storage,
//! coalescing, admission, loading, processing) is its render stack `R`, any
//! `Service<ImageRequest, Response = Rendered>`:
//!
//! * [`ImageService::new`] builds the built-in [`Stack`] with no source;
//!   [`ImageService::loader`] (or [`LoaderLayer`](crate::loader::LoaderLayer)) adds loaders,
//!   tried in order, and the other builder methods configure its layers.
//! * [`ImageService::from_render`] takes a render stack built with `ServiceBuilder`, with the
//!   host's own layers anywhere in it (see [`render`](crate::render)).
//!
//! # Example
//!
//! ```
//! use imagor_tower::{Blob, Error, ImageService};
//! use imagor_tower::loader::{SourceRequest, service_fn_loader};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // A loader that knows one key; any tower service of this shape works.
//! let png = {
//!     let mut bytes = Vec::new();
//!     let img = image::RgbImage::from_pixel(64, 32, image::Rgb([200, 30, 30]));
//!     img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
//!     bytes
//! };
//! let loader = service_fn_loader(move |req: SourceRequest| {
//!     let png = png.clone();
//!     async move {
//!         if req.key() == "red.png" { Ok(Blob::new(png)) } else { Err(Error::NotFound) }
//!     }
//! });
//! let service = ImageService::new().unsafe_urls(true).loader(loader);
//!
//! let req = http::Request::get("/unsafe/16x16/red.png").body(imagor_tower::body::Body::empty()).unwrap();
//! let res = service.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["content-type"], "image/png");
//!
//! // `/meta/...`: the description of the result, as JSON.
//! let req = http::Request::get("/unsafe/meta/30x20/red.png").body(imagor_tower::body::Body::empty()).unwrap();
//! let res = service.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["content-type"], "application/json");
//!
//! // Overlay sources load through the same loaders; a missing one is a 404.
//! let req = http::Request::get("/unsafe/filters:watermark(nope.png,0,0,0)/red.png")
//!     .body(imagor_tower::body::Body::empty())
//!     .unwrap();
//! assert_eq!(service.clone().oneshot(req).await.unwrap().status(), 404);
//!
//! let req = http::Request::get("/unsafe/16x16/missing.png").body(imagor_tower::body::Body::empty()).unwrap();
//! let res = service.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 404);
//! # });
//! ```

mod face;
mod future;
mod negotiate;
mod response;

pub use future::ResponseFuture;

use crate::loader::{Fallback, NoSource, UploadLoader};
use crate::metrics::Metrics;
use crate::path::{self, Params, Presets, Signer};
use crate::processing;
use crate::render::{AdmissionLayer, Render, Stack};
use crate::storage::ResultStorageLayer;
use response::CachePolicy;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP face of the crate, over the render stack `R`. See the [module docs](self).
pub struct ImageService<R = Stack<NoSource>> {
    render: R,
    settings: Arc<Settings>,
}

/// What the face itself is configured with.
#[derive(Clone, Debug)]
struct Settings {
    signer: Signer,
    unsafe_urls: bool,
    cache: CachePolicy,
    disable_error_body: bool,
    disable_params_endpoint: bool,
    base_path_redirect: Option<String>,
    base_params: Option<Params>,
    presets: Option<Presets>,
    request_timeout: Duration,
    auto_webp: bool,
    auto_avif: bool,
    auto_jpeg: bool,
    metrics: Option<Metrics>,
    upload: Option<UploadLoader>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            signer: Signer::new(""),
            unsafe_urls: false,
            cache: CachePolicy::default(),
            disable_error_body: false,
            disable_params_endpoint: false,
            base_path_redirect: None,
            base_params: None,
            presets: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            auto_webp: false,
            auto_avif: false,
            auto_jpeg: false,
            metrics: None,
            upload: None,
        }
    }
}

impl<R: Clone> Clone for ImageService<R> {
    fn clone(&self) -> Self {
        Self {
            render: self.render.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for ImageService<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("render", &self.render)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Default for ImageService<Stack<NoSource>> {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageService<Stack<NoSource>> {
    /// A service with imagor's defaults and no source: signatures are checked (with an empty
    /// secret until [`signer`](Self::signer) sets one) and `unsafe/` URLs are refused.
    pub fn new() -> Self {
        Self::from_render(Stack::default())
    }
}

impl<R> ImageService<R> {
    /// The HTTP face over the render stack `render`: any
    /// `Service<ImageRequest, Response = Rendered>` whose error converts into [`Error`], such
    /// as [`Render`] under layers of the host's choosing (see [`render`](crate::render)).
    ///
    /// ```
    /// use imagor_tower::loader::FileLoader;
    /// use imagor_tower::render::{AdmissionLayer, Render};
    /// use imagor_tower::ImageService;
    /// use tower::ServiceBuilder;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let render = ServiceBuilder::new()
    ///     .layer(AdmissionLayer::new().concurrency(8))
    ///     .service(Render::new(FileLoader::new(dir.path()).unwrap()));
    /// let service = ImageService::from_render(render).unsafe_urls(true);
    /// # let _ = service;
    /// ```
    pub fn from_render(render: R) -> Self {
        Self {
            render,
            settings: Arc::new(Settings::default()),
        }
    }

    /// The render stack.
    pub fn render(&self) -> &R {
        &self.render
    }

    /// Replaces the render stack with `f(render)`: wrap it in any layer. The face keeps its
    /// settings.
    pub fn map_render<R2>(self, f: impl FnOnce(R) -> R2) -> ImageService<R2> {
        ImageService {
            render: f(self.render),
            settings: self.settings,
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(Arc::make_mut(&mut self.settings));
        self
    }

    /// The URL signer (`IMAGOR_SECRET`, `IMAGOR_SIGNER_TYPE`, `IMAGOR_SIGNER_TRUNCATE`, and
    /// the retired key of `IMAGOR_SECRET_PREVIOUS` through [`Signer::with_previous`]).
    #[must_use]
    pub fn signer(self, signer: Signer) -> Self {
        self.update(|s| s.signer = signer)
    }

    /// Accept `/unsafe/...` URLs without a signature (`IMAGOR_UNSAFE`).
    #[must_use]
    pub fn unsafe_urls(self, enabled: bool) -> Self {
        self.update(|s| s.unsafe_urls = enabled)
    }

    /// `max-age`/`s-maxage` of successes (`IMAGOR_CACHE_HEADER_TTL`; zero keeps 7 days).
    #[must_use]
    pub fn cache_header_ttl(self, ttl: Duration) -> Self {
        self.update(|s| {
            if !ttl.is_zero() {
                s.cache.ttl = ttl;
            }
        })
    }

    /// `stale-while-revalidate` (`IMAGOR_CACHE_HEADER_SWR`; sent only below the TTL).
    #[must_use]
    pub fn cache_header_swr(self, swr: Duration) -> Self {
        self.update(|s| {
            if !swr.is_zero() {
                s.cache.swr = swr;
            }
        })
    }

    /// Non-cacheable headers on every success (`IMAGOR_CACHE_HEADER_NO_CACHE`).
    #[must_use]
    pub fn cache_header_no_cache(self, no_cache: bool) -> Self {
        self.update(|s| s.cache.no_cache = no_cache)
    }

    /// Errors carry only their status, no JSON (`IMAGOR_DISABLE_ERROR_BODY`).
    #[must_use]
    pub fn disable_error_body(self, disable: bool) -> Self {
        self.update(|s| s.disable_error_body = disable)
    }

    /// `/params/...` answers 200 with an empty body (`IMAGOR_DISABLE_PARAMS_ENDPOINT`).
    #[must_use]
    pub fn disable_params_endpoint(self, disable: bool) -> Self {
        self.update(|s| s.disable_params_endpoint = disable)
    }

    /// `GET /` redirects (307) here instead of showing the landing page
    /// (`IMAGOR_BASE_PATH_REDIRECT`).
    #[must_use]
    pub fn base_path_redirect(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.update(|s| s.base_path_redirect = (!url.is_empty()).then_some(url))
    }

    /// A path fragment merged into every request after the signature check
    /// (`IMAGOR_BASE_PARAMS`, e.g. `filters:watermark(logo.png)`).
    #[must_use]
    pub fn base_params(self, fragment: &str) -> Self {
        let parsed = (!fragment.trim().is_empty()).then(|| path::parse_rest(fragment));
        self.update(|s| s.base_params = parsed)
    }

    /// Named presets, used in URLs as `preset:NAME` segments (`IMAGOR_PRESETS_PATH`,
    /// `IMAGOR_ONLY_PRESETS`); see [`Presets`]. Signatures are checked on the path as written,
    /// then the segments are expanded in place; `/params` shows the expansion. An unknown
    /// preset answers 400, and a URL that is not presets plus the image answers 403 when
    /// [`Presets::only_presets`] is on. Without presets (the default) a `preset:` segment is
    /// part of the image key, as in imagor.
    ///
    /// ```
    /// use imagor_tower::ImageService;
    /// use imagor_tower::path::Presets;
    ///
    /// let presets = Presets::new()
    ///     .with("thumb", "fit-in/200x200/filters:format(webp)")?
    ///     .only_presets(true);
    /// // Only what the presets define can be asked for, so unsigned URLs are safe.
    /// let service = ImageService::new().presets(presets).unsafe_urls(true);
    /// # let _ = service;
    /// # Ok::<(), imagor_tower::path::PresetDefinitionError>(())
    /// ```
    #[must_use]
    pub fn presets(self, presets: Presets) -> Self {
        self.update(|s| s.presets = Some(presets))
    }

    /// Deadline of the whole request (`IMAGOR_REQUEST_TIMEOUT`; zero keeps 30 s).
    #[must_use]
    pub fn request_timeout(self, timeout: Duration) -> Self {
        let timeout = if timeout.is_zero() {
            DEFAULT_REQUEST_TIMEOUT
        } else {
            timeout
        };
        self.update(|s| s.request_timeout = timeout)
    }

    /// Serve WebP to clients that accept it when the URL has no `format()`
    /// (`IMAGOR_AUTO_WEBP`).
    #[must_use]
    pub fn auto_webp(self, enabled: bool) -> Self {
        self.update(|s| s.auto_webp = enabled)
    }

    /// Serve AVIF to clients that accept it when the URL has no `format()`
    /// (`IMAGOR_AUTO_AVIF`), checked before WebP.
    #[must_use]
    pub fn auto_avif(self, enabled: bool) -> Self {
        self.update(|s| s.auto_avif = enabled)
    }

    /// Serve JPEG when the URL has no `format()` and the client accepts JPEG or anything
    /// (`IMAGOR_AUTO_JPEG`), checked after AVIF and WebP.
    #[must_use]
    pub fn auto_jpeg(self, enabled: bool) -> Self {
        self.update(|s| s.auto_jpeg = enabled)
    }

    /// Accepts `POST` uploads, read by `loader` (`UPLOAD_LOADER_ENABLE` and the other
    /// `UPLOAD_LOADER_*` options); `None` (the default) answers `POST` with 405.
    ///
    /// The path of an upload is an imagor URL whose image part is ignored, such as
    /// `/unsafe/fit-in/200x200/filters:format(webp)`. With
    /// [`unsafe_urls`](Self::unsafe_urls) on, any upload is accepted, as imagor accepts them;
    /// otherwise only a path with a valid signature (imagor refuses uploads without unsafe
    /// mode). The signature is checked before the body is read. The uploaded image is never
    /// written to a storage nor kept as a result.
    ///
    /// ```
    /// use imagor_tower::ImageService;
    /// use imagor_tower::loader::UploadLoader;
    /// use tower::ServiceExt;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut png = Vec::new();
    /// image::RgbImage::from_pixel(64, 32, image::Rgb([200, 30, 30]))
    ///     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    ///     .unwrap();
    /// let service = ImageService::new()
    ///     .unsafe_urls(true)
    ///     .upload_loader(UploadLoader::new().max_size(1 << 20));
    /// let req = http::Request::post("/unsafe/16x8/filters:format(webp)")
    ///     .header("content-type", "image/png")
    ///     .body(http_body_util::Full::new(bytes::Bytes::from(png)))
    ///     .unwrap();
    /// let res = service.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["content-type"], "image/webp");
    /// # });
    /// ```
    #[must_use]
    pub fn upload_loader(self, loader: impl Into<Option<UploadLoader>>) -> Self {
        let loader = loader.into();
        self.update(|s| s.upload = loader)
    }

    /// Records request counts and latencies in `metrics`, and hands it to the render stack
    /// (stage latencies, storage outcomes, queue depth, coalesced requests); see
    /// [`MetricsLayer`](crate::metrics::MetricsLayer).
    #[must_use]
    pub fn metrics(self, metrics: Metrics) -> Self {
        self.update(|s| s.metrics = Some(metrics))
    }
}

/// The builder methods of the built-in [`Stack`].
impl<Src: Clone> ImageService<Stack<Src>> {
    fn map_stack<S2>(self, f: impl FnOnce(Stack<Src>) -> Stack<S2>) -> ImageService<Stack<S2>> {
        self.map_render(f)
    }

    fn map_core(self, f: impl FnOnce(Render<Src>) -> Render<Src>) -> Self {
        self.map_stack(|stack| stack.map_render(f))
    }

    /// Adds `loader` to the source stack, tried after the sources already there.
    pub fn loader<L: Clone>(self, loader: L) -> ImageService<Stack<Fallback<Src, L>>> {
        self.map_source(|source| Fallback::new(source, loader))
    }

    /// Replaces the source stack with `f(source)`: wrap it in any tower layer (timeouts,
    /// retries, a storage cache).
    pub fn map_source<S2: Clone>(self, f: impl FnOnce(Src) -> S2) -> ImageService<Stack<S2>> {
        self.map_stack(|stack| stack.map_render(|render| render.map_source(f)))
    }

    /// The source stack.
    pub fn source(&self) -> &Src {
        self.render.render().source()
    }

    /// Processing options: limits, encoder defaults.
    #[must_use]
    pub fn process_options(self, options: processing::Options) -> Self {
        self.map_core(|render| render.process_options(options))
    }

    /// Deadline of each source load (`IMAGOR_LOAD_TIMEOUT`; zero keeps 20 s).
    #[must_use]
    pub fn load_timeout(self, timeout: Duration) -> Self {
        self.map_core(|render| render.load_timeout(timeout))
    }

    /// Deadline of the pixel work (`IMAGOR_PROCESS_TIMEOUT`; zero keeps 20 s).
    #[must_use]
    pub fn process_timeout(self, timeout: Duration) -> Self {
        self.map_core(|render| render.process_timeout(timeout))
    }

    /// Keeps processed results in a storage, below coalescing and above admission (see
    /// [`ResultStorageLayer`]).
    #[must_use]
    pub fn result_storage(self, storage: ResultStorageLayer) -> Self {
        self.map_stack(|stack| stack.result_storage(Some(storage)))
    }

    /// Most requests loading and processing at once (`IMAGOR_PROCESS_CONCURRENCY`). At most
    /// as many pixel threads as CPUs run whatever this is. ≤ 0 (the default) means four per
    /// CPU, where imagor has no limit: each active request holds its source in memory.
    ///
    /// ```
    /// use imagor_tower::ImageService;
    ///
    /// // Two requests at once, ten more may wait, the rest answer 429.
    /// let service = ImageService::new().process_concurrency(2).process_queue_size(10);
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn process_concurrency(self, concurrency: i64) -> Self {
        self.map_admission(|layer| layer.concurrency(concurrency))
    }

    /// Requests allowed to wait for a place (`IMAGOR_PROCESS_QUEUE_SIZE`); beyond that, 429.
    /// With a concurrency limit, 0 means no waiting (imagor's rule). Without one, 0 keeps the
    /// default bound of 1000 waiting requests (imagor's queue is unbounded there).
    #[must_use]
    pub fn process_queue_size(self, queue_size: usize) -> Self {
        self.map_admission(|layer| layer.queue_size(queue_size))
    }

    /// The byte budget of pixel work in flight (`IMAGOR_PROCESS_MEMORY`): sources, decoded
    /// frames, filter buffers, overlays and outputs of every request being processed, as
    /// estimated from the sources' headers before any pixel is decoded. A request whose bytes
    /// are not free waits (its deadline still runs); one larger than the whole budget runs
    /// alone. 0 (the default) means a quarter of the machine's memory (or of the cgroup's
    /// limit), at least 256 MiB.
    ///
    /// ```
    /// use imagor_tower::ImageService;
    ///
    /// let service = ImageService::new().process_memory(512 << 20);
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn process_memory(self, bytes: u64) -> Self {
        self.map_admission(|layer| layer.memory(bytes))
    }

    fn map_admission(self, f: impl FnOnce(AdmissionLayer) -> AdmissionLayer) -> Self {
        self.map_stack(|stack| {
            let limits = stack.admission_limits();
            stack.admission(f(AdmissionLayer::with_limits(limits)))
        })
    }
}
