//! SK / SKF payload protection: round trips for every cipher suite,
//! tamper detection over every octet, fragments, and robustness.

use ike::crypto::sk::Reassembly;
use ike::crypto::{Encr, IkeSaKeys, Integ, KeyLengths, Prf, SkCrypto, kdf};
use ike::wire::*;
use proptest::prelude::*;
use rand_core::OsRng;

fn suites() -> Vec<(Encr, Option<Integ>)> {
    vec![
        (Encr::AesCbc { key_bits: 128 }, Some(Integ::HmacSha1_96)),
        (Encr::AesCbc { key_bits: 128 }, Some(Integ::AesXcbc96)),
        (Encr::AesCbc { key_bits: 192 }, Some(Integ::HmacSha384_192)),
        (Encr::AesCbc { key_bits: 256 }, Some(Integ::HmacSha256_128)),
        (Encr::AesCbc { key_bits: 256 }, Some(Integ::HmacSha512_256)),
        (
            Encr::AesGcm {
                key_bits: 128,
                icv_len: 8,
            },
            None,
        ),
        (
            Encr::AesGcm {
                key_bits: 192,
                icv_len: 12,
            },
            None,
        ),
        (
            Encr::AesGcm {
                key_bits: 256,
                icv_len: 16,
            },
            None,
        ),
        (Encr::ChaCha20Poly1305, None),
    ]
}

fn keys(encr: Encr, integ: Option<Integ>, seed: u8) -> IkeSaKeys {
    let prf = Prf::HmacSha256;
    let ni = [seed; 32];
    let nr = [seed ^ 0x55; 32];
    let skeyseed = kdf::skeyseed(prf, &ni, &nr, b"shared secret g^ir");
    let lens = KeyLengths {
        prf_key: prf.key_len(),
        integ_key: integ.map_or(0, Integ::key_len),
        encr_key: encr.key_len(),
    };
    IkeSaKeys::derive(prf, skeyseed.as_slice(), &ni, &nr, &[1; 8], &[2; 8], lens).expect("keys")
}

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
            data: b"moon.example.org".to_vec(),
        }),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![0xab; 32],
        }),
        Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, vec![])),
        Payload::Cp(ConfigPayload {
            cfg_type: CfgType::REQUEST,
            attributes: vec![
                CfgAttribute::InternalIp4Address(None),
                CfgAttribute::InternalIp4Dns(None),
            ],
        }),
    ]
}

#[test]
fn round_trip_every_suite() {
    for (encr, integ) in suites() {
        let k = keys(encr, integ, 1);
        let (i_out, i_in) = SkCrypto::pair(encr, integ, &k, true).expect("pair");
        let (r_out, r_in) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
        let outer = vec![Payload::VendorId(b"iked".to_vec())];
        let bytes = i_out
            .protect(&header(), &outer, &inner(), &mut OsRng)
            .expect("protect");
        let m = Message::decode(&bytes).expect("decode");
        assert_eq!(m.payloads[0], outer[0]);
        let Some(Payload::Sk(sk)) = m.payloads.last() else {
            panic!("no SK")
        };
        assert_eq!(sk.inner_first, PayloadType::IDI);
        assert_eq!(
            sk.data.len(),
            r_in.payload_data_len(encode_payloads(&inner()).unwrap().1.len())
        );
        if !encr.is_aead() {
            let ct = sk.data.len() - 16 - integ.unwrap().icv_len();
            assert_eq!(ct % 16, 0, "{encr:?} CBC alignment");
        }
        let chain = r_in.unprotect(&bytes, &m).expect("unprotect");
        assert_eq!(chain.payloads, inner(), "{encr:?} {integ:?}");
        // Directions are distinct: our own inbound keys do not open it.
        assert!(
            i_in.unprotect(&bytes, &m).is_err(),
            "{encr:?}: reflected message accepted"
        );
        // And back.
        let reply = r_out
            .protect(&header(), &[], &inner(), &mut OsRng)
            .expect("protect");
        let rm = Message::decode(&reply).expect("decode");
        assert_eq!(
            i_in.unprotect(&reply, &rm).expect("unprotect").payloads,
            inner()
        );
        // Fresh IVs: protecting twice differs.
        let again = i_out
            .protect(&header(), &outer, &inner(), &mut OsRng)
            .expect("protect");
        assert_ne!(again, bytes);
    }
}

#[test]
fn any_flipped_octet_is_rejected() {
    for (encr, integ) in suites() {
        let k = keys(encr, integ, 2);
        let (out, _) = SkCrypto::pair(encr, integ, &k, true).expect("pair");
        let (_, inb) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
        let small = vec![Payload::Notify(Notify::new(
            NotifyType::REKEY_SA,
            vec![1, 2],
        ))];
        let bytes = out
            .protect(
                &header(),
                &[Payload::VendorId(vec![9; 3])],
                &small,
                &mut OsRng,
            )
            .expect("protect");
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let accepted = match Message::decode(&b) {
                Ok(m) => inb.unprotect(&b, &m).is_ok(),
                Err(_) => false,
            };
            assert!(!accepted, "{encr:?}: flip at octet {i} accepted");
        }
    }
}

