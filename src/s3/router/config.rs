//! The routing file: [`RouterConfig`] and its entries, read from YAML with `serde-saphyr`.

use super::super::bucket::is_bucket_name;
use super::super::credentials::AwsCredentials;
use crate::secret::Secret;
use regex::Regex;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// How many fallback buckets are kept; later entries are dropped (as imagor does).
pub const MAX_FALLBACK_BUCKETS: usize = 2;

/// The longest routing file read, in bytes: a routing table is a few kilobytes at most.
const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// One bucket of the routing file: a name and the settings that differ from the loader's.
///
/// Unset fields inherit the loader-wide S3 settings (`AWS_REGION`, `S3_LOADER_ENDPOINT` or
/// `S3_ENDPOINT`, the global or `AWS_LOADER_*` credentials). The entry's own credentials are
/// used only when both `access_key_id` and `secret_access_key` are set.
///
/// ```
/// use imagor_tower::s3::BucketConfig;
///
/// let bucket = BucketConfig::new("imagor-eu")
///     .with_region("eu-west-1")
///     .with_endpoint("https://s3.custom-endpoint.com")
///     .with_access_key("AKID", "secret");
/// assert_eq!(bucket.name, "imagor-eu");
/// assert!(!format!("{bucket:?}").contains("secret\""));
/// ```
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BucketConfig {
    /// The bucket name (required, not empty).
    #[serde(deserialize_with = "bucket_name")]
    pub name: String,
    /// The AWS region of the bucket.
    #[serde(default)]
    pub region: Option<String>,
    /// An S3-compatible endpoint such as `http://minio:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The access key id of the bucket's own credentials.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret key of the bucket's own credentials.
    #[serde(default, deserialize_with = "optional_secret")]
    pub secret_access_key: Option<Secret>,
    /// The session token sent with the bucket's own credentials.
    #[serde(default, deserialize_with = "optional_secret")]
    pub session_token: Option<Secret>,
}

impl BucketConfig {
    /// An entry for `name` inheriting every other setting.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The bucket's region.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The bucket's endpoint.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The bucket's own static credentials.
    #[must_use]
    pub fn with_access_key(mut self, key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.access_key_id = Some(key_id.into());
        self.secret_access_key = Some(Secret::new(secret));
        self
    }

    /// The session token sent with the bucket's own credentials.
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Secret::new(token));
        self
    }

    /// The entry's region and credentials as one level of the S3 credential rule: its own
    /// keys are used only when both `access_key_id` and `secret_access_key` are set.
    pub(super) fn credentials(&self) -> AwsCredentials {
        AwsCredentials {
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
        }
    }
}

impl fmt::Debug for BucketConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketConfig")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

/// One routing rule: the text the `bucket` group captured, and the bucket it selects.
///
/// ```
/// use imagor_tower::s3::{BucketConfig, RoutingRule};
///
/// let rule = RoutingRule::new("SG", BucketConfig::new("imagor-singapore"));
/// assert_eq!((rule.matches.as_str(), rule.bucket.name.as_str()), ("SG", "imagor-singapore"));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RoutingRule {
    /// The exact (case-sensitive) text of the `bucket` group that selects this rule
    /// (`match` in YAML).
    #[serde(rename = "match")]
    pub matches: String,
    /// The bucket used for keys that select this rule.
    pub bucket: BucketConfig,
}

impl RoutingRule {
    /// A rule sending keys whose `bucket` group captured `matches` to `bucket`.
    pub fn new(matches: impl Into<String>, bucket: BucketConfig) -> Self {
        Self {
            matches: matches.into(),
            bucket,
        }
    }
}

