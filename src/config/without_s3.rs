//! Builds without the `s3` cargo feature: an S3 option that is set stops the configuration,
//! naming the option and the feature, instead of leaving the deployment without the loader
//! or storage it asked for.
//!
//! Every option of the S3 section set to a value other than its default counts (`S3_*` and the per-role `AWS_LOADER_*`,
//! `AWS_STORAGE_*`, `AWS_RESULT_STORAGE_*`) except the four the AWS tools share with
//! everything else in a process's environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), which are often set for other reasons and
//! are ignored here.

use super::resolve::Values;
use super::{ConfigError, ConfigKey, Origin, Section};

/// The S3 options the AWS tooling shares: never refused.
const SHARED_AWS: [ConfigKey; 4] = [
    ConfigKey::AwsRegion,
    ConfigKey::AwsAccessKeyId,
    ConfigKey::AwsSecretAccessKey,
    ConfigKey::AwsSessionToken,
];

/// Refuses the first S3 option (in the table's order) that `values` sets to something other
/// than its default (`S3_FORCE_PATH_STYLE=false` asks for nothing this build lacks).
pub(super) fn refuse_s3_options(values: &Values) -> Result<(), ConfigError> {
    let set = ConfigKey::ALL.iter().copied().find(|key| {
        key.section() == Section::S3
            && !SHARED_AWS.contains(key)
            && values.origin(*key) != Origin::Default
            && values.raw(*key) != key.default_value()
    });
    match set {
        Some(key) => Err(ConfigError::NotBuiltIn { key, feature: "s3" }),
        None => Ok(()),
    }
}
