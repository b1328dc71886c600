//! Key exchange: MODP groups (RFC 2409, RFC 3526) with constant-time
//! modular exponentiation, NIST ECP groups (RFC 5903) and Curve25519
//! (RFC 8031).

use std::fmt;
use std::sync::OnceLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Limb, Uint, Word};
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, Zeroizing};

use super::modp_primes::*;
use super::{CryptoError, SecretBytes};
use crate::wire::transform_id::dh as id;

/// A key exchange method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 2: 1024-bit MODP (RFC 2409).
    Modp1024,
    /// Group 5: 1536-bit MODP (RFC 3526).
    Modp1536,
    /// Group 14: 2048-bit MODP.
    Modp2048,
    /// Group 15: 3072-bit MODP.
    Modp3072,
    /// Group 16: 4096-bit MODP.
    Modp4096,
    /// Group 17: 6144-bit MODP.
    Modp6144,
    /// Group 18: 8192-bit MODP.
    Modp8192,
    /// Group 19: NIST P-256.
    Ecp256,
    /// Group 20: NIST P-384.
    Ecp384,
    /// Group 21: NIST P-521.
    Ecp521,
    /// Group 31: Curve25519.
    Curve25519,
}

impl DhGroup {
    /// Every group implemented.
    pub const ALL: [DhGroup; 11] = [
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Modp6144,
        DhGroup::Modp8192,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Curve25519,
    ];

    /// IANA transform ID (the group number in KE payloads).
    pub fn iana_id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => id::MODP_1024,
            DhGroup::Modp1536 => id::MODP_1536,
            DhGroup::Modp2048 => id::MODP_2048,
            DhGroup::Modp3072 => id::MODP_3072,
            DhGroup::Modp4096 => id::MODP_4096,
            DhGroup::Modp6144 => id::MODP_6144,
            DhGroup::Modp8192 => id::MODP_8192,
            DhGroup::Ecp256 => id::ECP_256,
            DhGroup::Ecp384 => id::ECP_384,
            DhGroup::Ecp521 => id::ECP_521,
            DhGroup::Curve25519 => id::CURVE25519,
        }
    }

    /// The group with this number.
    pub fn from_iana(v: u16) -> Option<DhGroup> {
        DhGroup::ALL.into_iter().find(|g| g.iana_id() == v)
    }

    /// Length of the public value in a KE payload (and of the shared secret
    /// for MODP; ECP shared secrets are the x coordinate only).
    pub fn public_len(self) -> usize {
        match self {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Modp6144 => 768,
            DhGroup::Modp8192 => 1024,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Ecp521 => 132,
            DhGroup::Curve25519 => 32,
        }
    }

    /// MODP: the prime (hex) and the private exponent length in bits, twice
    /// the upper strength estimate of RFC 3526 section 8 (RFC 2409's group
    /// 2 treated like 1536 bits).
    fn modp(self) -> Option<(&'static str, usize)> {
        Some(match self {
            DhGroup::Modp1024 => (MODP_1024_P, 256),
            DhGroup::Modp1536 => (MODP_1536_P, 256),
            DhGroup::Modp2048 => (MODP_2048_P, 320),
            DhGroup::Modp3072 => (MODP_3072_P, 420),
            DhGroup::Modp4096 => (MODP_4096_P, 480),
            DhGroup::Modp6144 => (MODP_6144_P, 540),
            DhGroup::Modp8192 => (MODP_8192_P, 620),
            _ => return None,
        })
    }

    /// The MODP prime as big-endian octets (None for elliptic curves).
    pub fn modp_prime(self) -> Option<Vec<u8>> {
        self.modp().and_then(|(p, _)| hex_decode(p))
    }

    /// Generates a key pair.
    pub fn generate<R: CryptoRngCore + ?Sized>(self, rng: &mut R) -> Result<DhSecret, CryptoError> {
        let private = match self {
            DhGroup::Ecp256 => Private::P256(p256::NonZeroScalar::random(&mut &mut *rng)),
            DhGroup::Ecp384 => Private::P384(p384::NonZeroScalar::random(&mut &mut *rng)),
            DhGroup::Ecp521 => Private::P521(p521::NonZeroScalar::random(&mut &mut *rng)),
            DhGroup::Curve25519 => {
                Private::X25519(x25519_dalek::StaticSecret::random_from_rng(&mut *rng))
            }
            _ => {
                let (_, bits) = self.modp().ok_or(CryptoError::Unsupported("group"))?;
                let mut x = Zeroizing::new(vec![0u8; bits / 8 + usize::from(bits % 8 != 0)]);
                loop {
                    rng.try_fill_bytes(&mut x).map_err(|_| CryptoError::Rng)?;
                    if let Some(top) = x.first_mut() {
                        if bits % 8 != 0 {
                            *top &= (1u8 << (bits % 8)) - 1;
                        }
                    }
                    // Exponents 0 and 1 would leak; anything larger is fine.
                    if x.iter().rev().skip(1).any(|&b| b != 0) || x.last().is_some_and(|&b| b > 1) {
                        break;
                    }
                }
                Private::Modp(x)
            }
        };
        DhSecret::from_private(self, private)
    }

    /// Builds a key pair from a known private value (for known-answer tests
    /// and reproducible simulations). ECP: the scalar, big-endian; X25519: 32
    /// octets; MODP: the exponent, big-endian, at most the group's length.
    pub fn from_private_bytes(self, private: &[u8]) -> Result<DhSecret, CryptoError> {
        let bad = |_| CryptoError::KeyLength(private.len());
        let p = match self {
            DhGroup::Ecp256 => Private::P256(
                p256::SecretKey::from_slice(private)
                    .map_err(bad)?
                    .to_nonzero_scalar(),
            ),
            DhGroup::Ecp384 => Private::P384(
                p384::SecretKey::from_slice(private)
                    .map_err(bad)?
                    .to_nonzero_scalar(),
            ),
            DhGroup::Ecp521 => Private::P521(
                p521::SecretKey::from_slice(private)
                    .map_err(bad)?
                    .to_nonzero_scalar(),
            ),
            DhGroup::Curve25519 => {
                let b: [u8; 32] = private
                    .try_into()
                    .map_err(|_| CryptoError::KeyLength(private.len()))?;
                Private::X25519(x25519_dalek::StaticSecret::from(b))
            }
            _ => {
                if private.len() > self.public_len() || private.iter().all(|&b| b == 0) {
                    return Err(CryptoError::KeyLength(private.len()));
                }
                Private::Modp(Zeroizing::new(private.to_vec()))
            }
        };
        DhSecret::from_private(self, p)
    }
}

