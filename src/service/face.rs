//! What [`ImageService`] does with an HTTP request: route it, check it, build the
//! [`ImageRequest`], call the render stack, and answer.

use super::negotiate::{merge_base_params, negotiate_format};
use super::response::{self, CacheOverrides};
use super::{ImageService, ResponseFuture, Settings};
use crate::body::Body;
use crate::error::BoxError;
use crate::loader::{Upload, UploadLoader, is_image_content_type};
use crate::metrics::{Metrics, Stage};
use crate::path::{self, Params};
use crate::render::{ImageRequest, Output, Rendered, ServiceFilters};
use crate::storage::ResultStorage;
use crate::{Blob, Error};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};
use tower::{Layer, Service, ServiceExt};

/// What a request head carries into the async flow.
#[derive(Debug)]
struct Head {
    method: Method,
    path: String,
    headers: HeaderMap,
    /// Given by a [`MetricsLayer`](crate::metrics::MetricsLayer) around the service.
    metrics: Option<Metrics>,
}

impl<R> ImageService<R>
where
    R: Service<ImageRequest, Response = Rendered> + Clone + Send + 'static,
    R::Error: Into<Error>,
    R::Future: Send + 'static,
{
    /// Answers `req`, returning failures as typed errors instead of error responses.
    ///
    /// The body is read only for a `POST` with an
    /// [upload loader](ImageService::upload_loader); every other body is dropped unread.
    pub fn try_call<B>(
        &self,
        req: Request<B>,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'static
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let this = self.clone();
        let (parts, body) = req.into_parts();
        let upload = match &this.settings.upload {
            Some(loader) if parts.method == Method::POST => {
                UploadState::Unread(loader.clone(), Upload::new(parts.headers.clone(), body))
            }
            _ => UploadState::None,
        };
        let head = Head {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            metrics: parts.extensions.get::<Metrics>().cloned(),
            headers: parts.headers,
        };
        async move { this.handle(head, upload).await }
    }

    async fn handle(self, head: Head, mut upload: UploadState) -> Result<Response<Body>, Error> {
        // The render stack moves into the future: it need not be `Sync`.
        let ImageService { render, settings } = self;
        let is_upload = head.method == Method::POST && settings.upload.is_some();
        if head.method != Method::GET && head.method != Method::HEAD && !is_upload {
            return Err(Error::MethodNotAllowed);
        }
        let is_head = head.method == Method::HEAD;
        let trimmed = head.path.trim_start_matches('/');
        if trimmed.is_empty() && !is_upload {
            return Ok(settings.landing(is_head));
        }
        if !is_upload && (head.path == "/healthcheck" || head.path == "/favicon.ico") {
            return Ok(response::bytes_response(
                "text/plain",
                bytes::Bytes::new(),
                is_head,
            ));
        }
        let deadline = settings.request_timeout;
        tokio::time::timeout(deadline, async {
            match attempt(&settings, render.clone(), &head.path, &head, &mut upload).await {
                Err(err @ (Error::Invalid | Error::SignatureMismatch)) => {
                    match path::query_unescape(&head.path) {
                        Some(decoded) if decoded != head.path => {
                            attempt(&settings, render, &decoded, &head, &mut upload).await
                        }
                        _ => Err(err),
                    }
                }
                other => other,
            }
        })
        .await?
    }
}

/// The body of an upload, read at most once across the readings of the path.
enum UploadState {
    /// Not an upload.
    None,
    /// An upload whose body is not read yet.
    Unread(UploadLoader, Upload),
    /// The image an earlier reading of the path read.
    Read(Blob),
    /// Reading failed: the error was answered.
    Failed,
}

