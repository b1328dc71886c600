//! Real strongSwan traffic: IKE_SA_INIT / IKE_AUTH datagrams captured
//! between two strongSwan 5.9 charons (tests/data/strongswan/capture.sh
//! documents how), with charon's own "ike 4" key log. The test decodes
//! every datagram, recomputes SKEYSEED and the SK_* keys from the logged
//! DH secret and the nonces and SPIs on the wire, checks them against the
//! keys strongSwan logged, decrypts both IKE_AUTH messages (and the DELETE
//! exchange where captured), and verifies the initiator's PSK AUTH value.

use std::path::PathBuf;

const PSK: &[u8] = b"iked capture fixture psk";

use ike::crypto::registry::{Protocol, Provider};
use std::net::IpAddr;

use ike::crypto::{IkeSaKeys, SkCrypto, auth, kdf};
use ike::wire::*;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/strongswan")
        .join(name)
}

/// The datagrams of a capture, in order.
fn datagrams(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir(name))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect()
}

/// A value charon logged as `LABEL => N bytes @ addr` followed by hexdump
/// lines `   0: 01 02 ...` from the same thread.
fn logged(name: &str, label: &str) -> Vec<u8> {
    let log = std::fs::read_to_string(dir(name).join("charon-l.log")).expect("log");
    let mut lines = log.lines();
    while let Some(l) = lines.next() {
        let Some(at) = l.find(&format!("[IKE] {label} => ")) else {
            continue;
        };
        let thread = &l[..at];
        let n: usize = l[at..]
            .split("=> ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mut out = Vec::new();
        for d in lines.by_ref() {
            if out.len() >= n {
                break;
            }
            let Some(rest) = d.strip_prefix(thread).and_then(|r| r.strip_prefix("[IKE]")) else {
                continue;
            };
            let Some((_, hexpart)) = rest.split_once(": ") else {
                continue;
            };
            for tok in hexpart.split_whitespace().take(16) {
                if out.len() < n {
                    if let Ok(b) = u8::from_str_radix(tok, 16) {
                        if tok.len() == 2 {
                            out.push(b);
                        }
                    }
                }
            }
        }
        assert_eq!(out.len(), n, "{label}");
        return out;
    }
    panic!("{label} not in log of {name}");
}

fn nonce(m: &Message) -> Vec<u8> {
    match m.find(PayloadType::NONCE) {
        Some(Payload::Nonce(n)) => n.clone(),
        _ => panic!("no nonce"),
    }
}

fn notifies(ps: &[Payload]) -> Vec<NotifyType> {
    ps.iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.notify_type),
            _ => None,
        })
        .collect()
}

