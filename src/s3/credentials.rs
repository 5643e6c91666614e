//! Which region and credentials an S3 client uses.
//!
//! [`AwsCredentials`] holds one level of settings (the global `AWS_*`, a role's
//! `AWS_<ROLE>_*`, or a bucket router entry). [`choose`] is the one place that decides
//! between the levels; every client is built from its answer.
//!
//! The rule, most specific first:
//!
//! 1. a bucket router entry's own keys, when its key id and secret are both set: they are
//!    used with the entry's session token only (never the loader-wide one). A set entry
//!    region replaces the region in any case;
//! 2. a role's `AWS_<ROLE>_*` settings, when region, key id and secret are all set: its
//!    region, keys and session token;
//! 3. otherwise the global `AWS_*` settings: their region when set, and their keys (with
//!    their session token) when key id and secret are both set;
//! 4. whatever the options carried before (the builder's keys or provider; by default the
//!    standard AWS chain, [`AwsChainCredentials`](super::AwsChainCredentials), in the
//!    chosen region).
//!
//! An empty value counts as not set.

use crate::secret::Secret;
#[cfg(feature = "s3")]
use object_store::aws::AwsCredentialProvider;

/// AWS region and static credentials of one level: global, one role, or one bucket.
///
/// ```
/// use imagor_tower::config::{AwsCredentials, ConfigBuilder, S3Role};
///
/// let config = ConfigBuilder::new()
///     .env([("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret")])
///     .build()
///     .unwrap();
/// let global: &AwsCredentials = config.s3.credentials(S3Role::Loader);
/// let (id, secret, token) = global.static_keys().unwrap();
/// assert_eq!((id, secret.expose(), token.is_none()), ("AKID", "secret", true));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AwsCredentials {
    /// Region.
    pub region: Option<String>,
    /// Static access key id.
    pub access_key_id: Option<String>,
    /// Static secret key.
    pub secret_access_key: Option<Secret>,
    /// Session token for the static keys.
    pub session_token: Option<Secret>,
}

impl AwsCredentials {
    /// The static keys `(access key id, secret key, session token)`, when both the key id and
    /// the secret are set and not empty (otherwise the default AWS credential chain
    /// applies). An empty session token counts as none.
    pub fn static_keys(&self) -> Option<(&str, &Secret, Option<&Secret>)> {
        let id = self.access_key_id.as_deref().filter(|id| !id.is_empty())?;
        let secret = self
            .secret_access_key
            .as_ref()
            .filter(|secret| !secret.is_empty())?;
        let token = self
            .session_token
            .as_ref()
            .filter(|token| !token.is_empty());
        Some((id, secret, token))
    }

    /// Whether region, access key id and secret key are all set: the condition for a role's
    /// `AWS_<ROLE>_*` settings to replace the global ones.
    pub fn is_complete(&self) -> bool {
        self.region().is_some() && self.static_keys().is_some()
    }

    pub(crate) fn is_partly_set(&self) -> bool {
        self.region.is_some()
            || self.access_key_id.is_some()
            || self.secret_access_key.is_some()
            || self.session_token.is_some()
    }

    /// The region, when set and not empty.
    fn region(&self) -> Option<&str> {
        self.region.as_deref().filter(|region| !region.is_empty())
    }
}

/// The settings a role uses: its own when complete, else the global ones (step 2 and 3 of
/// the [module rule](self)).
pub(crate) fn role_or_global<'a>(
    global: &'a AwsCredentials,
    role: &'a AwsCredentials,
) -> &'a AwsCredentials {
    if role.is_complete() { role } else { global }
}

/// How requests are signed.
#[derive(Clone, Debug)]
pub(crate) enum Signing {
    /// Static keys; the session token is [`Choice::session_token`].
    Static { key_id: String, secret: Secret },
    /// The standard AWS chain through aws-config, in the chosen region.
    Chain,
    /// A provider given by the caller.
    #[cfg(feature = "s3")]
    Provider(AwsCredentialProvider),
}

/// The region and credentials of one client.
#[derive(Clone, Debug)]
pub(crate) struct Choice {
    /// The region (`None`: `us-east-1`).
    pub(crate) region: Option<String>,
    /// How requests are signed.
    pub(crate) signing: Signing,
    /// The session token sent with static keys.
    pub(crate) session_token: Option<Secret>,
}

impl Default for Choice {
    /// No region, the standard chain.
    fn default() -> Self {
        Self {
            region: None,
            signing: Signing::Chain,
            session_token: None,
        }
    }
}

