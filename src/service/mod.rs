//! [`ImageService`]: parse and verify an imagor URL, load the source, process it, answer.
//!
//! `ImageService<Src>` is a [`tower::Service`] over `http::Request<B>` whose `Error` is
//! [`Infallible`]: every failure has already become imagor's status and JSON body, so it mounts
//! directly in axum, hyper or warp. Hosts that render errors themselves call
//! [`ImageService::try_call`] and get a typed [`Error`].
//!
//! `Src` is the source stack: a `Service<SourceRequest, Response = Blob, Error = Error>`. A new
//! service has no source ([`NoSource`]); [`ImageService::loader`] (or
//! [`LoaderLayer`](crate::loader::LoaderLayer)) adds loaders, tried in order.
//!
//! Every request that loads a source is admitted first (imagor's `IMAGOR_PROCESS_CONCURRENCY`
//! and `IMAGOR_PROCESS_QUEUE_SIZE`, bounded by default; a full queue answers 429 at once), then
//! reserves the bytes its pixel work will hold from a shared budget
//! ([`process_memory`](ImageService::process_memory)), and runs on the service's own pixel
//! threads (never more than the CPUs), never on the async threads. Pixel work carries a
//! [`Cancel`](processing::Cancel) token that is set when the request's deadline passes or when
//! every client waiting for the result has gone; the work stops at its next check and gives
//! back its thread and bytes. Dropping the response future while it waits gives its place back.
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
//! let req = http::Request::get("/unsafe/16x16/red.png").body(()).unwrap();
//! let res = service.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["content-type"], "image/png");
//!
//! let req = http::Request::get("/unsafe/16x16/missing.png").body(()).unwrap();
//! let res = service.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 404);
//! # });
//! ```

mod admission;
mod coalesce;
mod future;
mod meta;
mod overlay;
mod response;
mod workers;

pub use future::ResponseFuture;

use crate::body::Body;
use crate::loader::{Fallback, NoSource, SourceRequest, is_image_content_type};
use crate::metrics::{Metrics, Stage};
use crate::path::{self, Filter, Params, Signer};
use crate::processing::{self, Cancel};
use crate::storage::store::Lookup;
use crate::storage::{Location, ResultStorageLayer};
use crate::{Blob, Error};
use admission::{Admission, AdmissionLimits, Ticket};
use coalesce::{Coalescer, Role, SharedError};
use futures::FutureExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use response::{CacheOverrides, CachePolicy};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tower::{Service, ServiceExt};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The core image service. See the [module docs](self).
pub struct ImageService<Src = NoSource> {
    source: Src,
    settings: Arc<Settings>,
    admission: Arc<Admission>,
    /// Identical requests in flight (SERVER.md §8.3). Every setter starts a fresh one, so
    /// differently configured services never share results.
    coalescer: Arc<Coalescer<Flown>>,
}

/// What a flight of identical requests shares.
type Flown = Result<Rendered, SharedError>;

#[derive(Clone, Debug)]
struct Settings {
    signer: Signer,
    unsafe_urls: bool,
    process: processing::Options,
    cache: CachePolicy,
    disable_error_body: bool,
    disable_params_endpoint: bool,
    base_path_redirect: Option<String>,
    base_params: Option<Params>,
    load_timeout: Duration,
    process_timeout: Duration,
    request_timeout: Duration,
    auto_webp: bool,
    auto_avif: bool,
    auto_jpeg: bool,
    admission: AdmissionLimits,
    result_store: Option<ResultStorageLayer>,
    metrics: Option<Metrics>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            signer: Signer::new(""),
            unsafe_urls: false,
            process: processing::Options::default(),
            cache: CachePolicy::default(),
            disable_error_body: false,
            disable_params_endpoint: false,
            base_path_redirect: None,
            base_params: None,
            load_timeout: DEFAULT_TIMEOUT,
            process_timeout: DEFAULT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            auto_webp: false,
            auto_avif: false,
            auto_jpeg: false,
            admission: AdmissionLimits::default(),
            result_store: None,
            metrics: None,
        }
    }
}

