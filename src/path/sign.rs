//! URL signatures: HMAC over the path, base64url with padding, optionally
//! truncated, checked in constant time.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{parse, Signer};
//!
//! let signer = Signer::new("1234");
//! let request = parse("/_-19cQt1szHeUV0WyWFntvTImDI=/foo.jpg");
//! assert!(signer.verify(&request.path, &request.hash));
//! ```

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

/// The hash function of the HMAC (`IMAGOR_SIGNER_TYPE`). SHA-1 is the default.
///
/// Names are read leniently, as imagor reads them: `sha1`, `sha256` and `sha512` in any
/// letter case, and any other name means SHA-1.
///
/// # Example
///
/// ```
/// use imagor_tower::path::SignerAlgorithm;
///
/// assert_eq!("SHA256".parse(), Ok(SignerAlgorithm::Sha256));
/// assert_eq!(SignerAlgorithm::from_name("md5"), SignerAlgorithm::Sha1);
/// assert_eq!(SignerAlgorithm::Sha512.as_str(), "sha512");
/// assert_eq!(SignerAlgorithm::default(), SignerAlgorithm::Sha1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignerAlgorithm {
    /// HMAC-SHA1: 28-character signatures.
    #[default]
    Sha1,
    /// HMAC-SHA256: 44-character signatures.
    Sha256,
    /// HMAC-SHA512: 88-character signatures.
    Sha512,
}

impl SignerAlgorithm {
    /// Reads an algorithm name: `sha256` and `sha512` (any letter case) select those, and
    /// every other name, including the empty one, selects SHA-1.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::SignerAlgorithm;
    ///
    /// assert_eq!(SignerAlgorithm::from_name("Sha512"), SignerAlgorithm::Sha512);
    /// assert_eq!(SignerAlgorithm::from_name(""), SignerAlgorithm::Sha1);
    /// ```
    pub fn from_name(name: &str) -> Self {
        if name.eq_ignore_ascii_case("sha256") {
            Self::Sha256
        } else if name.eq_ignore_ascii_case("sha512") {
            Self::Sha512
        } else {
            Self::Sha1
        }
    }

    /// The lower-case name (`sha1`, `sha256`, `sha512`).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::SignerAlgorithm;
    ///
    /// assert_eq!(SignerAlgorithm::Sha1.as_str(), "sha1");
    /// assert_eq!(SignerAlgorithm::Sha256.to_string(), "sha256");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of an untruncated signature: 28, 44 or 88 base64 characters.
    fn full_len(self) -> usize {
        match self {
            Self::Sha1 => 28,
            Self::Sha256 => 44,
            Self::Sha512 => 88,
        }
    }
}

impl FromStr for SignerAlgorithm {
    type Err = Infallible;

    /// Never fails; see [`SignerAlgorithm::from_name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_name(s))
    }
}

impl fmt::Display for SignerAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Signs and verifies imagor URL paths.
///
/// `signature = base64url_with_padding(HMAC(secret, path))`, cut to the first `truncate`
/// characters when that is non-zero and shorter than the signature. The path is the
/// [`Params::path`](super::Params::path) field: everything after the signature segment,
/// percent-escapes intact, without a leading slash.
///
/// imagor checks signatures with an empty secret when none is configured, so
/// `Signer::new("")` is a working signer. `Debug` never shows the secret.
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, Signer, SignerAlgorithm};
///
/// let signer = Signer::new("mysecret");
/// let path = "fit-in/300x200/filters:format(webp):quality(80)/images/photo.jpg";
/// assert_eq!(signer.sign(path), "Ks_rl-tHMYbG7D_F5gVNhOdI1lc=");
///
/// let url = signer.sign_url(path);
/// let params = parse(&url);
/// assert!(signer.verify(&params.path, &params.hash));
///
/// let short = Signer::new("mysecret").algorithm(SignerAlgorithm::Sha512).truncate(40);
/// assert_eq!(short.sign(path), "WMWweLqARntBsV2js-neTDxgZ1SDNydFT6nSLqOm");
/// assert!(!format!("{short:?}").contains("mysecret"));
/// ```
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
    algorithm: SignerAlgorithm,
    truncate: usize,
    /// HMAC state with the key already absorbed, cloned for each signature.
    keyed: Option<KeyedMac>,
}

