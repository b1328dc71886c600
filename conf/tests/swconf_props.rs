//! Property tests for strongswan.conf: any input gives settings and
//! diagnostics, never a panic; every diagnostic points into a real line; a
//! well-formed rendering of typed values reads back the same.

use proptest::prelude::*;
use std::path::Path;

fn load(main: &str, inc: &str) -> (conf::swconf::Settings, Vec<conf::Diagnostic>) {
    let src = conf::MemSource::default()
        .with("/etc/strongswan.conf", main)
        .with("/etc/strongswan.d/a.conf", inc);
    conf::swconf::load_from(&src, Path::new("/etc/strongswan.conf"))
}

/// Pieces of strongswan.conf, so the fuzzing reaches the typed layer.
fn swish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("charon {".to_string()),
        Just("plugins {".to_string()),
        Just("vici {".to_string()),
        Just("filelog {".to_string()),
        Just("stderr {".to_string()),
        Just("syslog {".to_string()),
        Just("}".to_string()),
        Just("include strongswan.d/*.conf".to_string()),
        Just("include /etc/strongswan.conf".to_string()),
        Just("x : charon {".to_string()),
        Just("a::b {".to_string()),
        Just("\"".to_string()),
        prop::sample::select(vec![
            "retransmit_tries",
            "retransmit_timeout",
            "retransmit_base",
            "retransmit_limit",
            "port",
            "port_nat_t",
            "dns1",
            "keep_alive",
            "half_open_timeout",
            "fragment_size",
            "ignore_routing_tables",
            "default",
            "ike",
            "socket",
            "load",
            "threads",
            "a.b",
        ])
        .prop_flat_map(|k| {
            prop_oneof![
                Just(String::new()),
                Just("yes".to_string()),
                Just("-1".to_string()),
                Just("0x1f".to_string()),
                Just("4.5".to_string()),
                Just("20s".to_string()),
                Just("192.0.2.1".to_string()),
                Just("\"quoted\nvalue\"".to_string()),
                Just("unix:///x".to_string()),
                "[ -~]{0,12}",
            ]
            .prop_map(move |v| format!("{k} = {v}"))
        }),
        "[ -~\t]{0,20}",
    ];
    prop::collection::vec(piece, 0..30).prop_map(|v| v.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn structured_input_never_panics(main in swish(), inc in swish()) {
        let (_, diags) = load(&main, &inc);
        for d in &diags {
            let lines = if d.location.file.ends_with("a.conf") { inc.lines().count() } else { main.lines().count() };
            prop_assert!(d.location.line as usize <= lines.max(1), "{d} beyond {lines} lines");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = load(&text, &text);
    }

    #[test]
    fn typed_values_read_back(
        tries in 0u32..100, timeout in 1u32..100, ka in 0u64..100_000,
        port in 1u16..=u16::MAX, dns in any::<[u8; 4]>(), frag in prop_oneof![Just(0u16), 512u16..=u16::MAX],
    ) {
        let nat = if port == 4500 { 4501 } else { 4500 };
        let dns = std::net::Ipv4Addr::from(dns);
        let text = format!(
            "charon {{\n  retransmit_tries = {tries}\n  retransmit_timeout = {timeout}.5\n  keep_alive = {ka}s\n  port = {port}\n  port_nat_t = {nat:#x}\n  dns1 = {dns}\n  fragment_size = {frag}\n}}\n"
        );
        let (s, diags) = load(&text, "");
        prop_assert!(diags.is_empty(), "{diags:?}");
        let c = &s.charon;
        prop_assert_eq!(c.retransmit.tries, tries);
        prop_assert_eq!(c.retransmit.timeout, f64::from(timeout) + 0.5);
        prop_assert_eq!(c.keep_alive.as_secs(), ka);
        prop_assert_eq!((c.port, c.port_nat_t), (port, nat));
        prop_assert_eq!(c.dns.clone(), vec![std::net::IpAddr::V4(dns)]);
        prop_assert_eq!(c.fragment_size, frag);
    }
}
