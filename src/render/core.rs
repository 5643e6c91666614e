//! [`Render`]: the core of the render stack. Loads the source and the overlays from the
//! source stack, and runs the pixel work on the pixel threads.

use super::limits::{Admitted, Budget, Reservation};
use super::workers::Workers;
use super::{ImageRequest, Output, Rendered};
use crate::loader::{Fallback, NoSource, SourceRequest, is_image_content_type};
use crate::metrics::{Metrics, Stage};
use crate::path::Params;
use crate::processing::{self, Cancel, Overlays};
use crate::{Blob, Error};
use futures::future::BoxFuture;
use http::HeaderMap;
use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// The default deadline of a source load and of the pixel work.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Renders [`ImageRequest`]s: loads the source from the source stack `Src` (and the sources of
/// `watermark(...)` and `image(...)` overlays, through the same stack), then decodes,
/// processes and encodes on the pixel threads, never on the async threads.
///
/// `Src` is a `Service<SourceRequest, Response = Blob, Error = Error>`: loaders
/// ([`FileLoader`](crate::loader::FileLoader), [`HttpLoader`](crate::loader::HttpLoader), the
/// S3 loader), storages around them, or any tower service of that shape.
///
/// Pixel work carries a [`Cancel`] token that is set when the process timeout fires or the
/// response future is dropped (the client left, or every client of a coalesced flight did);
/// the work stops at its next check and gives back its thread and bytes. The bytes are
/// reserved from the budget of the [`AdmissionLayer`](super::AdmissionLayer) above, or, with
/// none, from a default budget of this service's own (a quarter of the memory).
///
/// # Example
///
/// ```
/// use imagor_tower::{Blob, Error, path};
/// use imagor_tower::loader::{SourceRequest, service_fn_loader};
/// use imagor_tower::render::{ImageRequest, Render};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let png = {
///     let mut bytes = Vec::new();
///     let img = image::RgbImage::from_pixel(64, 32, image::Rgb([200, 30, 30]));
///     img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
///     bytes
/// };
/// let loader = service_fn_loader(move |req: SourceRequest| {
///     let png = png.clone();
///     async move {
///         if req.key() == "red.png" { Ok(Blob::new(png)) } else { Err(Error::NotFound) }
///     }
/// });
/// let render = Render::new(loader);
///
/// let request = ImageRequest::new(path::parse("unsafe/16x8/filters:format(webp)/red.png"));
/// let rendered = render.clone().oneshot(request).await.unwrap();
/// assert_eq!(rendered.content_type(), "image/webp");
///
/// let missing = ImageRequest::new(path::parse("unsafe/16x8/blue.png"));
/// assert!(matches!(render.oneshot(missing).await, Err(Error::NotFound)));
/// # });
/// ```
pub struct Render<Src = NoSource> {
    source: Src,
    settings: Arc<Settings>,
    pool: Arc<Pool>,
}

#[derive(Clone, Debug)]
struct Settings {
    process: processing::Options,
    load_timeout: Duration,
    process_timeout: Duration,
}

impl<Src: Clone> Clone for Render<Src> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            settings: Arc::clone(&self.settings),
            pool: Arc::clone(&self.pool),
        }
    }
}

impl<Src: std::fmt::Debug> std::fmt::Debug for Render<Src> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Render")
            .field("source", &self.source)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Render<NoSource> {
    fn default() -> Self {
        Self::new(NoSource)
    }
}

impl<Src> Render<Src> {
    /// Renders sources loaded from `source`, with the default processing options and 20 s
    /// load and process deadlines.
    pub fn new(source: Src) -> Self {
        Self {
            source,
            settings: Arc::new(Settings {
                process: processing::Options::default(),
                load_timeout: DEFAULT_TIMEOUT,
                process_timeout: DEFAULT_TIMEOUT,
            }),
            pool: Arc::new(Pool::new()),
        }
    }

    /// The source stack.
    pub fn source(&self) -> &Src {
        &self.source
    }

    /// Replaces the source stack with `f(source)`: wrap it in any tower layer (timeouts,
    /// retries, a storage cache). The pixel threads stay shared.
    pub fn map_source<S2>(self, f: impl FnOnce(Src) -> S2) -> Render<S2> {
        Render {
            source: f(self.source),
            settings: self.settings,
            pool: self.pool,
        }
    }

    /// Adds `loader` to the source stack, tried after the sources already there.
    pub fn loader<L>(self, loader: L) -> Render<Fallback<Src, L>> {
        self.map_source(|source| Fallback::new(source, loader))
    }

