//! SK and SKF payload protection (RFC 7296 section 3.14, RFC 5282
//! section 5.1, RFC 7634 section 3, RFC 7383 section 2.5).
//!
//! Layout of the payload data: IV || ciphertext(inner payloads || padding ||
//! pad length) || ICV. With integrity transforms the ICV covers the whole
//! message up to the ICV; with AEAD the associated data is the message from
//! the IKE header up to and including the SK (or SKF) payload header.

use std::fmt;

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::{CryptoError, Encr, IkeSaKeys, Integ, SecretBytes};
use crate::wire::{
    Chain, EncryptedFragment, GENERIC_HEADER_LEN, HEADER_LEN, Header, Message, Payload,
    PayloadType, decode_payloads, encode_payloads,
};

/// One direction's SK payload keys and algorithms.
#[derive(Clone)]
pub struct SkCrypto {
    encr: Encr,
    integ: Option<Integ>,
    encr_key: SecretBytes,
    integ_key: SecretBytes,
}

impl fmt::Debug for SkCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCrypto")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl SkCrypto {
    /// Checks that the algorithms fit together (AEAD without integrity, CBC
    /// with it) and that the keys have the right lengths.
    pub fn new(
        encr: Encr,
        integ: Option<Integ>,
        encr_key: SecretBytes,
        integ_key: SecretBytes,
    ) -> Result<SkCrypto, CryptoError> {
        match (encr.is_aead(), integ) {
            (true, Some(_)) => return Err(CryptoError::Unsupported("AEAD with integrity")),
            (false, None) => return Err(CryptoError::Unsupported("CBC without integrity")),
            _ => {}
        }
        if encr_key.len() != encr.key_len() {
            return Err(CryptoError::KeyLength(encr_key.len()));
        }
        if integ_key.len() != integ.map_or(0, Integ::key_len) {
            return Err(CryptoError::KeyLength(integ_key.len()));
        }
        Ok(SkCrypto {
            encr,
            integ,
            encr_key,
            integ_key,
        })
    }

    /// The (outbound, inbound) pair for one side of an IKE SA.
    pub fn pair(
        encr: Encr,
        integ: Option<Integ>,
        keys: &IkeSaKeys,
        we_are_initiator: bool,
    ) -> Result<(SkCrypto, SkCrypto), CryptoError> {
        let i = SkCrypto::new(encr, integ, keys.sk_ei.clone(), keys.sk_ai.clone())?;
        let r = SkCrypto::new(encr, integ, keys.sk_er.clone(), keys.sk_ar.clone())?;
        Ok(if we_are_initiator { (i, r) } else { (r, i) })
    }

    fn icv_len(&self) -> usize {
        match self.integ {
            Some(i) => i.icv_len(),
            None => self.encr.aead_icv_len(),
        }
    }

    /// Octets the payload data takes for `plain_len` octets of inner payloads.
    pub fn payload_data_len(&self, plain_len: usize) -> usize {
        let block = self.encr.block_len();
        let padded = (plain_len + 1).div_ceil(block) * block;
        self.encr.iv_len() + padded + self.icv_len()
    }

    /// Builds and protects a message: `outer` payloads in clear, then an SK
    /// payload carrying `inner`.
    pub fn protect<R: CryptoRngCore + ?Sized>(
        &self,
        header: &Header,
        outer: &[Payload],
        inner: &[Payload],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let (first, plain) = encode_payloads(inner)?;
        let plain = Zeroizing::new(plain);
        self.seal(header, outer, &plain, rng, |data| {
            Payload::Sk(crate::wire::Encrypted {
                inner_first: first,
                data,
            })
        })
    }

    /// Protects `inner` as RFC 7383 fragments, each message at most
    /// `max_message_len` octets (IKE header included).
    pub fn protect_fragments<R: CryptoRngCore + ?Sized>(
        &self,
        header: &Header,
        inner: &[Payload],
        max_message_len: usize,
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, CryptoError> {
        let (first, plain) = encode_payloads(inner)?;
        let plain = Zeroizing::new(plain);
        let block = self.encr.block_len();
        let fixed = HEADER_LEN + GENERIC_HEADER_LEN + 4 + self.encr.iv_len() + self.icv_len();
        let avail = max_message_len.saturating_sub(fixed);
        let capacity = (avail / block * block).saturating_sub(1);
        if capacity == 0 {
            return Err(CryptoError::Unsupported("fragment size too small"));
        }
        let chunks: Vec<&[u8]> = if plain.is_empty() {
            vec![&[][..]]
        } else {
            plain.chunks(capacity).collect()
        };
        let total = u16::try_from(chunks.len())
            .map_err(|_| CryptoError::Unsupported("more than 65535 fragments"))?;
        let mut out = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            // i < total <= u16::MAX
            let number = u16::try_from(i + 1).unwrap_or(u16::MAX);
            let inner_first = if number == 1 {
                first
            } else {
                PayloadType::NONE
            };
            out.push(self.seal(header, &[], chunk, rng, |data| {
                Payload::Skf(EncryptedFragment {
                    number,
                    total,
                    inner_first,
                    data,
                })
            })?);
        }
        Ok(out)
    }

    fn seal<R: CryptoRngCore + ?Sized>(
        &self,
        header: &Header,
        outer: &[Payload],
        plain: &[u8],
        rng: &mut R,
        last: impl FnOnce(Vec<u8>) -> Payload,
    ) -> Result<Vec<u8>, CryptoError> {
        let block = self.encr.block_len();
        let pad = (block - (plain.len() + 1) % block) % block;
        let mut buf = Zeroizing::new(Vec::with_capacity(plain.len() + pad + 1));
        buf.extend_from_slice(plain);
        buf.resize(plain.len() + pad, 0);
        // pad < block <= 16
        buf.push(pad as u8);

        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let body_len = iv_len + buf.len() + icv_len;
        let mut msg = Message::new(*header);
        msg.payloads.reserve(outer.len() + 1);
        msg.payloads.extend_from_slice(outer);
        msg.payloads.push(last(vec![0u8; body_len]));
        let mut bytes = msg.encode()?;
        let total = bytes.len();
        let start = total - body_len;

        let mut iv = vec![0u8; iv_len];
        rng.try_fill_bytes(&mut iv).map_err(|_| CryptoError::Rng)?;
        let bad = || CryptoError::Malformed("internal length mismatch");
        match self.integ {
            Some(integ) => {
                self.encr
                    .cbc_encrypt(self.encr_key.as_slice(), &iv, &mut buf)?;
                bytes
                    .get_mut(start..start + iv_len)
                    .ok_or_else(bad)?
                    .copy_from_slice(&iv);
                bytes
                    .get_mut(start + iv_len..total - icv_len)
                    .ok_or_else(bad)?
                    .copy_from_slice(&buf);
                let icv = integ.compute(
                    self.integ_key.as_slice(),
                    bytes.get(..total - icv_len).ok_or_else(bad)?,
                )?;
                bytes
                    .get_mut(total - icv_len..)
                    .ok_or_else(bad)?
                    .copy_from_slice(&icv);
            }
            None => {
                let aad = bytes.get(..start).ok_or_else(bad)?.to_vec();
                let icv = self
                    .encr
                    .aead_seal(self.encr_key.as_slice(), &iv, &aad, &mut buf)?;
                bytes
                    .get_mut(start..start + iv_len)
                    .ok_or_else(bad)?
                    .copy_from_slice(&iv);
                bytes
                    .get_mut(start + iv_len..total - icv_len)
                    .ok_or_else(bad)?
                    .copy_from_slice(&buf);
                bytes
                    .get_mut(total - icv_len..)
                    .ok_or_else(bad)?
                    .copy_from_slice(&icv);
            }
        }
        Ok(bytes)
    }

    /// Verifies and decrypts the SK or SKF payload of `msg`, which must have
    /// been decoded from `raw`. Returns the inner octets without padding.
    pub fn decrypt(&self, raw: &[u8], msg: &Message) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let data = match msg.payloads.last() {
            Some(Payload::Sk(e)) => &e.data,
            Some(Payload::Skf(f)) => &f.data,
            _ => return Err(CryptoError::NotEncrypted),
        };
        let total = raw.len();
        let start = total
            .checked_sub(data.len())
            .ok_or(CryptoError::Malformed("payload longer than message"))?;
        if raw.get(start..) != Some(data.as_slice()) {
            return Err(CryptoError::Malformed("message does not match its octets"));
        }
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let block = self.encr.block_len();
        let ct_len = data
            .len()
            .checked_sub(iv_len + icv_len)
            .filter(|&n| n >= 1 && n % block == 0)
            .ok_or(CryptoError::Malformed("encrypted payload length"))?;
        let iv = data.get(..iv_len).ok_or(CryptoError::Malformed("IV"))?;
        let icv = data
            .get(iv_len + ct_len..)
            .ok_or(CryptoError::Malformed("ICV"))?;
        let mut buf = Zeroizing::new(
            data.get(iv_len..iv_len + ct_len)
                .ok_or(CryptoError::Malformed("ciphertext"))?
                .to_vec(),
        );
        match self.integ {
            Some(integ) => {
                // Check the ICV before touching the ciphertext.
                let covered = raw
                    .get(..total - icv_len)
                    .ok_or(CryptoError::Malformed("ICV"))?;
                integ.verify(self.integ_key.as_slice(), covered, icv)?;
                self.encr
                    .cbc_decrypt(self.encr_key.as_slice(), iv, &mut buf)?;
            }
            None => {
                let aad = raw.get(..start).ok_or(CryptoError::Malformed("AAD"))?;
                self.encr
                    .aead_open(self.encr_key.as_slice(), iv, aad, &mut buf, icv)?;
            }
        }
        let pad_len = usize::from(buf.last().copied().unwrap_or(0));
        let keep = buf
            .len()
            .checked_sub(pad_len + 1)
            .ok_or(CryptoError::Malformed("pad length exceeds content"))?;
        buf.truncate(keep);
        Ok(buf)
    }

    /// Verifies, decrypts and decodes the inner payloads of an SK payload.
    pub fn unprotect(&self, raw: &[u8], msg: &Message) -> Result<Chain, CryptoError> {
        let Some(Payload::Sk(e)) = msg.payloads.last() else {
            return Err(CryptoError::NotEncrypted);
        };
        let plain = self.decrypt(raw, msg)?;
        let base = raw.len() - e.data.len() + self.encr.iv_len();
        Ok(decode_payloads(e.inner_first, &plain, base)?)
    }
}