fn check_capture(name: &str) {
    let grams = datagrams(name);
    assert!(grams.len() >= 4, "{name}: {} datagrams", grams.len());
    let msgs: Vec<Message> = grams
        .iter()
        .map(|(f, b)| Message::decode(b).unwrap_or_else(|e| panic!("{name}/{f}: {e}")))
        .collect();
    // strongSwan's encoding is canonical: our re-encoding is byte-identical.
    for ((f, b), m) in grams.iter().zip(&msgs) {
        assert_eq!(&m.encode().expect("encode"), b, "{name}/{f} re-encoding");
        assert_eq!(m.unsupported_critical, None);
    }

    let (init_req, init_resp) = (&msgs[0], &msgs[1]);
    assert_eq!(init_req.header.exchange, ExchangeType::IKE_SA_INIT);
    assert!(init_req.header.flags.initiator() && !init_req.header.flags.response());
    assert!(init_resp.header.flags.response());
    for m in [init_req, init_resp] {
        let n = notifies(&m.payloads);
        assert!(n.contains(&NotifyType::NAT_DETECTION_SOURCE_IP), "{n:?}");
        assert!(
            n.contains(&NotifyType::NAT_DETECTION_DESTINATION_IP),
            "{n:?}"
        );
        assert!(
            n.contains(&NotifyType::IKEV2_FRAGMENTATION_SUPPORTED),
            "{n:?}"
        );
    }

    // The responder's choice, through the registry.
    let Some(Payload::Sa(sa)) = init_resp.find(PayloadType::SA) else {
        panic!("no SA")
    };
    assert_eq!(sa.proposals.len(), 1);
    let suite = Provider::default()
        .suite(Protocol::Ike, &sa.proposals[0].transforms)
        .expect("suite");
    let Some(Payload::Ke(ke)) = init_resp.find(PayloadType::KE) else {
        panic!("no KE")
    };
    assert_eq!(Some(ke.group), suite.dh.map(|g| g.iana_id()));
    assert_eq!(ke.data.len(), suite.dh.unwrap().public_len());

    // Keys: recompute from the logged DH secret and what is on the wire.
    let prf = suite.prf.expect("prf");
    let (ni, nr) = (nonce(init_req), nonce(init_resp));
    let spi_i = init_resp.header.spi_i;
    let spi_r = init_resp.header.spi_r;
    assert_eq!(spi_i, init_req.header.spi_i);
    let shared = logged(name, "shared Diffie Hellman secret");
    let skeyseed = kdf::skeyseed(prf, &ni, &nr, &shared);
    assert_eq!(
        skeyseed.as_slice(),
        logged(name, "SKEYSEED"),
        "{name} SKEYSEED"
    );
    let keys = IkeSaKeys::derive(
        prf,
        skeyseed.as_slice(),
        &ni,
        &nr,
        &spi_i,
        &spi_r,
        suite.ike_key_lengths().unwrap(),
    )
    .expect("keys");
    for (k, label) in [
        (&keys.sk_d, "Sk_d secret"),
        (&keys.sk_ai, "Sk_ai secret"),
        (&keys.sk_ar, "Sk_ar secret"),
        (&keys.sk_ei, "Sk_ei secret"),
        (&keys.sk_er, "Sk_er secret"),
        (&keys.sk_pi, "Sk_pi secret"),
        (&keys.sk_pr, "Sk_pr secret"),
    ] {
        if suite.integ.is_none() && (label == "Sk_ai secret" || label == "Sk_ar secret") {
            continue; // not logged for AEAD (empty)
        }
        assert_eq!(k.as_slice(), logged(name, label), "{name} {label}");
    }

    // Decrypt every protected message with the right direction's keys.
    let (_, resp_in) = SkCrypto::pair(suite.encr, suite.integ, &keys, false).expect("pair");
    let (_, init_in) = SkCrypto::pair(suite.encr, suite.integ, &keys, true).expect("pair");
    let mut inner = Vec::new();
    for ((f, b), m) in grams.iter().zip(&msgs).skip(2) {
        // Messages from the original initiator carry the I flag.
        let sk = if m.header.flags.initiator() {
            &resp_in
        } else {
            &init_in
        };
        let chain = sk
            .unprotect(b, m)
            .unwrap_or_else(|e| panic!("{name}/{f}: {e}"));
        // The wrong direction's keys fail.
        let other = if m.header.flags.initiator() {
            &init_in
        } else {
            &resp_in
        };
        assert!(other.unprotect(b, m).is_err(), "{name}/{f}");
        inner.push(chain.payloads);
    }

    // IKE_AUTH request: IDi, AUTH, SA, TSi, TSr.
    let auth_req = &inner[0];
    let idi = auth_req
        .iter()
        .find_map(|p| match p {
            Payload::IdI(i) => Some(i.clone()),
            _ => None,
        })
        .expect("IDi");
    assert_eq!(idi.id_type, IdType::FQDN);
    assert_eq!(idi.data, b"left.example.org");
    let ts = auth_req
        .iter()
        .find_map(|p| match p {
            Payload::TsI(t) => Some(t.clone()),
            _ => None,
        })
        .expect("TSi");
    assert!(ts.contains(&TrafficSelector::Ipv4 {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: [198, 51, 100, 0].into(),
        end: [198, 51, 100, 255].into(),
    }));
    assert!(
        auth_req
            .iter()
            .any(|p| matches!(p, Payload::Sa(s) if s.proposals[0].protocol_id == ProtocolId::ESP))
    );

    // The initiator's PSK AUTH (RFC 7296 section 2.15):
    // prf(prf(PSK, "Key Pad for IKEv2"), RealMessage1 | Nr | prf(SK_pi, IDi body)).
    let auth = auth_req
        .iter()
        .find_map(|p| match p {
            Payload::Auth(a) => Some(a.clone()),
            _ => None,
        })
        .expect("AUTH");
    assert_eq!(auth.method, AuthMethod::SHARED_KEY_MIC);
    let octets = auth::signed_octets(prf, &grams[0].1, &nr, keys.sk_pi.as_slice(), &idi.body());
    let expect = auth::shared_key_auth(prf, PSK, &octets);
    assert!(auth::verify_shared_key_auth(prf, PSK, &octets, &auth.data));
    assert!(!auth::verify_shared_key_auth(
        prf, b"wrong", &octets, &auth.data
    ));
    assert_eq!(auth.data, expect.as_slice(), "{name} initiator AUTH");

    // IKE_AUTH response: IDr and the responder's AUTH over its own first
    // message and Ni.
    let idr = inner[1]
        .iter()
        .find_map(|p| match p {
            Payload::IdR(i) => Some(i.clone()),
            _ => None,
        })
        .expect("IDr");
    assert_eq!(idr.data, b"right.example.org");
    let rauth = inner[1]
        .iter()
        .find_map(|p| match p {
            Payload::Auth(a) => Some(a.clone()),
            _ => None,
        })
        .expect("AUTH");
    let octets = auth::signed_octets(prf, &grams[1].1, &ni, keys.sk_pr.as_slice(), &idr.body());
    assert!(
        auth::verify_shared_key_auth(prf, PSK, &octets, &rauth.data),
        "{name} responder AUTH"
    );

    // NAT detection: nothing in between, so the hashes match the addresses
    // (initiator 192.0.2.1:500, responder 192.0.2.2:500; the request hashes
    // with a zero SPIr).
    let natd = |m: &Message, t: NotifyType| -> Vec<u8> {
        m.payloads
            .iter()
            .find_map(|p| match p {
                Payload::Notify(n) if n.notify_type == t => Some(n.data.clone()),
                _ => None,
            })
            .expect("NAT-D")
    };
    let l: IpAddr = [192, 0, 2, 1].into();
    let r: IpAddr = [192, 0, 2, 2].into();
    let req_spi_r = init_req.header.spi_r;
    assert_eq!(req_spi_r, [0; 8]);
    let hash = |a, b, ip, port| auth::nat_detection_hash(a, b, ip, port).to_vec();
    assert_eq!(
        natd(init_req, NotifyType::NAT_DETECTION_SOURCE_IP),
        hash(&spi_i, &req_spi_r, l, 500)
    );
    assert_eq!(
        natd(init_req, NotifyType::NAT_DETECTION_DESTINATION_IP),
        hash(&spi_i, &req_spi_r, r, 500)
    );
    assert_eq!(
        natd(init_resp, NotifyType::NAT_DETECTION_SOURCE_IP),
        hash(&spi_i, &spi_r, r, 500)
    );
    assert_eq!(
        natd(init_resp, NotifyType::NAT_DETECTION_DESTINATION_IP),
        hash(&spi_i, &spi_r, l, 500)
    );
}

#[test]
fn strongswan_chacha20poly1305_x25519() {
    check_capture("chacha20poly1305-prfsha256-x25519");
}

#[test]
fn strongswan_aes256_cbc_sha256_modp2048() {
    check_capture("aes256-sha256-modp2048");
}
