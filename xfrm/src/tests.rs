//! Unit tests that need no kernel: encoding, decoding, error mapping, robustness.

use std::collections::VecDeque;
use std::net::IpAddr;

use netlink_packet_xfrm as nx;
use proptest::prelude::*;

use crate::client::Acks;
use crate::client::test_support::{absorb_for, error_for, extack_for};
use crate::wire::{self, Kind};
use crate::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn gcm_sa() -> Sa {
    let crypto = Crypto::Aead {
        alg: AeadAlg::AesGcm,
        key: Key::new((1..=20).collect()),
        icv_bits: 128,
    };
    let mut sa = Sa::new(
        ip("192.0.2.1"),
        ip("192.0.2.2"),
        0x1234_5678,
        Mode::Tunnel,
        7,
        crypto,
    );
    sa.replay_window = 64;
    sa.esn = true;
    sa.encap = Some(UdpEncap {
        sport: 4500,
        dport: 4501,
    });
    sa.mark = Some(Mark {
        value: 6,
        mask: 0xff,
    });
    sa.if_id = Some(42);
    sa.lifetime.soft.add_seconds = Some(30);
    sa.lifetime.hard.packets = Some(1000);
    sa
}

#[test]
fn key_debug_is_redacted() {
    let k = Key::new(vec![0xAB; 20]);
    let s = format!("{k:?}");
    assert_eq!(s, "Key(<redacted, 20 bytes>)");
    let sa = format!("{:?}", gcm_sa());
    assert!(sa.contains("redacted"), "{sa}");
    // 1..=20 as Debug of a Vec would print "1, 2, 3"
    assert!(!sa.contains("1, 2, 3"), "{sa}");
}

#[test]
fn af_unspec_tunnel_sa_has_an_unspec_selector() {
    let mut sa = gcm_sa();
    let family = |sa: &Sa| {
        let req = wire::sa_request(sa, false).unwrap();
        let m = wire::decode(nx::XFRM_MSG_NEWSA, &req.body)
            .unwrap()
            .unwrap();
        let nx::XfrmMessage::AddSa(raw) = &m else {
            panic!("not an SA")
        };
        (raw.user_sa_info.selector.family, raw.user_sa_info.flags)
    };
    assert_eq!(family(&sa).0, 2, "AF_INET selector by default");
    sa.flags = sa.flags | SaFlags::AF_UNSPEC;
    let (fam, flags) = family(&sa);
    assert_eq!(fam, 0, "AF_UNSPEC: either inner family (4in6 / 6in4)");
    assert_eq!(flags & 32, 32);
}

#[test]
fn sa_round_trips_through_the_kernel_format() {
    let sa = gcm_sa();
    let req = wire::sa_request(&sa, false).unwrap();
    assert_eq!(req.ty, nx::XFRM_MSG_NEWSA);
    assert_eq!(req.kind, Kind::InstallSa);
    // the key is in the encoded body (that is what the kernel needs) ...
    let key: Vec<u8> = (1..=20).collect();
    assert!(req.body.windows(20).any(|w| w == key.as_slice()));
    // ... and the decoded view has everything but the key
    let m = wire::decode(nx::XFRM_MSG_NEWSA, &req.body)
        .unwrap()
        .unwrap();
    let nx::XfrmMessage::AddSa(raw) = &m else {
        panic!("not an SA")
    };
    // the kernel refuses ESN with a legacy window ("ESN not compatible with legacy replay_window")
    assert_eq!(raw.user_sa_info.replay_window, 0);
    let info = wire::sa_info(m).unwrap();
    assert_eq!(info.src, ip("192.0.2.1"));
    assert_eq!(info.dst, ip("192.0.2.2"));
    assert_eq!(info.spi, 0x1234_5678);
    assert_eq!(info.protocol, Protocol::Esp);
    assert_eq!(info.mode, Some(Mode::Tunnel));
    assert_eq!(info.reqid, 7);
    assert_eq!(info.replay_window, 64);
    assert_eq!(info.flags.0 & 128, 128, "ESN flag");
    assert_eq!(info.aead, Some(("rfc4106(gcm(aes))".to_string(), 128)));
    assert_eq!(
        info.encap,
        Some(UdpEncap {
            sport: 4500,
            dport: 4501
        })
    );
    assert_eq!(
        info.mark,
        Some(Mark {
            value: 6,
            mask: 0xff
        })
    );
    assert_eq!(info.if_id, Some(42));
    assert_eq!(info.lifetime.soft.add_seconds, Some(30));
    assert_eq!(info.lifetime.hard.packets, Some(1000));
    assert_eq!(info.lifetime.soft.bytes, None);
    assert_eq!(info.selector.src.addr, ip("0.0.0.0"));
}

