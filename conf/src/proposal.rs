//! `ike=` / `esp=` proposal strings parsed into typed transforms with IANA numbers
//! (RFC 7296 §3.3.2, IANA "IKEv2 Transform Type" registries).
//!
//! Grammar (strongSwan's): proposals separated by `,`, algorithms within a
//! proposal separated by `-`, an optional `!` at the end of the whole list
//! makes it strict (otherwise the default proposals are appended, as
//! strongSwan does).

use std::fmt;

/// IKEv2 transform types (RFC 7296 §3.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransformType {
    Encr = 1,
    Prf = 2,
    Integ = 3,
    Dh = 4,
    Esn = 5,
}

impl TransformType {
    pub fn iana(self) -> u8 {
        self as u8
    }
}

/// One transform: type, IANA id and, for variable-length ciphers, the key length in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transform {
    pub kind: TransformType,
    pub id: u16,
    pub key_len: Option<u16>,
    /// strongSwan's keyword for it (canonical spelling).
    pub name: &'static str,
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// IANA numbers used below.
pub mod iana {
    // Encryption (type 1)
    pub const ENCR_DES: u16 = 2;
    pub const ENCR_3DES: u16 = 3;
    pub const ENCR_CAST: u16 = 6;
    pub const ENCR_BLOWFISH: u16 = 7;
    pub const ENCR_NULL: u16 = 11;
    pub const ENCR_AES_CBC: u16 = 12;
    pub const ENCR_AES_CTR: u16 = 13;
    pub const ENCR_AES_CCM_8: u16 = 14;
    pub const ENCR_AES_CCM_12: u16 = 15;
    pub const ENCR_AES_CCM_16: u16 = 16;
    pub const ENCR_AES_GCM_8: u16 = 18;
    pub const ENCR_AES_GCM_12: u16 = 19;
    pub const ENCR_AES_GCM_16: u16 = 20;
    pub const ENCR_NULL_AUTH_AES_GMAC: u16 = 21;
    pub const ENCR_CAMELLIA_CBC: u16 = 23;
    pub const ENCR_CAMELLIA_CTR: u16 = 24;
    pub const ENCR_CHACHA20_POLY1305: u16 = 28;
    // PRF (type 2)
    pub const PRF_HMAC_MD5: u16 = 1;
    pub const PRF_HMAC_SHA1: u16 = 2;
    pub const PRF_AES128_XCBC: u16 = 4;
    pub const PRF_HMAC_SHA2_256: u16 = 5;
    pub const PRF_HMAC_SHA2_384: u16 = 6;
    pub const PRF_HMAC_SHA2_512: u16 = 7;
    pub const PRF_AES128_CMAC: u16 = 8;
    // Integrity (type 3)
    pub const AUTH_HMAC_MD5_96: u16 = 1;
    pub const AUTH_HMAC_SHA1_96: u16 = 2;
    pub const AUTH_AES_XCBC_96: u16 = 5;
    pub const AUTH_HMAC_MD5_128: u16 = 6;
    pub const AUTH_HMAC_SHA1_160: u16 = 7;
    pub const AUTH_AES_CMAC_96: u16 = 8;
    pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
    pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
    pub const AUTH_HMAC_SHA2_512_256: u16 = 14;
    // Key exchange (type 4)
    pub const MODP_768: u16 = 1;
    pub const MODP_1024: u16 = 2;
    pub const MODP_1536: u16 = 5;
    pub const MODP_2048: u16 = 14;
    pub const MODP_3072: u16 = 15;
    pub const MODP_4096: u16 = 16;
    pub const MODP_6144: u16 = 17;
    pub const MODP_8192: u16 = 18;
    pub const ECP_256: u16 = 19;
    pub const ECP_384: u16 = 20;
    pub const ECP_521: u16 = 21;
    pub const MODP_1024_160: u16 = 22;
    pub const MODP_2048_224: u16 = 23;
    pub const MODP_2048_256: u16 = 24;
    pub const ECP_192: u16 = 25;
    pub const ECP_224: u16 = 26;
    pub const ECP_224_BP: u16 = 27;
    pub const ECP_256_BP: u16 = 28;
    pub const ECP_384_BP: u16 = 29;
    pub const ECP_512_BP: u16 = 30;
    pub const CURVE_25519: u16 = 31;
    pub const CURVE_448: u16 = 32;
    // ESN (type 5)
    pub const NO_ESN: u16 = 0;
    pub const ESN: u16 = 1;
}

