//! Behaviour of `imagor_tower::config`: sources and precedence, value parsing, effective
//! defaults, validation, unsupported-option reporting and secret redaction.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imagor_tower::config::{Config, ConfigBuilder, ConfigError, ConfigKey, Origin};
// The tests that set S3 options need the `s3` feature; so do these names.
#[cfg(feature = "s3")]
use imagor_tower::config::{
    CannedAcl, ResultStoragePathStyle, S3Role, S3StorageClass, SignerType, StoragePathStyle,
};

fn build_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    ConfigBuilder::new().env(vars.iter().copied()).build()
}

fn env_ok(vars: &[(&str, &str)]) -> Config {
    build_env(vars).unwrap()
}

fn env_err(vars: &[(&str, &str)]) -> String {
    build_env(vars).unwrap_err().to_string()
}

fn args_ok(args: &[&str]) -> Config {
    ConfigBuilder::new()
        .args(args.iter().copied())
        .build()
        .unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ===== sources and precedence =====

#[test]
fn int_precedence_flag_env_file_default() {
    let file = "PORT=1000\n";
    let all = ConfigBuilder::new()
        .args(["-port", "3000"])
        .env([("PORT", "2000")])
        .dotenv_text(file)
        .build()
        .unwrap();
    assert_eq!(all.server.port, 3000);
    assert_eq!(all.origin(ConfigKey::Port), Origin::CommandLine);

    let env_file = ConfigBuilder::new()
        .env([("PORT", "2000")])
        .dotenv_text(file)
        .build()
        .unwrap();
    assert_eq!(env_file.server.port, 2000);
    assert_eq!(env_file.origin(ConfigKey::Port), Origin::Environment);

    let file_only = ConfigBuilder::new().dotenv_text(file).build().unwrap();
    assert_eq!(file_only.server.port, 1000);
    assert_eq!(file_only.origin(ConfigKey::Port), Origin::File);

    let none = ConfigBuilder::new().build().unwrap();
    assert_eq!(none.server.port, 8000);
    assert_eq!(none.origin(ConfigKey::Port), Origin::Default);
    assert!(!none.is_set(ConfigKey::Port));
}

#[test]
fn bool_precedence_lets_a_higher_source_switch_off() {
    let config = ConfigBuilder::new()
        .args(["-imagor-unsafe=false"])
        .env([("IMAGOR_UNSAFE", "1"), ("SERVER_CORS", "0")])
        .dotenv_text("IMAGOR_UNSAFE=true\nSERVER_CORS=true\nDEBUG=t\n")
        .build()
        .unwrap();
    assert!(!config.imagor.allow_unsafe, "flag beats env and file");
    assert!(!config.server.cors, "env beats file");
    assert!(config.server.debug, "file beats default");
}

#[test]
fn duration_and_string_and_list_precedence() {
    let config = ConfigBuilder::new()
        .args(["--imagor-load-timeout", "3s", "-imagor-secret=flag"])
        .env([
            ("IMAGOR_LOAD_TIMEOUT", "2s"),
            ("IMAGOR_SAVE_TIMEOUT", "2s"),
            ("IMAGOR_SECRET", "env"),
            ("VIPS_DISABLE_FILTERS", "blur"),
        ])
        .dotenv_text(
            "IMAGOR_LOAD_TIMEOUT=1s\nIMAGOR_SAVE_TIMEOUT=1s\nIMAGOR_PROCESS_TIMEOUT=1s\n\
             IMAGOR_SECRET=file\nVIPS_DISABLE_FILTERS=fill,text\nHTTP_LOADER_ALLOWED_SOURCES=a.com\n",
        )
        .build()
        .unwrap();
    assert_eq!(config.imagor.load_timeout, secs(3));
    assert_eq!(config.imagor.save_timeout, secs(2));
    assert_eq!(config.imagor.process_timeout, secs(1));
    assert_eq!(config.imagor.request_timeout, secs(30));
    assert_eq!(config.imagor.secret.expose(), "flag");
    assert_eq!(config.processing.disable_filters, ["blur"]);
    assert_eq!(config.http_loader.allowed_sources, ["a.com"]);
}

#[test]
fn last_flag_wins_and_code_beats_everything() {
    let config = ConfigBuilder::new()
        .args(["-port", "1", "-port=2"])
        .with_config(ConfigKey::ImagorSecret, "from-code")
        .env([("IMAGOR_SECRET", "env")])
        .build()
        .unwrap();
    assert_eq!(config.server.port, 2);
    assert_eq!(config.imagor.secret.expose(), "from-code");
    assert_eq!(config.origin(ConfigKey::ImagorSecret), Origin::Code);
}

#[test]
fn empty_environment_values_count_as_unset() {
    let config = ConfigBuilder::new()
        .env([("PORT", ""), ("GCLOUD_LOADER_BUCKET", "")])
        .dotenv_text("PORT=4000\n")
        .build()
        .unwrap();
    assert_eq!(config.server.port, 4000);
    assert!(config.unsupported().is_empty());
}

#[test]
fn unknown_environment_and_file_names_are_ignored() {
    let config = ConfigBuilder::new()
        .env([
            ("HOME", "/root"),
            ("IMAGOR_NOPE", "1"),
            ("imagor_secret", "x"),
        ])
        .dotenv_text("SOMETHING_ELSE=1\nimagor-secret=fromflagname\n")
        .build()
        .unwrap();
    // The file also accepts flag names, as imagor's config file parser does.
    assert_eq!(config.imagor.secret.expose(), "fromflagname");
}

#[test]
fn config_file_path_defaults_to_dot_env_and_follows_flag_and_env() {
    fn reader(
        seen: Arc<Mutex<Vec<PathBuf>>>,
    ) -> impl FnOnce(&Path) -> io::Result<String> + Send + 'static {
        move |path: &Path| {
            seen.lock().unwrap().push(path.to_owned());
            Ok("PORT=1234\n".to_owned())
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));

    let config = Config::from_sources(Vec::new(), Vec::new(), reader(Arc::clone(&seen))).unwrap();
    assert_eq!(config.server.port, 1234);
    let env = vec![("CONFIG".to_owned(), "from-env.env".to_owned())];
    Config::from_sources(Vec::new(), env.clone(), reader(Arc::clone(&seen))).unwrap();
    let args = vec!["-config".to_owned(), "from-flag.env".to_owned()];
    let config = Config::from_sources(args, env, reader(Arc::clone(&seen))).unwrap();
    assert_eq!(
        config.server.config_file.as_deref(),
        Some(Path::new("from-flag.env"))
    );

    assert_eq!(
        *seen.lock().unwrap(),
        [
            PathBuf::from(".env"),
            PathBuf::from("from-env.env"),
            PathBuf::from("from-flag.env"),
        ]
    );
}