/// An SA re-added after an address change carries its sequence numbers:
/// in the ESN attribute (window > 32 or ESN) and in `XFRMA_REPLAY_VAL`
/// otherwise; without one, the ESN attribute starts at zero.
#[test]
fn replay_state_goes_into_both_attribute_forms() {
    let state = ReplayState {
        oseq: 41,
        seq: 17,
        oseq_hi: 1,
        seq_hi: 2,
        bitmap: vec![0xffff_0000, 3],
    };
    let mut esn = gcm_sa();
    esn.replay_state = Some(state.clone());
    let decode = |sa: &Sa| {
        let req = wire::sa_request(sa, false).unwrap();
        let m = wire::decode(nx::XFRM_MSG_NEWSA, &req.body)
            .unwrap()
            .unwrap();
        wire::sa_info(m).unwrap().replay_state
    };
    assert_eq!(decode(&esn), Some(state.clone()));
    let mut legacy = gcm_sa();
    legacy.esn = false;
    legacy.replay_window = 32;
    legacy.replay_state = Some(state);
    assert_eq!(
        decode(&legacy),
        Some(ReplayState {
            oseq: 41,
            seq: 17,
            bitmap: vec![0xffff_0000],
            ..Default::default()
        })
    );
    legacy.replay_state = None;
    assert_eq!(decode(&legacy), None, "a fresh SA: no replay attribute");
    let fresh = gcm_sa();
    let r = decode(&fresh).expect("the ESN attribute");
    assert_eq!((r.oseq, r.seq), (0, 0));
}

#[test]
fn cbc_hmac_sa_carries_both_algorithms_with_truncation() {
    let crypto = Crypto::EncrInteg {
        encr: EncrAlg::AesCbc,
        encr_key: Key::new(vec![1; 32]),
        integ: IntegAlg::HmacSha256,
        integ_key: Key::new(vec![2; 32]),
        trunc_bits: IntegAlg::HmacSha256.default_trunc_bits(),
    };
    let sa = Sa::new(
        ip("2001:db8::1"),
        ip("2001:db8::2"),
        9,
        Mode::Transport,
        1,
        crypto,
    );
    let req = wire::sa_request(&sa, true).unwrap();
    assert_eq!(req.ty, nx::XFRM_MSG_UPDSA);
    let info = wire::sa_info(wire::decode(req.ty, &req.body).unwrap().unwrap()).unwrap();
    assert_eq!(info.encryption.as_deref(), Some("cbc(aes)"));
    assert_eq!(info.integrity, Some(("hmac(sha256)".to_string(), 128)));
    assert_eq!(info.dst, ip("2001:db8::2"));
    assert_eq!(info.mode, Some(Mode::Transport));
    assert_eq!(info.replay_window, 0);
}