use TransformType::*;
use iana::*;

const fn t(kind: TransformType, id: u16, key_len: Option<u16>, name: &'static str) -> Transform {
    Transform {
        kind,
        id,
        key_len,
        name,
    }
}

/// Flags of a keyword beside its transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Info {
    aead: bool,
    /// Weak or broken: accepted with a warning.
    weak: bool,
}

const PLAIN: Info = Info {
    aead: false,
    weak: false,
};
const AEAD: Info = Info {
    aead: true,
    weak: false,
};
const WEAK: Info = Info {
    aead: false,
    weak: true,
};

/// strongSwan's algorithm keywords (and their aliases).
fn lookup(word: &str) -> Option<(Transform, Info)> {
    let w = word.to_ascii_lowercase();
    let r = match w.as_str() {
        // --- encryption
        "null" => (t(Encr, ENCR_NULL, None, "null"), WEAK),
        "des" => (t(Encr, ENCR_DES, None, "des"), WEAK),
        "3des" => (t(Encr, ENCR_3DES, None, "3des"), WEAK),
        "cast128" => (t(Encr, ENCR_CAST, Some(128), "cast128"), WEAK),
        "blowfish" | "blowfish128" => (t(Encr, ENCR_BLOWFISH, Some(128), "blowfish128"), WEAK),
        "blowfish192" => (t(Encr, ENCR_BLOWFISH, Some(192), "blowfish192"), WEAK),
        "blowfish256" => (t(Encr, ENCR_BLOWFISH, Some(256), "blowfish256"), WEAK),
        "aes" | "aes128" => (t(Encr, ENCR_AES_CBC, Some(128), "aes128"), PLAIN),
        "aes192" => (t(Encr, ENCR_AES_CBC, Some(192), "aes192"), PLAIN),
        "aes256" => (t(Encr, ENCR_AES_CBC, Some(256), "aes256"), PLAIN),
        "aes128ctr" => (t(Encr, ENCR_AES_CTR, Some(128), "aes128ctr"), PLAIN),
        "aes192ctr" => (t(Encr, ENCR_AES_CTR, Some(192), "aes192ctr"), PLAIN),
        "aes256ctr" => (t(Encr, ENCR_AES_CTR, Some(256), "aes256ctr"), PLAIN),
        "camellia" | "camellia128" => (t(Encr, ENCR_CAMELLIA_CBC, Some(128), "camellia128"), PLAIN),
        "camellia192" => (t(Encr, ENCR_CAMELLIA_CBC, Some(192), "camellia192"), PLAIN),
        "camellia256" => (t(Encr, ENCR_CAMELLIA_CBC, Some(256), "camellia256"), PLAIN),
        "camellia128ctr" => (
            t(Encr, ENCR_CAMELLIA_CTR, Some(128), "camellia128ctr"),
            PLAIN,
        ),
        "camellia192ctr" => (
            t(Encr, ENCR_CAMELLIA_CTR, Some(192), "camellia192ctr"),
            PLAIN,
        ),
        "camellia256ctr" => (
            t(Encr, ENCR_CAMELLIA_CTR, Some(256), "camellia256ctr"),
            PLAIN,
        ),
        "aes128ccm8" | "aes128ccm64" => (t(Encr, ENCR_AES_CCM_8, Some(128), "aes128ccm8"), AEAD),
        "aes192ccm8" | "aes192ccm64" => (t(Encr, ENCR_AES_CCM_8, Some(192), "aes192ccm8"), AEAD),
        "aes256ccm8" | "aes256ccm64" => (t(Encr, ENCR_AES_CCM_8, Some(256), "aes256ccm8"), AEAD),
        "aes128ccm12" | "aes128ccm96" => (t(Encr, ENCR_AES_CCM_12, Some(128), "aes128ccm12"), AEAD),
        "aes192ccm12" | "aes192ccm96" => (t(Encr, ENCR_AES_CCM_12, Some(192), "aes192ccm12"), AEAD),
        "aes256ccm12" | "aes256ccm96" => (t(Encr, ENCR_AES_CCM_12, Some(256), "aes256ccm12"), AEAD),
        "aes128ccm16" | "aes128ccm128" | "aes128ccm" => {
            (t(Encr, ENCR_AES_CCM_16, Some(128), "aes128ccm16"), AEAD)
        }
        "aes192ccm16" | "aes192ccm128" | "aes192ccm" => {
            (t(Encr, ENCR_AES_CCM_16, Some(192), "aes192ccm16"), AEAD)
        }
        "aes256ccm16" | "aes256ccm128" | "aes256ccm" => {
            (t(Encr, ENCR_AES_CCM_16, Some(256), "aes256ccm16"), AEAD)
        }
        "aes128gcm8" | "aes128gcm64" => (t(Encr, ENCR_AES_GCM_8, Some(128), "aes128gcm8"), AEAD),
        "aes192gcm8" | "aes192gcm64" => (t(Encr, ENCR_AES_GCM_8, Some(192), "aes192gcm8"), AEAD),
        "aes256gcm8" | "aes256gcm64" => (t(Encr, ENCR_AES_GCM_8, Some(256), "aes256gcm8"), AEAD),
        "aes128gcm12" | "aes128gcm96" => (t(Encr, ENCR_AES_GCM_12, Some(128), "aes128gcm12"), AEAD),
        "aes192gcm12" | "aes192gcm96" => (t(Encr, ENCR_AES_GCM_12, Some(192), "aes192gcm12"), AEAD),
        "aes256gcm12" | "aes256gcm96" => (t(Encr, ENCR_AES_GCM_12, Some(256), "aes256gcm12"), AEAD),
        "aes128gcm16" | "aes128gcm128" | "aes128gcm" => {
            (t(Encr, ENCR_AES_GCM_16, Some(128), "aes128gcm16"), AEAD)
        }
        "aes192gcm16" | "aes192gcm128" | "aes192gcm" => {
            (t(Encr, ENCR_AES_GCM_16, Some(192), "aes192gcm16"), AEAD)
        }
        "aes256gcm16" | "aes256gcm128" | "aes256gcm" => {
            (t(Encr, ENCR_AES_GCM_16, Some(256), "aes256gcm16"), AEAD)
        }
        "aes128gmac" => (
            t(Encr, ENCR_NULL_AUTH_AES_GMAC, Some(128), "aes128gmac"),
            AEAD,
        ),
        "aes192gmac" => (
            t(Encr, ENCR_NULL_AUTH_AES_GMAC, Some(192), "aes192gmac"),
            AEAD,
        ),
        "aes256gmac" => (
            t(Encr, ENCR_NULL_AUTH_AES_GMAC, Some(256), "aes256gmac"),
            AEAD,
        ),
        "chacha20poly1305" => (
            t(Encr, ENCR_CHACHA20_POLY1305, None, "chacha20poly1305"),
            AEAD,
        ),
        // --- integrity
        "md5" => (t(Integ, AUTH_HMAC_MD5_96, None, "md5"), WEAK),
        "md5_128" => (t(Integ, AUTH_HMAC_MD5_128, None, "md5_128"), WEAK),
        "sha" | "sha1" => (t(Integ, AUTH_HMAC_SHA1_96, None, "sha1"), PLAIN),
        "sha1_160" => (t(Integ, AUTH_HMAC_SHA1_160, None, "sha1_160"), PLAIN),
        "aesxcbc" => (t(Integ, AUTH_AES_XCBC_96, None, "aesxcbc"), PLAIN),
        "aescmac" => (t(Integ, AUTH_AES_CMAC_96, None, "aescmac"), PLAIN),
        "sha256" | "sha2_256" => (t(Integ, AUTH_HMAC_SHA2_256_128, None, "sha256"), PLAIN),
        "sha384" | "sha2_384" => (t(Integ, AUTH_HMAC_SHA2_384_192, None, "sha384"), PLAIN),
        "sha512" | "sha2_512" => (t(Integ, AUTH_HMAC_SHA2_512_256, None, "sha512"), PLAIN),
        // --- PRF
        "prfmd5" => (t(Prf, PRF_HMAC_MD5, None, "prfmd5"), WEAK),
        "prfsha1" => (t(Prf, PRF_HMAC_SHA1, None, "prfsha1"), PLAIN),
        "prfaesxcbc" => (t(Prf, PRF_AES128_XCBC, None, "prfaesxcbc"), PLAIN),
        "prfaescmac" => (t(Prf, PRF_AES128_CMAC, None, "prfaescmac"), PLAIN),
        "prfsha256" => (t(Prf, PRF_HMAC_SHA2_256, None, "prfsha256"), PLAIN),
        "prfsha384" => (t(Prf, PRF_HMAC_SHA2_384, None, "prfsha384"), PLAIN),
        "prfsha512" => (t(Prf, PRF_HMAC_SHA2_512, None, "prfsha512"), PLAIN),
        // --- key exchange
        "modp768" => (t(Dh, MODP_768, None, "modp768"), WEAK),
        "modp1024" => (t(Dh, MODP_1024, None, "modp1024"), WEAK),
        "modp1536" => (t(Dh, MODP_1536, None, "modp1536"), PLAIN),
        "modp2048" => (t(Dh, MODP_2048, None, "modp2048"), PLAIN),
        "modp3072" => (t(Dh, MODP_3072, None, "modp3072"), PLAIN),
        "modp4096" => (t(Dh, MODP_4096, None, "modp4096"), PLAIN),
        "modp6144" => (t(Dh, MODP_6144, None, "modp6144"), PLAIN),
        "modp8192" => (t(Dh, MODP_8192, None, "modp8192"), PLAIN),
        "modp1024s160" => (t(Dh, MODP_1024_160, None, "modp1024s160"), WEAK),
        "modp2048s224" => (t(Dh, MODP_2048_224, None, "modp2048s224"), PLAIN),
        "modp2048s256" => (t(Dh, MODP_2048_256, None, "modp2048s256"), PLAIN),
        "ecp192" => (t(Dh, ECP_192, None, "ecp192"), PLAIN),
        "ecp224" => (t(Dh, ECP_224, None, "ecp224"), PLAIN),
        "ecp256" => (t(Dh, ECP_256, None, "ecp256"), PLAIN),
        "ecp384" => (t(Dh, ECP_384, None, "ecp384"), PLAIN),
        "ecp521" => (t(Dh, ECP_521, None, "ecp521"), PLAIN),
        "ecp224bp" => (t(Dh, ECP_224_BP, None, "ecp224bp"), PLAIN),
        "ecp256bp" => (t(Dh, ECP_256_BP, None, "ecp256bp"), PLAIN),
        "ecp384bp" => (t(Dh, ECP_384_BP, None, "ecp384bp"), PLAIN),
        "ecp512bp" => (t(Dh, ECP_512_BP, None, "ecp512bp"), PLAIN),
        "curve25519" | "x25519" => (t(Dh, CURVE_25519, None, "curve25519"), PLAIN),
        "curve448" | "x448" => (t(Dh, CURVE_448, None, "curve448"), PLAIN),
        // --- extended sequence numbers
        "esn" => (t(Esn, ESN, None, "esn"), PLAIN),
        "noesn" => (t(Esn, NO_ESN, None, "noesn"), PLAIN),
        _ => return None,
    };
    Some(r)
}