#[test]
fn missing_config_file_is_fine_other_read_errors_are_not() {
    let missing = |_: &Path| Err(io::Error::from(io::ErrorKind::NotFound));
    let config = Config::from_sources(Vec::new(), Vec::new(), missing).unwrap();
    assert_eq!(config.server.port, 8000);
    assert!(config.warnings().is_empty());

    // An explicitly named file that is missing is noted, not fatal.
    let args = vec!["-config=custom.env".to_owned()];
    let config = Config::from_sources(args, Vec::new(), missing).unwrap();
    assert!(
        config.warnings().iter().any(|w| w.contains("custom.env")),
        "{:?}",
        config.warnings()
    );

    let denied = |_: &Path| Err(io::Error::from(io::ErrorKind::PermissionDenied));
    let err = Config::from_sources(Vec::new(), Vec::new(), denied).unwrap_err();
    assert!(matches!(err, ConfigError::ReadConfigFile { .. }), "{err}");
    assert!(err.to_string().starts_with("cannot read config file .env"));
}

#[test]
fn empty_config_path_disables_the_file() {
    let config = ConfigBuilder::new()
        .args(["-config="])
        .dotenv_text("PORT=1\n")
        .build()
        .unwrap();
    assert_eq!(config.server.port, 8000);
    assert_eq!(config.server.config_file, None);
}

#[test]
fn reads_a_real_file_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imagor.env");
    std::fs::write(&path, "IMAGOR_UNSAFE=1\n").unwrap();
    let args = vec![format!("-config={}", path.display())];
    let config =
        Config::from_sources(args, Vec::new(), |p: &Path| std::fs::read_to_string(p)).unwrap();
    assert!(config.imagor.allow_unsafe);
}

// ===== dotenv syntax =====

