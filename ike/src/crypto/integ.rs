//! Integrity algorithms for the SK payload (HMAC, RFC 2404 / RFC 4868; AES-XCBC-96, RFC 3566).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

use super::{CryptoError, ct_eq, xcbc};
use crate::wire::transform_id::integ as id;

/// A negotiated integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_SHA1_96 (2).
    HmacSha1_96,
    /// AUTH_AES_XCBC_96 (5).
    AesXcbc96,
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha512_256,
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut m = <M as Mac>::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len()))?;
    m.update(data);
    Ok(m.finalize().into_bytes().to_vec())
}

impl Integ {
    /// Every integrity algorithm implemented.
    pub const ALL: [Integ; 5] = [
        Integ::HmacSha1_96,
        Integ::AesXcbc96,
        Integ::HmacSha256_128,
        Integ::HmacSha384_192,
        Integ::HmacSha512_256,
    ];

    /// IANA transform ID.
    pub fn iana_id(self) -> u16 {
        match self {
            Integ::HmacSha1_96 => id::HMAC_SHA1_96,
            Integ::AesXcbc96 => id::AES_XCBC_96,
            Integ::HmacSha256_128 => id::HMAC_SHA2_256_128,
            Integ::HmacSha384_192 => id::HMAC_SHA2_384_192,
            Integ::HmacSha512_256 => id::HMAC_SHA2_512_256,
        }
    }

    /// The algorithm with this IANA transform ID.
    pub fn from_iana(v: u16) -> Option<Integ> {
        Integ::ALL.into_iter().find(|p| p.iana_id() == v)
    }

    /// Key length in octets.
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 20,
            Integ::AesXcbc96 => 16,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// ICV (truncated MAC) length in octets.
    pub fn icv_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 | Integ::AesXcbc96 => 12,
            Integ::HmacSha256_128 => 16,
            Integ::HmacSha384_192 => 24,
            Integ::HmacSha512_256 => 32,
        }
    }

    /// The truncated MAC of `data`.
    pub fn compute(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if key.len() != self.key_len() {
            return Err(CryptoError::KeyLength(key.len()));
        }
        let mut full = match self {
            Integ::HmacSha1_96 => hmac::<Hmac<Sha1>>(key, data)?,
            Integ::HmacSha256_128 => hmac::<Hmac<Sha256>>(key, data)?,
            Integ::HmacSha384_192 => hmac::<Hmac<Sha384>>(key, data)?,
            Integ::HmacSha512_256 => hmac::<Hmac<Sha512>>(key, data)?,
            Integ::AesXcbc96 => {
                let k: [u8; 16] = key
                    .try_into()
                    .map_err(|_| CryptoError::KeyLength(key.len()))?;
                xcbc::xcbc_mac(&k, &[data]).to_vec()
            }
        };
        full.truncate(self.icv_len());
        Ok(full)
    }

    /// Verifies an ICV in constant time.
    pub fn verify(self, key: &[u8], data: &[u8], icv: &[u8]) -> Result<(), CryptoError> {
        let expected = self.compute(key, data)?;
        if icv.len() == expected.len() && ct_eq(&expected, icv) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}