/// The IKE PRF that strongSwan derives from an integrity keyword when no PRF is given.
fn prf_for_integ(integ: &Transform) -> Option<Transform> {
    let w = match integ.id {
        AUTH_HMAC_MD5_96 | AUTH_HMAC_MD5_128 => "prfmd5",
        AUTH_HMAC_SHA1_96 | AUTH_HMAC_SHA1_160 => "prfsha1",
        AUTH_AES_XCBC_96 => "prfaesxcbc",
        AUTH_AES_CMAC_96 => "prfaescmac",
        AUTH_HMAC_SHA2_256_128 => "prfsha256",
        AUTH_HMAC_SHA2_384_192 => "prfsha384",
        AUTH_HMAC_SHA2_512_256 => "prfsha512",
        _ => return None,
    };
    lookup(w).map(|(t, _)| t)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Ike,
    Esp,
}

impl Protocol {
    pub fn keyword(self) -> &'static str {
        match self {
            Protocol::Ike => "ike",
            Protocol::Esp => "esp",
        }
    }
}

/// One proposal: alternatives per transform type, in preference order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub protocol: Protocol,
    pub encr: Vec<Transform>,
    pub prf: Vec<Transform>,
    pub integ: Vec<Transform>,
    /// Key exchange: for IKE the group(s), for ESP the PFS group(s) (empty: no PFS).
    pub dh: Vec<Transform>,
    pub esn: Vec<Transform>,
}

