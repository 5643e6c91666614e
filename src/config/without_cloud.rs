//! Builds without the `gcs` or `azure` cargo feature: a Google Cloud Storage or Azure option
//! that is set stops the configuration, naming the option and the feature, instead of
//! leaving the deployment without the loader or storage it asked for. The Azure account
//! settings alone (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`,
//! `AZURE_STORAGE_SAS_TOKEN`, `AZURE_ENDPOINT`) enable nothing and are shared with other Azure
//! tools in a process's environment, so they are not refused.

use super::resolve::Values;
use super::{ConfigError, ConfigKey, Origin, Section};

/// The Azure options that enable nothing by themselves: never refused.
const SHARED_AZURE: [ConfigKey; 4] = [
    ConfigKey::AzureStorageAccountName,
    ConfigKey::AzureStorageAccountKey,
    ConfigKey::AzureStorageSasToken,
    ConfigKey::AzureEndpoint,
];

/// Refuses the first option (in the table's order) of a section whose feature this build
/// leaves out, when `values` sets it to something other than its default.
pub(super) fn refuse_cloud_options(values: &Values) -> Result<(), ConfigError> {
    let left_out = |section| match section {
        Section::GCloud => (!cfg!(feature = "gcs")).then_some("gcs"),
        Section::Azure => (!cfg!(feature = "azure")).then_some("azure"),
        _ => None,
    };
    for key in ConfigKey::ALL {
        if let Some(feature) = left_out(key.section())
            && !SHARED_AZURE.contains(key)
            && values.origin(*key) != Origin::Default
            && values.raw(*key) != key.default_value()
        {
            return Err(ConfigError::NotBuiltIn { key: *key, feature });
        }
    }
    Ok(())
}