#[test]
fn bad_requests_are_refused_before_sending() {
    let mut sa = gcm_sa();
    sa.dst = ip("2001:db8::2");
    assert!(matches!(
        wire::sa_request(&sa, false),
        Err(Error::Invalid(_))
    ));
    let mut sa = gcm_sa();
    sa.crypto = Crypto::Aead {
        alg: AeadAlg::Named("x".repeat(64)),
        key: Key::new(vec![0; 20]),
        icv_bits: 128,
    };
    assert!(matches!(
        wire::sa_request(&sa, false),
        Err(Error::Invalid(_))
    ));
    let sel = Selector::new(
        "192.0.2.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    );
    let p = Policy::new(sel, Direction::Out, vec![]);
    assert!(matches!(
        wire::policy_request(&p, false),
        Err(Error::Invalid(_))
    ));
    let sel = Selector::new(
        "192.0.2.0/24".parse().unwrap(),
        "192.0.2.0/24".parse().unwrap(),
    );
    let mut t = Template::tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 1);
    t.dst = None;
    let p = Policy::new(sel, Direction::Out, vec![t]);
    assert!(matches!(
        wire::policy_request(&p, false),
        Err(Error::Invalid(_))
    ));
    assert!("192.0.2.0/33".parse::<Prefix>().is_err());
    assert!("nonsense".parse::<Prefix>().is_err());
    let mut r = SpiRequest::new(ip("192.0.2.1"), ip("192.0.2.2"), 1);
    r.min = 10;
    r.max = 9;
    assert!(wire::alloc_spi_request(&r).is_err());
}

#[test]
fn policy_round_trips_through_the_kernel_format() {
    let mut sel = Selector::new(
        "198.51.100.0/24".parse().unwrap(),
        "203.0.113.0/24".parse().unwrap(),
    );
    sel.proto = 17;
    sel.dport = Some(53);
    let mut p = Policy::new(
        sel,
        Direction::Fwd,
        vec![Template::tunnel(ip("192.0.2.2"), ip("192.0.2.1"), 5)],
    );
    p.priority = 1234;
    p.mark = Some(Mark::exact(6));
    p.if_id = Some(42);
    let req = wire::policy_request(&p, false).unwrap();
    let info = wire::policy_info(wire::decode(req.ty, &req.body).unwrap().unwrap()).unwrap();
    assert_eq!(info.policy, p);
}

#[test]
fn kernel_errors_map_to_typed_errors() {
    let sa = gcm_sa();
    let req = wire::sa_request(&sa, false).unwrap();
    let e = error_for(&req, libc::EPROTONOSUPPORT, None);
    assert!(e.is_no_esp());
    assert!(
        e.to_string()
            .contains("kernel lacks ESP support (CONFIG_INET_ESP"),
        "{e}"
    );
    let e = error_for(
        &req,
        libc::ENOSYS,
        Some("Requested AEAD algorithm not found".into()),
    );
    match &e {
        Error::UnknownAlgorithm { name, role, .. } => {
            assert_eq!(name, "rfc4106(gcm(aes))");
            assert_eq!(*role, "aead");
        }
        other => panic!("{other:?}"),
    }
    let crypto = Crypto::EncrInteg {
        encr: EncrAlg::AesCbc,
        encr_key: Key::new(vec![1; 16]),
        integ: IntegAlg::Named("hmac(nosuch)".into()),
        integ_key: Key::new(vec![2; 32]),
        trunc_bits: 96,
    };
    let req = wire::sa_request(
        &Sa::new(ip("192.0.2.1"), ip("192.0.2.2"), 1, Mode::Tunnel, 1, crypto),
        false,
    )
    .unwrap();
    let e = error_for(
        &req,
        libc::ENOSYS,
        Some("Requested AUTH algorithm not found".into()),
    );
    assert!(e.to_string().contains("hmac(nosuch)"), "{e}");
    assert!(error_for(&req, libc::EEXIST, None).is_exists());
    assert!(error_for(&req, libc::ENOENT, None).is_not_found());
    let e = error_for(&req, libc::EINVAL, Some("bad thing".into()));
    assert!(e.to_string().contains("bad thing"), "{e}");
    assert!(e.to_string().contains("os error 22"), "{e}");
    // EPROTONOSUPPORT on a non-SA request is not the ESP error
    let pr = wire::flush_policy_request();
    assert!(!error_for(&pr, libc::EPROTONOSUPPORT, None).is_no_esp());
}

