//! The `object_store` clients of one bucket, built from [`S3Options`].

use super::chain::AwsChainCredentials;
use super::credentials::Signing;
use super::options::S3Options;
use super::settings::CannedAcl;
use crate::Error;
use crate::cloud::Clients;
use object_store::ClientOptions;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use std::sync::Arc;

/// The reader and writer clients for `bucket`; the writer differs only when an ACL is
/// set (its header goes on every request of that client).
pub(super) fn clients(options: &S3Options, bucket: &str) -> Result<Clients, Error> {
    let reader: Arc<dyn ObjectStore> = Arc::new(
        store_builder(options, bucket, None)?
            .build()
            .map_err(|err| Error::internal(format!("S3 client for bucket {bucket:?}: {err}")))?,
    );
    match options.acl {
        None => Ok(Clients::shared(reader)),
        Some(acl) => Ok(Clients {
            reader,
            writer: Arc::new(store_builder(options, bucket, Some(acl))?.build().map_err(
                |err| Error::internal(format!("S3 client for bucket {bucket:?}: {err}")),
            )?),
        }),
    }
}

fn store_builder(
    options: &S3Options,
    bucket: &str,
    acl: Option<CannedAcl>,
) -> Result<AmazonS3Builder, Error> {
    let mut client = ClientOptions::new()
        .with_timeout(options.timeout)
        .with_connect_timeout(options.connect_timeout);
    if let Some(max) = options.pool_max_idle_per_host {
        client = client.with_pool_max_idle_per_host(max);
    }
    if let Some(resolver) = &options.dns_resolver {
        client = client.with_dns_resolver(Arc::clone(resolver));
    }
    if let Some(acl) = acl {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-acl", http::HeaderValue::from_static(acl.as_str()));
        client = client.with_default_headers(headers);
    }
    let allow_http = options.allow_http.unwrap_or_else(|| {
        options
            .endpoint
            .as_deref()
            .is_some_and(|endpoint| endpoint.starts_with("http://"))
    });
    client = client.with_allow_http(allow_http);

    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(options.credentials.region.as_deref().unwrap_or("us-east-1"))
        .with_retry(options.retry.clone())
        .with_virtual_hosted_style_request(!options.force_path_style)
        .with_client_options(client);
    if let Some(endpoint) = &options.endpoint {
        let endpoint = if options.force_path_style {
            endpoint.trim_end_matches('/').to_owned()
        } else {
            virtual_hosted_endpoint(endpoint, bucket)?
        };
        builder = builder.with_endpoint(endpoint);
    }
    builder = match &options.credentials.signing {
        Signing::Static { key_id, secret } => {
            let mut builder = builder
                .with_access_key_id(key_id)
                .with_secret_access_key(secret.expose());
            if let Some(token) = &options.credentials.session_token {
                builder = builder.with_token(token.expose());
            }
            builder
        }
        Signing::Provider(provider) => builder.with_credentials(Arc::clone(provider)),
        Signing::Chain => {
            let mut chain = AwsChainCredentials::new();
            if let Some(region) = &options.credentials.region {
                chain = chain.with_region(region.clone());
            }
            builder.with_credentials(Arc::new(chain))
        }
    };
    Ok(builder)
}

/// `scheme://host…` with the bucket put in front of the host: the endpoint of a bucket
/// with virtual-hosted addressing.
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> Result<String, Error> {
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| {
        Error::internal(format!("S3 endpoint {endpoint:?}: expected an http(s) URL"))
    })?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(Error::internal(format!(
            "S3 endpoint {endpoint:?}: no host"
        )));
    }
    Ok(format!("{scheme}://{bucket}.{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_endpoints_put_the_bucket_before_the_host() {
        assert_eq!(
            virtual_hosted_endpoint("http://localhost:9000/", "images").unwrap(),
            "http://images.localhost:9000"
        );
        assert_eq!(
            virtual_hosted_endpoint("https://s3.example.com", "b").unwrap(),
            "https://b.s3.example.com"
        );
        assert!(virtual_hosted_endpoint("https://", "b").is_err());
        assert!(virtual_hosted_endpoint("localhost", "b").is_err());
    }
}
