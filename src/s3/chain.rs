//! [`AwsChainCredentials`]: the standard AWS credential chain (aws-config) as an
//! `object_store` credential provider.

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{Mutex, OnceCell};

/// How long before their expiry cached credentials are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Credentials from the standard AWS chain, for `object_store`'s S3 client.
///
/// `object_store`'s own chain knows static keys, web identity, ECS/EKS and the instance
/// metadata service, but not profile files (`~/.aws/credentials`, `~/.aws/config`,
/// `AWS_PROFILE`) or `credential_process`. This provider asks aws-config's default chain
/// instead: environment variables, profile files (with `credential_process` and role
/// chains), web identity, ECS and IMDS. The chain is built on first use, and the
/// credentials it returns are kept until five minutes before they expire.
///
/// [`S3Options`](super::S3Options) uses it when no static keys are configured.
///
/// ```
/// use imagor_tower::s3::AwsChainCredentials;
///
/// let chain = AwsChainCredentials::new().with_region("eu-west-1").with_profile("images");
/// assert!(format!("{chain:?}").contains("images"));
/// ```
pub struct AwsChainCredentials {
    source: Source,
    provider: OnceCell<SharedCredentialsProvider>,
    cached: Mutex<Option<Cached>>,
}

/// Where the underlying provider comes from.
#[derive(Debug, Clone)]
enum Source {
    /// aws-config's default chain, built lazily with these settings.
    Chain {
        region: Option<String>,
        profile: Option<String>,
    },
    /// A provider given by the caller.
    Given,
}

/// Credentials already fetched, and when they stop being valid.
struct Cached {
    credential: Arc<AwsCredential>,
    expiry: Option<SystemTime>,
}

impl AwsChainCredentials {
    /// The default chain, with the region and profile aws-config finds itself.
    pub fn new() -> Self {
        Self {
            source: Source::Chain {
                region: None,
                profile: None,
            },
            provider: OnceCell::new(),
            cached: Mutex::new(None),
        }
    }

    /// Wraps any aws-config credential provider (an assume-role provider, fixed test
    /// credentials …), with the same caching.
    pub fn from_provider(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            source: Source::Given,
            provider: OnceCell::new_with(Some(SharedCredentialsProvider::new(provider))),
            cached: Mutex::new(None),
        }
    }

    /// The region the chain uses for its STS calls (web identity, role chains).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        if let Source::Chain { region: slot, .. } = &mut self.source {
            *slot = Some(region.into());
        }
        self
    }

    /// The profile read from the profile files, instead of `AWS_PROFILE` or `default`.
    #[must_use]
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        if let Source::Chain { profile: slot, .. } = &mut self.source {
            *slot = Some(profile.into());
        }
        self
    }

    async fn provider(&self) -> &SharedCredentialsProvider {
        self.provider
            .get_or_init(|| async {
                let mut builder = DefaultCredentialsChain::builder();
                if let Source::Chain { region, profile } = &self.source {
                    if let Some(region) = region {
                        builder = builder.region(aws_config::Region::new(region.clone()));
                    }
                    if let Some(profile) = profile {
                        builder = builder.profile_name(profile);
                    }
                }
                SharedCredentialsProvider::new(builder.build().await)
            })
            .await
    }
}

impl Default for AwsChainCredentials {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AwsChainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsChainCredentials")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Whether credentials that expire at `expiry` may still be used at `now`.
fn still_fresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    match expiry {
        None => true,
        Some(expiry) => now
            .checked_add(REFRESH_BEFORE_EXPIRY)
            .is_some_and(|deadline| expiry > deadline),
    }
}

#[async_trait::async_trait]
impl CredentialProvider for AwsChainCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut slot = self.cached.lock().await;
        if let Some(cached) = slot.as_ref()
            && still_fresh(cached.expiry, SystemTime::now())
        {
            return Ok(Arc::clone(&cached.credential));
        }
        let provider = self.provider().await;
        let fetched =
            provider
                .provide_credentials()
                .await
                .map_err(|err| object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(err),
                })?;
        let credential = Arc::new(AwsCredential {
            key_id: fetched.access_key_id().to_owned(),
            secret_key: fetched.secret_access_key().to_owned(),
            token: fetched.session_token().map(str::to_owned),
        });
        *slot = Some(Cached {
            credential: Arc::clone(&credential),
            expiry: fetched.expiry(),
        });
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[test]
    fn freshness_keeps_a_margin_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(still_fresh(None, now));
        assert!(still_fresh(Some(now + Duration::from_secs(301)), now));
        assert!(!still_fresh(Some(now + Duration::from_secs(300)), now));
        assert!(!still_fresh(Some(now - Duration::from_secs(1)), now));
    }

    #[tokio::test]
    async fn given_provider_is_used_and_cached() {
        let chain = AwsChainCredentials::from_provider(Credentials::new(
            "AKID",
            "secret",
            Some("token".to_owned()),
            None,
            "test",
        ));
        let first = chain.get_credential().await.unwrap();
        assert_eq!(first.key_id, "AKID");
        assert_eq!(first.secret_key, "secret");
        assert_eq!(first.token.as_deref(), Some("token"));
        let second = chain.get_credential().await.unwrap();
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[tokio::test]
    async fn nearly_expired_credentials_are_fetched_again() {
        let soon = SystemTime::now() + Duration::from_secs(10);
        let chain = AwsChainCredentials::from_provider(Credentials::new(
            "AKID",
            "secret",
            None,
            Some(soon),
            "test",
        ));
        let first = chain.get_credential().await.unwrap();
        let second = chain.get_credential().await.unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.key_id, "AKID");
    }
}
