//! The S3 option types alone, for a build without the `s3` cargo feature: the configuration
//! still reads every S3 option, to refuse the ones that are set by name.

// Only the credential levels are used here; the choice between them builds clients.
#[allow(dead_code)]
#[path = "credentials.rs"]
mod credentials;
#[path = "settings.rs"]
mod settings;

pub use credentials::AwsCredentials;
pub(crate) use credentials::role_or_global;
pub use settings::{CannedAcl, S3Role, S3StorageClass};