impl Proposal {
    /// True when the encryption transforms are AEAD (no separate integrity).
    pub fn is_aead(&self) -> bool {
        self.encr.first().is_some_and(|t| is_aead_id(t.id))
    }

    /// All transforms, by type, in wire order (ENCR, PRF, INTEG, DH, ESN).
    pub fn transforms(&self) -> impl Iterator<Item = &Transform> {
        self.encr
            .iter()
            .chain(&self.prf)
            .chain(&self.integ)
            .chain(&self.dh)
            .chain(&self.esn)
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.transforms().map(|t| t.name).collect();
        f.write_str(&names.join("-"))
    }
}

pub fn is_aead_id(id: u16) -> bool {
    matches!(
        id,
        ENCR_AES_CCM_8
            | ENCR_AES_CCM_12
            | ENCR_AES_CCM_16
            | ENCR_AES_GCM_8
            | ENCR_AES_GCM_12
            | ENCR_AES_GCM_16
            | ENCR_NULL_AUTH_AES_GMAC
            | ENCR_CHACHA20_POLY1305
    )
}

/// A configured `ike=` or `esp=` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalList {
    pub protocol: Protocol,
    /// The proposals as configured (or strongSwan's default when not configured).
    pub proposals: Vec<Proposal>,
    /// `!` given: only these proposals are used.
    pub strict: bool,
    /// False when the keyword was absent and the default applies.
    pub configured: bool,
}

