//! AUTH payload signatures (RFC 7296 section 2.15, RFC 4754, RFC 7427) and
//! the SIGNATURE_HASH_ALGORITHMS negotiation (RFC 7427 section 4).
//!
//! `octets` is always what RFC 7296 section 2.15 says a side signs (its
//! first message, the peer's nonce, prf(SK_p, IDx')): `ike::crypto::auth::signed_octets`.
//! The functions here take and return the AUTH payload's *Authentication
//! Data* only; the method byte travels beside it.

use crate::error::Error;
use crate::key::{Curve, Hash, PrivateKey, PublicKey, Scheme};
use crate::sigalg;

/// Signature-based IKEv2 authentication methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// 1: RSA PKCS#1 v1.5 with SHA-1.
    RsaSig,
    /// 9: ECDSA with SHA-256 on P-256 (RFC 4754).
    EcdsaSha256P256,
    /// 10: ECDSA with SHA-384 on P-384.
    EcdsaSha384P384,
    /// 11: ECDSA with SHA-512 on P-521.
    EcdsaSha512P521,
    /// 14: Digital Signature (RFC 7427).
    DigitalSignature,
}

impl AuthMethod {
    pub fn from_u8(v: u8) -> Option<AuthMethod> {
        Some(match v {
            1 => AuthMethod::RsaSig,
            9 => AuthMethod::EcdsaSha256P256,
            10 => AuthMethod::EcdsaSha384P384,
            11 => AuthMethod::EcdsaSha512P521,
            14 => AuthMethod::DigitalSignature,
            _ => return None,
        })
    }
    pub fn to_u8(self) -> u8 {
        match self {
            AuthMethod::RsaSig => 1,
            AuthMethod::EcdsaSha256P256 => 9,
            AuthMethod::EcdsaSha384P384 => 10,
            AuthMethod::EcdsaSha512P521 => 11,
            AuthMethod::DigitalSignature => 14,
        }
    }
    fn ecdsa_curve(self) -> Option<Curve> {
        match self {
            AuthMethod::EcdsaSha256P256 => Some(Curve::P256),
            AuthMethod::EcdsaSha384P384 => Some(Curve::P384),
            AuthMethod::EcdsaSha512P521 => Some(Curve::P521),
            _ => None,
        }
    }
}

/// The hashes we announce in SIGNATURE_HASH_ALGORITHMS, in preference order
/// (SHA-1 is not offered, as strongSwan 5.9 doesn't).
pub const OUR_HASHES: [Hash; 4] = [Hash::Sha256, Hash::Sha384, Hash::Sha512, Hash::Identity];

/// The SIGNATURE_HASH_ALGORITHMS notify data for `hashes`.
pub fn encode_hash_algorithms(hashes: &[Hash]) -> Vec<u8> {
    hashes
        .iter()
        .flat_map(|&h| (h as u16).to_be_bytes())
        .collect()
}

/// Parses a peer's SIGNATURE_HASH_ALGORITHMS notify data: known hashes in
/// its order, unknown values skipped. An odd length is malformed.
pub fn decode_hash_algorithms(data: &[u8]) -> Result<Vec<Hash>, Error> {
    if data.len() % 2 != 0 {
        return Err(Error::BadAuthData(
            "SIGNATURE_HASH_ALGORITHMS data has an odd length".into(),
        ));
    }
    Ok(data
        .chunks_exact(2)
        .filter_map(|c| Hash::from_u16(u16::from_be_bytes([c[0], c[1]])))
        .collect())
}

/// How to sign AUTH with `key`: RFC 7427 (method 14) with the best scheme the
/// peer announced, if it announced any hash that fits the key; otherwise the
/// classic method (9/10/11 for ECDSA, 1 for RSA). `peer_hashes` is `None`
/// when the peer sent no SIGNATURE_HASH_ALGORITHMS. `rsa_pss` selects
/// RSASSA-PSS for RSA keys under RFC 7427 (strongSwan's `rsa_pss` option).
pub fn choose_scheme(
    key: &PublicKey,
    peer_hashes: Option<&[Hash]>,
    rsa_pss: bool,
) -> Result<(AuthMethod, Scheme), Error> {
    if let Some(peer) = peer_hashes {
        let s = match key {
            PublicKey::Rsa { .. } => [Hash::Sha256, Hash::Sha384, Hash::Sha512]
                .into_iter()
                .find(|h| peer.contains(h))
                .map(|h| {
                    if rsa_pss {
                        Scheme::RsaPss {
                            hash: h,
                            salt_len: h.output_len(),
                        }
                    } else {
                        Scheme::RsaPkcs1(h)
                    }
                }),
            PublicKey::Ec { curve, .. } => peer.contains(&curve.hash()).then_some(Scheme::Ecdsa {
                hash: curve.hash(),
                der: true,
            }),
            PublicKey::Ed25519(_) => peer.contains(&Hash::Identity).then_some(Scheme::Ed25519),
        };
        if let Some(s) = s {
            return Ok((AuthMethod::DigitalSignature, s));
        }
    }
    match key {
        PublicKey::Rsa { .. } => Ok((AuthMethod::RsaSig, Scheme::RsaPkcs1(Hash::Sha1))),
        PublicKey::Ec { curve, .. } => Ok((
            match curve {
                Curve::P256 => AuthMethod::EcdsaSha256P256,
                Curve::P384 => AuthMethod::EcdsaSha384P384,
                Curve::P521 => AuthMethod::EcdsaSha512P521,
            },
            Scheme::Ecdsa {
                hash: curve.hash(),
                der: false,
            },
        )),
        PublicKey::Ed25519(_) => Err(Error::Unsupported(
            "Ed25519 needs RFC 7427 and the peer announced no Identity hash".into(),
        )),
    }
}