    /// Processing options: limits, encoder defaults.
    #[must_use]
    pub fn process_options(mut self, options: processing::Options) -> Self {
        Arc::make_mut(&mut self.settings).process = options;
        self
    }

    /// The processing options.
    pub fn options(&self) -> &processing::Options {
        &self.settings.process
    }

    /// Deadline of each source load (`IMAGOR_LOAD_TIMEOUT`; zero keeps 20 s).
    #[must_use]
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.settings).load_timeout = non_zero_or(timeout, DEFAULT_TIMEOUT);
        self
    }

    /// Deadline of the pixel work, waiting for bytes and a thread included
    /// (`IMAGOR_PROCESS_TIMEOUT`; zero keeps 20 s).
    #[must_use]
    pub fn process_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.settings).process_timeout = non_zero_or(timeout, DEFAULT_TIMEOUT);
        self
    }

    /// The pixel threads this service may start.
    #[cfg(test)]
    pub(crate) fn max_threads(&self) -> usize {
        self.pool.threads.limit()
    }
}

/// `value`, or `default` when `value` is zero.
pub(crate) fn non_zero_or(value: Duration, default: Duration) -> Duration {
    if value.is_zero() { default } else { value }
}

impl<Src> Service<ImageRequest> for Render<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
{
    type Response = Rendered;
    type Error = Error;
    type Future = ResponseFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ImageRequest) -> ResponseFuture {
        let this = self.clone();
        ResponseFuture {
            inner: Box::pin(async move { this.render(req).await }),
        }
    }
}

