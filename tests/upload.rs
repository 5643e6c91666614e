//! POST uploads end to end, over real HTTP against the standalone's stack (`Config::service`
//! served by `Config::http_server` on 127.0.0.1): raw and multipart bodies, unsafe and signed
//! paths, the size limit while the body streams in, the accepted types, and uploads never
//! reaching a storage.
#![cfg(feature = "server")]

use bytes::Bytes;
use imagor_tower::config::Config;
use imagor_tower::path::Signer;
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

struct Running {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
    _images: tempfile::TempDir,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts the standalone's stack from `env` (plus a file loader on an empty folder and no
/// HTTP loader) on 127.0.0.1:0.
async fn start(env: &[(&str, &str)]) -> Running {
    let images = tempfile::tempdir().unwrap();
    let mut vars = vec![
        (
            "FILE_LOADER_BASE_DIR".to_owned(),
            images.path().display().to_string(),
        ),
        ("HTTP_LOADER_DISABLE".to_owned(), "1".to_owned()),
    ];
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    std::fs::write(images.path().join("stored.png"), png(40, 20, [0, 0, 255])).unwrap();
    let config = Config::builder().env(vars).build().unwrap();
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    let service = config.service().unwrap();
    let server = config.http_server();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .serve(listener, service, async {
                let _ = stopped.await;
            })
            .await;
    });
    Running {
        addr,
        _stop: stop,
        _images: images,
    }
}

fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 10]))
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    out
}

/// A `multipart/form-data` body with one text field and `file` in the field `field`.
fn form(boundary: &str, field: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"a.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

struct Answer {
    status: u16,
    content_type: String,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        assert_eq!(self.content_type, "application/json", "{}", self.status);
        serde_json::from_slice(&self.body).unwrap()
    }

    fn image(&self) -> image::DynamicImage {
        assert_eq!(
            self.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        image::load_from_memory(&self.body).unwrap()
    }
}

async fn post(up: &Running, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let res = reqwest::Client::new()
        .post(up.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: res.bytes().await.unwrap(),
    }
}

const UNSAFE_UPLOADS: &[(&str, &str)] = &[("IMAGOR_UNSAFE", "1"), ("UPLOAD_LOADER_ENABLE", "1")];

#[tokio::test]
async fn a_raw_body_is_processed_as_the_path_says() {
    let up = start(UNSAFE_UPLOADS).await;
    let answer = post(
        &up,
        "/unsafe/fit-in/50x50/filters:format(webp)",
        "image/png",
        png(200, 100, [250, 0, 0]),
    )
    .await;
    assert_eq!(answer.content_type, "image/webp");
    let img = answer.image();
    assert_eq!((img.width(), img.height()), (50, 25));
    // curl --data-binary sends a form content type: the bytes decide, not the header.
    let answer = post(
        &up,
        "/unsafe/30x30/",
        "application/x-www-form-urlencoded",
        png(60, 60, [0, 250, 0]),
    )
    .await;
    assert_eq!(answer.content_type, "image/png");
    assert_eq!(answer.image().width(), 30);
    // The image part of an upload's path is ignored, as imagor ignores it.
    let answer = post(
        &up,
        "/unsafe/20x10/stored.png",
        "image/png",
        png(80, 40, [250, 0, 0]),
    )
    .await;
    let img = answer.image().to_rgb8();
    assert_eq!(img.dimensions(), (20, 10));
    assert!(img.get_pixel(5, 5)[0] > 200, "the upload, not stored.png");
}

#[tokio::test]
async fn a_multipart_form_carries_the_image_in_its_field() {
    let up = start(UNSAFE_UPLOADS).await;
    let answer = post(
        &up,
        "/unsafe/25x0/filters:format(jpeg)",
        "multipart/form-data; boundary=----x1",
        form("----x1", "image", &png(100, 40, [0, 0, 250])),
    )
    .await;
    assert_eq!(answer.content_type, "image/jpeg");
    let img = answer.image();
    assert_eq!((img.width(), img.height()), (25, 10));
    // Another field name than the configured one is missing.
    let answer = post(
        &up,
        "/unsafe/25x0/",
        "multipart/form-data; boundary=b",
        form("b", "file", &png(10, 10, [0, 0, 0])),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        serde_json::json!({"message": "failed to get form file 'image': no such file", "status": 400})
    );

    let custom = [
        ("IMAGOR_UNSAFE", "1"),
        ("UPLOAD_LOADER_ENABLE", "1"),
        ("UPLOAD_LOADER_FORM_FIELD_NAME", "file"),
    ];
    let up = start(&custom).await;
    let answer = post(
        &up,
        "/unsafe/25x0/",
        "multipart/form-data; boundary=b",
        form("b", "file", &png(50, 50, [0, 0, 0])),
    )
    .await;
    assert_eq!(answer.image().width(), 25);
}

#[tokio::test]
async fn malformed_multipart_is_a_bad_request() {
    let up = start(UNSAFE_UPLOADS).await;
    for (content_type, body) in [
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nno headers end".to_vec(),
        ),
        (
            "multipart/form-data; boundary=b",
            b"nothing like a form".to_vec(),
        ),
        (
            "multipart/form-data",
            form("b", "image", &png(4, 4, [0, 0, 0])),
        ),
    ] {
        let answer = post(&up, "/unsafe/10x10/", content_type, body).await;
        assert_eq!(answer.status, 400);
        let json = answer.json();
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .starts_with("failed to parse multipart form: "),
            "{json}"
        );
    }
}