/// Signs `octets` for `method`/`scheme` (from [`choose_scheme`]) and returns
/// the Authentication Data.
pub fn sign_auth(
    key: &PrivateKey,
    method: AuthMethod,
    scheme: Scheme,
    octets: &[u8],
) -> Result<Vec<u8>, Error> {
    check_method_scheme(key.public_key(), method, scheme)?;
    let sig = key.sign(scheme, octets)?;
    if method != AuthMethod::DigitalSignature {
        return Ok(sig);
    }
    let alg = sigalg::algorithm_identifier(scheme)
        .ok_or_else(|| Error::Unsupported(format!("{scheme} under RFC 7427")))?;
    let len = u8::try_from(alg.len())
        .map_err(|_| Error::Unsupported("AlgorithmIdentifier > 255 bytes".into()))?;
    let mut out = Vec::with_capacity(1 + alg.len() + sig.len());
    out.push(len);
    out.extend_from_slice(&alg);
    out.extend_from_slice(&sig);
    Ok(out)
}

/// Verifies received Authentication Data for method number `method` (the
/// AUTH payload's first byte) with the peer's public key. Returns the scheme
/// that was used.
pub fn verify_auth(
    key: &PublicKey,
    method: u8,
    auth_data: &[u8],
    octets: &[u8],
) -> Result<Scheme, Error> {
    let m = AuthMethod::from_u8(method).ok_or_else(|| {
        Error::Unsupported(format!("AUTH method {method} is not a signature method"))
    })?;
    let (scheme, sig) = match m {
        AuthMethod::RsaSig => (Scheme::RsaPkcs1(Hash::Sha1), auth_data),
        AuthMethod::DigitalSignature => {
            let (&len, rest) = auth_data
                .split_first()
                .ok_or_else(|| Error::BadAuthData("empty".into()))?;
            let (alg, sig) = rest.split_at_checked(usize::from(len)).ok_or_else(|| {
                Error::BadAuthData("AlgorithmIdentifier length beyond the data".into())
            })?;
            (sigalg::scheme_from_algorithm_identifier(alg)?, sig)
        }
        _ => {
            let curve = m
                .ecdsa_curve()
                .ok_or_else(|| Error::Unsupported("method".into()))?;
            (
                Scheme::Ecdsa {
                    hash: curve.hash(),
                    der: false,
                },
                auth_data,
            )
        }
    };
    check_method_scheme(key, m, scheme)?;
    key.verify(scheme, octets, sig)?;
    Ok(scheme)
}