impl ProposalList {
    /// What is actually offered / accepted: the configured proposals, followed
    /// by the daemon's default proposals unless the list is strict.
    pub fn effective(&self) -> Vec<Proposal> {
        let mut v = self.proposals.clone();
        if !self.strict {
            for p in default_proposals(self.protocol) {
                if !v.contains(&p) {
                    v.push(p);
                }
            }
        }
        v
    }

    /// strongSwan's default value of `ike=` / `esp=` when absent
    /// (ipsec.conf(5): `aes128-sha256-modp3072` and `aes128-sha256`), not strict.
    pub fn default_for(protocol: Protocol) -> Self {
        let s = match protocol {
            Protocol::Ike => "aes128-sha256-modp3072",
            Protocol::Esp => "aes128-sha256",
        };
        let (proposals, _) = parse_proposals(protocol, s).unwrap_or_default();
        ProposalList {
            protocol,
            proposals,
            strict: false,
            configured: false,
        }
    }
}

impl fmt::Display for ProposalList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.proposals.iter().map(|p| p.to_string()).collect();
        write!(f, "{}{}", v.join(","), if self.strict { "!" } else { "" })
    }
}

/// The default proposals appended to non-strict lists: strong algorithms only,
/// one AEAD and one classic proposal each (as strongSwan's extensive default).
pub fn default_proposals(protocol: Protocol) -> Vec<Proposal> {
    let s = match protocol {
        Protocol::Ike => {
            "aes128-aes192-aes256-sha256-sha384-sha512-sha1-ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048,\
             aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-prfsha1-ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048"
        }
        Protocol::Esp => {
            "aes128gcm16-aes256gcm16-chacha20poly1305,aes128-aes192-aes256-sha256-sha384-sha512-sha1"
        }
    };
    parse_proposals(protocol, s)
        .map(|(p, _)| p)
        .unwrap_or_default()
}

