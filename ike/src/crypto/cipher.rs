//! Encryption for the SK payload: AES-CBC (RFC 3602), AES-GCM with 8, 12
//! or 16 octet ICVs (RFC 5282), ChaCha20-Poly1305 (RFC 7634).

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{AesGcm, Nonce, Tag};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroize;

use super::{CryptoError, ct_eq};
use crate::wire::transform_id::encr as id;

/// Length of the salt at the end of AEAD key material (RFC 5282, RFC 7634).
pub const AEAD_SALT_LEN: usize = 4;

/// A negotiated encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_CBC (12) with a 128, 192 or 256 bit key.
    AesCbc {
        /// Key length in bits.
        key_bits: u16,
    },
    /// ENCR_AES_GCM_8/12/16 (18/19/20).
    AesGcm {
        /// Key length in bits (128, 192, 256).
        key_bits: u16,
        /// ICV length in octets (8, 12, 16).
        icv_len: u8,
    },
    /// ENCR_CHACHA20_POLY1305 (28): 256-bit key, 16-octet ICV.
    ChaCha20Poly1305,
}

impl Encr {
    /// The algorithm for an IANA transform ID and Key Length attribute.
    /// AES requires the key length; ChaCha20-Poly1305 forbids it.
    pub fn from_iana(v: u16, key_bits: Option<u16>) -> Option<Encr> {
        let aes_bits = key_bits.filter(|b| matches!(b, 128 | 192 | 256));
        match v {
            id::AES_CBC => aes_bits.map(|key_bits| Encr::AesCbc { key_bits }),
            id::AES_GCM_8 => aes_bits.map(|key_bits| Encr::AesGcm {
                key_bits,
                icv_len: 8,
            }),
            id::AES_GCM_12 => aes_bits.map(|key_bits| Encr::AesGcm {
                key_bits,
                icv_len: 12,
            }),
            id::AES_GCM_16 => aes_bits.map(|key_bits| Encr::AesGcm {
                key_bits,
                icv_len: 16,
            }),
            id::CHACHA20_POLY1305 if key_bits.is_none() => Some(Encr::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// IANA transform ID.
    pub fn iana_id(self) -> u16 {
        match self {
            Encr::AesCbc { .. } => id::AES_CBC,
            Encr::AesGcm { icv_len: 8, .. } => id::AES_GCM_8,
            Encr::AesGcm { icv_len: 12, .. } => id::AES_GCM_12,
            Encr::AesGcm { .. } => id::AES_GCM_16,
            Encr::ChaCha20Poly1305 => id::CHACHA20_POLY1305,
        }
    }

    /// The Key Length attribute to send, if any.
    pub fn key_length_attr(self) -> Option<u16> {
        match self {
            Encr::AesCbc { key_bits } | Encr::AesGcm { key_bits, .. } => Some(key_bits),
            Encr::ChaCha20Poly1305 => None,
        }
    }

    /// Whether this is a combined-mode (AEAD) cipher.
    pub fn is_aead(self) -> bool {
        !matches!(self, Encr::AesCbc { .. })
    }

    /// Key material length in octets (including the AEAD salt).
    pub fn key_len(self) -> usize {
        match self {
            Encr::AesCbc { key_bits } => usize::from(key_bits / 8),
            Encr::AesGcm { key_bits, .. } => usize::from(key_bits / 8) + AEAD_SALT_LEN,
            Encr::ChaCha20Poly1305 => 32 + AEAD_SALT_LEN,
        }
    }

    /// IV length carried in the SK payload.
    pub fn iv_len(self) -> usize {
        match self {
            Encr::AesCbc { .. } => 16,
            _ => 8,
        }
    }

    /// AEAD ICV length (0 for CBC: the integrity transform supplies it).
    pub fn aead_icv_len(self) -> usize {
        match self {
            Encr::AesCbc { .. } => 0,
            Encr::AesGcm { icv_len, .. } => usize::from(icv_len),
            Encr::ChaCha20Poly1305 => 16,
        }
    }

    /// The plaintext (with pad length octet) must be a multiple of this.
    pub fn block_len(self) -> usize {
        match self {
            Encr::AesCbc { .. } => 16,
            _ => 1,
        }
    }

    /// AES-CBC encryption in place; `buf` must be a multiple of 16 octets.
    pub fn cbc_encrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let len = buf.len();
        if len % 16 != 0 {
            return Err(CryptoError::Malformed("CBC input not block aligned"));
        }
        let r = match self {
            Encr::AesCbc { key_bits: 128 } => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
                .map(|c| c.encrypt_padded_mut::<NoPadding>(buf, len).map(|_| ())),
            Encr::AesCbc { key_bits: 192 } => cbc::Encryptor::<Aes192>::new_from_slices(key, iv)
                .map(|c| c.encrypt_padded_mut::<NoPadding>(buf, len).map(|_| ())),
            Encr::AesCbc { key_bits: 256 } => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
                .map(|c| c.encrypt_padded_mut::<NoPadding>(buf, len).map(|_| ())),
            _ => return Err(CryptoError::Unsupported("not a CBC cipher")),
        };
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(CryptoError::Malformed("CBC input not block aligned")),
            Err(_) => Err(CryptoError::KeyLength(key.len())),
        }
    }

    /// AES-CBC decryption in place.
    pub fn cbc_decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let r = match self {
            Encr::AesCbc { key_bits: 128 } => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
                .map(|c| c.decrypt_padded_mut::<NoPadding>(buf).map(|_| ())),
            Encr::AesCbc { key_bits: 192 } => cbc::Decryptor::<Aes192>::new_from_slices(key, iv)
                .map(|c| c.decrypt_padded_mut::<NoPadding>(buf).map(|_| ())),
            Encr::AesCbc { key_bits: 256 } => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
                .map(|c| c.decrypt_padded_mut::<NoPadding>(buf).map(|_| ())),
            _ => return Err(CryptoError::Unsupported("not a CBC cipher")),
        };
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(CryptoError::Malformed("CBC input not block aligned")),
            Err(_) => Err(CryptoError::KeyLength(key.len())),
        }
    }

    fn split_key(self, key: &[u8]) -> Result<(&[u8], [u8; 12]), CryptoError> {
        if key.len() != self.key_len() {
            return Err(CryptoError::KeyLength(key.len()));
        }
        let (k, salt) = key.split_at(key.len() - AEAD_SALT_LEN);
        let mut nonce = [0u8; 12];
        nonce[..AEAD_SALT_LEN].copy_from_slice(salt);
        Ok((k, nonce))
    }

    /// AEAD encryption in place; returns the ICV (truncated to the
    /// algorithm's length). Nonce = salt (from the key material) || iv.
    pub fn aead_seal(
        self,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (k, mut nonce) = self.split_key(key)?;
        if iv.len() != 8 {
            return Err(CryptoError::Malformed("AEAD IV must be 8 octets"));
        }
        nonce[AEAD_SALT_LEN..].copy_from_slice(iv);
        let n = Nonce::<U12>::from_slice(&nonce);
        let bad = |_| CryptoError::KeyLength(k.len());
        let tag: Vec<u8> = match self {
            Encr::AesGcm { key_bits: 128, .. } => AesGcm::<Aes128, U12>::new_from_slice(k)
                .map_err(bad)?
                .encrypt_in_place_detached(n, aad, buf)
                .map(|t| t.to_vec()),
            Encr::AesGcm { key_bits: 192, .. } => AesGcm::<Aes192, U12>::new_from_slice(k)
                .map_err(bad)?
                .encrypt_in_place_detached(n, aad, buf)
                .map(|t| t.to_vec()),
            Encr::AesGcm { key_bits: 256, .. } => AesGcm::<Aes256, U12>::new_from_slice(k)
                .map_err(bad)?
                .encrypt_in_place_detached(n, aad, buf)
                .map(|t| t.to_vec()),
            Encr::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(k)
                .map_err(bad)?
                .encrypt_in_place_detached(n, aad, buf)
                .map(|t| t.to_vec()),
            _ => return Err(CryptoError::Unsupported("not an AEAD cipher")),
        }
        .map_err(|_| CryptoError::Malformed("AEAD input too long"))?;
        let mut tag = tag;
        tag.truncate(self.aead_icv_len());
        Ok(tag)
    }

    /// AEAD decryption in place after verifying `icv` in constant time. On
    /// failure `buf` is zeroed.
    pub fn aead_open(
        self,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != self.aead_icv_len() {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        if icv.len() == 16 {
            let (k, mut nonce) = self.split_key(key)?;
            if iv.len() != 8 {
                return Err(CryptoError::Malformed("AEAD IV must be 8 octets"));
            }
            nonce[AEAD_SALT_LEN..].copy_from_slice(iv);
            let n = Nonce::<U12>::from_slice(&nonce);
            let tag = Tag::<aes_gcm::aead::consts::U16>::from_slice(icv);
            let bad = |_| CryptoError::KeyLength(k.len());
            let r = match self {
                Encr::AesGcm { key_bits: 128, .. } => AesGcm::<Aes128, U12>::new_from_slice(k)
                    .map_err(bad)?
                    .decrypt_in_place_detached(n, aad, buf, tag),
                Encr::AesGcm { key_bits: 192, .. } => AesGcm::<Aes192, U12>::new_from_slice(k)
                    .map_err(bad)?
                    .decrypt_in_place_detached(n, aad, buf, tag),
                Encr::AesGcm { key_bits: 256, .. } => AesGcm::<Aes256, U12>::new_from_slice(k)
                    .map_err(bad)?
                    .decrypt_in_place_detached(n, aad, buf, tag),
                Encr::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(k)
                    .map_err(bad)?
                    .decrypt_in_place_detached(n, aad, buf, tag),
                _ => return Err(CryptoError::Unsupported("not an AEAD cipher")),
            };
            return r.map_err(|_| {
                buf.zeroize();
                CryptoError::IntegrityCheckFailed
            });
        }
        // Truncated GCM ICV (8 or 12 octets). The crate's decryption wants a
        // full tag, so: CTR-decrypt by running encryption over the
        // ciphertext (same keystream), then re-encrypt the plaintext, which
        // yields the ciphertext again and the full tag over it; compare its
        // leading octets with the ICV in constant time.
        let mut scratch = buf.to_vec();
        self.aead_seal(key, iv, aad, &mut scratch)?; // scratch = plaintext
        let mut again = scratch.clone();
        let full = self.aead_seal(key, iv, aad, &mut again)?; // tag over ciphertext
        again.zeroize();
        if ct_eq(&full, icv) {
            buf.copy_from_slice(&scratch);
            scratch.zeroize();
            Ok(())
        } else {
            scratch.zeroize();
            buf.zeroize();
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}