/// The bucket router's routing file (`S3_LOADER_BUCKET_ROUTER_CONFIG`).
///
/// ```yaml
/// routing_pattern: "^[a-f0-9]{4}-(?P<bucket>[A-Za-z0-9]+)-"
/// default_bucket: { name: imagor-default, region: us-east-1 }
/// fallback_buckets:
///   - { name: imagor-archive, region: us-west-2 }
/// rules:
///   - match: SG
///     bucket: { name: imagor-singapore, region: ap-southeast-1 }
/// ```
///
/// Stricter than imagor: unknown fields, a bucket entry without a `name` and a pattern
/// without a `bucket` group are errors. Fallbacks past the second are dropped, as imagor does.
///
/// ```
/// use imagor_tower::s3::RouterConfig;
///
/// let config = RouterConfig::from_yaml(
///     "routing_pattern: '^(?P<bucket>[^/]+)/'\ndefault_bucket:\n  name: images\n",
/// )
/// .unwrap();
/// assert_eq!(config.default_bucket.unwrap().name, "images");
///
/// let err = RouterConfig::from_yaml("routing_pattern: '^x'\nrulez: []\n").unwrap_err();
/// assert_eq!(err.line(), Some(1));
/// assert!(err.to_string().contains("(?P<bucket>...)"), "{err}");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouterConfig {
    /// A regular expression with a named group `bucket` and optionally one named `path`
    /// (Go's `(?P<name>...)` syntax).
    #[serde(deserialize_with = "routing_pattern")]
    pub routing_pattern: String,
    /// The bucket of keys that select no rule; without it such keys go to passthrough.
    #[serde(default)]
    pub default_bucket: Option<BucketConfig>,
    /// Buckets tried in order when the object is not in the chosen one (first two only).
    #[serde(default)]
    pub fallback_buckets: Vec<BucketConfig>,
    /// The routing rules; for a repeated `match` the last one wins.
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
}

impl RouterConfig {
    /// A configuration with `routing_pattern` and nothing else (passthrough mode).
    pub fn new(routing_pattern: impl Into<String>) -> Self {
        Self {
            routing_pattern: routing_pattern.into(),
            default_bucket: None,
            fallback_buckets: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// The default bucket.
    #[must_use]
    pub fn with_default_bucket(mut self, bucket: BucketConfig) -> Self {
        self.default_bucket = Some(bucket);
        self
    }

    /// Adds a fallback bucket.
    #[must_use]
    pub fn with_fallback_bucket(mut self, bucket: BucketConfig) -> Self {
        self.fallback_buckets.push(bucket);
        self
    }

    /// Adds a rule.
    #[must_use]
    pub fn with_rule(mut self, rule: RoutingRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Reads a routing file.
    ///
    /// # Errors
    ///
    /// A [`RouterConfigError`] naming the file (and, for content errors, the line and field)
    /// when the file cannot be read or is not a valid routing configuration.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, RouterConfigError> {
        let path = path.as_ref();
        let read = |source| RouterConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_FILE_SIZE {
            return Err(read(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file too large ({size} bytes, at most {MAX_FILE_SIZE})"),
            )));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Self::from_yaml(&text).map_err(|err| err.in_file(path))
    }

    /// Parses routing YAML.
    ///
    /// # Errors
    ///
    /// A [`RouterConfigError::Invalid`] with the line and field where YAML tells them.
    pub fn from_yaml(text: &str) -> Result<Self, RouterConfigError> {
        let config: Self = serde_saphyr::from_str(text).map_err(|err| yaml_error(text, &err))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what deserialisation cannot: used for configurations built in code too.
    pub(super) fn validate(&self) -> Result<Regex, RouterConfigError> {
        let pattern = compile_pattern(&self.routing_pattern)
            .map_err(|message| RouterConfigError::invalid("routing_pattern", message))?;
        let entries = self
            .default_bucket
            .iter()
            .map(|bucket| ("default_bucket.name", bucket))
            .chain(
                self.fallback_buckets
                    .iter()
                    .map(|bucket| ("fallback_buckets.name", bucket)),
            )
            .chain(
                self.rules
                    .iter()
                    .map(|rule| ("rules.bucket.name", &rule.bucket)),
            );
        for (field, bucket) in entries {
            check_bucket_name(&bucket.name)
                .map_err(|message| RouterConfigError::invalid(field, message))?;
        }
        Ok(pattern)
    }
}

/// Compiles the routing pattern and checks its `bucket` group.
pub(super) fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let regex = Regex::new(pattern).map_err(|err| {
        let detail = err.to_string();
        let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
        format!("not a valid regular expression: {detail}")
    })?;
    if !regex.capture_names().any(|name| name == Some("bucket")) {
        return Err(format!(
            "the pattern {pattern:?} has no named group (?P<bucket>...)"
        ));
    }
    Ok(regex)
}

/// Bucket entries must have a name that S3 could accept.
fn check_bucket_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a bucket entry needs a non-empty name".to_owned());
    }
    if !is_bucket_name(name) {
        return Err(format!(
            "{name:?} is not a bucket name (letters, digits, '.', '-', '_')"
        ));
    }
    Ok(())
}