/// A problem in a proposal string; `offset` is the byte offset into the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalError {
    pub offset: usize,
    pub message: String,
}

/// Parses a whole `ike=`/`esp=` value. Returns the proposals and warnings
/// (weak algorithms, ignored PRFs), or the first error with its offset.
pub fn parse_list(
    protocol: Protocol,
    value: &str,
) -> Result<(ProposalList, Vec<String>), ProposalError> {
    let trimmed = value.trim_end();
    let (body, strict) = match trimmed.strip_suffix('!') {
        Some(b) => (b, true),
        None => (trimmed, false),
    };
    let (proposals, warnings) = parse_proposals(protocol, body)?;
    Ok((
        ProposalList {
            protocol,
            proposals,
            strict,
            configured: true,
        },
        warnings,
    ))
}

fn parse_proposals(
    protocol: Protocol,
    body: &str,
) -> Result<(Vec<Proposal>, Vec<String>), ProposalError> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut offset = 0;
    if body.trim().is_empty() {
        return Err(ProposalError {
            offset: 0,
            message: "empty proposal list".into(),
        });
    }
    for part in body.split(',') {
        let lead = part.len() - part.trim_start().len();
        let ps = parse_one(protocol, part.trim(), offset + lead, &mut warnings)?;
        for p in ps {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        offset += part.len() + 1;
    }
    Ok((out, warnings))
}

fn push_unique(v: &mut Vec<Transform>, t: Transform) {
    if !v.contains(&t) {
        v.push(t);
    }
}