impl<Src: Clone> Clone for ImageService<Src> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            settings: Arc::clone(&self.settings),
            admission: Arc::clone(&self.admission),
            coalescer: Arc::clone(&self.coalescer),
        }
    }
}

impl<Src: std::fmt::Debug> std::fmt::Debug for ImageService<Src> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("source", &self.source)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for ImageService<NoSource> {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageService<NoSource> {
    /// A service with imagor's defaults and no source: signatures are checked (with an empty
    /// secret until [`signer`](Self::signer) sets one) and `unsafe/` URLs are refused.
    pub fn new() -> Self {
        let settings = Settings::default();
        let admission = Arc::new(Admission::new(settings.admission));
        Self {
            source: NoSource,
            settings: Arc::new(settings),
            admission,
            coalescer: Arc::default(),
        }
    }
}

impl<Src> ImageService<Src> {
    fn update(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(Arc::make_mut(&mut self.settings));
        self.coalescer = Arc::default();
        self
    }

    /// Adds `loader` to the source stack, tried after the sources already there.
    pub fn loader<L>(self, loader: L) -> ImageService<Fallback<Src, L>> {
        self.map_source(|source| Fallback::new(source, loader))
    }

    /// Replaces the source stack with `f(source)`: wrap it in any tower layer (timeouts,
    /// retries, a storage cache).
    pub fn map_source<S2>(self, f: impl FnOnce(Src) -> S2) -> ImageService<S2> {
        ImageService {
            source: f(self.source),
            settings: self.settings,
            admission: self.admission,
            coalescer: Arc::default(),
        }
    }

    /// The source stack.
    pub fn source(&self) -> &Src {
        &self.source
    }

    /// The URL signer (`IMAGOR_SECRET`, `IMAGOR_SIGNER_TYPE`, `IMAGOR_SIGNER_TRUNCATE`).
    #[must_use]
    pub fn signer(self, signer: Signer) -> Self {
        self.update(|s| s.signer = signer)
    }

    /// Accept `/unsafe/...` URLs without a signature (`IMAGOR_UNSAFE`).
    #[must_use]
    pub fn unsafe_urls(self, enabled: bool) -> Self {
        self.update(|s| s.unsafe_urls = enabled)
    }

    /// Processing options: limits, encoder defaults.
    #[must_use]
    pub fn process_options(self, options: processing::Options) -> Self {
        self.update(|s| s.process = options)
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

    /// Deadline of each source load (`IMAGOR_LOAD_TIMEOUT`; zero keeps 20 s).
    #[must_use]
    pub fn load_timeout(self, timeout: Duration) -> Self {
        self.update(|s| s.load_timeout = non_zero_or(timeout, DEFAULT_TIMEOUT))
    }

    /// Deadline of the pixel work (`IMAGOR_PROCESS_TIMEOUT`; zero keeps 20 s).
    #[must_use]
    pub fn process_timeout(self, timeout: Duration) -> Self {
        self.update(|s| s.process_timeout = non_zero_or(timeout, DEFAULT_TIMEOUT))
    }

    /// Deadline of the whole request (`IMAGOR_REQUEST_TIMEOUT`; zero keeps 30 s).
    #[must_use]
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.update(|s| s.request_timeout = non_zero_or(timeout, DEFAULT_REQUEST_TIMEOUT))
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

    /// Keeps processed results in a storage (see
    /// [`ResultStorageLayer`](crate::storage::ResultStorageLayer), which calls this).
    #[must_use]
    pub fn result_storage(self, storage: ResultStorageLayer) -> Self {
        self.update(|s| s.result_store = Some(storage))
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
        let this = self.update(|s| s.admission.concurrency = concurrency);
        this.rebuild_admission()
    }

    /// Requests allowed to wait for a place (`IMAGOR_PROCESS_QUEUE_SIZE`); beyond that, 429.
    /// With a concurrency limit, 0 means no waiting (imagor's rule). Without one, 0 keeps the
    /// default bound of 1000 waiting requests (imagor's queue is unbounded there).
    #[must_use]
    pub fn process_queue_size(self, queue_size: usize) -> Self {
        let this = self.update(|s| s.admission.queue = queue_size);
        this.rebuild_admission()
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
        let this = self.update(|s| s.admission.memory = bytes);
        this.rebuild_admission()
    }

    /// Records request counts, stage latencies, storage outcomes and queue depth in `metrics`
    /// (see [`MetricsLayer`](crate::metrics::MetricsLayer)).
    #[must_use]
    pub fn metrics(self, metrics: Metrics) -> Self {
        self.update(|s| s.metrics = Some(metrics))
    }

    fn rebuild_admission(mut self) -> Self {
        self.admission = Arc::new(Admission::new(self.settings.admission));
        self
    }
}

fn non_zero_or(value: Duration, default: Duration) -> Duration {
    if value.is_zero() { default } else { value }
}

/// What a request head carries into the async flow.
#[derive(Debug)]
struct Head {
    method: Method,
    path: String,
    headers: HeaderMap,
}

impl<Src> ImageService<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
{
    /// Answers `req`, returning failures as typed errors instead of error responses.
    pub fn try_call<B>(
        &self,
        req: Request<B>,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'static {
        let this = self.clone();
        let (parts, _body) = req.into_parts();
        let head = Head {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
        };
        async move { this.handle(head).await }
    }

