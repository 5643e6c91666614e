//! Cost limits: `blur` and `sharpen` sigmas are capped, and a request whose estimated work is
//! over the budget is refused (422 `work budget exceeded`) before any pixel is drawn, through
//! `processing::process` and through the whole `ImageService`.

mod support;

use bytes::Bytes;
use http::StatusCode;
use imagor_tower::ImageService;
use imagor_tower::loader::{NoSource, SourceRequest, service_fn_loader};
use imagor_tower::path::{self, Filter, Params};
use imagor_tower::processing::{
    MAX_BLUR_SIGMA, MAX_SHARPEN_SIGMA, Options, ProcessError, estimate, estimate_color, process,
    process_color,
};
use imagor_tower::{Blob, Error};
use std::time::{Duration, Instant};
use support::{body_bytes, get};
use tower::ServiceExt;

/// A `w`×`h` PNG with a gradient, so that blurs of different widths differ.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("png");
    out
}

fn with_filter(name: &str, args: &str) -> Params {
    Params {
        filters: vec![Filter::new(name, args), Filter::new("format", "png")],
        ..Params::default()
    }
}

#[test]
fn blur_and_sharpen_sigmas_are_capped() {
    let source = png(400, 300);
    let options = Options::default();
    let run = |params: &Params| {
        process(&source, params, &options)
            .expect("processed")
            .into_bytes()
    };
    let capped = run(&with_filter("blur", &format!("0,{MAX_BLUR_SIGMA}")));
    let started = Instant::now();
    assert_eq!(run(&with_filter("blur", "0,2000")), capped);
    // `blur(radius)` is sigma radius / 2.
    assert_eq!(run(&with_filter("blur", "4000")), capped);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_ne!(run(&with_filter("blur", "0,10")), capped);

    // `sharpen(amount, radius)` is sigma 1 + 2 × radius.
    let radius = (MAX_SHARPEN_SIGMA - 1.0) / 2.0;
    let capped = run(&with_filter("sharpen", &format!("1,{radius}")));
    assert_eq!(run(&with_filter("sharpen", "1,1000")), capped);
    assert_ne!(run(&with_filter("sharpen", "1,2")), capped);
}

#[test]
fn a_huge_blurred_canvas_is_refused_before_drawing() {
    let options = Options::default();
    let params = path::parse(
        "unsafe/9999x8100/filters:blur(0,50):sharpen(1,1000):blur(0,50):blur(0,50)/color:red",
    );
    let estimate = estimate_color(&params, &options).expect("estimate");
    assert!(
        estimate.work() > Options::DEFAULT_WORK_BUDGET,
        "{estimate:?}"
    );
    let started = Instant::now();
    let err = process_color(&params, &options).unwrap_err();
    assert!(matches!(err, ProcessError::TooExpensive), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let err = Error::from(err);
    assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err.message(), "work budget exceeded");

    // Unlimited, the same canvas without filters still fits.
    let plain = path::parse("unsafe/9999x8100/color:red");
    let plain = estimate_color(&plain, &options).expect("estimate");
    assert!(plain.work() < Options::DEFAULT_WORK_BUDGET, "{plain:?}");
}

#[test]
fn the_budget_is_the_estimate_of_the_request() {
    let source = png(400, 300);
    let params = with_filter("sharpen", "1,2");
    let work = estimate(&source, &params, &Options::default())
        .expect("estimate")
        .work();
    let exact = Options::default().work_budget(work);
    assert!(process(&source, &params, &exact).is_ok());
    let under = Options::default().work_budget(work - 1);
    assert!(matches!(
        process(&source, &params, &under),
        Err(ProcessError::TooExpensive)
    ));
    // Ordinary requests on a 20-megapixel photo fit the default budget.
    let photo = path::parse(
        "unsafe/fit-in/1200x800/filters:fill(white):sharpen(1,1):watermark(logo.png,10,10,0)/photo.jpg",
    );
    let mut jpeg = Vec::new();
    image::RgbImage::new(5472, 3648)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .expect("jpeg");
    let overlays = imagor_tower::processing::Overlays::new().with_source("logo.png", png(300, 100));
    let options = Options::default().overlays(overlays);
    let estimate = estimate(&jpeg, &photo, &options).expect("estimate");
    assert!(
        estimate.work() < Options::DEFAULT_WORK_BUDGET / 2,
        "{estimate:?}"
    );
    assert!(estimate.peak_bytes() > 5472 * 3648 / 4 * 4, "{estimate:?}");
}

async fn fetch<S>(service: S, uri: &str) -> (StatusCode, Bytes)
where
    S: tower::Service<
            http::Request<imagor_tower::body::Body>,
            Response = http::Response<imagor_tower::body::Body>,
        >,
    S::Error: std::fmt::Debug,
{
    let response = service.oneshot(get(uri)).await.expect("infallible");
    let status = response.status();
    let (_, body) = body_bytes(response).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_422_past_the_budget() {
    let service = ImageService::new().unsafe_urls(true).loader(NoSource);
    let started = Instant::now();
    let (status, body) = fetch(
        service.clone(),
        "/unsafe/9999x8100/filters:blur(0,50):blur(0,50)/color:red",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["message"], "work budget exceeded");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (status, _) = fetch(service, "/unsafe/300x200/filters:blur(0,50)/color:red").await;
    assert_eq!(status, StatusCode::OK);

    // A source image: the budget set on the service.
    let source = Bytes::from(png(400, 300));
    let loader = service_fn_loader(move |_: SourceRequest| {
        let source = source.clone();
        async move { Ok::<_, Error>(Blob::new(source)) }
    });
    let tight = ImageService::new()
        .unsafe_urls(true)
        .process_options(Options::default().work_budget(1000))
        .loader(loader);
    let (status, body) = fetch(tight, "/unsafe/filters:blur(0,5)/photo.png").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
}