#[derive(Clone)]
enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl KeyedMac {
    /// `None` only if the HMAC rejected the key, which it does not do for any key length.
    fn new(algorithm: SignerAlgorithm, secret: &[u8]) -> Option<Self> {
        Some(match algorithm {
            SignerAlgorithm::Sha1 => Self::Sha1(Hmac::new_from_slice(secret).ok()?),
            SignerAlgorithm::Sha256 => Self::Sha256(Hmac::new_from_slice(secret).ok()?),
            SignerAlgorithm::Sha512 => Self::Sha512(Hmac::new_from_slice(secret).ok()?),
        })
    }

    fn encode(&self, message: &[u8], out: &mut String) {
        fn run<M: Mac + Clone>(keyed: &M, message: &[u8], out: &mut String) {
            let mut mac = keyed.clone();
            mac.update(message);
            URL_SAFE.encode_string(mac.finalize().into_bytes(), out);
        }
        match self {
            Self::Sha1(m) => run(m, message, out),
            Self::Sha256(m) => run(m, message, out),
            Self::Sha512(m) => run(m, message, out),
        }
    }
}

impl Signer {
    /// An HMAC-SHA1 signer with this secret (its UTF-8 bytes, or any bytes) and no truncation.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::Signer;
    ///
    /// assert_eq!(Signer::new("1234").sign("foo.jpg"), "_-19cQt1szHeUV0WyWFntvTImDI=");
    /// assert_eq!(Signer::new(b"1234").sign("foo.jpg"), "_-19cQt1szHeUV0WyWFntvTImDI=");
    /// ```
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref().to_vec();
        let algorithm = SignerAlgorithm::default();
        Self {
            keyed: KeyedMac::new(algorithm, &secret),
            secret,
            algorithm,
            truncate: 0,
        }
    }

    /// The HMAC hash function (`IMAGOR_SIGNER_TYPE`).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{Signer, SignerAlgorithm};
    ///
    /// let signer = Signer::new("").algorithm(SignerAlgorithm::Sha256);
    /// assert_eq!(signer.sign("bar"), "WN6mgyl8pD4KTy5IDSBs0GcFPaV7-R970JLsd01pqAU=");
    /// ```
    #[must_use]
    pub fn algorithm(mut self, algorithm: SignerAlgorithm) -> Self {
        self.keyed = KeyedMac::new(algorithm, &self.secret);
        self.algorithm = algorithm;
        self
    }

    /// Keep only the first `len` characters of each signature (`IMAGOR_SIGNER_TRUNCATE`);
    /// 0 (the default) or a value not below the signature length keeps it whole.
    ///
    /// Beware: the parser reads a first segment as a signature only when it has at least 17
    /// characters, so with a truncation between 1 and 16 no signed URL is ever
    /// recognised. See [`signature_len`](Self::signature_len).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{Signer, SignerAlgorithm};
    ///
    /// let signer = Signer::new("abcd").algorithm(SignerAlgorithm::Sha256).truncate(28);
    /// assert_eq!(signer.sign("assfasf"), "zb6uWXQxwJDOe_zOgxkuj96Etrsz");
    /// ```
    #[must_use]
    pub fn truncate(mut self, len: usize) -> Self {
        self.truncate = len;
        self
    }

    /// The length of the signatures this signer produces (after truncation). A service can
    /// refuse a configuration where this is below 17, since such signatures are never
    /// recognised in a path.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{Signer, SignerAlgorithm};
    ///
    /// assert_eq!(Signer::new("s").signature_len(), 28);
    /// assert_eq!(Signer::new("s").algorithm(SignerAlgorithm::Sha512).signature_len(), 88);
    /// assert_eq!(Signer::new("s").truncate(10).signature_len(), 10);
    /// assert_eq!(Signer::new("s").truncate(100).signature_len(), 28);
    /// ```
    pub fn signature_len(&self) -> usize {
        let full = self.algorithm.full_len();
        if self.truncate > 0 && self.truncate < full {
            self.truncate
        } else {
            full
        }
    }

    /// The signature of `path` (everything after the signature segment, without the leading
    /// slash).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::Signer;
    ///
    /// let signer = Signer::new("1234");
    /// assert_eq!(signer.sign("filters:fill(red)/gopher.png"), "GSqGN9NrCj-DlGT38BaycScxM9g=");
    /// ```
    pub fn sign(&self, path: &str) -> String {
        let mut out = String::with_capacity(self.algorithm.full_len());
        if let Some(keyed) = &self.keyed {
            keyed.encode(path.as_bytes(), &mut out);
        }
        if self.truncate > 0 && self.truncate < out.len() {
            // base64 text is ASCII, so any index is a character boundary.
            out.truncate(self.truncate);
        }
        out
    }

    /// Whether `hash` is the signature of `path`, compared in constant time.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::Signer;
    ///
    /// let signer = Signer::new("foo");
    /// assert!(signer.verify("bar", "RrTsWGEXFU2s1J1mTl1j_ciO-1E="));
    /// assert!(!signer.verify("bar", "RrTsWGEXFU2s1J1mTl1j_ciO-1E"));
    /// assert!(!signer.verify("bar", ""));
    /// ```
    pub fn verify(&self, path: &str, hash: &str) -> bool {
        let expected = self.sign(path);
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(hash.as_bytes()))
    }

    /// A signed request path, `/SIGNATURE/path`.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::Signer;
    ///
    /// assert_eq!(Signer::new("foo").sign_url("bar"), "/RrTsWGEXFU2s1J1mTl1j_ciO-1E=/bar");
    /// ```
    pub fn sign_url(&self, path: &str) -> String {
        let signature = self.sign(path);
        let mut url = String::with_capacity(signature.len() + path.len() + 2);
        url.push('/');
        url.push_str(&signature);
        url.push('/');
        url.push_str(path);
        url
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("truncate", &self.truncate)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "fit-in/300x200/filters:format(webp):quality(80)/images/photo.jpg";

    #[test]
    fn spec_worked_example() {
        let signer = Signer::new("mysecret");
        assert_eq!(signer.sign(PATH), "Ks_rl-tHMYbG7D_F5gVNhOdI1lc=");
        let sha256 = signer.algorithm(SignerAlgorithm::Sha256);
        assert_eq!(
            sha256.sign(PATH),
            "3LcVkEbVNcZjl7N6g79_jktUygTe110dy6P_Sdih_TI="
        );
        assert_eq!(Signer::new("").sign(PATH), "uZdDXQYnkp8pJfTt7dsISiAUvl8=");
    }

    #[test]
    fn lengths() {
        for alg in [
            SignerAlgorithm::Sha1,
            SignerAlgorithm::Sha256,
            SignerAlgorithm::Sha512,
        ] {
            let signer = Signer::new("k").algorithm(alg);
            assert_eq!(signer.sign("x").len(), alg.full_len());
            assert_eq!(signer.clone().truncate(5).sign("x").len(), 5);
            assert_eq!(signer.clone().truncate(500).sign("x").len(), alg.full_len());
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let text = format!("{:?}", Signer::new("hunter2-secret"));
        assert!(!text.contains("hunter2"));
        assert!(text.contains("Sha1"));
    }

    #[test]
    fn verify_rejects_other_paths_and_prefixes() {
        let signer = Signer::new("s").truncate(20);
        let sig = signer.sign("a.jpg");
        assert!(signer.verify("a.jpg", &sig));
        assert!(!signer.verify("b.jpg", &sig));
        assert!(!signer.verify("a.jpg", sig.get(..19).unwrap_or_default()));
    }
}