fn check_method_scheme(key: &PublicKey, m: AuthMethod, scheme: Scheme) -> Result<(), Error> {
    let ok = match (m, key) {
        (AuthMethod::RsaSig, PublicKey::Rsa { .. }) => scheme == Scheme::RsaPkcs1(Hash::Sha1),
        (AuthMethod::DigitalSignature, _) => true,
        (_, PublicKey::Ec { curve, .. }) => {
            m.ecdsa_curve() == Some(*curve)
                && scheme
                    == Scheme::Ecdsa {
                        hash: curve.hash(),
                        der: false,
                    }
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "AUTH method {} with {scheme} and a {} key",
            m.to_u8(),
            key.describe()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair};

    fn ec(alg: &'static sig::EcdsaSigningAlgorithm) -> PrivateKey {
        let d = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
        PrivateKey::from_der(d.as_ref(), None).unwrap()
    }

    #[test]
    fn hash_algorithms_notify() {
        let enc = encode_hash_algorithms(&OUR_HASHES);
        assert_eq!(enc, [0, 2, 0, 3, 0, 4, 0, 5]);
        assert_eq!(decode_hash_algorithms(&enc).unwrap(), OUR_HASHES);
        // Unknown values are skipped, odd lengths refused.
        assert_eq!(decode_hash_algorithms(&[0, 9, 0, 1]).unwrap(), [Hash::Sha1]);
        assert!(decode_hash_algorithms(&[0, 2, 0]).is_err());
    }

    #[test]
    fn p521_methods_and_malformed_auth_data() {
        let k = ec(&sig::ECDSA_P521_SHA512_ASN1_SIGNING);
        let public = k.public_key().clone();
        let octets = b"signed octets";
        let (m, s) = choose_scheme(&public, None, false).unwrap();
        assert_eq!(m.to_u8(), 11);
        let raw = sign_auth(&k, m, s, octets).unwrap();
        assert_eq!(raw.len(), 132);
        assert_eq!(verify_auth(&public, 11, &raw, octets).ok(), Some(s));
        let (m, s) = choose_scheme(&public, Some(&[Hash::Sha512]), false).unwrap();
        assert_eq!(
            (m, s),
            (
                AuthMethod::DigitalSignature,
                Scheme::Ecdsa {
                    hash: Hash::Sha512,
                    der: true
                }
            )
        );
        let d = sign_auth(&k, m, s, octets).unwrap();
        assert_eq!(verify_auth(&public, 14, &d, octets).ok(), Some(s));
        // Truncations and lies in the length byte are errors, not panics.
        for cut in 0..d.len() {
            assert!(
                verify_auth(&public, 14, &d[..cut], octets).is_err(),
                "cut {cut}"
            );
        }
        let mut lie = d.clone();
        lie[0] = 255;
        assert!(verify_auth(&public, 14, &lie, octets).is_err());
        // Non-signature methods (2 = shared key) and unknown ones.
        assert!(matches!(
            verify_auth(&public, 2, &raw, octets),
            Err(Error::Unsupported(_))
        ));
        // Method 1 with an EC key; raw ECDSA under the wrong curve's method.
        assert!(verify_auth(&public, 1, &raw, octets).is_err());
        assert!(verify_auth(&public, 9, &raw, octets).is_err());
        // Signing with a scheme that doesn't fit the key.
        assert!(
            sign_auth(
                &k,
                AuthMethod::EcdsaSha256P256,
                Scheme::Ecdsa {
                    hash: Hash::Sha256,
                    der: false
                },
                octets
            )
            .is_err()
        );
        assert!(sign_auth(&k, AuthMethod::DigitalSignature, Scheme::Ed25519, octets).is_err());
    }

    /// What an RSA gateway signs for each kind of client: Windows announces
    /// nothing (method 1, SHA-1); Android and strongSwan announce SHA-1 and
    /// SHA-2 (method 14, PKCS#1 v1.5 with SHA-256, never RSASSA-PSS unless
    /// configured); a peer with SHA-1 only gets method 1.
    #[test]
    fn rsa_scheme_per_client() {
        let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k).unwrap();
        let key = PrivateKey::from_der(der.as_ref(), None).unwrap();
        let public = key.public_key();
        let android = [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512];
        let cases: [(Option<&[Hash]>, AuthMethod, Scheme); 4] = [
            (None, AuthMethod::RsaSig, Scheme::RsaPkcs1(Hash::Sha1)),
            (
                Some(&android),
                AuthMethod::DigitalSignature,
                Scheme::RsaPkcs1(Hash::Sha256),
            ),
            (
                Some(&[Hash::Sha512, Hash::Sha384]),
                AuthMethod::DigitalSignature,
                Scheme::RsaPkcs1(Hash::Sha384),
            ),
            (
                Some(&[Hash::Sha1]),
                AuthMethod::RsaSig,
                Scheme::RsaPkcs1(Hash::Sha1),
            ),
        ];
        for (peer, m, s) in cases {
            assert_eq!(
                choose_scheme(public, peer, false).unwrap(),
                (m, s),
                "{peer:?}"
            );
            let data = sign_auth(&key, m, s, b"octets").unwrap();
            assert_eq!(
                verify_auth(public, m.to_u8(), &data, b"octets").ok(),
                Some(s)
            );
        }
    }

    #[test]
    fn ed25519_and_key_confusion() {
        let d = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let k = PrivateKey::from_der(d.as_ref(), None).unwrap();
        let (m, s) = choose_scheme(k.public_key(), Some(&OUR_HASHES), false).unwrap();
        let data = sign_auth(&k, m, s, b"x").unwrap();
        assert_eq!(&data[..8], [7, 0x30, 5, 6, 3, 0x2b, 0x65, 0x70]);
        assert_eq!(
            verify_auth(k.public_key(), 14, &data, b"x").ok(),
            Some(Scheme::Ed25519)
        );
        // The same AUTH data checked against another key fails.
        let other = ec(&sig::ECDSA_P256_SHA256_ASN1_SIGNING);
        assert!(verify_auth(other.public_key(), 14, &data, b"x").is_err());
        assert!(format!("{k:?}").contains("<redacted>"));
    }
}