/// The settings that may apply to one client, from least to most specific.
#[derive(Debug, Default)]
pub(crate) struct Sources<'a> {
    /// What the options already carry: builder calls, or what a bucket entry inherits.
    pub(crate) inherited: Choice,
    /// The global `AWS_*` settings.
    pub(crate) global: Option<&'a AwsCredentials>,
    /// The role's own `AWS_<ROLE>_*` settings.
    pub(crate) role: Option<&'a AwsCredentials>,
    /// A bucket router entry.
    pub(crate) entry: Option<&'a AwsCredentials>,
}

/// Decides the region and credentials of a client (see the [module rule](self)).
pub(crate) fn choose(sources: Sources<'_>) -> Choice {
    let mut choice = sources.inherited;
    let configured = match (sources.global, sources.role) {
        (Some(global), Some(role)) => Some(role_or_global(global, role)),
        (Some(level), None) => Some(level),
        (None, Some(role)) => Some(role).filter(|role| role.is_complete()),
        (None, None) => None,
    };
    for level in configured.into_iter().chain(sources.entry) {
        if let Some(region) = level.region() {
            choice.region = Some(region.to_owned());
        }
        if let Some((key_id, secret, token)) = level.static_keys() {
            choice.signing = Signing::Static {
                key_id: key_id.to_owned(),
                secret: secret.clone(),
            };
            choice.session_token = token.cloned();
        }
    }
    choice
}

#[cfg(all(test, feature = "s3"))]
mod tests {
    use super::*;
    use object_store::StaticCredentialProvider;
    use object_store::aws::AwsCredential;
    use std::sync::Arc;

    fn level(region: &str, id: &str, secret: &str, token: &str) -> AwsCredentials {
        let some = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
        AwsCredentials {
            region: some(region),
            access_key_id: some(id),
            secret_access_key: some(secret).map(Secret::new),
            session_token: some(token).map(Secret::new),
        }
    }

    /// What a choice comes to, as text: `region|signing|token`.
    fn show(choice: &Choice) -> String {
        let signing = match &choice.signing {
            Signing::Static { key_id, secret } => format!("{key_id}:{}", secret.expose()),
            Signing::Chain => "chain".to_owned(),
            Signing::Provider(_) => "provider".to_owned(),
        };
        format!(
            "{}|{signing}|{}",
            choice.region.as_deref().unwrap_or("-"),
            choice.session_token.as_ref().map_or("-", Secret::expose)
        )
    }

