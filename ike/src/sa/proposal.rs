//! Proposal selection (RFC 7296 §2.7, §3.3.6): our configured proposals, in
//! our order of preference, against the peer's.

use crate::crypto::registry::{Protocol, wire_transform};
use crate::crypto::{DhGroup, Encr, Integ, Prf, Provider, Suite};
use crate::wire::{self, ProtocolId, TransformType};

const TYPES: [TransformType; 5] = [
    TransformType::ENCR,
    TransformType::PRF,
    TransformType::INTEG,
    TransformType::DH,
    TransformType::ESN,
];

fn of_type(v: &[wire::Transform], t: TransformType) -> Vec<wire::Transform> {
    v.iter()
        .filter(|x| x.transform_type == t)
        .cloned()
        .collect()
}

/// "Absent" means NONE for the optional types (DH in ESP, INTEG with AEAD, ESN).
fn with_none(mut v: Vec<wire::Transform>, t: TransformType) -> Vec<wire::Transform> {
    if v.is_empty()
        && (t == TransformType::DH || t == TransformType::INTEG || t == TransformType::ESN)
    {
        v.push(wire::Transform::new(t, 0));
    }
    v
}

/// The first of our proposals (in our order) that one of theirs satisfies:
/// the reply proposal (their number and SPI, one transform per type) and its suite.
pub fn select(
    provider: &Provider,
    ours: &[conf::Proposal],
    theirs: &[wire::Proposal],
    protocol: Protocol,
) -> Option<(wire::Proposal, Suite)> {
    let proto_id = match protocol {
        Protocol::Ike => ProtocolId::IKE,
        Protocol::Esp => ProtocolId::ESP,
    };
    for o in ours {
        let ot: Vec<wire::Transform> = o.transforms().map(wire_transform).collect();
        'theirs: for t in theirs.iter().filter(|t| t.protocol_id == proto_id) {
            let mut chosen = Vec::new();
            for ty in TYPES {
                let mine = of_type(&ot, ty);
                let their = of_type(&t.transforms, ty);
                if mine.is_empty() && their.is_empty() {
                    continue;
                }
                let explicit = !their.is_empty();
                let mine = with_none(mine, ty);
                let their = with_none(their, ty);
                let Some(pick) = mine.iter().find(|m| their.contains(m)) else {
                    continue 'theirs;
                };
                if explicit || pick.id != 0 {
                    chosen.push(pick.clone());
                }
            }
            // The registry must serve it (and checks AEAD/integrity rules).
            let served: Vec<wire::Transform> = chosen
                .iter()
                .filter(|c| {
                    !(c.id == 0
                        && (c.transform_type == TransformType::DH
                            || c.transform_type == TransformType::INTEG))
                })
                .cloned()
                .collect();
            if let Ok(suite) = provider.suite(protocol, &served) {
                return Some((
                    wire::Proposal {
                        number: t.number,
                        protocol_id: proto_id,
                        spi: t.spi.clone(),
                        transforms: chosen,
                    },
                    suite,
                ));
            }
        }
    }
    None
}