#[test]
fn fragments_round_trip_and_are_authenticated() {
    for (encr, integ) in suites() {
        let k = keys(encr, integ, 3);
        let (out, _) = SkCrypto::pair(encr, integ, &k, true).expect("pair");
        let (_, inb) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
        let big: Vec<Payload> = (0..6)
            .map(|i| {
                Payload::Cert(CertPayload {
                    encoding: CertEncoding::X509_SIGNATURE,
                    data: vec![i; 300],
                })
            })
            .collect();
        let frags = out
            .protect_fragments(&header(), &big, 400, &mut OsRng)
            .expect("fragments");
        assert!(frags.len() >= 5, "{}", frags.len());
        let mut plain = Vec::new();
        let mut first = None;
        for (n, f) in frags.iter().enumerate() {
            assert!(f.len() <= 400, "fragment of {} octets", f.len());
            let m = Message::decode(f).expect("decode");
            let Some(Payload::Skf(skf)) = m.payloads.last() else {
                panic!("no SKF")
            };
            assert_eq!(usize::from(skf.number), n + 1);
            assert_eq!(usize::from(skf.total), frags.len());
            if n == 0 {
                first = Some(skf.inner_first);
            } else {
                assert_eq!(skf.inner_first, PayloadType::NONE);
            }
            plain.extend_from_slice(&inb.decrypt(f, &m).expect("decrypt"));
            // The fragment number is covered by the ICV/AAD.
            let mut t = f.clone();
            t[28 + 5] ^= 0x01;
            if let Ok(tm) = Message::decode(&t) {
                assert!(inb.decrypt(&t, &tm).is_err());
            }
        }
        let chain = decode_payloads(first.expect("first"), &plain, 0).expect("reassembled");
        assert_eq!(chain.payloads, big);
    }
}

#[test]
fn reassembly_in_any_order_with_duplicates_and_refragmentation() {
    let (encr, integ) = (
        Encr::AesGcm {
            key_bits: 128,
            icv_len: 16,
        },
        None,
    );
    let k = keys(encr, integ, 6);
    let (out, _) = SkCrypto::pair(encr, integ, &k, true).expect("pair");
    let (_, inb) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
    let big: Vec<Payload> = (0..4)
        .map(|i| {
            Payload::Cert(CertPayload {
                encoding: CertEncoding::X509_SIGNATURE,
                data: vec![i; 250],
            })
        })
        .collect();
    let coarse = out
        .protect_fragments(&header(), &big, 600, &mut OsRng)
        .expect("fragments");
    let fine = out
        .protect_fragments(&header(), &big, 300, &mut OsRng)
        .expect("fragments");
    assert!(fine.len() > coarse.len());
    let dec = |b: &Vec<u8>| Message::decode(b).expect("decode");
    let mut r = Reassembly::new();
    // A coarse fragment, then the finer re-fragmentation restarts.
    assert_eq!(
        r.add(&inb, &coarse[0], &dec(&coarse[0])).expect("add"),
        None
    );
    let mut order: Vec<usize> = (0..fine.len()).rev().collect();
    order.insert(1, order[0]); // a duplicate
    let mut done = None;
    for (n, i) in order.iter().enumerate() {
        let got = r.add(&inb, &fine[*i], &dec(&fine[*i])).expect("add");
        if n + 1 < order.len() {
            assert_eq!(got, None, "complete too early at step {n}");
            // A coarse fragment now (fewer fragments) is ignored.
            assert_eq!(
                r.add(&inb, &coarse[1], &dec(&coarse[1])).expect("add"),
                None
            );
        } else {
            done = got;
        }
    }
    assert_eq!(done.expect("complete").payloads, big);
    // A forged fragment is refused and does not enter the buffer.
    let mut forged = fine[0].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(r.add(&inb, &forged, &dec(&forged)).is_err());
}