#[test]
fn extack_text_is_extracted_capped_and_uncapped() {
    // nlmsgerr: error, original header (16 bytes), then TLV "hello\0"
    let mut body = Vec::new();
    body.extend_from_slice(&(-22i32).to_ne_bytes());
    body.extend_from_slice(&16u32.to_ne_bytes());
    body.extend_from_slice(&[0u8; 12]);
    body.extend_from_slice(&10u16.to_ne_bytes());
    body.extend_from_slice(&1u16.to_ne_bytes());
    body.extend_from_slice(b"hello\0\0\0");
    assert_eq!(extack_for(0x300, &body).as_deref(), Some("hello"));
    assert_eq!(extack_for(0x200, &body).as_deref(), Some("hello"));
    assert_eq!(extack_for(0x100, &body), None, "no ACK_TLVS flag");
    // truncated TLV: no panic, no message
    assert_eq!(extack_for(0x300, &body[..24]), None);
    assert_eq!(extack_for(0x300, &body[..3]), None);
}

fn all_types() -> Vec<u16> {
    (nx::XFRM_MSG_BASE..=nx::XFRM_MSG_GETDEFAULT).collect()
}

#[test]
fn truncated_kernel_messages_are_errors_not_panics() {
    let sa = gcm_sa();
    let body = wire::sa_request(&sa, false).unwrap().body;
    for ty in all_types() {
        for cut in 0..body.len() {
            let _ = wire::decode(ty, &body[..cut]);
        }
    }
    assert!(matches!(
        wire::decode(nx::XFRM_MSG_ACQUIRE, &[0u8; 10]),
        Err(Error::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn decoding_random_bytes_never_panics(ty in prop::sample::select(all_types()), body in prop::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(Some(m)) = wire::decode(ty, &body) {
            let _ = wire::event(m.clone());
            let _ = wire::sa_info(m.clone());
            let _ = wire::policy_info(m);
        }
    }

    #[test]
    fn event_datagrams_of_random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..1500)) {
        let mut q = VecDeque::new();
        crate::events::parse_datagram(&data, &mut q);
    }

    #[test]
    fn reply_datagrams_of_random_bytes_never_panic(base in any::<u32>(), n in 1usize..5, acks in 0u8..4, data in prop::collection::vec(any::<u8>(), 0..600)) {
        let acks = [Acks::Every, Acks::Last, Acks::Dump, Acks::Answer][usize::from(acks)];
        let _ = absorb_for(&data, base, n, acks);
    }

    #[test]
    fn extack_of_random_bytes_never_panics(flags in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = extack_for(flags, &body);
    }
}

#[test]
fn an_acquire_datagram_decodes_to_an_event() {
    let mut acq = nx::monitor::AcquireMessage::default();
    acq.acquire.id.daddr = nx::Address::from_ip(&ip("192.0.2.2"));
    acq.acquire.id.proto = 50;
    acq.acquire.saddr = nx::Address::from_ip(&ip("192.0.2.1"));
    let sel = Selector::new(
        "198.51.100.1/32".parse().unwrap(),
        "203.0.113.1/32".parse().unwrap(),
    );
    acq.acquire.selector = wire::selector_to_nx(&sel);
    acq.acquire.policy.selector = wire::selector_to_nx(&sel);
    acq.acquire.policy.index = 99;
    acq.acquire.policy.direction = 1;
    acq.acquire.seq = 5;
    let mut t = nx::UserTemplate::default();
    t.id.proto = 50;
    t.reqid = 3;
    t.mode = 1;
    t.family = wire::AF_INET;
    t.saddr = nx::Address::from_ip(&ip("192.0.2.1"));
    t.id.daddr = nx::Address::from_ip(&ip("192.0.2.2"));
    acq.nlas.push(nx::XfrmAttrs::Template(vec![t]));
    let msg = nx::XfrmMessage::Acquire(acq);
    let mut body = vec![0u8; netlink_packet_core::Emitable::buffer_len(&msg)];
    netlink_packet_core::Emitable::emit(&msg, &mut body);
    let mut dgram = Vec::new();
    dgram.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    dgram.extend_from_slice(&nx::XFRM_MSG_ACQUIRE.to_ne_bytes());
    dgram.extend_from_slice(&[0u8; 10]);
    dgram.extend_from_slice(&body);
    let mut q = VecDeque::new();
    crate::events::parse_datagram(&dgram, &mut q);
    let Some(Ok(Event::Acquire(a))) = q.pop_front() else {
        panic!("no acquire: {q:?}")
    };
    assert_eq!(a.selector, sel);
    assert_eq!(a.policy_index, 99);
    assert_eq!(a.policy_dir, Some(Direction::Out));
    assert_eq!(a.dst, ip("192.0.2.2"));
    assert_eq!(a.protocol, Protocol::Esp);
    assert_eq!(a.templates.len(), 1);
    assert_eq!(a.templates[0].0.reqid, 3);
    assert_eq!(a.templates[0].0.dst, Some(ip("192.0.2.2")));
}

#[test]
fn an_expire_datagram_keeps_its_mark_and_if_id() {
    let mut exp = nx::UserExpire::default();
    exp.state.id.daddr = nx::Address::from_ip(&ip("192.0.2.2"));
    exp.state.id.spi = 0x7777;
    exp.state.id.proto = 50;
    exp.state.family = wire::AF_INET;
    exp.state.saddr = nx::Address::from_ip(&ip("192.0.2.1"));
    exp.state.reqid = 77;
    exp.state.lifetime_cur.packets = 12;
    exp.hard = 1;
    let mut body = vec![0u8; netlink_packet_core::Emitable::buffer_len(&exp)];
    netlink_packet_core::Emitable::emit(&exp, &mut body);
    let attrs = vec![
        nx::XfrmAttrs::Mark(nx::Mark {
            value: 6,
            mask: u32::MAX,
        }),
        nx::XfrmAttrs::IfId(42),
    ];
    let mut tail = vec![0u8; netlink_packet_core::Emitable::buffer_len(&attrs.as_slice())];
    netlink_packet_core::Emitable::emit(&attrs.as_slice(), &mut tail);
    body.extend_from_slice(&tail);
    let Some(Event::Expire(e)) = wire::decode_event(nx::XFRM_MSG_EXPIRE, &body).unwrap() else {
        panic!("no expire")
    };
    assert!(e.hard);
    assert_eq!(e.id.spi, 0x7777);
    assert_eq!(e.id.dst, ip("192.0.2.2"));
    assert_eq!(e.src, ip("192.0.2.1"));
    assert_eq!(e.reqid, 77);
    assert_eq!(e.current.packets, 12);
    assert_eq!(e.id.mark, Some(Mark::exact(6)));
    assert_eq!(e.if_id, Some(42));
}

#[test]
fn ah_takes_integrity_only() {
    let integ = Crypto::Integ {
        integ: IntegAlg::HmacSha512,
        integ_key: Key::new(vec![5; 64]),
        trunc_bits: 256,
    };
    let mut sa = Sa::new(
        ip("192.0.2.1"),
        ip("192.0.2.2"),
        0x51,
        Mode::Transport,
        1,
        integ.clone(),
    );
    sa.protocol = Protocol::Ah;
    let req = wire::sa_request(&sa, false).unwrap();
    let info = wire::sa_info(wire::decode(req.ty, &req.body).unwrap().unwrap()).unwrap();
    assert_eq!(info.protocol, Protocol::Ah);
    assert_eq!(info.integrity, Some(("hmac(sha512)".to_string(), 256)));
    assert_eq!(info.encryption, None);
    // mismatches are refused before sending
    sa.protocol = Protocol::Esp;
    assert!(matches!(
        wire::sa_request(&sa, false),
        Err(Error::Invalid(_))
    ));
    let mut ah = gcm_sa();
    ah.protocol = Protocol::Ah;
    ah.encap = None;
    assert!(matches!(
        wire::sa_request(&ah, false),
        Err(Error::Invalid(_))
    ));
    assert_eq!(Protocol::from_number(108), Protocol::Comp);
    assert_eq!(Protocol::from_number(99), Protocol::Other(99));
}

#[test]
fn handles_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Xfrm>();
    send::<EventStream>();
    send::<Batch>();
    send::<Error>();
    send::<Event>();
}