fn parse_one(
    protocol: Protocol,
    s: &str,
    base: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<Proposal>, ProposalError> {
    if s.is_empty() {
        return Err(ProposalError {
            offset: base,
            message: "empty proposal (two commas in a row, or a trailing comma?)".into(),
        });
    }
    let mut aead = Vec::new();
    let mut classic = Vec::new();
    let mut prf = Vec::new();
    let mut integ = Vec::new();
    let mut dh = Vec::new();
    let mut esn = Vec::new();
    let mut off = base;
    for word in s.split('-') {
        let here = off;
        off += word.len() + 1;
        if word.is_empty() {
            return Err(ProposalError {
                offset: here,
                message: format!("empty algorithm name in '{s}'"),
            });
        }
        let Some((tr, info)) = lookup(word) else {
            let hint = if word.eq_ignore_ascii_case("ikev1") || word.eq_ignore_ascii_case("ikev2") {
                " (the IKE version goes in keyexchange=)".to_string()
            } else {
                suggest(word)
            };
            return Err(ProposalError {
                offset: here,
                message: format!("unknown algorithm '{word}'{hint}"),
            });
        };
        if info.weak {
            warnings.push(format!("'{word}' is weak and should not be used"));
        }
        match tr.kind {
            Encr if info.aead => push_unique(&mut aead, tr),
            Encr => push_unique(&mut classic, tr),
            Prf => push_unique(&mut prf, tr),
            Integ => push_unique(&mut integ, tr),
            Dh => push_unique(&mut dh, tr),
            Esn => {
                if protocol == Protocol::Ike {
                    return Err(ProposalError {
                        offset: here,
                        message: format!(
                            "'{word}' (extended sequence numbers) is for esp=, not ike="
                        ),
                    });
                }
                push_unique(&mut esn, tr)
            }
        }
    }
    let err = |message: String| ProposalError {
        offset: base,
        message,
    };
    if aead.is_empty() && classic.is_empty() {
        return Err(err(format!("'{s}' has no encryption algorithm")));
    }
    let mut out = Vec::new();
    match protocol {
        Protocol::Ike => {
            if dh.is_empty() {
                return Err(err(format!(
                    "'{s}' has no key exchange (DH) group; IKE needs one, e.g. '{s}-modp2048' or '{s}-ecp256'"
                )));
            }
            if classic.iter().any(|t| t.id == ENCR_NULL) {
                return Err(err("null encryption is not allowed for IKE".into()));
            }
            if !classic.is_empty() {
                if integ.is_empty() {
                    return Err(err(format!(
                        "'{s}' has no integrity algorithm (needed with a non-AEAD cipher), e.g. '-sha256'"
                    )));
                }
                let mut p = prf.clone();
                if p.is_empty() {
                    for i in &integ {
                        if let Some(x) = prf_for_integ(i) {
                            push_unique(&mut p, x);
                        }
                    }
                }
                out.push(Proposal {
                    protocol,
                    encr: classic.clone(),
                    prf: p,
                    integ: integ.clone(),
                    dh: dh.clone(),
                    esn: Vec::new(),
                });
            }
            if !aead.is_empty() {
                let mut p = prf.clone();
                if p.is_empty() {
                    // strongSwan uses the integrity keywords as PRF for AEAD proposals.
                    for i in &integ {
                        if let Some(x) = prf_for_integ(i) {
                            push_unique(&mut p, x);
                        }
                    }
                }
                if p.is_empty() {
                    return Err(err(format!(
                        "'{s}' uses an AEAD cipher but names no PRF; add one, e.g. '-prfsha256'"
                    )));
                }
                out.push(Proposal {
                    protocol,
                    encr: aead,
                    prf: p,
                    integ: Vec::new(),
                    dh,
                    esn: Vec::new(),
                });
            }
        }
        Protocol::Esp => {
            if !prf.is_empty() {
                let names: Vec<&str> = prf.iter().map(|t| t.name).collect();
                warnings.push(format!(
                    "{} in an esp= proposal has no effect (ESP has no PRF); ignored",
                    names.join(", ")
                ));
            }
            if esn.is_empty() {
                esn.push(t(Esn, NO_ESN, None, "noesn"));
            }
            if !classic.is_empty() {
                let is_null = classic.iter().all(|t| t.id == ENCR_NULL);
                if integ.is_empty() {
                    return Err(err(format!(
                        "'{s}' has no integrity algorithm (needed with a non-AEAD cipher{}), e.g. '-sha256'",
                        if is_null { ", above all with null" } else { "" }
                    )));
                }
                out.push(Proposal {
                    protocol,
                    encr: classic,
                    prf: Vec::new(),
                    integ,
                    dh: dh.clone(),
                    esn: esn.clone(),
                });
            } else if !integ.is_empty() {
                let names: Vec<&str> = integ.iter().map(|t| t.name).collect();
                warnings.push(format!(
                    "integrity {} is not used with an AEAD cipher; ignored",
                    names.join(", ")
                ));
            }
            if !aead.is_empty() {
                out.push(Proposal {
                    protocol,
                    encr: aead,
                    prf: Vec::new(),
                    integ: Vec::new(),
                    dh,
                    esn,
                });
            }
        }
    }
    Ok(out)
}

const ALL_WORDS: &[&str] = &[
    "aes128",
    "aes192",
    "aes256",
    "aes128gcm16",
    "aes256gcm16",
    "aes128gcm12",
    "aes128gcm8",
    "chacha20poly1305",
    "3des",
    "sha1",
    "sha256",
    "sha384",
    "sha512",
    "md5",
    "aesxcbc",
    "prfsha1",
    "prfsha256",
    "prfsha384",
    "prfsha512",
    "prfaesxcbc",
    "modp1024",
    "modp1536",
    "modp2048",
    "modp3072",
    "modp4096",
    "modp6144",
    "modp8192",
    "ecp256",
    "ecp384",
    "ecp521",
    "curve25519",
    "x25519",
    "curve448",
    "esn",
    "noesn",
];

fn suggest(word: &str) -> String {
    let w = word.to_ascii_lowercase();
    let best = ALL_WORDS
        .iter()
        .map(|c| (crate::util::edit_distance(&w, c), *c))
        .min();
    match best {
        Some((d, c)) if d <= 2 => format!(" (did you mean '{c}'?)"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[Transform]) -> Vec<u16> {
        v.iter().map(|t| t.id).collect()
    }

    #[test]
    fn juniper_style_gcm() {
        let (l, w) = parse_list(Protocol::Ike, "aes256gcm16-prfsha384-ecp384!").unwrap();
        assert!(l.strict && w.is_empty());
        assert_eq!(l.proposals.len(), 1);
        let p = &l.proposals[0];
        assert_eq!(ids(&p.encr), vec![20]);
        assert_eq!(p.encr[0].key_len, Some(256));
        assert_eq!(ids(&p.prf), vec![6]);
        assert!(p.integ.is_empty());
        assert_eq!(ids(&p.dh), vec![20]);
        assert_eq!(l.effective().len(), 1);
    }

    #[test]
    fn esp_with_prf_is_accepted_and_warned() {
        let (l, w) = parse_list(Protocol::Esp, "aes256gcm16-prfsha384-ecp384!").unwrap();
        let p = &l.proposals[0];
        assert!(p.prf.is_empty());
        assert_eq!(ids(&p.dh), vec![20]);
        assert_eq!(ids(&p.esn), vec![0]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn classic_ike_derives_prf() {
        let (l, w) = parse_list(Protocol::Ike, "aes256-sha2_256-modp1024!").unwrap();
        let p = &l.proposals[0];
        assert_eq!(ids(&p.encr), vec![12]);
        assert_eq!(ids(&p.integ), vec![12]);
        assert_eq!(ids(&p.prf), vec![5]);
        assert_eq!(ids(&p.dh), vec![2]);
        assert_eq!(w.len(), 1, "modp1024 is weak: {w:?}");
    }

    #[test]
    fn multiple_and_mixed() {
        let (l, _) = parse_list(
            Protocol::Ike,
            "aes128-aes128gcm16-sha256-ecp256,3des-sha1-modp2048",
        )
        .unwrap();
        assert_eq!(l.proposals.len(), 3);
        assert!(!l.proposals[0].is_aead());
        assert!(l.proposals[1].is_aead());
        assert_eq!(ids(&l.proposals[1].prf), vec![5]);
        assert!(!l.strict);
        assert!(l.effective().len() > 3);
    }

    #[test]
    fn errors() {
        assert!(
            parse_list(Protocol::Ike, "aes256-sha256")
                .unwrap_err()
                .message
                .contains("no key exchange")
        );
        assert!(
            parse_list(Protocol::Esp, "aes256")
                .unwrap_err()
                .message
                .contains("no integrity")
        );
        let e = parse_list(Protocol::Ike, "aes256-sha256-modp2049").unwrap_err();
        assert_eq!(e.offset, 14);
        assert!(
            e.message.contains("did you mean 'modp2048'"),
            "{}",
            e.message
        );
        assert!(
            parse_list(Protocol::Ike, "aes128gcm16-modp2048")
                .unwrap_err()
                .message
                .contains("PRF")
        );
        assert!(parse_list(Protocol::Ike, "").is_err());
        assert!(parse_list(Protocol::Ike, "aes128-sha1-modp2048,,").is_err());
    }

    #[test]
    fn defaults_parse() {
        assert_eq!(default_proposals(Protocol::Ike).len(), 2);
        assert_eq!(default_proposals(Protocol::Esp).len(), 2);
        let d = ProposalList::default_for(Protocol::Ike);
        assert_eq!(
            d.proposals[0].to_string(),
            "aes128-prfsha256-sha256-modp3072"
        );
    }
}
