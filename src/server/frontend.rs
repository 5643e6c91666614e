//! [`Frontend`]: the server-level behaviour imagor puts in front of its handler: path prefix,
//! query-string redirect, CORS and an access log.

use crate::body::Body;
use futures::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// Settings of [`Frontend`]; all off by default. See [`Frontend`] for an example.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrontendLayer {
    path_prefix: Option<String>,
    strip_query_string: bool,
    cors: bool,
    access_log: bool,
}

impl FrontendLayer {
    /// A layer that changes nothing until configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve only under `prefix` (e.g. `/imagor`) and strip it (`SERVER_PATH_PREFIX`); other
    /// paths get 404.
    #[must_use]
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        let trimmed = prefix.trim_matches('/');
        self.path_prefix = (!trimmed.is_empty()).then(|| format!("/{trimmed}"));
        self
    }

    /// Redirect (307) requests with a query string to the same path without it
    /// (`SERVER_STRIP_QUERY_STRING`).
    #[must_use]
    pub fn strip_query_string(mut self, enabled: bool) -> Self {
        self.strip_query_string = enabled;
        self
    }

    /// Permissive CORS: any origin; GET, POST and HEAD; preflight answered (`SERVER_CORS`).
    #[must_use]
    pub fn cors(mut self, enabled: bool) -> Self {
        self.cors = enabled;
        self
    }

    /// One log line per request (`SERVER_ACCESS_LOG`); health checks are not logged.
    #[must_use]
    pub fn access_log(mut self, enabled: bool) -> Self {
        self.access_log = enabled;
        self
    }
}

impl<S> Layer<S> for FrontendLayer {
    type Service = Frontend<S>;

    fn layer(&self, inner: S) -> Frontend<S> {
        Frontend {
            inner,
            settings: self.clone(),
        }
    }
}

/// The service made by [`FrontendLayer`].
///
/// # Example
///
/// ```
/// use imagor_tower::ImageService;
/// use imagor_tower::server::FrontendLayer;
/// use tower::{Layer, ServiceExt};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let service = FrontendLayer::new()
///     .path_prefix("/imagor")
///     .layer(ImageService::new());
/// let req = http::Request::get("/imagor/healthcheck").body(imagor_tower::body::Body::empty()).unwrap();
/// assert_eq!(service.clone().oneshot(req).await.unwrap().status(), 200);
/// let req = http::Request::get("/healthcheck").body(imagor_tower::body::Body::empty()).unwrap();
/// assert_eq!(service.oneshot(req).await.unwrap().status(), 404);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Frontend<S> {
    inner: S,
    settings: FrontendLayer,
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(text));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

impl<S, B> Service<Request<B>> for Frontend<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let settings = self.settings.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            let uri = req.uri().clone();
            let mut res = route(&settings, inner, req).await;
            if settings.cors {
                res.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            if settings.access_log
                && !uri.path().ends_with("/healthcheck")
                && !uri.path().ends_with("/favicon.ico")
            {
                tracing::info!(
                    target: "imagor_tower::access",
                    status = res.status().as_u16(),
                    method = %method,
                    uri = %uri,
                    took_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "request"
                );
            }
            Ok(res)
        })
    }
}

async fn route<S, B>(settings: &FrontendLayer, inner: S, mut req: Request<B>) -> Response<Body>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    if let Some(prefix) = &settings.path_prefix {
        let rest = match req.uri().path().strip_prefix(prefix.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
            _ => return plain(StatusCode::NOT_FOUND, "404 page not found"),
        };
        let rest = if rest.is_empty() {
            "/".to_owned()
        } else {
            rest
        };
        let with_query = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        match with_query.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return plain(StatusCode::BAD_REQUEST, "bad request"),
        }
    }
    if settings.strip_query_string && req.uri().query().is_some() {
        let mut location = settings.path_prefix.clone().unwrap_or_default();
        location.push_str(req.uri().path());
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::TEMPORARY_REDIRECT;
        if let Ok(v) = HeaderValue::from_str(&location) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return res;
    }
    if settings.cors && req.method() == Method::OPTIONS {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, HEAD"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Accept, Accept-Language, Content-Language, Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        return res;
    }
    match inner.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageService;

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri).body(crate::body::Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn prefix_query_cors() {
        let svc = FrontendLayer::new()
            .path_prefix("/imagor/")
            .strip_query_string(true)
            .cors(true)
            .layer(ImageService::new());
        let res = svc
            .clone()
            .oneshot(get("/imagor/healthcheck"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            svc.clone()
                .oneshot(get("/imagorx/healthcheck"))
                .await
                .unwrap()
                .status(),
            404
        );
        let res = svc
            .clone()
            .oneshot(get("/imagor/unsafe/a.jpg?x=1"))
            .await
            .unwrap();
        assert_eq!(res.status(), 307);
        assert_eq!(res.headers()[header::LOCATION], "/imagor/unsafe/a.jpg");
        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri("/imagor/x")
            .body(crate::body::Body::empty())
            .unwrap();
        assert_eq!(svc.oneshot(preflight).await.unwrap().status(), 204);
    }
}
