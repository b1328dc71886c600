//! Public and private keys: loading (PEM/DER; PKCS#1, PKCS#8 incl.
//! encrypted, SEC1, SubjectPublicKeyInfo, RFC 3110) and the signature
//! primitives, all on aws-lc-rs (constant-time private-key operations).

use std::fmt;

use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
    VerificationAlgorithm,
};
use base64::Engine;

use crate::der;
use crate::error::Error;
use crate::pem;
use crate::rsa_sha1::LegacyRsaKey;

pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";
pub(crate) const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
pub(crate) const OID_EC: &str = "1.2.840.10045.2.1";
pub(crate) const OID_ED25519: &str = "1.3.101.112";

/// Hash algorithms, numbered as in RFC 7427 (SIGNATURE_HASH_ALGORITHMS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hash {
    Sha1 = 1,
    Sha256 = 2,
    Sha384 = 3,
    Sha512 = 4,
    /// RFC 8420: the "identity" hash, for EdDSA.
    Identity = 5,
}

impl Hash {
    pub fn from_u16(v: u16) -> Option<Hash> {
        Some(match v {
            1 => Hash::Sha1,
            2 => Hash::Sha256,
            3 => Hash::Sha384,
            4 => Hash::Sha512,
            5 => Hash::Identity,
            _ => return None,
        })
    }
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
            Hash::Identity => 0,
        }
    }
    pub(crate) fn oid(self) -> Option<&'static str> {
        Some(match self {
            Hash::Sha1 => "1.3.14.3.2.26",
            Hash::Sha256 => "2.16.840.1.101.3.4.2.1",
            Hash::Sha384 => "2.16.840.1.101.3.4.2.2",
            Hash::Sha512 => "2.16.840.1.101.3.4.2.3",
            Hash::Identity => return None,
        })
    }
    pub(crate) fn from_oid(oid: &str) -> Option<Hash> {
        [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512]
            .into_iter()
            .find(|h| h.oid() == Some(oid))
    }
}

/// Named elliptic curves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub(crate) fn oid(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.3.1.7",
            Curve::P384 => "1.3.132.0.34",
            Curve::P521 => "1.3.132.0.35",
        }
    }
    pub(crate) fn from_oid(oid: &str) -> Option<Curve> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.oid() == oid)
    }
    /// The hash of the IKEv2 ECDSA auth methods 9/10/11 (RFC 4754) for this curve.
    pub fn hash(self) -> Hash {
        match self {
            Curve::P256 => Hash::Sha256,
            Curve::P384 => Hash::Sha384,
            Curve::P521 => Hash::Sha512,
        }
    }
    pub fn bits(self) -> usize {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
    fn fixed_signing(self) -> &'static sig::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }
    fn asn1_signing(self) -> &'static sig::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
        }
    }
}

/// A signature scheme: what is signed how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with MGF1 of the same hash; `salt_len` in bytes.
    RsaPss {
        hash: Hash,
        salt_len: usize,
    },
    /// ECDSA; `der` = ASN.1 ECDSA-Sig-Value, else raw r|s (RFC 4754).
    Ecdsa {
        hash: Hash,
        der: bool,
    },
    Ed25519,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::RsaPkcs1(h) => write!(f, "RSA PKCS#1 v1.5 with {h:?}"),
            Scheme::RsaPss { hash, salt_len } => {
                write!(f, "RSA-PSS with {hash:?} (salt {salt_len})")
            }
            Scheme::Ecdsa { hash, der } => {
                write!(
                    f,
                    "ECDSA with {hash:?} ({})",
                    if *der { "DER" } else { "r|s" }
                )
            }
            Scheme::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A public key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (0x04 | X | Y).
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519([u8; 32]),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, keyid {})",
            self.describe(),
            hex::encode(self.keyid())
        )
    }
}

impl PublicKey {
    /// `RSA 2048 bits`, `ECDSA P-256`, `Ed25519`.
    pub fn describe(&self) -> String {
        match self {
            PublicKey::Rsa { .. } => format!("RSA {} bits", self.bits()),
            PublicKey::Ec { curve, .. } => format!("ECDSA P-{}", curve.bits()),
            PublicKey::Ed25519(_) => "Ed25519".into(),
        }
    }