    async fn handle(self, head: Head) -> Result<Response<Body>, Error> {
        if head.method != Method::GET && head.method != Method::HEAD {
            return Err(Error::MethodNotAllowed);
        }
        let is_head = head.method == Method::HEAD;
        let trimmed = head.path.trim_start_matches('/');
        if trimmed.is_empty() {
            return Ok(self.landing(is_head));
        }
        if head.path == "/healthcheck" || head.path == "/favicon.ico" {
            return Ok(response::bytes_response(
                "text/plain",
                bytes::Bytes::new(),
                is_head,
            ));
        }
        let deadline = self.settings.request_timeout;
        tokio::time::timeout(deadline, async {
            match self.attempt(&head.path, &head).await {
                Err(err @ (Error::Invalid | Error::SignatureMismatch)) => {
                    match path::query_unescape(&head.path) {
                        Some(decoded) if decoded != head.path => {
                            self.attempt(&decoded, &head).await
                        }
                        _ => Err(err),
                    }
                }
                other => other,
            }
        })
        .await?
    }

    fn landing(&self, head: bool) -> Response<Body> {
        if let Some(url) = &self.settings.base_path_redirect {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            if let Ok(v) = HeaderValue::from_str(url) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            return res;
        }
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>imagor-tower</title></head>\
             <body><h1>imagor-tower</h1><p>version {}</p>\
             <p>imagor-compatible image service. Example: <code>/unsafe/300x200/image.jpg</code></p>\
             </body></html>",
            env!("CARGO_PKG_VERSION")
        );
        response::bytes_response("text/html; charset=utf-8", page.into(), head)
    }

    fn verify(&self, params: &Params) -> Result<(), Error> {
        let settings = &self.settings;
        if settings.unsafe_urls && params.is_unsafe {
            return Ok(());
        }
        if params.path.is_empty() {
            return Ok(());
        }
        if !params.is_unsafe && settings.signer.verify(&params.path, &params.hash) {
            return Ok(());
        }
        Err(Error::SignatureMismatch)
    }