/// Most fragments accepted for one message.
pub const MAX_FRAGMENTS: u16 = 512;
/// Most reassembled plaintext accepted for one message: 64 KiB, what one
/// unfragmented IKE message can hold (strongSwan accepts 10,000 octets by
/// default; an IKE_AUTH with an RSA-4096 chain is well below). It bounds what
/// a half-open IKE_SA, whose peer is not yet authenticated, can make us hold.
pub const MAX_REASSEMBLED: usize = 64 * 1024;

/// Reassembly of one message's RFC 7383 fragments (all with the same
/// Message ID). Each fragment is authenticated and decrypted before it is
/// kept, so a forged fragment cannot displace a genuine one.
#[derive(Default)]
pub struct Reassembly {
    total: u16,
    first: Option<PayloadType>,
    parts: std::collections::BTreeMap<u16, Zeroizing<Vec<u8>>>,
    bytes: usize,
}

impl fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembly")
            .field("total", &self.total)
            .field("received", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl Reassembly {
    /// An empty buffer.
    pub fn new() -> Self {
        Reassembly::default()
    }

    /// Adds one fragment (`msg` decoded from `raw`, its last payload an
    /// SKF). Returns the decoded inner payloads once every fragment is in.
    /// Per RFC 7383 section 2.6.2, a fragment announcing more fragments
    /// than before restarts the reassembly (the sender re-fragmented);
    /// one announcing fewer is ignored; duplicates are ignored.
    pub fn add(
        &mut self,
        sk: &SkCrypto,
        raw: &[u8],
        msg: &Message,
    ) -> Result<Option<Chain>, CryptoError> {
        let Some(Payload::Skf(f)) = msg.payloads.last() else {
            return Err(CryptoError::NotEncrypted);
        };
        if f.total > MAX_FRAGMENTS {
            return Err(CryptoError::Malformed("too many fragments"));
        }
        let plain = sk.decrypt(raw, msg)?;
        if f.total < self.total || self.parts.contains_key(&f.number) && f.total == self.total {
            return Ok(None);
        }
        if f.total > self.total {
            *self = Reassembly {
                total: f.total,
                ..Reassembly::default()
            };
        }
        self.bytes += plain.len();
        if self.bytes > MAX_REASSEMBLED {
            *self = Reassembly::default();
            return Err(CryptoError::Malformed("reassembled message too large"));
        }
        if f.number == 1 {
            self.first = Some(f.inner_first);
        }
        self.parts.insert(f.number, plain);
        if self.parts.len() < usize::from(self.total) {
            return Ok(None);
        }
        let mut all = Zeroizing::new(Vec::with_capacity(self.bytes));
        for p in self.parts.values() {
            all.extend_from_slice(p);
        }
        let first = self.first.unwrap_or(PayloadType::NONE);
        *self = Reassembly::default();
        Ok(Some(decode_payloads(first, &all, 0)?))
    }
}