fn routing_pattern<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let pattern = String::deserialize(deserializer)?;
    compile_pattern(&pattern).map_err(serde::de::Error::custom)?;
    Ok(pattern)
}

fn bucket_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    check_bucket_name(&name).map_err(serde::de::Error::custom)?;
    Ok(name)
}

fn optional_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(Secret::new))
}

/// A routing file that could not be used.
///
/// ```
/// use imagor_tower::s3::{RouterConfig, RouterConfigError};
///
/// let err = RouterConfig::from_file("/no/such/router.yaml").unwrap_err();
/// assert!(matches!(err, RouterConfigError::Read { .. }));
/// assert!(err.to_string().starts_with("bucket router config /no/such/router.yaml:"), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouterConfigError {
    /// The file could not be read.
    #[error("bucket router config {}: cannot read the file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The content is not a valid routing configuration.
    #[error("{}", describe(path.as_deref(), *line, field.as_deref(), message))]
    Invalid {
        /// The file, when the configuration came from one.
        path: Option<PathBuf>,
        /// The 1-based line, where YAML tells it.
        line: Option<usize>,
        /// The field at fault, such as `routing_pattern` or `rules.bucket.name`.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl RouterConfigError {
    fn invalid(field: &str, message: String) -> Self {
        Self::Invalid {
            path: None,
            line: None,
            field: Some(field.to_owned()),
            message,
        }
    }

    /// The same error, naming `path` as its file.
    #[must_use]
    pub fn in_file(self, file: &Path) -> Self {
        match self {
            Self::Invalid {
                line,
                field,
                message,
                ..
            } => Self::Invalid {
                path: Some(file.to_owned()),
                line,
                field,
                message,
            },
            read @ Self::Read { .. } => read,
        }
    }

    /// The 1-based line of the error, where known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Invalid { line, .. } => *line,
            Self::Read { .. } => None,
        }
    }

    /// The field at fault, where known.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => field.as_deref(),
            Self::Read { .. } => None,
        }
    }
}

impl From<RouterConfigError> for crate::Error {
    fn from(err: RouterConfigError) -> Self {
        crate::Error::internal(err)
    }
}

fn describe(
    path: Option<&Path>,
    line: Option<usize>,
    field: Option<&str>,
    message: &str,
) -> String {
    let mut text = String::from("bucket router config");
    if let Some(path) = path {
        text.push(' ');
        text.push_str(&path.display().to_string());
    }
    if let Some(line) = line {
        text.push_str(&format!(", line {line}"));
    }
    if let Some(field) = field {
        text.push_str(&format!(", field {field}"));
    }
    text.push_str(": ");
    text.push_str(message);
    text
}

/// A deserialisation error as a [`RouterConfigError`]: the line from the YAML location and
/// the field from the key written on that line (or named in the message).
fn yaml_error(text: &str, err: &serde_saphyr::Error) -> RouterConfigError {
    let line = err
        .location()
        .map(|location| location.line())
        .and_then(|line| usize::try_from(line).ok())
        .filter(|line| *line > 0);
    let message = plain_message(err);
    let field = backticked(&message)
        .filter(|_| message.contains("field"))
        .or_else(|| line.and_then(|line| key_on_line(text, line)));
    RouterConfigError::Invalid {
        path: None,
        line,
        field,
        message,
    }
}

/// The error's message on one line, without the source snippet some errors carry.
fn plain_message(err: &serde_saphyr::Error) -> String {
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.split(" at line ").next().unwrap_or(first);
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first `` `name` `` in a serde message (the field of "missing field `x`").
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')?.checked_add(1)?;
    let rest = message.get(start..)?;
    let end = rest.find('`')?;
    rest.get(..end)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// The mapping key written on a 1-based line: `key: value` or `- key: value`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let row = text.lines().nth(line.checked_sub(1)?)?;
    let row = row.trim_start().trim_start_matches('-').trim_start();
    let (key, _) = row.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_owned())
}