impl UploadState {
    fn is_upload(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// The uploaded image, read now if it was not yet.
    async fn image(&mut self) -> Result<Blob, Error> {
        match std::mem::replace(self, Self::Failed) {
            Self::Unread(loader, upload) => {
                let blob = loader.oneshot(upload).await?;
                *self = Self::Read(blob.clone());
                Ok(blob)
            }
            Self::Read(blob) => {
                *self = Self::Read(blob.clone());
                Ok(blob)
            }
            Self::None | Self::Failed => Err(Error::NotFound),
        }
    }
}

/// Answers one reading of the path (the path as sent, or query-unescaped).
async fn attempt<R>(
    settings: &Settings,
    render: R,
    raw_path: &str,
    head: &Head,
    upload: &mut UploadState,
) -> Result<Response<Body>, Error>
where
    R: Service<ImageRequest, Response = Rendered>,
    R::Error: Into<Error>,
{
    let metrics = head.metrics.as_ref().or(settings.metrics.as_ref());
    let is_head = head.method == Method::HEAD;
    let mut params = Stage::Parse.run_sync(metrics, || path::parse(raw_path));
    if upload.is_upload() {
        // The signature (or unsafe mode) is checked before a byte of the body is read.
        settings.verify_upload(&params)?;
        params.params_endpoint = false;
    } else if params.params_endpoint {
        let body = if settings.disable_params_endpoint {
            String::new()
        } else {
            if let Some(presets) = &settings.presets {
                presets.expand(&mut params)?;
            }
            params.to_params_json()
        };
        return Ok(response::bytes_response(
            "application/json",
            body.into(),
            is_head,
        ));
    }
    if !upload.is_upload() {
        settings.verify(&params)?;
    }
    // The signature covers the path as written; presets expand only once it is accepted.
    if let Some(presets) = &settings.presets {
        presets.expand(&mut params)?;
    }
    if let Some(base) = &settings.base_params {
        merge_base_params(&mut params, base);
    }
    let filters = ServiceFilters::take(&mut params);
    if filters.expired_at(SystemTime::now()) {
        return Err(Error::Expired);
    }
    let negotiated = negotiate_format(settings, &mut params, &head.headers);
    if upload.is_upload() {
        // As imagor: the image part of an upload's path is ignored.
        params.image.clear();
        params.base64_image = false;
    }
    // The canonical path, after base params and format negotiation, is the result key.
    params.path = params.generate();
    if params.image.is_empty() && !upload.is_upload() {
        return Err(Error::NotFound);
    }
    let image = params.image.clone();
    let mut request =
        ImageRequest::with_filters(params, filters.clone()).with_headers(head.headers.clone());
    if upload.is_upload() {
        request = request.with_upload(upload.image().await?);
    }
    request.metrics = metrics.cloned();
    let output = request.output();
    let rendered = render.oneshot(request).await.map_err(Into::into)?;
    match output {
        Output::Meta => {
            let content_type = rendered.content_type().to_owned();
            Ok(response::bytes_response(
                &content_type,
                rendered.into_bytes(),
                is_head,
            ))
        }
        Output::Raw => settings.raw_response(rendered, &filters, head),
        Output::Image => Ok(settings.image_response(rendered, &image, &filters, negotiated, head)),
    }
}

impl Settings {
    fn landing(&self, head: bool) -> Response<Body> {
        if let Some(url) = &self.base_path_redirect {
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

    /// Accepts an upload in unsafe mode (whatever its path, as imagor), else only with a
    /// signature of its path that matches.
    fn verify_upload(&self, params: &Params) -> Result<(), Error> {
        if self.unsafe_urls {
            return Ok(());
        }
        if !params.is_unsafe
            && !params.hash.is_empty()
            && self.signer.verify(&params.path, &params.hash)
        {
            return Ok(());
        }
        Err(Error::SignatureMismatch)
    }

    /// Accepts `unsafe/` URLs when they are allowed, and signed ones whose signature matches.
    fn verify(&self, params: &Params) -> Result<(), Error> {
        let settings = self;
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

    /// The success response for an image or result: body, content headers, caching headers,
    /// validators, and the conditional-request outcome (304/412).
    fn image_response(
        &self,
        rendered: Rendered,
        image: &str,
        filters: &ServiceFilters,
        negotiated: bool,
        head: &Head,
    ) -> Response<Body> {
        let is_head = head.method == Method::HEAD;
        let etag = response::etag_of(rendered.bytes());
        let modified = rendered.modified().unwrap_or_else(SystemTime::now);
        let precondition = response::evaluate_preconditions(&head.headers, &etag, modified);
        let upstream = rendered.headers().clone();
        let content_type = rendered.content_type().to_owned();
        let mut res = match precondition {
            Some(status) => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = status;
                res
            }
            None => response::bytes_response(&content_type, rendered.into_bytes(), is_head),
        };
        let status = res.status();
        let headers = res.headers_mut();
        if status == StatusCode::PRECONDITION_FAILED {
            return res;
        }
        self.cache_headers(headers, filters, &head.headers);
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
        let disposition = match filters.attachment() {
            Some(name) => {
                let ext = response::extension_for(&content_type);
                response::attachment_disposition(name, image, ext)
            }
            None => "inline".to_owned(),
        };
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        override_headers(headers, &upstream);
        res
    }

    fn cache_headers(
        &self,
        headers: &mut HeaderMap,
        filters: &ServiceFilters,
        request: &HeaderMap,
    ) {
        let overrides = CacheOverrides {
            expire_ms: filters.expire_ms(),
            max_age: filters.max_age(),
        };
        let (cache_control, expires) =
            response::cache_headers(&self.cache, &overrides, request, SystemTime::now());
        if let Ok(v) = HeaderValue::from_str(&cache_control) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        if let Ok(v) = HeaderValue::from_str(&expires) {
            headers.insert(header::EXPIRES, v);
        }
    }

    /// `raw()`: the source as the render stack found it (only ever an image), with a policy
    /// that forbids scripts.
    fn raw_response(
        &self,
        rendered: Rendered,
        filters: &ServiceFilters,
        head: &Head,
    ) -> Result<Response<Body>, Error> {
        let upstream = rendered.headers().clone();
        let content_type = rendered.content_type().to_owned();
        let is_head = head.method == Method::HEAD;
        let mut res = response::bytes_response(&content_type, rendered.into_bytes(), is_head);
        let headers = res.headers_mut();
        self.cache_headers(headers, filters, &head.headers);
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'none'"),
        );
        override_headers(headers, &upstream);
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

impl<R, B> Service<Request<B>> for ImageService<R>
where
    R: Service<ImageRequest, Response = Rendered> + Clone + Send + 'static,
    R::Error: Into<Error>,
    R::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each request drives its own clone of the render stack to readiness.
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

/// [`ResultStorageLayer`](crate::storage::ResultStorageLayer) applied to an [`ImageService`]:
/// the service, with result storage around its render stack.
impl<R, B> Service<Request<B>> for ResultStorage<ImageService<R>>
where
    R: Service<ImageRequest, Response = Rendered> + Clone + Send + 'static,
    R::Error: Into<Error>,
    R::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let layer = self.layer().clone();
        let mut service = self
            .get_ref()
            .clone()
            .map_render(|render| layer.layer(render));
        service.call(req)
    }
}
