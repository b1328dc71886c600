//! Key derivation for IKE SAs and CHILD SAs (RFC 7296 sections 2.14, 2.17, 2.18).

use std::fmt;

use super::{CryptoError, Prf, SecretBytes};

/// Lengths of the keys cut from the IKE SA's keying material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLengths {
    /// SK_d, SK_pi, SK_pr: the PRF's preferred key length.
    pub prf_key: usize,
    /// SK_ai, SK_ar: the integrity key length (0 with AEAD).
    pub integ_key: usize,
    /// SK_ei, SK_er: the encryption key length, including the salt of AEAD ciphers.
    pub encr_key: usize,
}

impl KeyLengths {
    /// Total keying material needed.
    pub fn total(&self) -> usize {
        3 * self.prf_key + 2 * self.integ_key + 2 * self.encr_key
    }
}

/// The seven IKE SA keys (RFC 7296 section 2.14).
#[derive(Clone, PartialEq, Eq)]
pub struct IkeSaKeys {
    /// SK_d: derives CHILD SA keys and the next SKEYSEED.
    pub sk_d: SecretBytes,
    /// SK_ai: integrity, initiator to responder.
    pub sk_ai: SecretBytes,
    /// SK_ar: integrity, responder to initiator.
    pub sk_ar: SecretBytes,
    /// SK_ei: encryption, initiator to responder.
    pub sk_ei: SecretBytes,
    /// SK_er: encryption, responder to initiator.
    pub sk_er: SecretBytes,
    /// SK_pi: AUTH payload computation, initiator.
    pub sk_pi: SecretBytes,
    /// SK_pr: AUTH payload computation, responder.
    pub sk_pr: SecretBytes,
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IkeSaKeys(<redacted>)")
    }
}

fn split(km: &[u8], lens: &[usize]) -> Vec<SecretBytes> {
    let mut out = Vec::with_capacity(lens.len());
    let mut pos = 0;
    for &l in lens {
        out.push(SecretBytes::from_slice(
            km.get(pos..pos + l).unwrap_or_default(),
        ));
        pos += l;
    }
    out
}

/// SKEYSEED = prf(Ni | Nr, g^ir). For fixed-key PRFs only the first 64 bits
/// of each nonce form the key (RFC 7296 section 2.14).
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], shared: &[u8]) -> SecretBytes {
    let key = if prf.has_fixed_key() {
        let a = ni.get(..8).unwrap_or(ni);
        let b = nr.get(..8).unwrap_or(nr);
        SecretBytes::new([a, b].concat())
    } else {
        SecretBytes::new([ni, nr].concat())
    };
    prf.compute(key.as_slice(), &[shared])
}

/// SKEYSEED for a rekeyed IKE SA: prf(SK_d (old), g^ir (new) | Ni | Nr)
/// (RFC 7296 section 2.18).
pub fn skeyseed_rekey(
    old_prf: Prf,
    old_sk_d: &[u8],
    shared_new: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    old_prf.compute(old_sk_d, &[shared_new, ni, nr])
}

impl IkeSaKeys {
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    ///   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
    pub fn derive(
        prf: Prf,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
        lens: KeyLengths,
    ) -> Result<IkeSaKeys, CryptoError> {
        let km = prf.prf_plus(skeyseed, &[ni, nr, spi_i, spi_r], lens.total())?;
        let mut k = split(
            km.as_slice(),
            &[
                lens.prf_key,
                lens.integ_key,
                lens.integ_key,
                lens.encr_key,
                lens.encr_key,
                lens.prf_key,
                lens.prf_key,
            ],
        )
        .into_iter();
        let mut next = || k.next().unwrap_or_default();
        Ok(IkeSaKeys {
            sk_d: next(),
            sk_ai: next(),
            sk_ar: next(),
            sk_ei: next(),
            sk_er: next(),
            sk_pi: next(),
            sk_pr: next(),
        })
    }
}

/// The four CHILD SA keys, in the order they are taken from KEYMAT
/// (RFC 7296 section 2.17): initiator-to-responder first, encryption before
/// integrity.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// Encryption key (with salt for AEAD), initiator to responder.
    pub encr_i: SecretBytes,
    /// Integrity key, initiator to responder.
    pub integ_i: SecretBytes,
    /// Encryption key (with salt for AEAD), responder to initiator.
    pub encr_r: SecretBytes,
    /// Integrity key, responder to initiator.
    pub integ_r: SecretBytes,
}

impl fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildKeys(<redacted>)")
    }
}

/// KEYMAT = prf+(SK_d, Ni | Nr), or with PFS prf+(SK_d, g^ir (new) | Ni | Nr).
pub fn child_keymat(
    prf: Prf,
    sk_d: &[u8],
    shared_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    match shared_new {
        Some(g) => prf.prf_plus(sk_d, &[g, ni, nr], len),
        None => prf.prf_plus(sk_d, &[ni, nr], len),
    }
}

impl ChildKeys {
    /// Derives the CHILD SA keys for an ESP SA.
    pub fn derive(
        prf: Prf,
        sk_d: &[u8],
        shared_new: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        encr_key: usize,
        integ_key: usize,
    ) -> Result<ChildKeys, CryptoError> {
        let km = child_keymat(prf, sk_d, shared_new, ni, nr, 2 * (encr_key + integ_key))?;
        let mut k = split(km.as_slice(), &[encr_key, integ_key, encr_key, integ_key]).into_iter();
        let mut next = || k.next().unwrap_or_default();
        Ok(ChildKeys {
            encr_i: next(),
            integ_i: next(),
            encr_r: next(),
            integ_r: next(),
        })
    }
}
