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
use subtle::{Choice, ConstantTimeEq};

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

/// Signs and verifies imagor URL paths, with one current key and any number of retired ones.
///
/// `signature = base64url_with_padding(HMAC(secret, path))`, cut to the first `truncate`
/// characters when that is non-zero and shorter than the signature. The path is the
/// [`Params::path`](super::Params::path) field: everything after the signature segment,
/// percent-escapes intact, without a leading slash.
///
/// New signatures ([`sign`](Self::sign), [`sign_url`](Self::sign_url)) always use the current
/// key. [`verify`](Self::verify) accepts a signature made with the current key or with any
/// key added by [`with_previous`](Self::with_previous), each with its own hash function and
/// truncation: that is how a secret is rotated without breaking the URLs already handed out
/// (`IMAGOR_SECRET_PREVIOUS`). Every key is compared, in constant time, on every call.
///
/// imagor checks signatures with an empty secret when none is configured, so
/// `Signer::new("")` is a working signer. `Debug` never shows a secret.
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
///
/// // Rotation: sign with the new secret, still accept the old one.
/// let rotated = Signer::new("new-secret").with_previous(Signer::new("mysecret"));
/// assert!(rotated.verify(path, "Ks_rl-tHMYbG7D_F5gVNhOdI1lc="));
/// assert_eq!(rotated.sign(path), Signer::new("new-secret").sign(path));
/// ```
#[derive(Clone)]
pub struct Signer {
    /// The key that signs, and is tried first.
    current: Key,
    /// Retired keys, accepted by `verify` only.
    previous: Vec<Key>,
}

/// One HMAC key with its hash function and truncation.
#[derive(Clone)]
struct Key {
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

impl Key {
    fn new(secret: Vec<u8>) -> Self {
        let algorithm = SignerAlgorithm::default();
        Self {
            keyed: KeyedMac::new(algorithm, &secret),
            secret,
            algorithm,
            truncate: 0,
        }
    }

    fn signature_len(&self) -> usize {
        let full = self.algorithm.full_len();
        if self.truncate > 0 && self.truncate < full {
            self.truncate
        } else {
            full
        }
    }

    fn sign(&self, path: &str) -> String {
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

    /// Whether `hash` is this key's signature of `path`, as a constant-time choice. A
    /// length mismatch answers at once: signature lengths follow from the configuration,
    /// not from the secret.
    fn matches(&self, path: &str, hash: &str) -> Choice {
        let expected = self.sign(path);
        Choice::from(u8::from(!expected.is_empty())) & expected.as_bytes().ct_eq(hash.as_bytes())
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
        Self {
            current: Key::new(secret.as_ref().to_vec()),
            previous: Vec::new(),
        }
    }

    /// The HMAC hash function of the current key (`IMAGOR_SIGNER_TYPE`). Keys added with
    /// [`with_previous`](Self::with_previous) keep their own.
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
        self.current.keyed = KeyedMac::new(algorithm, &self.current.secret);
        self.current.algorithm = algorithm;
        self
    }

    /// Keep only the first `len` characters of each signature of the current key
    /// (`IMAGOR_SIGNER_TRUNCATE`); 0 (the default) or a value not below the signature length
    /// keeps it whole. Keys added with [`with_previous`](Self::with_previous) keep their own.
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
        self.current.truncate = len;
        self
    }

    /// Also accept signatures made by `previous`: the secret being retired
    /// (`IMAGOR_SECRET_PREVIOUS`), with its own hash function and truncation. Call it once per
    /// retired key; the previous keys of `previous` are accepted too. Signing is unchanged:
    /// it always uses this signer's current key.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::{Signer, SignerAlgorithm};
    ///
    /// let old = Signer::new("old").algorithm(SignerAlgorithm::Sha256).truncate(32);
    /// let older = Signer::new("older");
    /// let signer = Signer::new("new").with_previous(old.clone()).with_previous(older.clone());
    /// assert_eq!(signer.previous_keys(), 2);
    ///
    /// let path = "300x200/photo.jpg";
    /// assert!(signer.verify(path, &Signer::new("new").sign(path)));
    /// assert!(signer.verify(path, &old.sign(path)));
    /// assert!(signer.verify(path, &older.sign(path)));
    /// assert!(!signer.verify(path, &Signer::new("other").sign(path)));
    /// assert_eq!(signer.sign(path), Signer::new("new").sign(path));
    /// ```
    #[must_use]
    pub fn with_previous(mut self, previous: Signer) -> Self {
        self.previous.push(previous.current);
        self.previous.extend(previous.previous);
        self
    }