#[tokio::test]
async fn without_unsafe_mode_an_upload_needs_a_signature() {
    let env = [
        ("IMAGOR_SECRET", "upload-secret"),
        ("UPLOAD_LOADER_ENABLE", "1"),
    ];
    let up = start(&env).await;
    let signer = Signer::new("upload-secret");
    let signed = signer.sign_url("fit-in/40x40/filters:format(png)");
    assert!(!signed.contains("unsafe"));
    let answer = post(&up, &signed, "image/png", png(80, 20, [9, 9, 9])).await;
    let img = answer.image();
    assert_eq!((img.width(), img.height()), (40, 10));

    let other = Signer::new("another-secret").sign_url("fit-in/40x40/filters:format(png)");
    for path in [
        "/unsafe/fit-in/40x40/",
        "/fit-in/40x40/",
        other.as_str(),
        "/",
    ] {
        let answer = post(&up, path, "image/png", png(8, 8, [9, 9, 9])).await;
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(
            answer.json(),
            serde_json::json!({"message": "url signature mismatch", "status": 403})
        );
    }
}

#[tokio::test]
async fn uploads_are_off_unless_enabled() {
    for env in [
        &[("IMAGOR_UNSAFE", "1")][..],
        &[("UPLOAD_LOADER_ENABLE", "0")][..],
    ] {
        let up = start(env).await;
        let answer = post(&up, "/unsafe/10x10/", "image/png", png(20, 20, [1, 2, 3])).await;
        assert_eq!(answer.status, 405, "{env:?}");
        assert!(answer.body.is_empty());
    }
    // GET still works on an upload-enabled server, and answers the landing page at `/`.
    let up = start(UNSAFE_UPLOADS).await;
    let res = reqwest::get(up.url("/unsafe/10x10/stored.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = reqwest::get(up.url("/")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("imagor-tower"));
}

#[tokio::test]
async fn the_accepted_types_are_checked_on_the_bytes() {
    let up = start(UNSAFE_UPLOADS).await;
    let answer = post(
        &up,
        "/unsafe/10x10/",
        "image/png",
        b"<html>not an image</html>".to_vec(),
    )
    .await;
    assert_eq!(answer.status, 406);
    assert_eq!(
        answer.json(),
        serde_json::json!({"message": "unsupported format", "status": 406})
    );

    let only_png = [
        ("IMAGOR_UNSAFE", "1"),
        ("UPLOAD_LOADER_ENABLE", "1"),
        ("UPLOAD_LOADER_ACCEPT", "image/png"),
    ];
    let up = start(&only_png).await;
    // Declared as PNG, but JPEG bytes.
    let answer = post(&up, "/unsafe/10x10/", "image/png", jpeg(20, 20)).await;
    assert_eq!(answer.status, 406);
    let answer = post(&up, "/unsafe/10x10/", "image/jpeg", png(20, 20, [5, 5, 5])).await;
    assert_eq!(answer.image().width(), 10);
}

const LIMITED: &[(&str, &str)] = &[
    ("IMAGOR_UNSAFE", "1"),
    ("UPLOAD_LOADER_ENABLE", "1"),
    ("UPLOAD_LOADER_MAX_ALLOWED_SIZE", "100000"),
];

/// Reads one HTTP/1.1 response from `stream`: status, and the body when it has a length.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed in the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    (status, body)
}

const TOO_LARGE: &str = r#"{"message":"maximum size exceeded","status":413}"#;

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body() {
    let up = start(LIMITED).await;
    let mut stream = TcpStream::connect(up.addr).await.unwrap();
    // The head only: the 413 comes without a byte of the body sent.
    stream
        .write_all(
            b"POST /unsafe/10x10/ HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
              Content-Length: 100001\r\n\r\n",
        )
        .await
        .unwrap();
    let (status, body) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        read_response(&mut stream),
    )
    .await
    .expect("answered before the body was sent");
    assert_eq!((status, body.as_str()), (413, TOO_LARGE));
}

