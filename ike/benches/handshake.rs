//! The crypto cost of one responder handshake, per key exchange group:
//! generate a key pair, compute the shared secret, derive SKEYSEED and the
//! seven IKE SA keys, then unprotect one IKE_AUTH request and protect the
//! response (AES-256-GCM-16, PRF-HMAC-SHA-256). This is the upper bound on
//! handshakes per second per core, before any protocol or I/O work.
//!
//! Run: `cargo bench -p ike --bench handshake` (prints a table).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ike::crypto::{DhGroup, Encr, IkeSaKeys, KeyLengths, Prf, SkCrypto, kdf};
use ike::wire::*;
use rand_core::OsRng;

fn header() -> Header {
    Header {
        spi_i: [1; 8],
        spi_r: [2; 8],
        minor_version: 0,
        exchange: ExchangeType::IKE_AUTH,
        flags: Flags::new(true, false),
        message_id: 1,
    }
}

fn inner() -> Vec<Payload> {
    vec![
        Payload::IdI(Identification {
            id_type: IdType::FQDN,
            data: b"carol.example.org".to_vec(),
        }),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![7; 32],
        }),
        Payload::Sa(SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol_id: ProtocolId::ESP,
                spi: vec![1, 2, 3, 4],
                transforms: vec![Transform::with_key_length(TransformType::ENCR, 20, 256)],
            }],
        }),
        Payload::TsI(vec![TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: [10, 1, 0, 0].into(),
            end: [10, 1, 255, 255].into(),
        }]),
    ]
}

/// One responder handshake's crypto. `peer_public` is the initiator's KE data.
fn responder(group: DhGroup, peer_public: &[u8], ni: &[u8], nr: &[u8]) -> usize {
    let encr = Encr::AesGcm {
        key_bits: 256,
        icv_len: 16,
    };
    let prf = Prf::HmacSha256;
    let ours = group.generate(&mut OsRng).expect("keygen");
    let shared = ours.compute_shared(peer_public).expect("dh");
    let seed = kdf::skeyseed(prf, ni, nr, shared.as_slice());
    let lens = KeyLengths {
        prf_key: prf.key_len(),
        integ_key: 0,
        encr_key: encr.key_len(),
    };
    let keys =
        IkeSaKeys::derive(prf, seed.as_slice(), ni, nr, &[1; 8], &[2; 8], lens).expect("keys");
    // One protect (our IKE_AUTH response) and one unprotect (of a message
    // of the same size, as the peer's request would be).
    let (out, _) = SkCrypto::pair(encr, None, &keys, false).expect("pair");
    let (_, peer_in) = SkCrypto::pair(encr, None, &keys, true).expect("pair");
    let resp = out
        .protect(&header(), &[], &inner(), &mut OsRng)
        .expect("protect");
    let m = Message::decode(&resp).expect("decode");
    let got = peer_in.unprotect(&resp, &m).expect("unprotect");
    assert_eq!(got.payloads.len(), 4);
    resp.len()
}

fn main() {
    let groups = [
        DhGroup::Curve25519,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
    ];
    let ni = [0x11; 32];
    let nr = [0x22; 32];
    let budget = Duration::from_millis(
        std::env::var("IKE_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    );
    println!(
        "{:<12} {:>10} {:>10} {:>8} {:>14} {:>14}",
        "group", "keygen us", "derive us", "runs", "us/handshake", "handshakes/s"
    );
    for g in groups {
        let initiator = g.generate(&mut OsRng).expect("keygen");
        let peer = initiator.public_value().to_vec();
        // Warm up.
        black_box(responder(g, &peer, &ni, &nr));
        let start = Instant::now();
        let mut runs = 0u32;
        while start.elapsed() < budget {
            black_box(responder(g, &peer, &ni, &nr));
            runs += 1;
        }
        let per = start.elapsed().as_secs_f64() / f64::from(runs);
        // The two key exchange steps alone, for comparison with other
        // implementations' per-operation figures (e.g. `openssl speed`).
        let n = runs.max(10);
        let t = Instant::now();
        for _ in 0..n {
            black_box(g.generate(&mut OsRng).expect("keygen"));
        }
        let keygen = t.elapsed().as_secs_f64() / f64::from(n);
        let ours = g.generate(&mut OsRng).expect("keygen");
        let t = Instant::now();
        for _ in 0..n {
            black_box(ours.compute_shared(&peer).expect("dh"));
        }
        let derive = t.elapsed().as_secs_f64() / f64::from(n);
        println!(
            "{:<12} {:>10.1} {:>10.1} {:>8} {:>14.1} {:>14.0}",
            format!("{g:?}"),
            keygen * 1e6,
            derive * 1e6,
            runs,
            per * 1e6,
            1.0 / per
        );
    }
}