    async fn attempt(&self, raw_path: &str, head: &Head) -> Result<Response<Body>, Error> {
        let settings = &self.settings;
        let metrics = settings.metrics.as_ref();
        let is_head = head.method == Method::HEAD;
        let mut params = Stage::Parse.run_sync(metrics, || path::parse(raw_path));
        if params.params_endpoint {
            let body = if settings.disable_params_endpoint {
                String::new()
            } else {
                params.to_params_json()
            };
            return Ok(response::bytes_response(
                "application/json",
                body.into(),
                is_head,
            ));
        }
        self.verify(&params)?;
        if let Some(base) = &settings.base_params {
            merge_base_params(&mut params, base);
        }
        let utility = UtilityFilters::take(&mut params, SystemTime::now())?;
        let negotiated = self.negotiate_format(&mut params, &head.headers);
        params.path = params.generate();
        if params.image.is_empty() {
            return Err(Error::NotFound);
        }
        if params.meta {
            return self.meta_response(&params, head).await;
        }
        if utility.raw && !processing::is_color_source(&params.image) {
            let blob = Stage::Load
                .run(metrics, self.load(&params.image, head.headers.clone()))
                .await?;
            return self.raw_response(&blob, &utility, &head.headers, is_head);
        }

        let preview = params.filters.iter().any(|f| f.name == "preview");
        let result_slot = match &settings.result_store {
            Some(results) if !preview => {
                let key = results.style.key(&params);
                results.store.locate(&key, &params.image)
            }
            _ => None,
        };
        let rendered = if preview {
            // SERVER.md §8.3: only requests with a result key are coalesced.
            self.clone()
                .render(params.clone(), head.headers.clone(), result_slot)
                .await?
        } else {
            // The canonical path, after base params and format negotiation, is the result key;
            // requests with other credentials never share a load.
            let key = flight_key(&params.path, &head.headers);
            let (flight, role) = self.coalescer.join(&key, || {
                self.clone()
                    .render(params.clone(), head.headers.clone(), result_slot)
                    .map(|outcome| outcome.map_err(SharedError::from))
                    .boxed()
            });
            if role == Role::Follower
                && let Some(metrics) = metrics
            {
                metrics.coalesced();
            }
            flight.await.map_err(Error::from)?
        };
        Ok(self.image_response(rendered, &params, &utility, negotiated, head))
    }

    /// Admits a request before it loads anything: 429 at once when the queue is full, else a
    /// wait for an active place (counted as queued when metrics are on).
    async fn admit(&self) -> Result<Ticket, Error> {
        let queued = self.settings.metrics.as_ref().map(Metrics::queued);
        let ticket = self.admission.admit().await;
        drop(queued);
        ticket
    }

