//! The transform registry against the `conf` crate's typed proposals.

use conf::proposal::{Protocol as ConfProtocol, parse_list};
use ike::crypto::registry::{Protocol, Provider, Resolved, wire_proposal};
use ike::crypto::{DhGroup, Encr, Integ, Prf};
use ike::wire::{self, Message, Payload, TransformType};

fn conf_proposals(protocol: ConfProtocol, s: &str) -> Vec<conf::Proposal> {
    parse_list(protocol, s)
        .expect("valid proposal string")
        .0
        .proposals
}

#[test]
fn strongswan_default_proposals_are_all_served() {
    let p = Provider::default();
    for proto in [ConfProtocol::Ike, ConfProtocol::Esp] {
        let defaults = conf::proposal::default_proposals(proto);
        assert!(!defaults.is_empty());
        for prop in &defaults {
            assert_eq!(p.check_conf(prop), Ok(()), "{prop}");
        }
    }
}

#[test]
fn unsupported_algorithms_fail_at_config_time_with_their_name() {
    let p = Provider::default();
    let props = conf_proposals(ConfProtocol::Ike, "3des-sha1-modp1024!");
    let errs = p.check_conf(&props[0]).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].transform_type, TransformType::ENCR);
    assert_eq!(errs[0].name.as_deref(), Some("3des"));
    assert!(errs[0].to_string().contains("'3des'"), "{}", errs[0]);

    let props = conf_proposals(ConfProtocol::Ike, "aes128-sha256-ecp192!");
    let errs = p.check_conf(&props[0]).unwrap_err();
    assert_eq!(errs[0].transform_type, TransformType::DH);

    // A provider without MODP refuses modp2048 but keeps the rest.
    let mut small = Provider::default();
    small.groups.retain(|g| !matches!(g, DhGroup::Modp2048));
    let props = conf_proposals(ConfProtocol::Ike, "aes256-sha256-modp2048-curve25519!");
    let errs = small.check_conf(&props[0]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].id, 14);
    assert!(small.offer(&props, &[]).is_err());
    assert!(Provider::default().offer(&props, &[]).is_ok());
}

#[test]
fn conf_proposal_becomes_wire_proposal_and_suite() {
    let p = Provider::default();
    let props = conf_proposals(
        ConfProtocol::Ike,
        "aes256-sha256-modp2048,aes128gcm16-prfsha384-curve25519!",
    );
    let sa = p.offer(&props, &[]).expect("offer");
    assert_eq!(sa.proposals.len(), 2);
    assert_eq!(sa.proposals[0].number, 1);
    assert_eq!(sa.proposals[1].number, 2);
    assert_eq!(sa.proposals[0].protocol_id, wire::ProtocolId::IKE);

    // Encode and decode the SA payload; the transforms survive.
    let m = Message {
        header: wire::Header {
            spi_i: [9; 8],
            spi_r: [0; 8],
            minor_version: 0,
            exchange: wire::ExchangeType::IKE_SA_INIT,
            flags: wire::Flags::new(true, false),
            message_id: 0,
        },
        payloads: vec![Payload::Sa(sa.clone())],
        unsupported_critical: None,
    };
    let d = Message::decode(&m.encode().expect("encode")).expect("decode");
    assert_eq!(d.payloads[0], Payload::Sa(sa.clone()));

    let s = p
        .suite(Protocol::Ike, &sa.proposals[0].transforms)
        .expect("suite");
    assert_eq!(s.encr, Encr::AesCbc { key_bits: 256 });
    assert_eq!(s.integ, Some(Integ::HmacSha256_128));
    assert_eq!(s.prf, Some(Prf::HmacSha256));
    assert_eq!(s.dh, Some(DhGroup::Modp2048));
    let lens = s.ike_key_lengths().expect("ike");
    assert_eq!((lens.prf_key, lens.integ_key, lens.encr_key), (32, 32, 32));

    let s = p
        .suite(Protocol::Ike, &sa.proposals[1].transforms)
        .expect("suite");
    assert_eq!(
        s.encr,
        Encr::AesGcm {
            key_bits: 128,
            icv_len: 16
        }
    );
    assert_eq!(s.integ, None);
    assert_eq!(s.prf, Some(Prf::HmacSha384));
    assert_eq!(
        s.ike_key_lengths().expect("ike").encr_key,
        20,
        "16-octet key + 4-octet salt"
    );
    // Suite::transforms gives back the same transforms.
    assert_eq!(s.transforms(), sa.proposals[1].transforms);
}