    /// How many retired keys [`verify`](Self::verify) accepts besides the current one.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::path::Signer;
    ///
    /// assert_eq!(Signer::new("a").previous_keys(), 0);
    /// assert_eq!(Signer::new("a").with_previous(Signer::new("b")).previous_keys(), 1);
    /// ```
    pub fn previous_keys(&self) -> usize {
        self.previous.len()
    }

    /// The length of the signatures this signer produces with its current key (after
    /// truncation). A service can refuse a configuration where this is below 17, since such
    /// signatures are never recognised in a path.
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
        self.current.signature_len()
    }

    /// The signature of `path` (everything after the signature segment, without the leading
    /// slash), made with the current key.
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
        self.current.sign(path)
    }

    /// Whether `hash` is the signature of `path` under the current key or any previous one.
    ///
    /// Every key's signature is computed and compared in constant time, and the outcomes are
    /// combined without branching, so neither the time taken nor an early exit tells which
    /// key matched or how much of a signature was right.
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
        let mut matched = self.current.matches(path, hash);
        for key in &self.previous {
            matched |= key.matches(path, hash);
        }
        bool::from(matched)
    }

    /// A signed request path, `/SIGNATURE/path`, signed with the current key.
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
        let previous: Vec<(SignerAlgorithm, usize)> = self
            .previous
            .iter()
            .map(|key| (key.algorithm, key.truncate))
            .collect();
        f.debug_struct("Signer")
            .field("algorithm", &self.current.algorithm)
            .field("truncate", &self.current.truncate)
            .field("previous", &previous)
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

    #[test]
    fn rotation_accepts_current_and_previous_keys_only() {
        let current = Signer::new("new-secret");
        let old = Signer::new("old-secret");
        let signer = current.clone().with_previous(old.clone());
        assert!(signer.verify(PATH, &current.sign(PATH)));
        assert!(signer.verify(PATH, &old.sign(PATH)));
        assert!(!signer.verify(PATH, &Signer::new("third").sign(PATH)));
        // Without the previous key, the old signature fails: the rotation is what accepts it.
        assert!(!current.verify(PATH, &old.sign(PATH)));
        // New signatures always come from the current key.
        assert_eq!(signer.sign(PATH), current.sign(PATH));
        assert_eq!(signer.sign_url(PATH), current.sign_url(PATH));
        assert_eq!(signer.signature_len(), 28);
    }

    #[test]
    fn each_key_keeps_its_own_type_and_truncation() {
        let current = Signer::new("new")
            .algorithm(SignerAlgorithm::Sha512)
            .truncate(40);
        let old = Signer::new("old").algorithm(SignerAlgorithm::Sha256);
        let older = Signer::new("older").truncate(20);
        let signer = current
            .clone()
            .with_previous(old.clone().with_previous(older.clone()));
        assert_eq!(signer.previous_keys(), 2);
        for (key, len) in [(&current, 40), (&old, 44), (&older, 20)] {
            let sig = key.sign(PATH);
            assert_eq!(sig.len(), len);
            assert!(signer.verify(PATH, &sig), "{key:?}");
            // A signature of the right key but another key's length never passes.
            assert!(!signer.verify(PATH, sig.get(..len - 1).unwrap_or_default()));
        }
        // The old key's secret with the current key's settings is not a key of the signer.
        let mixed = Signer::new("old")
            .algorithm(SignerAlgorithm::Sha512)
            .truncate(40);
        assert!(!signer.verify(PATH, &mixed.sign(PATH)));
        assert!(!signer.verify("other.jpg", &old.sign(PATH)));
    }

    #[test]
    fn debug_hides_previous_secrets() {
        let signer = Signer::new("a").with_previous(Signer::new("hunter2-old").truncate(30));
        let text = format!("{signer:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("previous: [(Sha1, 30)]"), "{text}");
    }
}