    /// Runs the pixel work of an admitted request, as the `process` stage: reserves `bytes` of
    /// the budget, waits for a pixel thread and runs `work` there, all within the process
    /// timeout. When the timeout fires, `cancel` is set so that the work stops.
    async fn process_blocking<T, E>(
        &self,
        ticket: Ticket,
        bytes: u64,
        cancel: &Cancel,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        E: Send + 'static,
        Error: From<E>,
    {
        let metrics = self.settings.metrics.as_ref();
        let _stop = CancelOnDrop(cancel.clone());
        Stage::Process
            .run(metrics, async {
                let job = async {
                    let reservation = self.admission.reserve(bytes).await?;
                    self.admission
                        .run((ticket, reservation), cancel, work)
                        .await
                };
                let output = tokio::time::timeout(self.settings.process_timeout, job).await???;
                Ok(output)
            })
            .await
    }

    /// Loads `image` through the source stack, within the load timeout.
    async fn load(&self, image: &str, headers: HeaderMap) -> Result<Blob, Error> {
        let request = SourceRequest::new(image.to_owned()).with_headers(headers);
        tokio::time::timeout(
            self.settings.load_timeout,
            self.source.clone().oneshot(request),
        )
        .await?
    }

    /// The work identical requests share: result-storage lookup, load, processing, and the
    /// background result-storage write.
    async fn render(
        self,
        params: Params,
        headers: HeaderMap,
        result_slot: Option<Location>,
    ) -> Result<Rendered, Error> {
        let settings = &self.settings;
        let metrics = settings.metrics.as_ref();
        let results = settings.result_store.as_ref();
        if let (Some(results), Some(location)) = (results, &result_slot) {
            let lookup = Stage::ResultLookup
                .run(metrics, results.store.get(location))
                .await;
            if let Some(metrics) = metrics {
                metrics.result_storage_lookup(matches!(lookup, Lookup::Hit(_)));
            }
            if let Lookup::Hit(stored) = lookup {
                let content_type = stored
                    .content_type()
                    .map(str::to_owned)
                    .or_else(|| {
                        processing::Format::sniff(stored.bytes())
                            .map(|f| f.content_type().to_owned())
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                return Ok(Rendered {
                    modified: stored.stat().and_then(crate::blob::Stat::modified),
                    content_type,
                    upstream: HeaderMap::new(),
                    bytes: stored.into_bytes(),
                });
            }
        }

        // Set when this work is dropped: its deadline passed or every client waiting for it left.
        let cancel = Cancel::new();
        let _stop = CancelOnDrop(cancel.clone());
        let ticket = self.admit().await?;
        let (input, upstream, source_modified) = if processing::is_color_source(&params.image) {
            (None, HeaderMap::new(), None)
        } else {
            let blob = Stage::Load
                .run(metrics, self.load(&params.image, headers.clone()))
                .await?;
            let upstream = blob.headers().clone();
            let modified = blob.stat().and_then(crate::blob::Stat::modified);
            (Some(blob.into_bytes()), upstream, modified)
        };

        let overlays = self.load_overlays(&params, &headers).await?;
        let options = settings
            .process
            .clone()
            .overlays(overlays)
            .cancel(cancel.clone());
        let bytes = estimated_bytes(input.as_deref(), &params, &options);
        let output = self
            .process_blocking(ticket, bytes, &cancel, move || match input {
                Some(input) => processing::process(&input, &params, &options),
                None => processing::process_color(&params, &options),
            })
            .await?;
        Stage::Encode.record(metrics, output.timings().encode());

        let content_type = output.format().content_type().to_owned();
        let bytes = bytes::Bytes::from(output.into_bytes());
        if let (Some(results), Some(location)) = (results, result_slot) {
            let stored = Blob::new(bytes.clone()).with_content_type(content_type.clone());
            let write = results.store.put(location, stored);
            let metrics = self.settings.metrics.clone();
            tokio::spawn(async move { Stage::Store.run(metrics.as_ref(), write).await });
        }
        Ok(Rendered {
            bytes,
            content_type,
            modified: source_modified,
            upstream,
        })
    }

    /// The success response for an image or result: body, content headers, caching headers,
    /// validators, and the conditional-request outcome (304/412).
    fn image_response(
        &self,
        rendered: Rendered,
        params: &Params,
        utility: &UtilityFilters,
        negotiated: bool,
        head: &Head,
    ) -> Response<Body> {
        let is_head = head.method == Method::HEAD;
        let etag = response::etag_of(&rendered.bytes);
        let modified = rendered.modified.unwrap_or_else(SystemTime::now);
        let precondition = response::evaluate_preconditions(&head.headers, &etag, modified);
        let mut res = match precondition {
            Some(status) => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = status;
                res
            }
            None => response::bytes_response(&rendered.content_type, rendered.bytes, is_head),
        };
        let status = res.status();
        let headers = res.headers_mut();
        if status == StatusCode::PRECONDITION_FAILED {
            return res;
        }
        self.cache_headers(headers, &utility.cache, &head.headers);
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
            headers.insert(header::LAST_MODIFIED, v);
        }
        if negotiated {
            headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        }
        if status == StatusCode::NOT_MODIFIED {
            return res;
        }
        let disposition = match &utility.attachment {
            Some(name) => {
                let ext = response::extension_for(&rendered.content_type);
                response::attachment_disposition(name, &params.image, ext)
            }
            None => "inline".to_owned(),
        };
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        override_headers(headers, &rendered.upstream);
        res
    }

    fn cache_headers(
        &self,
        headers: &mut HeaderMap,
        overrides: &CacheOverrides,
        request: &HeaderMap,
    ) {
        let (cache_control, expires) =
            response::cache_headers(&self.settings.cache, overrides, request, SystemTime::now());
        if let Ok(v) = HeaderValue::from_str(&cache_control) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        if let Ok(v) = HeaderValue::from_str(&expires) {
            headers.insert(header::EXPIRES, v);
        }
    }

    /// `raw()`: the source as it is, only when it is an image. The type comes from the bytes
    /// when the engine knows their format, else from the source's own `image/...` type; other
    /// content (HTML, scripts, JSON from an upstream) answers 406, so a `raw()` URL can never
    /// serve a page from this origin.
    fn raw_response(
        &self,
        blob: &Blob,
        utility: &UtilityFilters,
        request: &HeaderMap,
        head: bool,
    ) -> Result<Response<Body>, Error> {
        let content_type = processing::Format::sniff(blob.bytes())
            .map(|f| f.content_type().to_owned())
            .or_else(|| {
                blob.content_type()
                    .filter(|declared| is_image_content_type(declared))
                    .map(str::to_owned)
            })
            .ok_or(Error::UnsupportedFormat)?;
        let mut res = response::bytes_response(&content_type, blob.bytes().clone(), head);
        let headers = res.headers_mut();
        self.cache_headers(headers, &utility.cache, request);
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'none'"),
        );
        override_headers(headers, blob.headers());
        // An upstream `Content-Type` copied by the override above must still be an image.
        if !headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_image_content_type)
        {
            return Err(Error::UnsupportedFormat);
        }
        Ok(res)
    }