    pub fn bits(&self) -> usize {
        match self {
            PublicKey::Rsa { n, .. } => {
                let lead = n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
                n.len().saturating_sub(1) * 8 + lead
            }
            PublicKey::Ec { curve, .. } => curve.bits(),
            PublicKey::Ed25519(_) => 256,
        }
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> Result<PublicKey, Error> {
        let bad = |m: &str| Error::BadKey(format!("SubjectPublicKeyInfo: {m}"));
        let (body, rest) = der::expect(spki, 0x30).ok_or_else(|| bad("not a SEQUENCE"))?;
        if !rest.is_empty() {
            return Err(bad("trailing data"));
        }
        let (alg, rest) = der::expect(body, 0x30).ok_or_else(|| bad("no AlgorithmIdentifier"))?;
        let (bits, _) = der::expect(rest, 0x03).ok_or_else(|| bad("no BIT STRING"))?;
        let (&unused, key) = bits.split_first().ok_or_else(|| bad("empty BIT STRING"))?;
        if unused != 0 {
            return Err(bad("BIT STRING with unused bits"));
        }
        let (oid, params) = der::expect(alg, 0x06).ok_or_else(|| bad("no algorithm OID"))?;
        let oid = der::oid_to_string(oid).ok_or_else(|| bad("bad OID"))?;
        match oid.as_str() {
            OID_RSA | OID_RSA_PSS => Self::from_pkcs1_public(key),
            OID_EC => {
                let (c, _) =
                    der::expect(params, 0x06).ok_or_else(|| bad("EC key without named curve"))?;
                let c = der::oid_to_string(c).unwrap_or_default();
                let curve = Curve::from_oid(&c)
                    .ok_or_else(|| Error::Unsupported(format!("elliptic curve {c}")))?;
                Self::ec(curve, key)
            }
            OID_ED25519 => {
                let k: [u8; 32] = key
                    .try_into()
                    .map_err(|_| bad("Ed25519 key is not 32 bytes"))?;
                Ok(PublicKey::Ed25519(k))
            }
            o => Err(Error::Unsupported(format!("public key algorithm {o}"))),
        }
    }

    fn ec(curve: Curve, point: &[u8]) -> Result<PublicKey, Error> {
        let clen = curve.bits().div_ceil(8);
        if point.first() != Some(&4) || point.len() != 1 + 2 * clen {
            return Err(Error::BadKey(format!(
                "P-{} point is not uncompressed ({} bytes)",
                curve.bits(),
                point.len()
            )));
        }
        Ok(PublicKey::Ec {
            curve,
            point: point.to_vec(),
        })
    }

    /// Parses a PKCS#1 RSAPublicKey.
    pub fn from_pkcs1_public(d: &[u8]) -> Result<PublicKey, Error> {
        let bad = || Error::BadKey("malformed RSAPublicKey".into());
        let (body, _) = der::expect(d, 0x30).ok_or_else(bad)?;
        let (n, rest) = der::expect(body, 0x02).ok_or_else(bad)?;
        let (e, _) = der::expect(rest, 0x02).ok_or_else(bad)?;
        let n = der::uint_magnitude(n).ok_or_else(bad)?;
        let e = der::uint_magnitude(e).ok_or_else(bad)?;
        Self::rsa(n, e)
    }

    fn rsa(n: &[u8], e: &[u8]) -> Result<PublicKey, Error> {
        if n.is_empty() || e.is_empty() || e.len() > 8 {
            return Err(Error::BadKey(
                "RSA key with empty modulus or bad exponent".into(),
            ));
        }
        Ok(PublicKey::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// RFC 3110 key bytes (exponent length, exponent, modulus).
    pub fn from_rfc3110(b: &[u8]) -> Result<PublicKey, Error> {
        let bad = || Error::BadKey("malformed RFC 3110 RSA key".into());
        let (&first, rest) = b.split_first().ok_or_else(bad)?;
        let (elen, rest) = if first == 0 {
            let (l, rest) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
            (usize::from(u16::from_be_bytes(*l)), rest)
        } else {
            (usize::from(first), rest)
        };
        let (e, n) = rest.split_at_checked(elen).ok_or_else(bad)?;
        let skip = |v: &[u8]| v.iter().take_while(|&&x| x == 0).count();
        let e = e.get(skip(e)..).unwrap_or_default();
        let n = n.get(skip(n)..).unwrap_or_default();
        Self::rsa(n, e)
    }

    /// RFC 3110 encoding of an RSA key.
    pub fn to_rfc3110(&self) -> Option<Vec<u8>> {
        let PublicKey::Rsa { n, e } = self else {
            return None;
        };
        let mut out = Vec::with_capacity(n.len() + e.len() + 3);
        if e.len() < 256 {
            out.push(e.len() as u8);
        } else {
            out.push(0);
            out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(e);
        out.extend_from_slice(n);
        Some(out)
    }

    /// A raw key blob without a format prefix (`leftsigkey=0s...`): DER
    /// (SubjectPublicKeyInfo, then PKCS#1 RSAPublicKey), else RFC 3110.
    pub fn from_key_blob(b: &[u8]) -> Result<PublicKey, Error> {
        if b.first() == Some(&0x30) {
            if let Ok(k) = Self::from_spki(b).or_else(|_| Self::from_pkcs1_public(b)) {
                return Ok(k);
            }
        }
        Self::from_rfc3110(b)
    }

    /// An SSH public key blob (`leftsigkey=ssh:0s...`): `ssh-rsa`
    /// (RFC 4253 6.6), `ecdsa-sha2-nistp256/384/521` (RFC 5656 3.1),
    /// `ssh-ed25519` (RFC 8709 4).
    pub fn from_ssh(b: &[u8]) -> Result<PublicKey, Error> {
        let bad = |m: &str| Error::BadKey(format!("SSH public key: {m}"));
        fn field(b: &[u8]) -> Option<(&[u8], &[u8])> {
            let (l, rest) = b.split_first_chunk::<4>()?;
            rest.split_at_checked(usize::try_from(u32::from_be_bytes(*l)).ok()?)
        }
        let (kind, rest) = field(b).ok_or_else(|| bad("truncated"))?;
        let trim = |v: &[u8]| v.iter().take_while(|&&x| x == 0).count();
        match kind {
            b"ssh-rsa" => {
                let (e, rest) = field(rest).ok_or_else(|| bad("no exponent"))?;
                let (n, _) = field(rest).ok_or_else(|| bad("no modulus"))?;
                Self::rsa(&n[trim(n)..], &e[trim(e)..])
            }
            b"ssh-ed25519" => {
                let (k, _) = field(rest).ok_or_else(|| bad("no key"))?;
                let k: [u8; 32] = k
                    .try_into()
                    .map_err(|_| bad("Ed25519 key is not 32 bytes"))?;
                Ok(PublicKey::Ed25519(k))
            }
            k if k.starts_with(b"ecdsa-sha2-") => {
                let curve = match &k[11..] {
                    b"nistp256" => Curve::P256,
                    b"nistp384" => Curve::P384,
                    b"nistp521" => Curve::P521,
                    _ => return Err(Error::Unsupported("SSH ECDSA curve".into())),
                };
                let (_, rest) = field(rest).ok_or_else(|| bad("no curve name"))?;
                let (q, _) = field(rest).ok_or_else(|| bad("no point"))?;
                Self::ec(curve, q)
            }
            k => Err(Error::Unsupported(format!(
                "SSH key type '{}'",
                String::from_utf8_lossy(k)
            ))),
        }
    }

    /// `leftrsasigkey=` values: `0s<base64>` or `0x<hex>` in RFC 3110 form.
    pub fn from_sigkey(s: &str) -> Result<PublicKey, Error> {
        let s = s.trim();
        let bytes = if let Some(b) = s.strip_prefix("0s") {
            let b: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| Error::BadKey(format!("rsasigkey: bad base64: {e}")))?
        } else if let Some(h) = s.strip_prefix("0x") {
            let h: String = h.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            hex::decode(h).map_err(|e| Error::BadKey(format!("rsasigkey: bad hex: {e}")))?
        } else {
            return Err(Error::BadKey(
                "rsasigkey must start with 0s (base64) or 0x (hex)".into(),
            ));
        };
        Self::from_rfc3110(&bytes)
    }

    /// A public key file or blob: PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`) or
    /// DER (SubjectPublicKeyInfo or RSAPublicKey).
    pub fn from_pem_or_der(input: &[u8]) -> Result<PublicKey, Error> {
        if pem::is_pem(input) {
            let blocks = pem::parse_blocks(input).map_err(Error::BadKey)?;
            for b in blocks {
                match b.label.as_str() {
                    "PUBLIC KEY" => return Self::from_spki(&b.contents),
                    "RSA PUBLIC KEY" => return Self::from_pkcs1_public(&b.contents),
                    _ => {}
                }
            }
            return Err(Error::Empty);
        }
        Self::from_spki(input).or_else(|_| Self::from_pkcs1_public(input))
    }

    /// PKCS#1 RSAPublicKey DER (RSA only).
    pub fn rsa_public_key_der(&self) -> Option<Vec<u8>> {
        match self {
            PublicKey::Rsa { n, e } => Some(der::seq(&[&der::uint(n), &der::uint(e)])),
            _ => None,
        }
    }

    /// The subjectPublicKey bits as they appear in a SubjectPublicKeyInfo.
    fn key_bits(&self) -> Vec<u8> {
        match self {
            PublicKey::Rsa { .. } => self.rsa_public_key_der().unwrap_or_default(),
            PublicKey::Ec { point, .. } => point.clone(),
            PublicKey::Ed25519(k) => k.to_vec(),
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn to_spki(&self) -> Vec<u8> {
        let alg = match self {
            PublicKey::Rsa { .. } => der::seq(&[&der::oid(OID_RSA), &[5, 0]]),
            PublicKey::Ec { curve, .. } => der::seq(&[&der::oid(OID_EC), &der::oid(curve.oid())]),
            PublicKey::Ed25519(_) => der::seq(&[&der::oid(OID_ED25519)]),
        };
        let mut bits = vec![0u8];
        bits.extend(self.key_bits());
        der::seq(&[&alg, &der::encode(0x03, &bits)])
    }

    /// SHA-1 of the subjectPublicKey bits: strongSwan's key ID (what
    /// `pki --keyid` prints as "subjkey", and what KEY_ID identities match).
    pub fn keyid(&self) -> [u8; 20] {
        sha1(&self.key_bits())
    }

    /// SHA-1 of the whole SubjectPublicKeyInfo (RFC 7296 CERTREQ authority).
    pub fn spki_sha1(&self) -> [u8; 20] {
        sha1(&self.to_spki())
    }

    /// Verifies `signature` over `msg` with `scheme`.
    pub fn verify(&self, scheme: Scheme, msg: &[u8], signature: &[u8]) -> Result<(), Error> {
        let alg = self.verification_alg(scheme)?;
        let bytes = match self {
            PublicKey::Rsa { .. } => self.rsa_public_key_der().unwrap_or_default(),
            PublicKey::Ec { point, .. } => point.clone(),
            PublicKey::Ed25519(k) => k.to_vec(),
        };
        UnparsedPublicKey::new(alg, bytes)
            .verify(msg, signature)
            .map_err(|_| Error::BadSignature)
    }

    fn verification_alg(
        &self,
        scheme: Scheme,
    ) -> Result<&'static dyn VerificationAlgorithm, Error> {
        let unsupported = || Error::Unsupported(format!("{scheme} with a {} key", self.describe()));
        Ok(match (self, scheme) {
            (PublicKey::Rsa { .. }, Scheme::RsaPkcs1(h)) => match h {
                Hash::Sha1 => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                Hash::Sha256 => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Hash::Sha512 => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
                Hash::Identity => return Err(unsupported()),
            },
            (PublicKey::Rsa { .. }, Scheme::RsaPss { hash, salt_len }) => {
                if salt_len != hash.output_len() {
                    return Err(Error::Unsupported(format!(
                        "RSA-PSS salt length {salt_len} (only the hash length is supported)"
                    )));
                }
                match hash {
                    Hash::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Hash::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
                    Hash::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(unsupported()),
                }
            }
            (PublicKey::Ec { curve, .. }, Scheme::Ecdsa { hash, der: true }) => {
                match (curve, hash) {
                    (Curve::P256, Hash::Sha1) => &sig::ECDSA_P256_SHA1_ASN1,
                    (Curve::P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                    (Curve::P256, Hash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                    (Curve::P256, Hash::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
                    (Curve::P384, Hash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                    (Curve::P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                    (Curve::P384, Hash::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
                    (Curve::P521, Hash::Sha1) => &sig::ECDSA_P521_SHA1_ASN1,
                    (Curve::P521, Hash::Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
                    (Curve::P521, Hash::Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
                    (Curve::P521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
                    _ => return Err(unsupported()),
                }
            }
            (PublicKey::Ec { curve, .. }, Scheme::Ecdsa { hash, der: false }) => {
                match (curve, hash) {
                    (Curve::P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_FIXED,
                    (Curve::P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_FIXED,
                    (Curve::P521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_FIXED,
                    _ => return Err(unsupported()),
                }
            }
            (PublicKey::Ed25519(_), Scheme::Ed25519) => &sig::ED25519,
            _ => return Err(unsupported()),
        })
    }
}

pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

enum Inner {
    /// aws-lc-rs for RFC 7427 (PKCS#1 v1.5 with SHA-2, PSS); OpenSSL for
    /// PKCS#1 v1.5 with SHA-1 (AUTH method 1), which aws-lc-rs won't sign.
    Rsa {
        key: RsaKeyPair,
        sha1: LegacyRsaKey,
    },
    Ec {
        curve: Curve,
        fixed: EcdsaKeyPair,
        asn1: EcdsaKeyPair,
    },
    Ed25519(Ed25519KeyPair),
}

/// A private key. Its material lives inside aws-lc (freed with clearing);
/// `Debug` shows only the key type and public key ID.
pub struct PrivateKey {
    inner: Inner,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey(<redacted>, {}, keyid {})",
            self.public.describe(),
            hex::encode(self.public.keyid())
        )
    }
}

/// What the DER is believed to be (from a PEM label), if known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Pkcs1,
    Sec1,
    Pkcs8,
    EncryptedPkcs8,
}

impl PrivateKey {
    /// Loads a private key from PEM or DER: PKCS#1 RSA, SEC1 EC, PKCS#8
    /// (RSA, EC, Ed25519), or encrypted PKCS#8 (PBES2 / PBKDF2 or scrypt,
    /// AES-CBC or 3DES) with `passphrase`. The first key in a PEM file is used.
    pub fn from_pem_or_der(input: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, Error> {
        if pem::is_pem(input) {
            let blocks = pem::parse_blocks(input).map_err(Error::BadKey)?;
            for b in &blocks {
                let hint = match b.label.as_str() {
                    "RSA PRIVATE KEY" => Hint::Pkcs1,
                    "EC PRIVATE KEY" => Hint::Sec1,
                    "PRIVATE KEY" => Hint::Pkcs8,
                    "ENCRYPTED PRIVATE KEY" => Hint::EncryptedPkcs8,
                    _ => continue,
                };
                let encrypted = b
                    .headers
                    .iter()
                    .any(|(k, v)| k == "Proc-Type" && v.contains("ENCRYPTED"));
                if encrypted {
                    let dek = b
                        .headers
                        .iter()
                        .find(|(k, _)| k == "DEK-Info")
                        .map(|(_, v)| v.as_str())
                        .ok_or_else(|| Error::BadKey("encrypted PEM without DEK-Info".into()))?;
                    let pass = passphrase.ok_or(Error::NeedPassphrase)?;
                    let plain = crate::legacy::decrypt(dek, pass, &b.contents)?;
                    // A wrong passphrase that happens to unpad yields garbage.
                    return Self::from_der_hinted(&plain, None, hint).map_err(|e| match e {
                        Error::BadKey(_) => Error::BadPassphrase,
                        e => e,
                    });
                }
                return Self::from_der_hinted(&b.contents, passphrase, hint);
            }
            return Err(Error::Empty);
        }
        Self::from_der_hinted(input, passphrase, Hint::Unknown)
    }

    /// A DER private key of any supported form.
    pub fn from_der(der_key: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, Error> {
        Self::from_der_hinted(der_key, passphrase, Hint::Unknown)
    }

    fn from_der_hinted(
        d: &[u8],
        passphrase: Option<&[u8]>,
        hint: Hint,
    ) -> Result<PrivateKey, Error> {
        if matches!(hint, Hint::Unknown | Hint::EncryptedPkcs8) {
            if let Ok(enc) = pkcs8::EncryptedPrivateKeyInfo::try_from(d) {
                let pass = passphrase.ok_or(Error::NeedPassphrase)?;
                let doc = enc.decrypt(pass).map_err(|e| match e {
                    pkcs8::Error::EncryptedPrivateKey(
                        pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. },
                    )
                    | pkcs8::Error::EncryptedPrivateKey(
                        pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. },
                    ) => Error::Unsupported(format!("PKCS#8 encryption scheme: {e}")),
                    _ => Error::BadPassphrase,
                })?;
                return Self::from_pkcs8(doc.as_bytes()).map_err(|e| match e {
                    // garbage after decryption means a wrong passphrase that happened to unpad
                    Error::BadKey(_) => Error::BadPassphrase,
                    e => e,
                });
            }
            if hint == Hint::EncryptedPkcs8 {
                return Err(Error::BadKey("malformed EncryptedPrivateKeyInfo".into()));
            }
        }
        if matches!(hint, Hint::Unknown | Hint::Pkcs8) {
            if pkcs8::PrivateKeyInfo::try_from(d).is_ok() {
                return Self::from_pkcs8(d);
            }
            if hint == Hint::Pkcs8 {
                return Err(Error::BadKey("malformed PKCS#8 PrivateKeyInfo".into()));
            }
        }
        if matches!(hint, Hint::Unknown | Hint::Pkcs1) {
            if let Ok(k) = RsaKeyPair::from_der(d) {
                return Self::from_rsa(k, d);
            }
            if hint == Hint::Pkcs1 {
                return Err(Error::BadKey("malformed PKCS#1 RSAPrivateKey".into()));
            }
        }
        if let Some(curve) = sec1_curve(d) {
            return Self::from_ec(curve, |alg| EcdsaKeyPair::from_private_key_der(alg, d));
        }
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            if let Ok(k) = Self::from_ec(curve, |alg| EcdsaKeyPair::from_private_key_der(alg, d)) {
                return Ok(k);
            }
        }
        Err(Error::BadKey(
            "not a PKCS#1, SEC1 or (encrypted) PKCS#8 private key".into(),
        ))
    }

    fn from_pkcs8(d: &[u8]) -> Result<PrivateKey, Error> {
        let info = pkcs8::PrivateKeyInfo::try_from(d)
            .map_err(|e| Error::BadKey(format!("PKCS#8: {e}")))?;
        let oid = info.algorithm.oid.to_string();
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| Error::BadKey(format!("PKCS#8 {oid}: {e}"));
        match oid.as_str() {
            OID_RSA => Self::from_rsa(RsaKeyPair::from_pkcs8(d).map_err(rejected)?, d),
            OID_EC => {
                let c = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| Error::BadKey("PKCS#8 EC key without named curve".into()))?
                    .to_string();
                let curve = Curve::from_oid(&c)
                    .ok_or_else(|| Error::Unsupported(format!("elliptic curve {c}")))?;
                Self::from_ec(curve, |alg| EcdsaKeyPair::from_pkcs8(alg, d))
            }
            OID_ED25519 => {
                let k = Ed25519KeyPair::from_pkcs8_maybe_unchecked(d).map_err(rejected)?;
                let public: [u8; 32] = k
                    .public_key()
                    .as_ref()
                    .try_into()
                    .map_err(|_| Error::BadKey("Ed25519 public key length".into()))?;
                Ok(PrivateKey {
                    inner: Inner::Ed25519(k),
                    public: PublicKey::Ed25519(public),
                })
            }
            o => Err(Error::Unsupported(format!("private key algorithm {o}"))),
        }
    }

    /// `d`: the DER aws-lc-rs read `k` from, read again by OpenSSL.
    fn from_rsa(k: RsaKeyPair, d: &[u8]) -> Result<PrivateKey, Error> {
        let public = PublicKey::from_pkcs1_public(k.public_key().as_ref())?;
        let sha1 = LegacyRsaKey::from_der(d, k.public_modulus_len())?;
        Ok(PrivateKey {
            inner: Inner::Rsa { key: k, sha1 },
            public,
        })
    }

    fn from_ec(
        curve: Curve,
        load: impl Fn(
            &'static sig::EcdsaSigningAlgorithm,
        ) -> Result<EcdsaKeyPair, aws_lc_rs::error::KeyRejected>,
    ) -> Result<PrivateKey, Error> {
        let rej = |e: aws_lc_rs::error::KeyRejected| {
            Error::BadKey(format!("EC P-{} key: {e}", curve.bits()))
        };
        let fixed = load(curve.fixed_signing()).map_err(rej)?;
        let asn1 = load(curve.asn1_signing()).map_err(rej)?;
        let public = PublicKey::ec(curve, fixed.public_key().as_ref())?;
        Ok(PrivateKey {
            inner: Inner::Ec { curve, fixed, asn1 },
            public,
        })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `msg` (hashing it as the scheme says). RSA PKCS#1 v1.5 with
    /// SHA-1 (AUTH method 1) is made by OpenSSL (see `rsa_sha1.rs`).
    pub fn sign(&self, scheme: Scheme, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let unsupported =
            || Error::Unsupported(format!("{scheme} with a {} key", self.public.describe()));
        match (&self.inner, scheme) {
            (Inner::Rsa { sha1, .. }, Scheme::RsaPkcs1(Hash::Sha1)) => sha1.sign_sha1(msg),
            (Inner::Rsa { key: k, .. }, Scheme::RsaPkcs1(h) | Scheme::RsaPss { hash: h, .. }) => {
                let pss = matches!(scheme, Scheme::RsaPss { .. });
                if let Scheme::RsaPss { hash, salt_len } = scheme {
                    if salt_len != hash.output_len() {
                        return Err(unsupported());
                    }
                }
                let enc: &'static dyn sig::RsaEncoding = match (h, pss) {
                    (Hash::Sha256, false) => &sig::RSA_PKCS1_SHA256,
                    (Hash::Sha384, false) => &sig::RSA_PKCS1_SHA384,
                    (Hash::Sha512, false) => &sig::RSA_PKCS1_SHA512,
                    (Hash::Sha256, true) => &sig::RSA_PSS_SHA256,
                    (Hash::Sha384, true) => &sig::RSA_PSS_SHA384,
                    (Hash::Sha512, true) => &sig::RSA_PSS_SHA512,
                    _ => return Err(unsupported()),
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(enc, &rng, msg, &mut out)
                    .map_err(|_| Error::SignFailed)?;
                Ok(out)
            }
            (Inner::Ec { curve, fixed, asn1 }, Scheme::Ecdsa { hash, der }) => {
                if hash != curve.hash() {
                    return Err(unsupported());
                }
                let k = if der { asn1 } else { fixed };
                Ok(k.sign(&rng, msg)
                    .map_err(|_| Error::SignFailed)?
                    .as_ref()
                    .to_vec())
            }
            (Inner::Ed25519(k), Scheme::Ed25519) => Ok(k.sign(msg).as_ref().to_vec()),
            _ => Err(unsupported()),
        }
    }
}

/// The named curve in a SEC1 ECPrivateKey's `[0] parameters`, if present.
fn sec1_curve(d: &[u8]) -> Option<Curve> {
    let (body, _) = der::expect(d, 0x30)?;
    let (_, rest) = der::expect(body, 0x02)?; // version
    let (_, mut rest) = der::expect(rest, 0x04)?; // privateKey
    while !rest.is_empty() {
        let (tag, c, r) = der::read_tlv(rest)?;
        if tag == 0xa0 {
            let (oid, _) = der::expect(c, 0x06)?;
            return Curve::from_oid(&der::oid_to_string(oid)?);
        }
        rest = r;
    }
    None
}