/// ESP proposals for the CHILD_SA inside IKE_AUTH: no key exchange (RFC 7296 §1.2).
pub fn for_ike_auth(esp: &[conf::Proposal]) -> Vec<conf::Proposal> {
    let mut out: Vec<conf::Proposal> = Vec::new();
    for p in esp {
        let mut p = p.clone();
        p.dh.clear();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The peer's proposal without key exchange transforms (for IKE_AUTH).
pub fn strip_dh(p: &wire::Proposal) -> wire::Proposal {
    let mut p = p.clone();
    p.transforms
        .retain(|t| t.transform_type != TransformType::DH);
    p
}

fn encr_name(e: Encr) -> String {
    match e {
        Encr::AesCbc { key_bits } => format!("AES_CBC_{key_bits}"),
        Encr::AesGcm { key_bits, icv_len } => format!("AES_GCM_{icv_len}_{key_bits}"),
        Encr::ChaCha20Poly1305 => "CHACHA20_POLY1305_256".into(),
    }
}

fn integ_name(i: Integ) -> &'static str {
    match i {
        Integ::HmacSha1_96 => "HMAC_SHA1_96",
        Integ::AesXcbc96 => "AES_XCBC_96",
        Integ::HmacSha256_128 => "HMAC_SHA2_256_128",
        Integ::HmacSha384_192 => "HMAC_SHA2_384_192",
        Integ::HmacSha512_256 => "HMAC_SHA2_512_256",
    }
}

fn prf_name(p: Prf) -> String {
    let n = match p.iana_id() {
        1 => "PRF_HMAC_MD5",
        2 => "PRF_HMAC_SHA1",
        4 => "PRF_AES128_XCBC",
        5 => "PRF_HMAC_SHA2_256",
        6 => "PRF_HMAC_SHA2_384",
        7 => "PRF_HMAC_SHA2_512",
        8 => "PRF_AES128_CMAC",
        _ => return format!("PRF_{}", p.iana_id()),
    };
    n.to_owned()
}

fn dh_name(d: DhGroup) -> String {
    match d.iana_id() {
        31 => "CURVE_25519".into(),
        32 => "CURVE_448".into(),
        19 => "ECP_256".into(),
        20 => "ECP_384".into(),
        21 => "ECP_521".into(),
        id => {
            let bits = match id {
                1 => 768,
                2 => 1024,
                5 => 1536,
                14 => 2048,
                15 => 3072,
                16 => 4096,
                17 => 6144,
                18 => 8192,
                _ => return format!("DH_{id}"),
            };
            format!("MODP_{bits}")
        }
    }
}

/// strongSwan-style names: `AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384`.
pub fn suite_name(s: &Suite) -> String {
    let mut parts = vec![encr_name(s.encr)];
    if let Some(i) = s.integ {
        parts.push(integ_name(i).into());
    }
    if let Some(p) = s.prf {
        parts.push(prf_name(p));
    }
    if let Some(d) = s.dh {
        parts.push(dh_name(d));
    }
    if s.esn {
        parts.push("ESN".into());
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::proposal::{Protocol as CP, parse_list};

    fn wire_of(s: &str, proto: CP) -> Vec<wire::Proposal> {
        let l = parse_list(proto, s).unwrap().0;
        l.proposals
            .iter()
            .enumerate()
            .map(|(i, p)| {
                crate::crypto::registry::wire_proposal(p, u8::try_from(i + 1).unwrap(), vec![])
            })
            .collect()
    }

    #[test]
    fn picks_our_preference_among_theirs() {
        let prov = Provider::default();
        let ours = parse_list(
            CP::Ike,
            "aes256gcm16-prfsha384-ecp384,aes128-sha256-modp2048",
        )
        .unwrap()
        .0
        .proposals;
        let theirs = wire_of(
            "aes128-sha256-modp2048,aes256gcm16-prfsha384-ecp384",
            CP::Ike,
        );
        let (p, s) = select(&prov, &ours, &theirs, Protocol::Ike).unwrap();
        assert_eq!(p.number, 2);
        assert!(s.encr.is_aead());
        assert_eq!(suite_name(&s), "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384");
    }

    #[test]
    fn no_overlap() {
        let prov = Provider::default();
        let ours = parse_list(CP::Ike, "aes256-sha256-modp2048")
            .unwrap()
            .0
            .proposals;
        let theirs = wire_of("aes256-sha256-ecp256", CP::Ike);
        assert!(select(&prov, &ours, &theirs, Protocol::Ike).is_none());
    }

    #[test]
    fn esp_without_pfs_against_peer_with_dh_stripped() {
        let prov = Provider::default();
        let ours = for_ike_auth(
            &parse_list(CP::Esp, "aes256-sha256-modp2048")
                .unwrap()
                .0
                .proposals,
        );
        let theirs: Vec<_> = wire_of("aes256-sha256-modp2048", CP::Esp)
            .iter()
            .map(strip_dh)
            .collect();
        let (p, s) = select(&prov, &ours, &theirs, Protocol::Esp).unwrap();
        assert!(s.dh.is_none());
        assert!(
            p.transforms
                .iter()
                .all(|t| t.transform_type != TransformType::DH)
        );
        assert_eq!(suite_name(&s), "AES_CBC_256/HMAC_SHA2_256_128");
    }
}