#[test]
fn esp_proposals_resolve_with_esn_and_pfs() {
    let p = Provider::default();
    let props = conf_proposals(ConfProtocol::Esp, "aes128gcm16-ecp256-esn!");
    let w = wire_proposal(&props[0], 1, vec![1, 2, 3, 4]);
    assert_eq!(w.protocol_id, wire::ProtocolId::ESP);
    let s = p.suite(Protocol::Esp, &w.transforms).expect("suite");
    assert_eq!(s.dh, Some(DhGroup::Ecp256));
    assert!(s.esn);
    assert_eq!(s.prf, None);
    assert_eq!(s.ike_key_lengths(), None);
}

#[test]
fn suite_combination_rules() {
    let p = Provider::default();
    let t = |tt, id| wire::Transform::new(tt, id);
    let aes = wire::Transform::with_key_length(TransformType::ENCR, 12, 128);
    let gcm = wire::Transform::with_key_length(TransformType::ENCR, 20, 128);
    let prf = t(TransformType::PRF, 5);
    let integ = t(TransformType::INTEG, 12);
    let dh = t(TransformType::DH, 31);
    assert!(
        p.suite(
            Protocol::Ike,
            &[aes.clone(), prf.clone(), integ.clone(), dh.clone()]
        )
        .is_ok()
    );
    // CBC without integrity, AEAD with integrity.
    assert!(
        p.suite(Protocol::Ike, &[aes.clone(), prf.clone(), dh.clone()])
            .is_err()
    );
    assert!(
        p.suite(
            Protocol::Ike,
            &[gcm.clone(), prf.clone(), integ.clone(), dh.clone()]
        )
        .is_err()
    );
    // AEAD with the NONE integrity transform is fine.
    assert!(
        p.suite(
            Protocol::Ike,
            &[
                gcm.clone(),
                prf.clone(),
                t(TransformType::INTEG, 0),
                dh.clone()
            ]
        )
        .is_ok()
    );
    // IKE needs a PRF and a key exchange; ESP must not have a PRF.
    assert!(p.suite(Protocol::Ike, &[gcm.clone(), dh.clone()]).is_err());
    assert!(p.suite(Protocol::Ike, &[gcm.clone(), prf.clone()]).is_err());
    assert!(p.suite(Protocol::Esp, &[gcm.clone(), prf.clone()]).is_err());
    // Two transforms of one type is a choice, not a suite.
    assert!(
        p.suite(
            Protocol::Ike,
            &[gcm.clone(), gcm.clone(), prf.clone(), dh.clone()]
        )
        .is_err()
    );
    // Unknown attributes make a transform unsupported (RFC 7296 3.3.6).
    let mut odd = prf.clone();
    odd.other_attributes.push(wire::TransformAttribute {
        attr_type: 99,
        value: wire::AttributeValue::Tv(1),
    });
    assert!(p.resolve(&odd).is_err());
    assert_eq!(p.resolve(&prf), Ok(Resolved::Prf(Prf::HmacSha256)));
    // Key length on a PRF is refused.
    assert!(
        p.resolve(&wire::Transform::with_key_length(
            TransformType::PRF,
            5,
            256
        ))
        .is_err()
    );
    assert!(p.resolve(&t(TransformType(9), 1)).is_err());
}