/// Response future of [`Render`].
#[pin_project]
pub struct ResponseFuture {
    #[pin]
    inner: BoxFuture<'static, Result<Rendered, Error>>,
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Rendered, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<Src> Render<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
{
    async fn render(self, req: ImageRequest) -> Result<Rendered, Error> {
        let metrics = req.metrics.as_ref();
        match req.output() {
            Output::Raw => {
                let blob = match req.upload() {
                    Some(upload) => upload.clone(),
                    None => {
                        Stage::Load
                            .run(metrics, self.load(req.image(), req.headers().clone()))
                            .await?
                    }
                };
                raw(blob)
            }
            Output::Meta | Output::Image => self.process(req).await,
        }
    }

    /// Loads the sources of `req` and runs its pixel work.
    async fn process(&self, req: ImageRequest) -> Result<Rendered, Error> {
        let metrics = req.metrics.clone();
        let metrics = metrics.as_ref();
        let params = req.params().clone();
        let is_meta = req.output() == Output::Meta;
        // Set when this work is dropped: its deadline passed or every client waiting for it
        // left.
        let cancel = Cancel::new();
        let _stop = CancelOnDrop(cancel.clone());
        let (input, upstream, source_modified) = if let Some(upload) = req.upload() {
            (Some(upload.bytes().clone()), HeaderMap::new(), None)
        } else if processing::is_color_source(&params.image) {
            (None, HeaderMap::new(), None)
        } else {
            let blob = Stage::Load
                .run(metrics, self.load(&params.image, req.headers().clone()))
                .await?;
            let upstream = blob.headers().clone();
            let modified = blob.stat().and_then(crate::blob::Stat::modified);
            (Some(blob.into_bytes()), upstream, modified)
        };
        let overlays = if is_meta {
            Overlays::new()
        } else {
            self.load_overlays(&params, req.headers()).await?
        };
        let options = self
            .settings
            .process
            .clone()
            .overlays(overlays)
            .cancel(cancel.clone());
        let bytes = estimated_bytes(input.as_deref(), &params, &options);
        let budget = match &req.admitted {
            Some(admitted) => admitted.budget().clone(),
            None => self.pool.budget.clone(),
        };
        let held = req.admitted.clone();
        // The pixel thread answers the finished `Rendered` and, for images, the encoder's time.
        let work = move || -> Result<(Rendered, Option<Duration>), processing::ProcessError> {
            if is_meta {
                let meta = match input {
                    Some(input) => processing::metadata(&input, &params, &options),
                    None => processing::metadata_color(&params, &options),
                }?;
                return Ok((Rendered::new(meta.to_json(), "application/json"), None));
            }
            let output = match input {
                Some(input) => processing::process(&input, &params, &options),
                None => processing::process_color(&params, &options),
            }?;
            let encode = output.timings().encode();
            let content_type = output.format().content_type().to_owned();
            Ok((
                Rendered::new(output.into_bytes(), content_type),
                Some(encode),
            ))
        };
        let (rendered, encode) = self
            .run(metrics, held, &budget, bytes, &cancel, work)
            .await?;
        if let Some(encode) = encode {
            Stage::Encode.record(metrics, encode);
        }
        let rendered = if is_meta {
            rendered
        } else {
            rendered.with_headers(upstream)
        };
        Ok(match source_modified {
            Some(modified) => rendered.with_modified(modified),
            None => rendered,
        })
    }

    /// Runs pixel work as the `process` stage: reserves `bytes` of `budget`, waits for a pixel
    /// thread and runs `work` there, all within the process timeout. When the timeout fires,
    /// `cancel` is set so that the work stops. `held` (the request's admission) is kept until
    /// the work ends, even when the caller stops waiting for it.
    async fn run<T, E>(
        &self,
        metrics: Option<&Metrics>,
        held: Option<Arc<Admitted>>,
        budget: &Budget,
        bytes: u64,
        cancel: &Cancel,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        E: Send + 'static,
        Error: From<E>,
    {
        let _stop = CancelOnDrop(cancel.clone());
        Stage::Process
            .run(metrics, async {
                let job = async {
                    let reservation = budget.reserve(bytes).await?;
                    self.pool.run((held, reservation), cancel, work).await
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

    /// Loads every overlay source `params` needs, all at once, each under the load timeout;
    /// empty when it has no overlay filters. A missing overlay source fails the request as the
    /// loader does (404 for an unknown key); `image()` paths nested deeper than
    /// [`processing::MAX_DEPTH`] levels answer 400.
    async fn load_overlays(&self, params: &Params, headers: &HeaderMap) -> Result<Overlays, Error> {
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

/// `raw()`: the source as it is, only when it is an image. The type comes from the bytes when
/// the engine knows their format, else from the source's own `image/...` type; other content
/// (HTML, scripts, JSON from an upstream) answers 406, so a `raw()` URL can never serve a page.
fn raw(blob: Blob) -> Result<Rendered, Error> {
    let content_type = processing::Format::sniff(blob.bytes())
        .map(|f| f.content_type().to_owned())
        .or_else(|| {
            blob.content_type()
                .filter(|declared| is_image_content_type(declared))
                .map(str::to_owned)
        })
        .ok_or(Error::UnsupportedFormat)?;
    let headers = blob.headers().clone();
    Ok(Rendered::new(blob.into_bytes(), content_type).with_headers(headers))
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

/// The pixel threads of a [`Render`] and every clone of it, and the byte budget requests use
/// when no [`AdmissionLayer`](super::AdmissionLayer) admitted them.
#[derive(Debug)]
struct Pool {
    /// As many permits as pixel threads: a job is handed over only when a thread is free, so
    /// that a job cancelled while it waits never starts.
    permits: Arc<Semaphore>,
    threads: Workers,
    budget: Budget,
}

impl Pool {
    fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cpus)),
            threads: Workers::new(cpus),
            budget: Budget::new(0),
        }
    }

    /// Runs `work` on a pixel thread once one is free. `held` is kept until the work ends;
    /// work whose `cancel` is set before a thread takes it never starts.
    async fn run<T: Send + 'static>(
        &self,
        held: (Option<Arc<Admitted>>, Reservation),
        cancel: &Cancel,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("worker pool closed"))?;
        let cancel = cancel.clone();
        self.threads
            .run(move || {
                let _held = (held, permit);
                if cancel.is_cancelled() {
                    return None;
                }
                Some(work())
            })
            .await?
            .ok_or(Error::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn pixel_threads_never_exceed_the_cpus() {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        assert_eq!(Render::new(NoSource).max_threads(), cpus);
    }

    #[tokio::test]
    async fn work_cancelled_before_it_starts_never_runs() {
        let pool = Pool::new();
        let ran = Arc::new(AtomicBool::new(false));
        let cancel = Cancel::new();
        cancel.cancel();
        let reservation = pool.budget.reserve(1).await.unwrap();
        let flag = Arc::clone(&ran);
        let outcome = pool
            .run((None, reservation), &cancel, move || {
                flag.store(true, Ordering::SeqCst)
            })
            .await;
        assert!(matches!(outcome, Err(Error::Timeout)));
        assert!(!ran.load(Ordering::SeqCst));
    }
}
