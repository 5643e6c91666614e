//! The values of S3 write settings and roles: [`S3Role`], [`S3StorageClass`] and
//! [`CannedAcl`].

/// A role that has its own S3 client settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum S3Role {
    /// The S3 loader (and bucket router).
    Loader,
    /// S3 source storage.
    Storage,
    /// S3 result storage.
    ResultStorage,
}

/// S3 storage class of writes (`S3_STORAGE_CLASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum S3StorageClass {
    /// `STANDARD` (the default, and what any unrecognised value means).
    #[default]
    Standard,
    /// `REDUCED_REDUNDANCY`.
    ReducedRedundancy,
    /// `STANDARD_IA`.
    StandardIa,
    /// `ONEZONE_IA`.
    OnezoneIa,
    /// `INTELLIGENT_TIERING`.
    IntelligentTiering,
    /// `GLACIER`.
    Glacier,
    /// `DEEP_ARCHIVE`.
    DeepArchive,
}

impl S3StorageClass {
    /// The name S3 uses (`x-amz-storage-class`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::ReducedRedundancy => "REDUCED_REDUNDANCY",
            Self::StandardIa => "STANDARD_IA",
            Self::OnezoneIa => "ONEZONE_IA",
            Self::IntelligentTiering => "INTELLIGENT_TIERING",
            Self::Glacier => "GLACIER",
            Self::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            Self::Standard,
            Self::ReducedRedundancy,
            Self::StandardIa,
            Self::OnezoneIa,
            Self::IntelligentTiering,
            Self::Glacier,
            Self::DeepArchive,
        ]
        .into_iter()
        .find(|class| class.as_str() == text)
    }
}

/// An S3 canned ACL (`S3_STORAGE_ACL`, `S3_RESULT_STORAGE_ACL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CannedAcl {
    /// `private`.
    Private,
    /// `public-read`.
    PublicRead,
    /// `public-read-write`.
    PublicReadWrite,
    /// `authenticated-read`.
    AuthenticatedRead,
    /// `aws-exec-read`.
    AwsExecRead,
    /// `bucket-owner-read`.
    BucketOwnerRead,
    /// `bucket-owner-full-control`.
    BucketOwnerFullControl,
}

impl CannedAcl {
    /// The name sent in `x-amz-acl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
            Self::PublicReadWrite => "public-read-write",
            Self::AuthenticatedRead => "authenticated-read",
            Self::AwsExecRead => "aws-exec-read",
            Self::BucketOwnerRead => "bucket-owner-read",
            Self::BucketOwnerFullControl => "bucket-owner-full-control",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            Self::Private,
            Self::PublicRead,
            Self::PublicReadWrite,
            Self::AuthenticatedRead,
            Self::AwsExecRead,
            Self::BucketOwnerRead,
            Self::BucketOwnerFullControl,
        ]
        .into_iter()
        .find(|acl| acl.as_str() == text)
    }
}