#[test]
fn dotenv_comments_quotes_blank_lines_and_export() {
    let text = "\
# imagor settings

export IMAGOR_SECRET=\"quoted # not a comment\"  # trailing comment
   IMAGOR_BASE_PARAMS = 'filters:fill(white)'
HTTP_LOADER_ACCEPT=image/*

# blank values are unset
SERVER_ADDRESS=
IMAGOR_BASE_PATH_REDIRECT=https://example.com/#anchor
";
    let config = ConfigBuilder::new().dotenv_text(text).build().unwrap();
    assert_eq!(config.imagor.secret.expose(), "quoted # not a comment");
    assert_eq!(
        config.imagor.base_params.as_deref(),
        Some("filters:fill(white)")
    );
    assert_eq!(config.http_loader.accept, "image/*");
    assert_eq!(config.server.address, "");
    assert_eq!(
        config.imagor.base_path_redirect.as_deref(),
        Some("https://example.com/#anchor")
    );
}

#[test]
fn dotenv_syntax_errors_name_file_and_line() {
    let err = ConfigBuilder::new()
        .dotenv_text("PORT=1\n# ok\nNOT A SETTING\n")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::ConfigFileSyntax { line: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "config file .env, line 3: expected NAME=value"
    );
    let err = ConfigBuilder::new()
        .dotenv_text("IMAGOR_SECRET=\"unterminated\n")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn invalid_value_in_file_names_its_origin() {
    let err = ConfigBuilder::new()
        .dotenv_text("VIPS_MAX_WIDTH=wide\n")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::InvalidValue {
                key: ConfigKey::VipsMaxWidth,
                origin: Origin::File,
                ..
            }
        ),
        "{err:?}"
    );
}

// ===== command line =====

#[test]
fn command_line_forms() {
    let config = args_ok(&[
        "-port",
        "9000",
        "--bind=127.0.0.1:9001",
        "-imagor-unsafe",
        "--server-cors",
        "-debug=false",
        "-imagor-process-concurrency",
        "-1",
        "--",
    ]);
    assert_eq!(config.server.port, 9000);
    assert_eq!(config.server.bind.as_deref(), Some("127.0.0.1:9001"));
    assert!(config.imagor.allow_unsafe);
    assert!(config.server.cors);
    assert!(!config.server.debug);
    assert_eq!(config.imagor.process_concurrency, None);
}

#[test]
fn unknown_flag_is_an_error() {
    let err = ConfigBuilder::new()
        .args(["-imagor-secret", "x", "-no-such-option", "1"])
        .build()
        .unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownFlag { flag } if flag == "-no-such-option"));
    assert_eq!(
        err.to_string(),
        "flag provided but not defined: -no-such-option"
    );
}

#[test]
fn flag_errors() {
    let err = ConfigBuilder::new().args(["-port"]).build().unwrap_err();
    assert_eq!(err.to_string(), "flag needs an argument: -port");
    let err = ConfigBuilder::new()
        .args(["-debug", "true"])
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::UnexpectedArgument { .. }),
        "{err}"
    );
    for help in ["-h", "-help", "--help"] {
        let err = ConfigBuilder::new().args([help]).build().unwrap_err();
        assert!(matches!(err, ConfigError::HelpRequested), "{help}");
    }
}

// ===== value parsers through the public surface =====

#[test]
fn booleans_accept_go_spellings_only() {
    for yes in ["1", "t", "T", "TRUE", "true", "True"] {
        assert!(
            env_ok(&[("SERVER_ACCESS_LOG", yes)]).server.access_log,
            "{yes}"
        );
    }
    for no in ["0", "f", "F", "FALSE", "false", "False"] {
        assert!(
            !env_ok(&[("SERVER_ACCESS_LOG", no)]).server.access_log,
            "{no}"
        );
    }
    assert_eq!(
        env_err(&[("SERVER_ACCESS_LOG", "yes")]),
        r#"invalid value "yes" for SERVER_ACCESS_LOG (-server-access-log): expected a boolean (1, t, true, 0, f, false)"#
    );
}

#[test]
fn integers_follow_go_syntax() {
    assert_eq!(env_ok(&[("PORT", "0x1F90")]).server.port, 8080);
    assert_eq!(env_ok(&[("PORT", "1_000")]).server.port, 1000);
    assert_eq!(
        env_ok(&[("IMAGOR_PROCESS_CONCURRENCY", "4")])
            .imagor
            .process_concurrency,
        Some(4)
    );
    assert_eq!(
        env_err(&[("PORT", "80.5")]),
        r#"invalid value "80.5" for PORT (-port): expected an integer"#
    );
    assert_eq!(
        env_err(&[("PORT", "70000")]),
        r#"invalid value "70000" for PORT (-port): expected a port number from 0 to 65535"#
    );
    assert!(
        env_err(&[("IMAGOR_PROCESS_QUEUE_SIZE", "-1")])
            .contains("expected an integer of 0 or more")
    );
    assert!(env_err(&[("HTTP_LOADER_MAX_ALLOWED_SIZE", "-5")]).contains("0 or more"));
    // Unsupported options are validated too.
    assert!(env_err(&[("VIPS_CACHE_SIZE", "lots")]).contains("VIPS_CACHE_SIZE"));
}

#[test]
fn durations_follow_go_syntax() {
    let cases = [
        ("30s", secs(30)),
        ("1h30m", secs(5400)),
        ("1.5h", secs(5400)),
        ("300ms", Duration::from_millis(300)),
        ("2h45m30.5s", Duration::from_millis(9_930_500)),
    ];
    for (text, expected) in cases {
        let config = env_ok(&[("IMAGOR_LOAD_TIMEOUT", text)]);
        assert_eq!(config.imagor.load_timeout, expected, "{text}");
    }
    assert_eq!(
        env_err(&[("IMAGOR_LOAD_TIMEOUT", "abc")]),
        r#"invalid value "abc" for IMAGOR_LOAD_TIMEOUT (-imagor-load-timeout): expected a duration like 30s"#
    );
    for bad in ["30", "1d", "5 s", "-", "1h-1m"] {
        assert!(
            env_err(&[("IMAGOR_CACHE_HEADER_TTL", bad)]).contains("expected a duration"),
            "{bad}"
        );
    }
    assert!(
        env_err(&[("GCLOUD_STORAGE_EXPIRATION", "1week")]).contains("GCLOUD_STORAGE_EXPIRATION")
    );
}

#[test]
fn lists_trim_items_and_drop_empties() {
    let config = env_ok(&[
        ("HTTP_LOADER_ALLOWED_SOURCES", " *.example.com , ,cdn.io,"),
        ("VIPS_DISABLE_FILTERS", ""),
        ("HTTP_LOADER_FORWARD_HEADERS", "User-Agent, X-Custom ,"),
    ]);
    assert_eq!(
        config.http_loader.allowed_sources,
        ["*.example.com", "cdn.io"]
    );
    assert!(config.processing.disable_filters.is_empty());
    let names: Vec<&str> = config
        .http_loader
        .forward_headers
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(names, ["user-agent", "x-custom"]);
    assert!(
        env_err(&[(
            "HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS",
            "Cache-Control,Bad Header"
        )])
        .contains("\"Bad Header\" is not a valid HTTP header name")
    );
}

#[test]
fn permissions_are_octal_strings() {
    let config = env_ok(&[
        ("FILE_STORAGE_MKDIR_PERMISSION", "0700"),
        ("FILE_RESULT_STORAGE_WRITE_PERMISSION", "644"),
    ]);
    assert_eq!(config.file.storage.mkdir_permission, 0o700);
    assert_eq!(config.file.storage.write_permission, 0o666);
    assert_eq!(config.file.result_storage.mkdir_permission, 0o755);
    assert_eq!(config.file.result_storage.write_permission, 0o644);
    assert_eq!(
        env_err(&[("FILE_STORAGE_WRITE_PERMISSION", "0999")]),
        r#"invalid value "0999" for FILE_STORAGE_WRITE_PERMISSION (-file-storage-write-permission): expected an octal permission like 0755"#
    );
}

// ===== effective defaults =====

#[test]
fn zero_timeouts_become_the_built_in_values() {
    let config = env_ok(&[
        ("IMAGOR_REQUEST_TIMEOUT", "0"),
        ("IMAGOR_LOAD_TIMEOUT", "0s"),
        ("IMAGOR_SAVE_TIMEOUT", "-5s"),
        ("IMAGOR_PROCESS_TIMEOUT", "0"),
    ]);
    assert_eq!(config.imagor.request_timeout, secs(30));
    assert_eq!(config.imagor.load_timeout, secs(20));
    assert_eq!(config.imagor.save_timeout, secs(20));
    assert_eq!(config.imagor.process_timeout, secs(20));

    let defaults = env_ok(&[]);
    assert_eq!(defaults.imagor.request_timeout, secs(30));
    assert_eq!(defaults.imagor.load_timeout, secs(20));
}

#[test]
fn zero_limits_become_the_built_in_values() {
    let config = env_ok(&[
        ("VIPS_MAX_WIDTH", "0"),
        ("VIPS_MAX_HEIGHT", "0"),
        ("VIPS_MAX_RESOLUTION", "0"),
    ]);
    assert_eq!(config.processing.max_width, 9999);
    assert_eq!(config.processing.max_height, 9999);
    assert_eq!(config.processing.max_resolution, 81_000_000);

    let config = env_ok(&[
        ("VIPS_MAX_WIDTH", "4000"),
        ("VIPS_MAX_HEIGHT", "3000"),
        ("VIPS_MAX_RESOLUTION", "12000000"),
        ("VIPS_UNLIMITED", "1"),
    ]);
    assert_eq!(config.processing.max_width, 4000);
    assert_eq!(config.processing.max_height, 3000);
    assert_eq!(config.processing.max_resolution, 12_000_000);
    assert!(config.processing.unlimited);
    assert!(env_err(&[("VIPS_MAX_WIDTH", "-1")]).contains("0 or more"));
}

#[test]
fn cache_ttl_and_swr_ignore_zero() {
    let config = env_ok(&[
        ("IMAGOR_CACHE_HEADER_TTL", "0"),
        ("IMAGOR_CACHE_HEADER_SWR", "0"),
    ]);
    assert_eq!(config.imagor.cache_header_ttl, secs(7 * 24 * 3600));
    assert_eq!(config.imagor.cache_header_swr, secs(24 * 3600));
    let config = env_ok(&[
        ("IMAGOR_CACHE_HEADER_TTL", "169s"),
        ("IMAGOR_CACHE_HEADER_SWR", "167s"),
        ("IMAGOR_CACHE_HEADER_NO_CACHE", "true"),
    ]);
    assert_eq!(config.imagor.cache_header_ttl, secs(169));
    assert_eq!(config.imagor.cache_header_swr, secs(167));
    assert!(config.imagor.cache_header_no_cache);
}

#[cfg(feature = "s3")]
#[test]
fn zero_means_never_or_unlimited() {
    let config = env_ok(&[
        ("FILE_STORAGE_EXPIRATION", "24h"),
        ("FILE_RESULT_STORAGE_EXPIRATION", "0"),
        ("S3_STORAGE_EXPIRATION", "1h"),
        ("HTTP_LOADER_MAX_ALLOWED_SIZE", "0"),
        ("IMAGOR_PROCESS_CONCURRENCY", "0"),
        ("VIPS_MAX_FILTER_OPS", "0"),
    ]);
    assert_eq!(config.file.storage.expiration, Some(secs(86_400)));
    assert_eq!(config.file.result_storage.expiration, None);
    assert_eq!(config.s3.storage.expiration, Some(secs(3600)));
    assert_eq!(config.s3.result_storage.expiration, None);
    assert_eq!(config.http_loader.max_allowed_size, None);
    assert_eq!(config.imagor.process_concurrency, None);
    assert_eq!(config.processing.max_filter_ops, None);

    let config = env_ok(&[
        ("HTTP_LOADER_MAX_ALLOWED_SIZE", "1048576"),
        ("IMAGOR_PROCESS_CONCURRENCY", "3"),
        ("IMAGOR_PROCESS_QUEUE_SIZE", "6"),
        ("VIPS_MAX_FILTER_OPS", "2"),
    ]);
    assert_eq!(config.http_loader.max_allowed_size, Some(1_048_576));
    assert_eq!(config.imagor.process_concurrency, Some(3));
    assert_eq!(config.imagor.process_queue_size, 6);
    assert_eq!(config.processing.max_filter_ops, Some(2));
}

#[test]
fn animation_frame_limit_mapping() {
    let frames = |text| {
        env_ok(&[("VIPS_MAX_ANIMATION_FRAMES", text)])
            .processing
            .max_animation_frames
    };
    assert_eq!(frames("-1"), None);
    assert_eq!(frames("0"), Some(1));
    assert_eq!(frames("-7"), Some(1));
    assert_eq!(frames("1"), Some(1));
    assert_eq!(frames("25"), Some(25));
}

#[test]
fn unsafe_urls_get_a_finite_filter_count_unless_set() {
    assert_eq!(env_ok(&[]).processing.max_filter_ops, None);
    let unsafe_on = env_ok(&[("IMAGOR_UNSAFE", "1")]);
    assert_eq!(unsafe_on.processing.max_filter_ops, Some(20));
    // Set explicitly, even to unlimited, it is kept.
    for (text, expected) in [("-1", None), ("0", None), ("50", Some(50))] {
        let config = env_ok(&[("IMAGOR_UNSAFE", "1"), ("VIPS_MAX_FILTER_OPS", text)]);
        assert_eq!(config.processing.max_filter_ops, expected, "{text}");
    }
}

#[test]
fn work_budget_option() {
    let budget = |vars: &[(&str, &str)]| env_ok(vars).processing.max_work;
    assert_eq!(budget(&[]), Some(10_000_000_000));
    assert_eq!(budget(&[("VIPS_MAX_WORK", "5000")]), Some(5000));
    assert_eq!(budget(&[("VIPS_MAX_WORK", "0")]), None);
    assert_eq!(budget(&[("VIPS_MAX_WORK", "-1")]), None);
    // The budget reaches the processing options the standalone server uses.
    let options = env_ok(&[("VIPS_MAX_WORK", "5000")]).process_options();
    assert!(
        format!("{options:?}").contains("work_budget: 5000"),
        "{options:?}"
    );
}

#[test]
fn avif_speed_out_of_range_keeps_default_with_a_warning() {
    assert_eq!(env_ok(&[("VIPS_AVIF_SPEED", "0")]).processing.avif_speed, 0);
    assert_eq!(env_ok(&[("VIPS_AVIF_SPEED", "9")]).processing.avif_speed, 9);
    let config = env_ok(&[("VIPS_AVIF_SPEED", "10")]);
    assert_eq!(config.processing.avif_speed, 8);
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.contains("VIPS_AVIF_SPEED"))
    );
    // The speed reaches the processing options the standalone server uses.
    let options = env_ok(&[("VIPS_AVIF_SPEED", "9")]).process_options();
    assert!(
        format!("{options:?}").contains("avif_speed: 9"),
        "{options:?}"
    );
}

#[test]
fn default_scheme_nil_disables_it() {
    assert_eq!(
        env_ok(&[]).http_loader.default_scheme.as_deref(),
        Some("https")
    );
    assert_eq!(
        env_ok(&[("HTTP_LOADER_DEFAULT_SCHEME", "http")])
            .http_loader
            .default_scheme
            .as_deref(),
        Some("http")
    );
    assert_eq!(
        env_ok(&[("HTTP_LOADER_DEFAULT_SCHEME", "nil")])
            .http_loader
            .default_scheme,
        None
    );
}

// ===== validation =====

#[test]
fn signer_truncate_below_17_is_rejected_with_the_reason() {
    for n in ["1", "8", "16"] {
        let err = env_err(&[("IMAGOR_SIGNER_TRUNCATE", n)]);
        assert!(
            err.starts_with(&format!(
                "invalid value \"{n}\" for IMAGOR_SIGNER_TRUNCATE (-imagor-signer-truncate): "
            )),
            "{err}"
        );
        assert!(err.contains("shorter than 17 characters"), "{err}");
        assert!(
            err.contains("every signed URL would fail with 403"),
            "{err}"
        );
    }
    assert_eq!(
        env_ok(&[("IMAGOR_SIGNER_TRUNCATE", "0")])
            .imagor
            .signer_truncate,
        None
    );
    assert_eq!(
        env_ok(&[("IMAGOR_SIGNER_TRUNCATE", "17")])
            .imagor
            .signer_truncate,
        Some(17)
    );
    assert!(env_err(&[("IMAGOR_SIGNER_TRUNCATE", "-3")]).contains("0 or more"));
}

#[test]
fn block_networks_must_be_cidrs() {
    let config = env_ok(&[(
        "HTTP_LOADER_BLOCK_NETWORKS",
        "10.0.0.0/8, 192.168.1.77/24 ,::1/128,",
    )]);
    let nets: Vec<String> = config
        .http_loader
        .block_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    // Host bits are cleared, as Go's net.ParseCIDR does.
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.0/24", "::1/128"]);
    assert!(
        config.http_loader.block_networks[1]
            .contains(&"192.168.1.200".parse::<std::net::IpAddr>().unwrap())
    );

    for bad in [
        "10.0.0.0",
        "10.0.0.0/33",
        "example.com/8",
        "10.0.0.0/8,oops",
    ] {
        let err = env_err(&[("HTTP_LOADER_BLOCK_NETWORKS", bad)]);
        assert!(err.contains("HTTP_LOADER_BLOCK_NETWORKS"), "{err}");
        assert!(err.contains("is not a CIDR network"), "{err}");
    }
}

#[test]
fn allowed_source_regexp_must_compile() {
    let config = env_ok(&[(
        "HTTP_LOADER_ALLOWED_SOURCE_REGEXP",
        r"^https://(www\.)?example\.com/",
    )]);
    let re = config.http_loader.allowed_source_regexp.unwrap();
    assert!(re.is_match("https://www.example.com/a.jpg"));
    assert!(!re.is_match("http://example.com/a.jpg"));

    let err = env_err(&[("HTTP_LOADER_ALLOWED_SOURCE_REGEXP", "^(unclosed")]);
    assert!(
        err.starts_with(
            r#"invalid value "^(unclosed" for HTTP_LOADER_ALLOWED_SOURCE_REGEXP (-http-loader-allowed-source-regexp): expected a regular expression ("#
        ),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn urls_must_be_absolute() {
    let config = env_ok(&[
        ("HTTP_LOADER_BASE_URL", "https://cdn.example.com/images"),
        (
            "HTTP_LOADER_PROXY_URLS",
            "http://user:pass@proxy1:3128,http://proxy2:3128",
        ),
    ]);
    assert_eq!(
        config.http_loader.base_url.as_deref(),
        Some("https://cdn.example.com/images")
    );
    assert_eq!(config.http_loader.proxy_urls.len(), 2);
    assert_eq!(
        config.http_loader.proxy_urls[0].expose(),
        "http://user:pass@proxy1:3128"
    );
    assert!(
        env_err(&[("HTTP_LOADER_BASE_URL", "cdn.example.com/images")]).contains("absolute URL")
    );
    let err = env_err(&[(
        "HTTP_LOADER_PROXY_URLS",
        "http://user:hunter2@ok:1,not a url",
    )]);
    assert!(err.contains("absolute URL"), "{err}");
    assert!(!err.contains("hunter2"), "proxy credentials leaked: {err}");
}

#[cfg(feature = "s3")]
#[test]
fn enumerations_and_their_fallbacks() {
    let config = env_ok(&[
        ("IMAGOR_SIGNER_TYPE", "SHA512"),
        ("IMAGOR_STORAGE_PATH_STYLE", "digest"),
        ("IMAGOR_RESULT_STORAGE_PATH_STYLE", "suffix"),
        ("S3_STORAGE_CLASS", "INTELLIGENT_TIERING"),
        ("S3_STORAGE_ACL", "public-read"),
        ("S3_RESULT_STORAGE_ACL", "bucket-owner-full-control"),
    ]);
    assert_eq!(config.imagor.signer_type, SignerType::Sha512);
    assert_eq!(config.imagor.storage_path_style, StoragePathStyle::Digest);
    assert_eq!(
        config.imagor.result_storage_path_style,
        ResultStoragePathStyle::Suffix
    );
    assert_eq!(config.s3.storage_class, S3StorageClass::IntelligentTiering);
    assert_eq!(config.s3.storage.acl, Some(CannedAcl::PublicRead));
    assert_eq!(
        config.s3.result_storage.acl.map(CannedAcl::as_str),
        Some("bucket-owner-full-control")
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());

    let config = env_ok(&[
        ("IMAGOR_SIGNER_TYPE", "md5"),
        ("IMAGOR_STORAGE_PATH_STYLE", "size"),
        ("IMAGOR_RESULT_STORAGE_PATH_STYLE", "hashed"),
        ("S3_STORAGE_CLASS", "COLD"),
        ("S3_STORAGE_ACL", "everyone"),
    ]);
    assert_eq!(config.imagor.signer_type, SignerType::Sha1);
    assert_eq!(config.imagor.storage_path_style, StoragePathStyle::Original);
    assert_eq!(
        config.imagor.result_storage_path_style,
        ResultStoragePathStyle::Original
    );
    assert_eq!(config.s3.storage_class, S3StorageClass::Standard);
    assert_eq!(config.s3.storage.acl, None);
    let warnings = config.warnings().join("\n");
    for name in [
        "IMAGOR_SIGNER_TYPE",
        "IMAGOR_STORAGE_PATH_STYLE",
        "IMAGOR_RESULT_STORAGE_PATH_STYLE",
        "S3_STORAGE_CLASS",
        "S3_STORAGE_ACL",
    ] {
        assert!(warnings.contains(name), "{name} missing from {warnings}");
    }
}

#[test]
fn deprecated_forward_all_headers_alias() {
    let config = env_ok(&[("HTTP_LOADER_FORWARD_ALL_HEADERS", "1")]);
    assert!(config.http_loader.forward_client_headers);
    assert!(config.warnings().iter().any(|w| w.contains("deprecated")));
}

// ===== S3 =====

#[cfg(feature = "s3")]
#[test]
fn s3_role_credentials_apply_only_when_complete() {
    let config = env_ok(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "GLOBALKEY"),
        ("AWS_SECRET_ACCESS_KEY", "globalsecret"),
        ("S3_ENDPOINT", "http://minio:9000"),
        ("AWS_LOADER_REGION", "eu-west-1"),
        ("AWS_LOADER_ACCESS_KEY_ID", "LOADERKEY"),
        ("AWS_LOADER_SECRET_ACCESS_KEY", "loadersecret"),
        ("AWS_LOADER_SESSION_TOKEN", "loadertoken"),
        ("S3_LOADER_ENDPOINT", "http://loader:9000"),
        ("AWS_STORAGE_REGION", "ap-south-1"),
        ("S3_LOADER_BUCKET", "images/base"),
        ("S3_RESULT_STORAGE_BUCKET", "results"),
        ("S3_FORCE_PATH_STYLE", "1"),
    ]);
    assert!(config.s3.is_enabled());
    assert!(config.s3.force_path_style);
    let loader = config.s3.credentials(S3Role::Loader);
    assert_eq!(loader.region.as_deref(), Some("eu-west-1"));
    let (id, secret, token) = loader.static_keys().unwrap();
    assert_eq!(id, "LOADERKEY");
    assert_eq!(secret.expose(), "loadersecret");
    assert_eq!(token.map(|t| t.expose()), Some("loadertoken"));
    assert_eq!(
        config.s3.endpoint(S3Role::Loader),
        Some("http://loader:9000")
    );

    // Storage has only a region: ignored, global settings apply, with a warning.
    let storage = config.s3.credentials(S3Role::Storage);
    assert_eq!(storage.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        config.s3.endpoint(S3Role::Storage),
        Some("http://minio:9000")
    );
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.starts_with("AWS_STORAGE_* settings are ignored"))
    );
    assert_eq!(config.s3.loader.bucket.as_deref(), Some("images/base"));
    assert_eq!(config.s3.result_storage.bucket.as_deref(), Some("results"));
    assert_eq!(config.s3.storage.bucket, None);
}

#[cfg(feature = "s3")]
#[test]
fn s3_disabled_without_buckets() {
    let config = env_ok(&[("AWS_REGION", "us-east-1")]);
    assert!(!config.s3.is_enabled());
    assert_eq!(config.s3.http_max_idle_conns_per_host, 100);
    assert!(config.s3.aws.static_keys().is_none());
    let config = env_ok(&[("S3_LOADER_BUCKET_ROUTER_CONFIG", "router.yaml")]);
    assert!(config.s3.is_enabled());
}

// ===== unsupported options =====

#[test]
fn unsupported_options_that_were_set_are_reported() {
    let config = ConfigBuilder::new()
        .args(["-upload-loader-enable"])
        .env([
            ("SENTRY_DSN", "https://key@sentry.example/1"),
            ("VIPS_CACHE_SIZE", "0"),
        ])
        .dotenv_text("GOMAXPROCS=2\nIMAGOR_SECRET=x\n")
        .build()
        .unwrap();
    assert_eq!(
        config.unsupported(),
        ["GOMAXPROCS", "SENTRY_DSN", "VIPS_CACHE_SIZE",]
    );
    assert!(!format!("{config:?}").contains("sentry.example"));
}

#[cfg(all(feature = "gcs", feature = "azure"))]
#[test]
fn gcs_and_azure_options_are_supported_and_typed() {
    use imagor_tower::config::GcsAcl;
    use std::time::Duration;

    let config = ConfigBuilder::new()
        .args([
            "-azure-loader-container",
            "images",
            "-gcloud-safe-chars",
            "()",
        ])
        .env([
            ("GCLOUD_LOADER_BUCKET", "bucket/dir"),
            ("GCLOUD_RESULT_STORAGE_BUCKET", "*"),
            ("GCLOUD_RESULT_STORAGE_ACL", "public-read"),
            ("GCLOUD_STORAGE_BUCKET", "cache"),
            ("GCLOUD_STORAGE_ACL", "everyone"),
            ("GCLOUD_STORAGE_EXPIRATION", "2h"),
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/keys/sa.json"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "very-secret-key"),
            ("AZURE_STORAGE_EXPIRATION", "90m"),
            ("AZURE_STORAGE_CONTAINER", "cache"),
        ])
        .build()
        .unwrap();
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    assert!(ConfigKey::GcloudLoaderBucket.is_supported());
    let g = &config.gcloud;
    assert_eq!(g.safe_chars, "()");
    assert_eq!(g.loader.bucket.as_deref(), Some("bucket/dir"));
    assert_eq!(g.result_storage.acl, Some(GcsAcl::PublicRead));
    assert_eq!(g.storage.acl, None);
    assert_eq!(g.storage.expiration, Some(Duration::from_secs(7200)));
    assert_eq!(g.emulator_host.as_deref(), Some("127.0.0.1:4443"));
    assert_eq!(
        g.application_credentials.as_deref(),
        Some(std::path::Path::new("/keys/sa.json"))
    );
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.contains("GCLOUD_STORAGE_ACL") && w.contains("everyone")),
        "{:?}",
        config.warnings()
    );
    let a = &config.azure;
    assert_eq!(a.loader.container.as_deref(), Some("images"));
    assert_eq!(a.storage.expiration, Some(Duration::from_secs(5400)));
    assert_eq!(
        a.account_key.as_ref().map(|k| k.expose()),
        Some("very-secret-key")
    );
    assert!(!format!("{config:?}").contains("very-secret-key"));
    // Every role builds, without touching the network.
    use imagor_tower::storage::Role;
    for role in [Role::Loader, Role::Storage, Role::ResultStorage] {
        assert!(config.gcs_backend(role).unwrap().is_some(), "{role:?}");
    }
    assert!(config.azure_backend(Role::ResultStorage).unwrap().is_none());

    // An endpoint that is not a URL stops the configuration.
    let err = ConfigBuilder::new()
        .env([("AZURE_ENDPOINT", "devstoreaccount1")])
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("AZURE_ENDPOINT"), "{err}");
}

#[test]
fn upload_loader_options() {
    let config = env_ok(&[]);
    assert!(!config.upload.enable);
    assert_eq!(config.upload.max_allowed_size, 32 << 20);
    assert_eq!(config.upload.accept, ["image/*"]);
    assert_eq!(config.upload.form_field_name, "image");
    assert!(config.upload_loader().is_none());

    let config = ConfigBuilder::new()
        .args([
            "-upload-loader-enable",
            "-upload-loader-max-allowed-size",
            "1000",
        ])
        .env([
            ("UPLOAD_LOADER_ACCEPT", "image/png, image/webp"),
            ("UPLOAD_LOADER_FORM_FIELD_NAME", "file"),
        ])
        .build()
        .unwrap();
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    assert!(config.upload.enable);
    assert_eq!(config.upload.max_allowed_size, 1000);
    assert_eq!(config.upload.accept, ["image/png", "image/webp"]);
    assert_eq!(config.upload.form_field_name, "file");
    let loader = config.upload_loader().unwrap();
    assert!(loader.accepts("image/webp") && !loader.accepts("image/jpeg"));

    let err = ConfigBuilder::new()
        .env([("UPLOAD_LOADER_MAX_ALLOWED_SIZE", "-1")])
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("UPLOAD_LOADER_MAX_ALLOWED_SIZE"),
        "{err}"
    );
}

#[test]
fn nothing_set_means_nothing_unsupported() {
    let config = env_ok(&[("IMAGOR_SECRET", "x"), ("FILE_LOADER_BASE_DIR", "/tmp")]);
    assert!(config.unsupported().is_empty());
}

// ===== redaction =====

#[cfg(feature = "s3")]
#[test]
fn debug_output_never_shows_secrets() {
    let config = env_ok(&[
        ("IMAGOR_SECRET", "imagor-secret-value"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
        ("AWS_SESSION_TOKEN", "aws-token-value"),
        ("AWS_LOADER_SECRET_ACCESS_KEY", "loader-secret-value"),
        ("AWS_STORAGE_SESSION_TOKEN", "storage-token-value"),
        (
            "AWS_RESULT_STORAGE_SECRET_ACCESS_KEY",
            "result-secret-value",
        ),
        ("HTTP_LOADER_PROXY_URLS", "http://u:proxy-password@p:1"),
        ("AWS_ACCESS_KEY_ID", "AKIAVISIBLE"),
    ]);
    let text = format!("{config:?}");
    for secret in [
        "imagor-secret-value",
        "aws-secret-value",
        "aws-token-value",
        "loader-secret-value",
        "storage-token-value",
        "result-secret-value",
        "proxy-password",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(text.contains("<redacted>"));
    // Key ids are not secret.
    assert!(text.contains("AKIAVISIBLE"));
    // The values are still there for the code that needs them.
    assert_eq!(config.imagor.secret.expose(), "imagor-secret-value");
    let pretty = format!("{config:#?}");
    assert!(!pretty.contains("imagor-secret-value"));
}

// ===== misc =====

#[test]
fn listen_address_prefers_bind() {
    assert_eq!(env_ok(&[]).server.listen_address(), "0.0.0.0:8000");
    assert_eq!(
        env_ok(&[("SERVER_ADDRESS", "127.0.0.1"), ("PORT", "9000")])
            .server
            .listen_address(),
        "127.0.0.1:9000"
    );
    assert_eq!(
        env_ok(&[("SERVER_ADDRESS", "::1")]).server.listen_address(),
        "[::1]:8000"
    );
    assert_eq!(
        env_ok(&[("BIND", "127.0.0.1:7000"), ("PORT", "9000")])
            .server
            .listen_address(),
        "127.0.0.1:7000"
    );
    assert_eq!(
        env_ok(&[("BIND", ":7000")]).server.listen_address(),
        "0.0.0.0:7000"
    );
    // The result really binds.
    let config = env_ok(&[("SERVER_ADDRESS", "127.0.0.1"), ("PORT", "0")]);
    std::net::TcpListener::bind(config.server.listen_address()).unwrap();
}

#[test]
fn server_section_fields() {
    let config = env_ok(&[
        ("SERVER_PATH_PREFIX", "/imagor"),
        ("SERVER_STRIP_QUERY_STRING", "1"),
        ("LOG_ECS", "1"),
        ("VERSION", "1"),
        ("PROMETHEUS_BIND", ":5000"),
        ("PROMETHEUS_PATH", "/metrics"),
        ("PROMETHEUS_NAMESPACE", "img"),
    ]);
    assert_eq!(config.server.path_prefix.as_deref(), Some("/imagor"));
    assert!(config.server.strip_query_string);
    assert!(config.server.log_ecs);
    assert!(config.server.version);
    assert_eq!(config.server.prometheus.bind.as_deref(), Some(":5000"));
    assert_eq!(
        config.server.prometheus.listen_address().as_deref(),
        Some("0.0.0.0:5000")
    );
    assert_eq!(env_ok(&[]).server.prometheus.listen_address(), None);
    assert_eq!(config.server.prometheus.path, "/metrics");
    assert_eq!(config.server.prometheus.namespace, "img");
    assert!(config.warnings().is_empty());
    let config = env_ok(&[("SERVER_PATH_PREFIX", "imagor")]);
    assert!(config.warnings()[0].contains("does not start with '/'"));
}

#[test]
fn file_section_fields() {
    let config = env_ok(&[
        ("FILE_LOADER_BASE_DIR", "/srv/images"),
        ("FILE_LOADER_PATH_PREFIX", "public/"),
        ("FILE_RESULT_STORAGE_BASE_DIR", "/srv/results"),
        ("FILE_SAFE_CHARS", "--"),
    ]);
    assert_eq!(
        config.file.loader.base_dir.as_deref(),
        Some(Path::new("/srv/images"))
    );
    assert_eq!(config.file.loader.path_prefix, "public/");
    assert_eq!(config.file.storage.base_dir, None);
    assert_eq!(
        config.file.result_storage.base_dir.as_deref(),
        Some(Path::new("/srv/results"))
    );
    assert_eq!(config.file.safe_chars, "--");
}

#[test]
fn help_text_lists_every_option_with_env_and_default() {
    let help = Config::help_text();
    // imagor's 152 options, eleven of this crate and the 15 Azure ones.
    assert_eq!(ConfigKey::ALL.len(), 178);
    for key in ConfigKey::ALL {
        assert!(help.contains(key.env_var()), "{key:?}");
    }
    assert!(
        help.contains(
            "-imagor-request-timeout <duration>  [IMAGOR_REQUEST_TIMEOUT]  (default 30s)"
        )
    );
    assert!(help.contains("(not supported yet)"));
    assert!(
        help.contains("-vips-avif-decode  [VIPS_AVIF_DECODE]  (default true)"),
        "{help}"
    );
}

#[test]
fn config_errors_convert_into_the_crate_error() {
    let err: imagor_tower::Error = env_err_value(&[("PORT", "x")]).into();
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err.message().contains("PORT"));
}

fn env_err_value(vars: &[(&str, &str)]) -> ConfigError {
    build_env(vars).unwrap_err()
}

#[test]
fn keys_parse_from_either_name() {
    assert_eq!(
        "HTTP_LOADER_BLOCK_NETWORKS".parse::<ConfigKey>(),
        Ok(ConfigKey::HttpLoaderBlockNetworks)
    );
    assert_eq!(
        "--http-loader-block-networks".parse::<ConfigKey>(),
        Ok(ConfigKey::HttpLoaderBlockNetworks)
    );
    assert!("http_loader_block_networks".parse::<ConfigKey>().is_err());
    assert!(ConfigKey::ImagorSecret.is_secret());
    assert!(!ConfigKey::AwsAccessKeyId.is_secret());
}

#[cfg(feature = "server")]
#[test]
fn connection_limits_have_defaults_flags_and_zero_keeps_the_default() {
    use imagor_tower::server::{
        DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    };
    let config = env_ok(&[]);
    assert_eq!(config.server.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(config.server.max_connections, 10_000);
    assert_eq!(config.server.header_timeout, DEFAULT_HEADER_TIMEOUT);
    assert_eq!(config.server.header_timeout, Duration::from_secs(10));
    assert_eq!(config.server.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.http_server().connection_limit(), 10_000);
    // The table's defaults say the same as the built-in values.
    assert_eq!(ConfigKey::ServerMaxConnections.default_value(), "10000");
    assert_eq!(ConfigKey::ServerHeaderTimeout.default_value(), "10s");
    assert_eq!(ConfigKey::ServerIdleTimeout.default_value(), "60s");

    let config = args_ok(&[
        "-server-max-connections",
        "64",
        "-server-header-timeout=2s",
        "-server-idle-timeout",
        "1m30s",
    ]);
    assert_eq!(config.server.max_connections, 64);
    assert_eq!(config.server.header_timeout, Duration::from_secs(2));
    assert_eq!(config.server.idle_timeout, Duration::from_secs(90));
    assert_eq!(config.http_server().connection_limit(), 64);

    let config = env_ok(&[
        ("SERVER_MAX_CONNECTIONS", "0"),
        ("SERVER_HEADER_TIMEOUT", "0"),
        ("SERVER_IDLE_TIMEOUT", "0"),
    ]);
    assert_eq!(config.server.max_connections, 10_000);
    assert_eq!(config.server.header_timeout, Duration::from_secs(10));
    assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
    assert!(env_err(&[("SERVER_MAX_CONNECTIONS", "-1")]).contains("SERVER_MAX_CONNECTIONS"));
    assert!(env_err(&[("SERVER_IDLE_TIMEOUT", "soon")]).contains("SERVER_IDLE_TIMEOUT"));
    assert!(
        Config::help_text()
            .contains("-server-max-connections <int>  [SERVER_MAX_CONNECTIONS]  (default 10000)")
    );
}