#[tokio::test]
async fn a_streamed_body_is_refused_once_it_crosses_the_limit() {
    let up = start(LIMITED).await;
    let mut stream = TcpStream::connect(up.addr).await.unwrap();
    stream
        .write_all(
            b"POST /unsafe/10x10/ HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    // 11 chunks of 10 000 bytes (110 000 > 100 000), and the body never ends: the answer
    // can only come from the limit, while the body is still streaming.
    let mut first = png(4, 4, [0, 0, 0]);
    first.resize(10_000, 0);
    for i in 0..11 {
        let data = if i == 0 {
            first.clone()
        } else {
            vec![0_u8; 10_000]
        };
        stream
            .write_all(format!("{:x}\r\n", data.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&data).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    let (status, body) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        read_response(&mut stream),
    )
    .await
    .expect("answered while the body was still open");
    assert_eq!((status, body.as_str()), (413, TOO_LARGE));

    // Under the limit, the same kind of upload is served.
    let answer = post(&up, "/unsafe/10x10/", "image/png", png(300, 30, [1, 1, 1])).await;
    assert_eq!(answer.image().width(), 10);
    // A form may carry a file up to the limit itself.
    let mut big = png(8, 8, [0, 0, 0]);
    big.resize(100_000, 0);
    let answer = post(
        &up,
        "/unsafe/10x10/",
        "multipart/form-data; boundary=b",
        form("b", "image", &big),
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    big.push(0);
    let answer = post(
        &up,
        "/unsafe/10x10/",
        "multipart/form-data; boundary=b",
        form("b", "image", &big),
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.body, TOO_LARGE);
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn uploads_are_never_stored() {
    let storage = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let storage_dir = storage.path().display().to_string();
    let results_dir = results.path().display().to_string();
    let env = [
        ("IMAGOR_UNSAFE", "1"),
        ("UPLOAD_LOADER_ENABLE", "1"),
        ("FILE_STORAGE_BASE_DIR", storage_dir.as_str()),
        ("FILE_RESULT_STORAGE_BASE_DIR", results_dir.as_str()),
    ];
    let up = start(&env).await;
    // The same path twice, with different images: each answer is its own upload's.
    for rgb in [[250, 0, 0], [0, 250, 0], [0, 0, 250]] {
        let answer = post(
            &up,
            "/unsafe/8x8/filters:format(png)",
            "image/png",
            png(16, 16, rgb),
        )
        .await;
        let img = answer.image().to_rgb8();
        let pixel = img.get_pixel(4, 4).0;
        for c in 0..3 {
            assert_eq!(pixel[c] > 200, rgb[c] > 200, "{pixel:?} for {rgb:?}");
        }
    }
    // Results are written after the answer; give them time to appear if they ever would.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(files(storage.path()), Vec::<std::path::PathBuf>::new());
    assert_eq!(files(results.path()), Vec::<std::path::PathBuf>::new());

    // Both storages do work: a GET of a loaded image fills them.
    let res = reqwest::get(up.url("/unsafe/8x8/stored.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files(storage.path()).is_empty() || files(results.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the storages were never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_signature_is_checked_before_the_body_is_read() {
    let env = [
        ("IMAGOR_SECRET", "upload-secret"),
        ("UPLOAD_LOADER_ENABLE", "1"),
    ];
    let up = start(&env).await;
    let mut stream = TcpStream::connect(up.addr).await.unwrap();
    // A body is announced but never sent: only a check that reads nothing can answer.
    stream
        .write_all(
            b"POST /unsafe/10x10/ HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
              Content-Length: 1000\r\n\r\n",
        )
        .await
        .unwrap();
    let (status, body) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        read_response(&mut stream),
    )
    .await
    .expect("answered before the body was sent");
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"message":"url signature mismatch","status":403}"#)
    );
}