fn nlmsg(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    while m.len() % 4 != 0 {
        m.push(0);
    }
    m
}

#[test]
fn acks_are_matched_to_requests_by_sequence_number() {
    let ack = |seq: u32, code: i32| {
        let mut b = code.to_ne_bytes().to_vec();
        b.extend_from_slice(&[0u8; 16]);
        nlmsg(2, 0x100, seq, &b)
    };
    // out of order, one error, one stranger, one duplicate, one absurd error code
    let mut d = ack(12, -libc::EEXIST);
    d.extend(ack(10, 0));
    d.extend(ack(99, 0));
    d.extend(ack(10, -libc::ENOENT));
    d.extend(ack(11, i32::MIN));
    assert_eq!(
        absorb_for(&d, 10, 4, Acks::Every),
        vec![Some(true), Some(false), Some(false), None]
    );
    // a dump completes on DONE, not on data
    let mut d = nlmsg(0x10, 2, 5, &[0u8; 8]);
    d.extend(nlmsg(3, 2, 5, &0i32.to_ne_bytes()));
    assert_eq!(absorb_for(&d, 5, 1, Acks::Dump), vec![Some(true)]);
    assert_eq!(absorb_for(&d[..24], 5, 1, Acks::Dump), vec![None]);
}

#[test]
fn with_only_the_last_request_acked_its_ack_completes_the_others() {
    let ack = |seq: u32, code: i32| {
        let mut b = code.to_ne_bytes().to_vec();
        b.extend_from_slice(&[0u8; 16]);
        nlmsg(2, 0x100, seq, &b)
    };
    // 20..=23: 21 failed (its error comes first, as the kernel sends it), 23 acked
    let mut d = ack(21, -libc::EEXIST);
    d.extend(ack(23, 0));
    assert_eq!(
        absorb_for(&d, 20, 4, Acks::Last),
        vec![Some(true), Some(false), Some(true), Some(true)]
    );
    // before the last one's ack nothing is taken for a success
    assert_eq!(
        absorb_for(&ack(21, -libc::EEXIST), 20, 4, Acks::Last),
        vec![None, Some(false), None, None]
    );
    // the last one failing still settles the others
    assert_eq!(
        absorb_for(&ack(23, -libc::ENOENT), 20, 4, Acks::Last),
        vec![Some(true), Some(true), Some(true), Some(false)]
    );
    // asked without an ack, a GET completes on its answer
    assert_eq!(
        absorb_for(&nlmsg(0x10, 0, 20, &[0u8; 8]), 20, 1, Acks::Answer),
        vec![Some(true)]
    );
    assert_eq!(
        absorb_for(&ack(20, -libc::ESRCH), 20, 1, Acks::Answer),
        vec![Some(false)]
    );
    // with every request acked, one ack settles only its own
    assert_eq!(
        absorb_for(&ack(23, 0), 20, 4, Acks::Every),
        vec![None, None, None, Some(true)]
    );
}
