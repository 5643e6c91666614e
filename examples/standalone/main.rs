//! The standalone imagor-compatible server.
//!
//! Run with:
//!
//! ```sh
//! # no configuration: serves the bundled examples/images folder with unsigned URLs
//! cargo run --release --example standalone
//! curl -o thumb.png http://localhost:8000/unsafe/300x200/gopher.png
//!
//! # as imagor is configured: flags, environment variables or a .env file
//! IMAGOR_SECRET=mysecret FILE_LOADER_BASE_DIR=/srv/images \
//!     cargo run --release --example standalone -- -port 9000
//!
//! # images in Google Cloud Storage or Azure Blob Storage (see the README for emulators)
//! IMAGOR_SECRET=mysecret GCLOUD_LOADER_BUCKET=my-images cargo run --release --example standalone
//! IMAGOR_SECRET=mysecret AZURE_STORAGE_ACCOUNT_NAME=acme AZURE_STORAGE_ACCOUNT_KEY=... \
//!     AZURE_LOADER_CONTAINER=images cargo run --release --example standalone
//!
//! # Prometheus metrics on a listener of their own
//! PROMETHEUS_BIND=127.0.0.1:5000 PROMETHEUS_PATH=/metrics cargo run --release --example standalone
//! curl http://127.0.0.1:5000/metrics
//!
//! # named presets: a YAML file `presets: {thumb: "fit-in/200x200"}`, URLs `/unsafe/preset:thumb/gopher.png`
//! IMAGOR_PRESETS_PATH=presets.yaml cargo run --release --example standalone
//!
//! # POST uploads: the body (raw or a multipart form field `image`) is the image
//! IMAGOR_UNSAFE=1 UPLOAD_LOADER_ENABLE=1 cargo run --release --example standalone
//! curl --data-binary @examples/images/gopher.png -o thumb.webp \
//!     'http://localhost:8000/unsafe/fit-in/200x200/filters:format(webp)'
//!
//! # every option, with its environment variable and default
//! cargo run --release --example standalone -- -h
//! ```

mod allocator;

use imagor_tower::config::{Config, ConfigBuilder, ConfigError, ConfigKey};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The folder served when nothing is configured.
const SAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");

fn main() -> ExitCode {
    allocator::tune();
    let config = match load_config() {
        Ok(config) => config,
        Err(ConfigError::HelpRequested) => {
            println!("{}", Config::help_text());
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("imagor-tower: {err}");
            return ExitCode::from(2);
        }
    };
    if config.server.version {
        println!("imagor-tower {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("imagor-tower: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("imagor-tower: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the configuration; with nothing configured, switches to the bundled sample folder.
fn load_config() -> Result<Config, ConfigError> {
    let config = Config::from_env()?;
    if config.has_source_or_signing_settings() {
        return Ok(config);
    }
    ConfigBuilder::from_env()
        .with_config(ConfigKey::FileLoaderBaseDir, SAMPLE_DIR)
        .with_config(ConfigKey::ImagorUnsafe, "true")
        .with_config(ConfigKey::HttpLoaderDisable, "true")
        .build()
}

fn init_logging(config: &Config) {
    let default = if config.server.debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn run(config: Config) -> Result<(), String> {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    for name in config.unsupported() {
        tracing::warn!(
            "{name} is an imagor option that imagor-tower does not support yet; it is ignored"
        );
    }
    if config.file.loader.base_dir.as_deref() == Some(std::path::Path::new(SAMPLE_DIR)) {
        tracing::warn!(
            "nothing is configured: serving the sample folder {SAMPLE_DIR} with UNSIGNED URLs \
             and no HTTP loader. Set IMAGOR_SECRET and a loader (e.g. FILE_LOADER_BASE_DIR) \
             for real use."
        );
    } else if config.imagor.allow_unsafe {
        tracing::warn!("IMAGOR_UNSAFE is on: unsigned /unsafe/ URLs are accepted");
    } else if config.imagor.secret.is_empty() {
        tracing::warn!(
            "IMAGOR_SECRET is not set: URL signatures are checked with an empty key, as imagor does"
        );
    }
    if config.imagor.secret_previous.is_some() {
        tracing::info!(
            "IMAGOR_SECRET_PREVIOUS is set: URLs signed with the retired secret are still accepted"
        );
    }
    let metrics = config.metrics();
    let service = config
        .service_with_metrics(metrics.as_ref())
        .map_err(|err| err.message())?;
    if config.upload.enable {
        let who = if config.imagor.allow_unsafe {
            "any POST"
        } else {
            "POSTs to signed paths"
        };
        tracing::info!(
            "UPLOAD_LOADER_ENABLE is on: {who} may upload images of up to {} bytes",
            config.upload.max_allowed_size
        );
    }
    if let Some(path) = &config.imagor.presets_path {
        tracing::info!("presets from {}", path.display());
        if config.imagor.only_presets {
            tracing::info!("IMAGOR_ONLY_PRESETS is on: only preset:NAME/IMAGE URLs are served");
        }
    }
    if let (Some(metrics), Some(address)) = (&metrics, config.server.prometheus.listen_address()) {
        serve_metrics(metrics, &address, &config).await?;
    }
    let address = config.server.listen_address();
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|err| {
            format!("cannot listen on {address} (PORT / BIND / SERVER_ADDRESS): {err}")
        })?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    tracing::info!(
        "imagor-tower {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    config
        .http_server()
        .serve(listener, service, imagor_tower::server::shutdown_signal())
        .await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves the metrics at `PROMETHEUS_PATH` on their own listener (`PROMETHEUS_BIND`).
async fn serve_metrics(
    metrics: &imagor_tower::metrics::Metrics,
    address: &str,
    config: &Config,
) -> Result<(), String> {
    let path = &config.server.prometheus.path;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| format!("cannot listen on {address} (PROMETHEUS_BIND): {err}"))?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    tracing::info!("metrics on http://{local}{path}");
    let exporter = metrics.exporter(path);
    let server = config.http_server();
    tokio::spawn(async move {
        server
            .serve(listener, exporter, imagor_tower::server::shutdown_signal())
            .await;
    });
    Ok(())
}