enum Private {
    Modp(Zeroizing<Vec<u8>>),
    P256(p256::NonZeroScalar),
    P384(p384::NonZeroScalar),
    P521(p521::NonZeroScalar),
    X25519(x25519_dalek::StaticSecret),
}

/// Our half of a key exchange: the private value and the public value to
/// send. The private value is zeroed on drop and never printed.
pub struct DhSecret {
    group: DhGroup,
    private: Private,
    public: Vec<u8>,
}

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhSecret")
            .field("group", &self.group)
            .field("public_len", &self.public.len())
            .finish_non_exhaustive()
    }
}

impl Drop for DhSecret {
    fn drop(&mut self) {
        // MODP exponents (Zeroizing) and X25519 secrets (ZeroizeOnDrop)
        // clear themselves; curve scalars are cleared here.
        match &mut self.private {
            Private::P256(s) => s.zeroize(),
            Private::P384(s) => s.zeroize(),
            Private::P521(s) => s.zeroize(),
            Private::Modp(_) | Private::X25519(_) => {}
        }
    }
}

fn ecp_public(x_y_sec1: &[u8]) -> Vec<u8> {
    // Uncompressed SEC1 = 0x04 || x || y; IKE sends x || y (RFC 5903 section 7).
    x_y_sec1.get(1..).unwrap_or_default().to_vec()
}