#[test]
fn key_and_suite_mismatches_are_refused() {
    let k = keys(Encr::AesCbc { key_bits: 128 }, Some(Integ::HmacSha1_96), 4);
    // AEAD with an integrity transform, CBC without one, wrong key lengths.
    assert!(SkCrypto::pair(Encr::ChaCha20Poly1305, Some(Integ::HmacSha1_96), &k, true).is_err());
    assert!(SkCrypto::pair(Encr::AesCbc { key_bits: 128 }, None, &k, true).is_err());
    assert!(
        SkCrypto::pair(
            Encr::AesCbc { key_bits: 256 },
            Some(Integ::HmacSha1_96),
            &k,
            true
        )
        .is_err()
    );
    // Unprotecting a plaintext message.
    let (out, _) = SkCrypto::pair(
        Encr::AesCbc { key_bits: 128 },
        Some(Integ::HmacSha1_96),
        &k,
        true,
    )
    .expect("pair");
    let m = Message {
        header: header(),
        payloads: vec![Payload::Nonce(vec![0; 16])],
        unsupported_critical: None,
    };
    let b = m.encode().expect("encode");
    assert!(out.unprotect(&b, &m).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn garbage_sk_data_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..9, first in any::<u8>()) {
        let (encr, integ) = suites()[which];
        let k = keys(encr, integ, 5);
        let (_, inb) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
        let m = Message {
            header: header(),
            payloads: vec![Payload::Sk(Encrypted { inner_first: PayloadType(first), data })],
            unsupported_critical: None,
        };
        let b = m.encode().expect("encode");
        let d = Message::decode(&b).expect("decode");
        prop_assert!(inb.unprotect(&b, &d).is_err());
        // A message that does not match its octets is refused, not misread.
        prop_assert!(inb.decrypt(&b[..b.len() / 2], &d).is_err());
    }
}

/// Replays fixed octets as "randomness", for known-answer tests.
struct Fixed(Vec<u8>);

impl rand_core::RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let n = dest.len();
        dest.copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Fixed {}

// RFC 7634 Appendix B, the IKEv2 example: a whole INFORMATIONAL message
// whose SK payload carries one Notify (SET_WINDOW_SIZE, 10), protected with
// ChaCha20-Poly1305. Key 80..9f, salt a0a1a2a3, IV 1011121314151617; the
// AAD is the IKE header and the SK payload header.
#[test]
fn rfc7634_appendix_b_ikev2_example() {
    let km: Vec<u8> = (0x80u8..=0x9f).chain(0xa0..=0xa3).collect();
    let sk = SkCrypto::new(
        Encr::ChaCha20Poly1305,
        None,
        ike::crypto::SecretBytes::new(km),
        ike::crypto::SecretBytes::default(),
    )
    .expect("sk");
    let header = Header {
        spi_i: [0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7],
        spi_r: [0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7],
        minor_version: 0,
        exchange: ExchangeType::INFORMATIONAL,
        flags: Flags(0),
        message_id: 9,
    };
    let inner = vec![Payload::Notify(Notify::new(
        NotifyType::SET_WINDOW_SIZE,
        vec![0, 0, 0, 0x0a],
    ))];
    let expected = hex::decode(concat!(
        "c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e202500000000090000004529000029",
        "1011121314151617",
        "610394701f8d017f7c12924889",
        "6b71bfe25236efd7cdc67066906315b2"
    ))
    .expect("hex");
    let bytes = sk
        .protect(&header, &[], &inner, &mut Fixed((0x10u8..=0x17).collect()))
        .expect("protect");
    assert_eq!(bytes, expected);
    let m = Message::decode(&expected).expect("decode");
    assert_eq!(
        sk.unprotect(&expected, &m).expect("unprotect").payloads,
        inner
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    // Every plaintext length pads, encrypts and comes back (CBC block
    // alignment and the pad length octet at every residue).
    #[test]
    fn every_length_round_trips(len in 0usize..600, which in 0usize..9) {
        let (encr, integ) = suites()[which];
        let k = keys(encr, integ, 7);
        let (out, _) = SkCrypto::pair(encr, integ, &k, true).expect("pair");
        let (_, inb) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
        let inner = vec![Payload::VendorId(vec![0x5a; len])];
        let b = out.protect(&header(), &[], &inner, &mut OsRng).expect("protect");
        let m = Message::decode(&b).expect("decode");
        prop_assert_eq!(inb.unprotect(&b, &m).expect("unprotect").payloads, inner);
    }
}

#[test]
fn reassembly_stops_at_64_kib() {
    let (encr, integ) = (
        Encr::AesGcm {
            key_bits: 128,
            icv_len: 16,
        },
        None,
    );
    let k = keys(encr, integ, 7);
    let (out, _) = SkCrypto::pair(encr, integ, &k, true).expect("pair");
    let (_, inb) = SkCrypto::pair(encr, integ, &k, false).expect("pair");
    // 70 KB of certificates in 1,280-octet fragments.
    let big: Vec<Payload> = (0..70)
        .map(|i| {
            Payload::Cert(CertPayload {
                encoding: CertEncoding::X509_SIGNATURE,
                data: vec![i; 1000],
            })
        })
        .collect();
    let frags = out
        .protect_fragments(&header(), &big, 1280, &mut OsRng)
        .expect("fragments");
    let mut r = Reassembly::new();
    let mut refused = false;
    for f in &frags {
        match r.add(&inb, f, &Message::decode(f).expect("decode")) {
            Ok(Some(_)) => panic!("a message over 64 KiB was reassembled"),
            Ok(None) => {}
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "{} fragments", frags.len());
    assert_eq!(ike::crypto::sk::MAX_REASSEMBLED, 64 * 1024);
}
