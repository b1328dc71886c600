//! Pseudorandom functions (RFC 7296 section 2.13) and prf+.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

use super::{CryptoError, SecretBytes, xcbc};
use crate::wire::transform_id::prf as id;

/// A negotiated PRF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2).
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
    /// PRF_AES128_XCBC (4).
    Aes128Xcbc,
    /// PRF_AES128_CMAC (8).
    Aes128Cmac,
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> SecretBytes {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an
    // empty output rather than panic if a future version changes that.
    match <M as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            for p in parts {
                m.update(p);
            }
            SecretBytes::new(m.finalize().into_bytes().to_vec())
        }
        Err(_) => SecretBytes::default(),
    }
}

impl Prf {
    /// Every PRF implemented.
    pub const ALL: [Prf; 6] = [
        Prf::HmacSha1,
        Prf::HmacSha256,
        Prf::HmacSha384,
        Prf::HmacSha512,
        Prf::Aes128Xcbc,
        Prf::Aes128Cmac,
    ];

    /// IANA transform ID.
    pub fn iana_id(self) -> u16 {
        match self {
            Prf::HmacSha1 => id::HMAC_SHA1,
            Prf::HmacSha256 => id::HMAC_SHA2_256,
            Prf::HmacSha384 => id::HMAC_SHA2_384,
            Prf::HmacSha512 => id::HMAC_SHA2_512,
            Prf::Aes128Xcbc => id::AES128_XCBC,
            Prf::Aes128Cmac => id::AES128_CMAC,
        }
    }

    /// The PRF with this IANA transform ID.
    pub fn from_iana(v: u16) -> Option<Prf> {
        Prf::ALL.into_iter().find(|p| p.iana_id() == v)
    }

    /// Output length in octets.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
            Prf::Aes128Xcbc | Prf::Aes128Cmac => 16,
        }
    }

    /// Preferred key length: the length of SK_d, SK_pi and SK_pr
    /// (RFC 7296 section 2.14; RFC 4868 section 2.1.2 for SHA-2).
    pub fn key_len(self) -> usize {
        self.output_len()
    }

    /// Whether the PRF takes a fixed-size key, so that SKEYSEED uses only
    /// the first 64 bits of each nonce (RFC 7296 section 2.14).
    pub fn has_fixed_key(self) -> bool {
        matches!(self, Prf::Aes128Xcbc | Prf::Aes128Cmac)
    }

    /// prf(key, parts[0] | parts[1] | ...).
    pub fn compute(self, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
        match self {
            Prf::HmacSha1 => hmac::<Hmac<Sha1>>(key, parts),
            Prf::HmacSha256 => hmac::<Hmac<Sha256>>(key, parts),
            Prf::HmacSha384 => hmac::<Hmac<Sha384>>(key, parts),
            Prf::HmacSha512 => hmac::<Hmac<Sha512>>(key, parts),
            Prf::Aes128Xcbc => SecretBytes::new(xcbc::xcbc_prf(key, parts).to_vec()),
            Prf::Aes128Cmac => SecretBytes::new(xcbc::cmac_prf(key, parts).to_vec()),
        }
    }

    /// prf+(key, seed) truncated to `len` octets (RFC 7296 section 2.13):
    /// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), at most 255 blocks.
    pub fn prf_plus(
        self,
        key: &[u8],
        seed: &[&[u8]],
        len: usize,
    ) -> Result<SecretBytes, CryptoError> {
        let out_len = self.output_len();
        if len > out_len * 255 {
            return Err(CryptoError::PrfPlusTooLong(len));
        }
        let mut out = SecretBytes::new(Vec::with_capacity(len + out_len));
        let mut prev = SecretBytes::default();
        let mut n: u8 = 1;
        while out.len() < len {
            let counter = [n];
            let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
            parts.push(prev.as_slice());
            parts.extend_from_slice(seed);
            parts.push(&counter);
            let t = self.compute(key, &parts);
            out.0.extend_from_slice(t.as_slice());
            prev = t;
            n = n.wrapping_add(1);
        }
        out.0.truncate(len);
        Ok(out)
    }
}