impl DhSecret {
    fn from_private(group: DhGroup, private: Private) -> Result<DhSecret, CryptoError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let public = match &private {
            Private::P256(s) => ecp_public(
                p256::PublicKey::from_secret_scalar(s)
                    .to_encoded_point(false)
                    .as_bytes(),
            ),
            Private::P384(s) => ecp_public(
                p384::PublicKey::from_secret_scalar(s)
                    .to_encoded_point(false)
                    .as_bytes(),
            ),
            Private::P521(s) => ecp_public(
                p521::PublicKey::from_secret_scalar(s)
                    .to_encoded_point(false)
                    .as_bytes(),
            ),
            Private::X25519(s) => x25519_dalek::PublicKey::from(s).as_bytes().to_vec(),
            Private::Modp(x) => modp_exp(group, &[2], x)?.as_slice().to_vec(),
        };
        Ok(DhSecret {
            group,
            private,
            public,
        })
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value for the KE payload.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Computes the shared secret g^ir from the peer's KE data, after
    /// validating it: MODP values must be exactly the prime's length and
    /// satisfy 1 < y < p-1; ECP points must be on the curve; X25519 must not
    /// give the all-zero output.
    pub fn compute_shared(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPublicValue("wrong length"));
        }
        match &self.private {
            Private::P256(s) => {
                let pk = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], peer].concat())
                    .map_err(|_| CryptoError::InvalidPublicValue("not a point on P-256"))?;
                let ss = p256::ecdh::diffie_hellman(s, pk.as_affine());
                Ok(SecretBytes::from_slice(ss.raw_secret_bytes()))
            }
            Private::P384(s) => {
                let pk = p384::PublicKey::from_sec1_bytes(&[&[4u8][..], peer].concat())
                    .map_err(|_| CryptoError::InvalidPublicValue("not a point on P-384"))?;
                let ss = p384::ecdh::diffie_hellman(s, pk.as_affine());
                Ok(SecretBytes::from_slice(ss.raw_secret_bytes()))
            }
            Private::P521(s) => {
                let pk = p521::PublicKey::from_sec1_bytes(&[&[4u8][..], peer].concat())
                    .map_err(|_| CryptoError::InvalidPublicValue("not a point on P-521"))?;
                let ss = p521::ecdh::diffie_hellman(s, pk.as_affine());
                Ok(SecretBytes::from_slice(ss.raw_secret_bytes()))
            }
            Private::X25519(s) => {
                let mut b = [0u8; 32];
                b.copy_from_slice(peer);
                let ss = s.diffie_hellman(&x25519_dalek::PublicKey::from(b));
                if !ss.was_contributory() {
                    return Err(CryptoError::InvalidSharedSecret);
                }
                Ok(SecretBytes::from_slice(ss.as_bytes()))
            }
            Private::Modp(x) => {
                let p = self
                    .group
                    .modp_prime()
                    .ok_or(CryptoError::Unsupported("group"))?;
                check_modp_public(&p, peer)?;
                let ss = modp_exp(self.group, peer, x)?;
                // y^x for a valid y is never 0, 1 or p-1 unless the peer's
                // value has small order, which 1 < y < p-1 excludes for
                // these safe primes; check anyway.
                check_modp_public(&p, ss.as_slice())
                    .map_err(|_| CryptoError::InvalidSharedSecret)?;
                Ok(ss)
            }
        }
    }
}

/// 1 < y < p-1, both big-endian of the same length. Variable time is fine:
/// y is public.
fn check_modp_public(p: &[u8], y: &[u8]) -> Result<(), CryptoError> {
    if p.len() != y.len() {
        return Err(CryptoError::InvalidPublicValue("wrong length"));
    }
    let mut p_minus_1 = p.to_vec();
    if let Some(last) = p_minus_1.last_mut() {
        // p is odd, so subtracting 1 touches only the last octet.
        *last &= 0xfe;
    }
    let (zeros, rest) = y.split_at(y.len().saturating_sub(1));
    if zeros.iter().all(|&b| b == 0) && rest.first().is_some_and(|&b| b <= 1) {
        return Err(CryptoError::InvalidPublicValue("0 or 1"));
    }
    if y >= p_minus_1.as_slice() {
        return Err(CryptoError::InvalidPublicValue("p-1 or out of range"));
    }
    Ok(())
}