    /// SERVER.md §6.4: append `format(...)` from the `Accept` header when enabled and the URL
    /// has no `format()`. Returns whether negotiation ran (so `Vary: Accept` is due).
    fn negotiate_format(&self, params: &mut Params, request: &HeaderMap) -> bool {
        let s = &self.settings;
        if !(s.auto_avif || s.auto_webp || s.auto_jpeg) {
            return false;
        }
        if params.filters.iter().any(|f| f.name == "format") {
            return false;
        }
        let accept: String = request
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let avif_ok = s.auto_avif
            && accept.contains("image/avif")
            && processing::Format::from_name("avif").is_some_and(processing::Format::can_encode);
        if avif_ok {
            params.filters.push(Filter::new("format", "avif"));
            if s.auto_webp && accept.contains("image/webp") {
                params.filters.push(Filter::new("fallback_format", "webp"));
            }
        } else if s.auto_webp && accept.contains("image/webp") {
            params.filters.push(Filter::new("format", "webp"));
        } else if s.auto_jpeg
            && (accept.is_empty()
                || accept.contains("image/jpeg")
                || accept.contains("image/*")
                || accept.contains("*/*"))
        {
            params.filters.push(Filter::new("format", "jpeg"));
        }
        true
    }
}

/// The coalescing key of a request: its canonical path, and a digest of the credentials a
/// loader may forward (`Authorization`, `Cookie`), so that a load made with one client's
/// credentials is never shared with a client that sent other ones (or none).
fn flight_key(path: &str, headers: &HeaderMap) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    let mut any = false;
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for value in headers.get_all(&name) {
            any = true;
            digest.update(name.as_str().as_bytes());
            digest.update(b":");
            digest.update(value.as_bytes());
            digest.update(b"\n");
        }
    }
    if !any {
        return path.to_owned();
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{path}\n{hex}")
}

/// The bytes the pixel work of a request will hold, from its sources' headers (see
/// [`processing::estimate`]). A source whose header cannot be read reserves its own size:
/// processing will refuse it at once.
fn estimated_bytes(input: Option<&[u8]>, params: &Params, options: &processing::Options) -> u64 {
    let estimate = match input {
        Some(input) => processing::estimate(input, params, options),
        None => processing::estimate_color(params, options),
    };
    estimate.map_or_else(
        |_| input.map_or(0, |i| i.len() as u64),
        |estimate| estimate.peak_bytes(),
    )
}