    #[test]
    fn precedence_table() {
        let none = level("", "", "", "");
        let global_keys = level("g-reg", "G", "gs", "gt");
        let global_region = level("g-reg", "", "", "");
        let global_half = level("g-reg", "G", "", "gt");
        let role_full = level("r-reg", "R", "rs", "rt");
        let role_no_token = level("r-reg", "R", "rs", "");
        let role_no_region = level("", "R", "rs", "rt");
        let entry_keys = level("e-reg", "E", "es", "et");
        let entry_keys_no_token = level("", "E", "es", "");
        let entry_region = level("e-reg", "", "", "");
        let entry_half = level("", "E", "", "");
        let builder_static = Choice {
            region: Some("b-reg".to_owned()),
            signing: Signing::Static {
                key_id: "B".to_owned(),
                secret: Secret::new("bs"),
            },
            session_token: Some(Secret::new("bt")),
        };
        let provider = Choice {
            region: None,
            signing: Signing::Provider(Arc::new(StaticCredentialProvider::new(AwsCredential {
                key_id: "P".to_owned(),
                secret_key: "ps".to_owned(),
                token: None,
            }))),
            session_token: None,
        };
        type Row<'a> = (
            &'a str,
            Choice,
            Option<&'a AwsCredentials>,
            Option<&'a AwsCredentials>,
            Option<&'a AwsCredentials>,
            &'a str,
        );
        let rows: Vec<Row<'_>> = vec![
            // Nothing configured: the standard chain, no region.
            ("defaults", Choice::default(), None, None, None, "-|chain|-"),
            (
                "empty config",
                Choice::default(),
                Some(&none),
                Some(&none),
                None,
                "-|chain|-",
            ),
            // Global settings.
            (
                "global keys",
                Choice::default(),
                Some(&global_keys),
                Some(&none),
                None,
                "g-reg|G:gs|gt",
            ),
            (
                "global region only",
                Choice::default(),
                Some(&global_region),
                Some(&none),
                None,
                "g-reg|chain|-",
            ),
            (
                "global id without secret",
                Choice::default(),
                Some(&global_half),
                Some(&none),
                None,
                "g-reg|chain|-",
            ),
            // A complete role replaces the global settings, token included.
            (
                "role complete",
                Choice::default(),
                Some(&global_keys),
                Some(&role_full),
                None,
                "r-reg|R:rs|rt",
            ),
            (
                "role without token",
                Choice::default(),
                Some(&global_keys),
                Some(&role_no_token),
                None,
                "r-reg|R:rs|-",
            ),
            (
                "role alone",
                Choice::default(),
                None,
                Some(&role_full),
                None,
                "r-reg|R:rs|rt",
            ),
            // An incomplete role is ignored as a whole.
            (
                "role without region",
                Choice::default(),
                Some(&global_keys),
                Some(&role_no_region),
                None,
                "g-reg|G:gs|gt",
            ),
            (
                "role without region, no global",
                Choice::default(),
                Some(&none),
                Some(&role_no_region),
                None,
                "-|chain|-",
            ),
            (
                "incomplete role alone",
                Choice::default(),
                None,
                Some(&role_no_region),
                None,
                "-|chain|-",
            ),
            // Router entries on top of what the loader chose.
            (
                "entry keys over global",
                Choice::default(),
                Some(&global_keys),
                Some(&none),
                Some(&entry_keys),
                "e-reg|E:es|et",
            ),
            (
                "entry keys drop the loader token",
                Choice::default(),
                Some(&global_keys),
                Some(&none),
                Some(&entry_keys_no_token),
                "g-reg|E:es|-",
            ),
            (
                "entry keys over role",
                Choice::default(),
                Some(&none),
                Some(&role_full),
                Some(&entry_keys),
                "e-reg|E:es|et",
            ),
            (
                "entry region keeps the keys",
                Choice::default(),
                Some(&global_keys),
                Some(&none),
                Some(&entry_region),
                "e-reg|G:gs|gt",
            ),
            (
                "entry half keys are ignored",
                Choice::default(),
                Some(&global_keys),
                Some(&none),
                Some(&entry_half),
                "g-reg|G:gs|gt",
            ),
            (
                "entry region with the chain",
                Choice::default(),
                None,
                None,
                Some(&entry_region),
                "e-reg|chain|-",
            ),
            (
                "entry keys over the chain",
                Choice::default(),
                None,
                None,
                Some(&entry_keys),
                "e-reg|E:es|et",
            ),
            // Builder settings are kept unless a level overrides them.
            (
                "builder keys kept",
                builder_static.clone(),
                None,
                None,
                None,
                "b-reg|B:bs|bt",
            ),
            (
                "builder keys, entry region",
                builder_static.clone(),
                None,
                None,
                Some(&entry_region),
                "e-reg|B:bs|bt",
            ),
            (
                "builder keys, entry keys",
                builder_static.clone(),
                None,
                None,
                Some(&entry_keys_no_token),
                "b-reg|E:es|-",
            ),
            (
                "builder keys, global keys",
                builder_static,
                Some(&global_keys),
                None,
                None,
                "g-reg|G:gs|gt",
            ),
            (
                "provider kept",
                provider.clone(),
                None,
                None,
                Some(&entry_region),
                "e-reg|provider|-",
            ),
            (
                "provider, entry keys",
                provider,
                None,
                None,
                Some(&entry_keys),
                "e-reg|E:es|et",
            ),
        ];
        for (name, inherited, global, role, entry, expected) in rows {
            let choice = choose(Sources {
                inherited,
                global,
                role,
                entry,
            });
            assert_eq!(show(&choice), expected, "{name}");
        }
    }

    #[test]
    fn completeness_and_static_keys_ignore_empty_values() {
        assert!(level("r", "id", "s", "").is_complete());
        assert!(!level("", "id", "s", "").is_complete());
        assert!(!level("r", "", "s", "").is_complete());
        let mut empty_region = level("", "id", "s", "");
        empty_region.region = Some(String::new());
        assert!(!empty_region.is_complete());
        let mut empty_token = level("r", "id", "s", "");
        empty_token.session_token = Some(Secret::new(""));
        assert!(empty_token.static_keys().unwrap().2.is_none());
        assert!(level("r", "id", "", "t").static_keys().is_none());
        assert!(level("", "", "", "t").is_partly_set());
        assert!(!level("", "", "", "").is_partly_set());
    }

    #[test]
    fn role_or_global_needs_a_complete_role() {
        let global = level("g", "G", "gs", "");
        let role = level("r", "R", "rs", "");
        assert_eq!(
            role_or_global(&global, &role).access_key_id.as_deref(),
            Some("R")
        );
        let partial = level("", "R", "rs", "");
        assert_eq!(
            role_or_global(&global, &partial).access_key_id.as_deref(),
            Some("G")
        );
    }
}