/// Montgomery parameters of each MODP prime, computed once.
macro_rules! cached_params {
    ($name:ident, $limbs:literal, $hex:expr) => {
        fn $name() -> Option<&'static DynResidueParams<$limbs>> {
            static P: OnceLock<Option<DynResidueParams<$limbs>>> = OnceLock::new();
            P.get_or_init(|| {
                hex_decode($hex)
                    .and_then(|p| to_uint::<$limbs>(&p))
                    .map(|m| DynResidueParams::new(&m))
            })
            .as_ref()
        }
    };
}

cached_params!(params_1024, 16, MODP_1024_P);
cached_params!(params_1536, 24, MODP_1536_P);
cached_params!(params_2048, 32, MODP_2048_P);
cached_params!(params_3072, 48, MODP_3072_P);
cached_params!(params_4096, 64, MODP_4096_P);
cached_params!(params_6144, 96, MODP_6144_P);
cached_params!(params_8192, 128, MODP_8192_P);

/// base^exp mod p for the group's prime, constant time in `exp`; output is
/// left-padded to the prime's length (RFC 7296 section 2.14).
fn modp_exp(group: DhGroup, base: &[u8], exp: &[u8]) -> Result<SecretBytes, CryptoError> {
    let (_, bits) = group.modp().ok_or(CryptoError::Unsupported("group"))?;
    let exp_bits = bits.max(exp.len() * 8);
    let len = group.public_len();
    let out = match group {
        DhGroup::Modp1024 => params_1024().and_then(|p| pow(p, len, base, exp, exp_bits)),
        DhGroup::Modp1536 => params_1536().and_then(|p| pow(p, len, base, exp, exp_bits)),
        DhGroup::Modp2048 => params_2048().and_then(|p| pow(p, len, base, exp, exp_bits)),
        DhGroup::Modp3072 => params_3072().and_then(|p| pow(p, len, base, exp, exp_bits)),
        DhGroup::Modp4096 => params_4096().and_then(|p| pow(p, len, base, exp, exp_bits)),
        DhGroup::Modp6144 => params_6144().and_then(|p| pow(p, len, base, exp, exp_bits)),
        DhGroup::Modp8192 => params_8192().and_then(|p| pow(p, len, base, exp, exp_bits)),
        _ => None,
    };
    out.map(SecretBytes::new)
        .ok_or(CryptoError::Unsupported("MODP size"))
}

fn to_uint<const L: usize>(be: &[u8]) -> Option<Uint<L>> {
    let width = Limb::BYTES;
    if be.len() > L * width {
        return None;
    }
    let mut words = [0 as Word; L];
    for (i, b) in be.iter().rev().enumerate() {
        let w = words.get_mut(i / width)?;
        *w |= Word::from(*b) << (8 * (i % width));
    }
    Some(Uint::from_words(words))
}

fn from_uint<const L: usize>(u: &Uint<L>, len: usize) -> Vec<u8> {
    let width = Limb::BYTES;
    let words = u.as_words();
    let mut out = vec![0u8; len];
    for (i, o) in out.iter_mut().rev().enumerate() {
        if let Some(w) = words.get(i / width) {
            *o = (w >> (8 * (i % width))) as u8;
        }
    }
    out
}

fn pow<const L: usize>(
    params: &DynResidueParams<L>,
    len: usize,
    base: &[u8],
    exp: &[u8],
    exp_bits: usize,
) -> Option<Vec<u8>> {
    let b = to_uint::<L>(base)?;
    let mut e = to_uint::<L>(exp)?;
    let r = DynResidue::new(&b, *params).pow_bounded_exp(&e, exp_bits.min(L * Limb::BITS));
    e.zeroize();
    let mut v = r.retrieve();
    let out = from_uint(&v, len);
    v.zeroize();
    Some(out)
}

/// Decodes hex (no separators). Used for the built-in prime constants.
fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    b.chunks_exact(2)
        .map(|c| Some(nib(c[0])? << 4 | nib(c[1])?))
        .collect()
}
