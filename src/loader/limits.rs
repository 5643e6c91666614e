//! Limits shared by every loader.

/// The default largest source of every loader: [`FileLoader::max_size`](super::FileLoader::max_size),
/// the HTTP loader's [`with_max_allowed_size`](super::http::HttpLoaderBuilder::with_max_allowed_size)
/// and the S3 loader's [`max_size`](crate::s3::S3Loader::max_size): 64 MiB.
///
/// ```
/// assert_eq!(imagor_tower::loader::DEFAULT_MAX_SIZE, 64 << 20);
/// ```
pub const DEFAULT_MAX_SIZE: u64 = 64 * 1024 * 1024;