/// Sets its token when dropped: the work that holds it has finished, timed out or been
/// abandoned, and pixel work still running for it should stop.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Upstream headers named in `HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS` win over ours, except the
/// length, which must describe the body we send.
fn override_headers(headers: &mut HeaderMap, upstream: &HeaderMap) {
    for name in upstream.keys() {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        headers.remove(name);
        for value in upstream.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// A finished image: fresh from processing or from result storage.
#[derive(Clone, Debug)]
struct Rendered {
    bytes: bytes::Bytes,
    content_type: String,
    /// The source's (fresh render) or the stored result's modification time.
    modified: Option<SystemTime>,
    /// Upstream headers to copy onto the response.
    upstream: HeaderMap,
}

/// The filters the service handles itself (FILTERS.md §9).
#[derive(Debug, Default)]
struct UtilityFilters {
    cache: CacheOverrides,
    attachment: Option<String>,
    raw: bool,
}

impl UtilityFilters {
    /// Reads `expire`, `max_age`, `attachment` and `raw`, removes the first three from the
    /// filter list, and fails with 410 when an `expire` time has passed.
    fn take(params: &mut Params, now: SystemTime) -> Result<Self, Error> {
        let mut out = Self::default();
        let now_ms = response::unix_millis(now);
        for filter in &params.filters {
            match filter.name.as_str() {
                "expire" => {
                    if let Ok(ms) = filter.args.trim().parse::<i64>() {
                        if now_ms > ms {
                            return Err(Error::Expired);
                        }
                        out.cache.expire_ms = Some(out.cache.expire_ms.map_or(ms, |e| e.min(ms)));
                    }
                }
                "max_age" => {
                    if let Ok(secs) = filter.args.trim().parse::<u64>() {
                        out.cache.max_age = Some(secs);
                    }
                }
                "attachment" => out.attachment = Some(filter.args.clone()),
                "raw" => out.raw = true,
                _ => {}
            }
        }
        params
            .filters
            .retain(|f| !matches!(f.name.as_str(), "expire" | "max_age" | "attachment"));
        Ok(out)
    }
}

/// URL.md §7: fields the base params set override the request's; its filters come after.
fn merge_base_params(params: &mut Params, base: &Params) {
    let d = Params::default();
    macro_rules! take {
        ($($field:ident),*) => {$(
            if base.$field != d.$field {
                params.$field = base.$field.clone();
            }
        )*};
    }
    take!(
        meta,
        trim,
        trim_by,
        trim_tolerance,
        crop_left,
        crop_top,
        crop_right,
        crop_bottom,
        fit_in,
        adaptive_fit_in,
        full_fit_in,
        stretch,
        width,
        height,
        padding_left,
        padding_top,
        padding_right,
        padding_bottom,
        h_flip,
        v_flip,
        h_align,
        v_align,
        smart
    );
    params.filters.extend(base.filters.iter().cloned());
}

impl<Src, B> Service<Request<B>> for ImageService<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let is_head = req.method() == Method::HEAD;
        let disable_body = self.settings.disable_error_body;
        let observed = self
            .settings
            .metrics
            .clone()
            .map(|metrics| (metrics, req.method().clone(), Instant::now()));
        let fut = self.try_call(req);
        ResponseFuture::new(Box::pin(async move {
            let res = match fut.await {
                Ok(res) => res,
                Err(err) => {
                    if err.status().is_server_error() {
                        tracing::error!(error = %err, "request failed");
                    } else {
                        tracing::debug!(error = %err, "request refused");
                    }
                    response::error_response(&err, disable_body, is_head)
                }
            };
            if let Some((metrics, method, started)) = observed {
                metrics.observe_request(&method, res.status(), started.elapsed());
            }
            res
        }))
    }
}
