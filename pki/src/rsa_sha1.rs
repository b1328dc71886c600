//! RSASSA-PKCS1-v1_5 with SHA-1: what RFC 7296 AUTH method 1 ("RSA Digital
//! Signature") signs with, and the only signature a peer that sends no
//! SIGNATURE_HASH_ALGORITHMS (Windows' native client, RFC 7427 section 4)
//! can verify from an RSA gateway.
//!
//! aws-lc-rs, the backend of every other signature here, verifies this
//! scheme but deliberately refuses to make it, and exposes no raw RSA
//! private-key operation through its safe API. So this one operation goes to
//! the system's OpenSSL through the `openssl` crate's safe API: its RSA
//! private-key operation is constant-time (Montgomery exponentiation with
//! `BN_FLG_CONSTTIME`, CRT, and base blinding), unlike the `rsa` crate
//! (RUSTSEC-2023-0071). Padding and the SHA-1 DigestInfo are built by
//! OpenSSL (`EVP_DigestSign` with `RSA_PKCS1_PADDING`); nothing secret is
//! computed in this crate.

use std::fmt;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::Signer;

use crate::error::Error;

/// An RSA private key held by OpenSSL, for AUTH method 1 only. The key
/// material lives in OpenSSL's memory, which frees it with clearing
/// (`BN_clear_free`). `Debug` shows nothing of it.
pub(crate) struct LegacyRsaKey(PKey<Private>);

impl fmt::Debug for LegacyRsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyRsaKey(<redacted>)")
    }
}

impl LegacyRsaKey {
    /// The same key aws-lc-rs accepted, from its DER (PKCS#1 RSAPrivateKey
    /// or PKCS#8 PrivateKeyInfo, both unencrypted). `modulus_len` is the
    /// length aws-lc-rs saw, checked so both backends hold the same key.
    pub(crate) fn from_der(der: &[u8], modulus_len: usize) -> Result<LegacyRsaKey, Error> {
        let key = PKey::private_key_from_der(der)
            .map_err(|e| Error::BadKey(format!("RSA key (OpenSSL, for AUTH method 1): {e}")))?;
        let rsa = key
            .rsa()
            .map_err(|e| Error::BadKey(format!("not an RSA key for OpenSSL: {e}")))?;
        if usize::try_from(rsa.size()).ok() != Some(modulus_len) {
            return Err(Error::BadKey(
                "OpenSSL and aws-lc read different RSA keys from one DER".into(),
            ));
        }
        Ok(LegacyRsaKey(key))
    }

    /// RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2.1) with SHA-1 over `msg`.
    pub(crate) fn sign_sha1(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut s = Signer::new(MessageDigest::sha1(), &self.0).map_err(|_| Error::SignFailed)?;
        s.set_rsa_padding(Padding::PKCS1)
            .map_err(|_| Error::SignFailed)?;
        s.sign_oneshot_to_vec(msg).map_err(|_| Error::SignFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Hash, PrivateKey, Scheme};
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use openssl::bn::{BigNum, BigNumContext};

    /// A fresh RSA key as PKCS#8 and as PKCS#1 DER.
    fn rsa_key(size: KeySize) -> (Vec<u8>, Vec<u8>) {
        let k = KeyPair::generate(size).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k)
            .unwrap()
            .as_ref()
            .to_vec();
        let pkcs1 = PKey::private_key_from_der(&pkcs8)
            .unwrap()
            .rsa()
            .unwrap()
            .private_key_to_der()
            .unwrap();
        (pkcs8, pkcs1)
    }

    /// The signature is exactly EMSA-PKCS1-v1_5 of the SHA-1 DigestInfo
    /// (RFC 8017 section 9.2, note 1) raised to d: check s^e mod n by hand,
    /// and that aws-lc's own verifier (a second implementation) accepts it.
    #[test]
    fn method_1_signature_is_pkcs1_v15_sha1() {
        let (pkcs8, pkcs1) = rsa_key(KeySize::Rsa2048);
        let msg = b"RFC 7296 section 2.15 octets";
        for der in [&pkcs8, &pkcs1] {
            let k = PrivateKey::from_der(der, None).unwrap();
            let sig = k.sign(Scheme::RsaPkcs1(Hash::Sha1), msg).unwrap();
            assert_eq!(sig.len(), 256);
            // deterministic
            assert_eq!(sig, k.sign(Scheme::RsaPkcs1(Hash::Sha1), msg).unwrap());
            k.public_key()
                .verify(Scheme::RsaPkcs1(Hash::Sha1), msg, &sig)
                .unwrap();
            // not a SHA-256 signature, not over another message
            assert!(
                k.public_key()
                    .verify(Scheme::RsaPkcs1(Hash::Sha256), msg, &sig)
                    .is_err()
            );
            assert!(
                k.public_key()
                    .verify(Scheme::RsaPkcs1(Hash::Sha1), b"other", &sig)
                    .is_err()
            );
            let crate::PublicKey::Rsa { n, e } = k.public_key() else {
                panic!("RSA")
            };
            let mut ctx = BigNumContext::new().unwrap();
            let mut em = BigNum::new().unwrap();
            em.mod_exp(
                &BigNum::from_slice(&sig).unwrap(),
                &BigNum::from_slice(e).unwrap(),
                &BigNum::from_slice(n).unwrap(),
                &mut ctx,
            )
            .unwrap();
            let em = em.to_vec_padded(256).unwrap();
            let digest_info = hex::decode("3021300906052b0e03021a05000414").unwrap();
            let mut want = vec![0x00, 0x01];
            want.resize(256 - digest_info.len() - 20 - 1, 0xff);
            want.push(0);
            want.extend_from_slice(&digest_info);
            want.extend_from_slice(&crate::key::sha1(msg));
            assert_eq!(hex::encode(em), hex::encode(want));
        }
    }

    #[test]
    fn mismatched_key_and_debug() {
        let (pkcs8, _) = rsa_key(KeySize::Rsa2048);
        assert!(LegacyRsaKey::from_der(&pkcs8, 512).is_err());
        assert!(LegacyRsaKey::from_der(b"\x30\x03\x02\x01\x00", 256).is_err());
        let k = LegacyRsaKey::from_der(&pkcs8, 256).unwrap();
        assert_eq!(format!("{k:?}"), "LegacyRsaKey(<redacted>)");
    }
}
