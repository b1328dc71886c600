//! Property tests: the parsers never panic, and typed values survive a
//! render -> parse round trip.

use proptest::prelude::*;
use std::path::Path;

fn load(text: &str, secrets: &str) -> Result<conf::Config, conf::ConfigErrors> {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", text)
        .with("/etc/ipsec.secrets", secrets);
    conf::load_from(
        &src,
        Path::new("/etc/ipsec.conf"),
        Some(Path::new("/etc/ipsec.secrets")),
    )
}

/// Lines made of ipsec.conf-ish pieces, so the fuzzing reaches deep code.
fn confish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("conn a".to_string()),
        Just("conn %default".to_string()),
        Just("config setup".to_string()),
        Just("ca x".to_string()),
        Just("include *.conf".to_string()),
        Just("  also=a".to_string()),
        Just("  also=b".to_string()),
        Just("conn b".to_string()),
        prop::sample::select(vec![
            "left",
            "right",
            "leftsubnet",
            "rightsubnet",
            "ike",
            "esp",
            "mark",
            "auto",
            "leftid",
            "rightauth",
            "authby",
            "leftprotoport",
            "keyingtries",
            "ikelifetime",
            "charondebug",
            "leftsourceip",
            "rightdns",
            "if_id_in",
            "type",
            "leftrsasigkey",
            "cacert",
        ])
        .prop_flat_map(|k| (
            "[ \t]{1,2}",
            Just(k),
            "[ =]{0,2}",
            "[-a-z0-9%/.:,!\"@#= \\[\\]]{0,24}"
        )
            .prop_map(|(i, k, e, v)| format!("{i}{k}{e}{v}"))),
        "[^\n]{0,40}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn conf_never_panics(text in confish(), secrets in "[ -~\n\t]{0,80}") {
        let _ = load(&text, &secrets);
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
        let _ = load(&text, &text);
    }

    #[test]
    fn typed_values_round_trip(
        a in any::<[u8; 4]>(), p in 0u8..=32,
        v6 in any::<[u16; 8]>(), p6 in 0u8..=128,
        mark in any::<u32>(), mask in any::<u32>(),
        life in 1u64..100_000, unit in prop::sample::select(vec![("", 1u64), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]),
        proto in prop::sample::select(vec![("tcp", 6u8), ("udp", 17), ("gre", 47), ("icmp", 1), ("47", 47)]),
        port in 1u16..,
        encr in prop::sample::select(vec![("aes128", 12u16), ("aes256", 12), ("3des", 3), ("aes192ctr", 13)]),
        integ in prop::sample::select(vec![("sha1", 2u16), ("sha256", 12), ("sha384", 13), ("sha512", 14), ("aesxcbc", 5)]),
        dh in prop::sample::select(vec![("modp2048", 14u16), ("ecp256", 19), ("ecp384", 20), ("x25519", 31), ("modp8192", 18)]),
        strict in any::<bool>(),
    ) {
        let v4 = std::net::Ipv4Addr::from(a);
        let six = std::net::Ipv6Addr::from(v6);
        let mark = mark & mask;
        let text = format!(
            "conn t\n  left=192.0.2.1\n  right=198.51.100.2\n  leftsubnet={v4}/{p},{six}/{p6}\n  mark={mark:#x}/{mask:#x}\n  lifetime={life}{u}\n  leftprotoport={pn}/{port}\n  ike={e}-{i}-{d}{s}\n  auto=add\n",
            u = unit.0, pn = proto.0, e = encr.0, i = integ.0, d = dh.0, s = if strict { "!" } else { "" },
        );
        let cfg = load(&text, "").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c = &cfg.conns[0];
        let (n4, _) = conf::values::parse_net(&format!("{v4}/{p}")).unwrap();
        prop_assert_eq!(c.left.subnets[0].addr, conf::values::TsAddr::Net(n4));
        prop_assert!(n4.contains(std::net::IpAddr::V4(v4)));
        let (n6, _) = conf::values::parse_net(&format!("{six}/{p6}")).unwrap();
        prop_assert_eq!(c.left.subnets[1].addr, conf::values::TsAddr::Net(n6));
        prop_assert_eq!(n6.prefix, p6);
        prop_assert_eq!(c.mark_in.unwrap().value, conf::values::MarkValue::Fixed(mark));
        prop_assert_eq!(c.mark_out.unwrap().mask, mask);
        prop_assert_eq!(c.lifetime.as_secs(), life * unit.1);
        prop_assert_eq!((c.left.protoport.proto, c.left.protoport.port_from, c.left.protoport.port_to), (proto.1, port, port));
        let pr = &c.ike.proposals[0];
        prop_assert_eq!((pr.encr[0].id, pr.integ[0].id, pr.dh[0].id), (encr.1, integ.1, dh.1));
        prop_assert_eq!(c.ike.strict, strict);
        // Rendering the proposal and parsing it again gives the same proposal.
        let again = conf::proposal::parse_list(conf::proposal::Protocol::Ike, &pr.to_string()).unwrap().0;
        prop_assert_eq!(&again.proposals[0], pr);
    }
}
