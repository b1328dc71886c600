//! Bad inputs: each gives a clear error naming file:line:col and the keyword,
//! all errors are collected, and nothing is loaded.

use std::path::Path;

fn errors(conf_text: &str) -> Vec<String> {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", conf_text)
        .with("/etc/ipsec.d/loop.conf", "include loop.conf\n");
    match conf::load_from(&src, Path::new("/etc/ipsec.conf"), None) {
        Ok(_) => panic!("accepted:\n{conf_text}"),
        Err(e) => e.errors().map(|d| d.to_string()).collect(),
    }
}

/// (input, expected start of the first error message)
const CASES: &[(&str, &str)] = &[
    (
        "conn a\n  lefsubnet=10.0.0.0/8\n",
        "/etc/ipsec.conf:2:3: lefsubnet: unknown keyword 'lefsubnet' in conn section (did you mean 'leftsubnet'?)",
    ),
    (
        "conn a\n  auto=sometimes\n",
        "/etc/ipsec.conf:2:8: auto: 'sometimes' is not one of: ignore, add, route, start (conn 'a')",
    ),
    (
        "conn a\n  leftsubnet 10.0.0.0/8\n",
        "/etc/ipsec.conf:2:3: leftsubnet: missing '=' (expected 'leftsubnet=VALUE')",
    ),
    (
        "conn a\n  also=b\nconn b\n  also=a\n",
        "/etc/ipsec.conf:4:8: also: also= cycle: a -> b -> a",
    ),
    (
        "conn a\n  also=missing\n",
        "/etc/ipsec.conf:2:8: also: no conn section named 'missing'",
    ),
    (
        "include /etc/nothere.conf\n",
        "/etc/ipsec.conf:1:1: include: cannot read /etc/nothere.conf: No such file or directory",
    ),
    (
        "include ipsec.d/loop.conf\n",
        "/etc/ipsec.d/loop.conf:1:1: include: include loop: /etc/ipsec.conf -> /etc/ipsec.d/loop.conf -> /etc/ipsec.d/loop.conf",
    ),
    (
        "conn a\n  ike=aes256-sha256-modp2049\n",
        "/etc/ipsec.conf:2:21: ike: unknown algorithm 'modp2049' (did you mean 'modp2048'?)",
    ),
    (
        "conn a\n  ike=aes256-sha256\n",
        "/etc/ipsec.conf:2:7: ike: 'aes256-sha256' has no key exchange (DH) group",
    ),
    (
        "conn a\n  esp=aes256\n",
        "/etc/ipsec.conf:2:7: esp: 'aes256' has no integrity algorithm",
    ),
    (
        "conn a\n  leftsubnet=10.0.0.0/33\n",
        "/etc/ipsec.conf:2:14: leftsubnet: '10.0.0.0/33': prefix length 33 exceeds 32",
    ),
    (
        "conn a\n  rightsubnet=10.0.0/8\n",
        "/etc/ipsec.conf:2:15: rightsubnet: '10.0.0/8' is not an IP address or subnet",
    ),
    (
        "conn a\n  leftid=\"C=CH, O=x\n",
        "/etc/ipsec.conf:2:10: leftid: unterminated quoted string",
    ),
    (
        "conn a\n  keyexchange=ikev1\n",
        "/etc/ipsec.conf:2:15: keyexchange: IKEv1 is not supported by iked",
    ),
    (
        "conn a\n  mark=0x11/0x10\n",
        "/etc/ipsec.conf:2:8: mark: mark value 0x11 has bits outside the mask 0x10",
    ),
    (
        "conn a\n  ikelifetime=1w\n",
        "/etc/ipsec.conf:2:15: ikelifetime: '1w' is not a time",
    ),
    (
        "conn a\n  left=10.0.0.300\n",
        "/etc/ipsec.conf:2:8: left: '10.0.0.300' is neither an IP address",
    ),
    (
        "conn a\n  leftprotoport=tpc/22\n",
        "/etc/ipsec.conf:2:17: leftprotoport: unknown protocol 'tpc' (did you mean 'tcp'?)",
    ),
    (
        "conn a\nleft=192.0.2.1\n",
        "/etc/ipsec.conf:2:1: left: settings must be indented",
    ),
    (
        "  left=192.0.2.1\n",
        "/etc/ipsec.conf:1:3: setting outside of any section",
    ),
    ("con a\n", "/etc/ipsec.conf:1:1: con: unknown line 'con a'"),
    (
        "conn a b\n",
        "/etc/ipsec.conf:1:1: conn: section names cannot contain spaces",
    ),
    (
        "config setup\n  charondebug=\"ike 1, knll 2\"\n",
        "/etc/ipsec.conf:2:15: charondebug: unknown subsystem 'knll' (did you mean 'knl'?)",
    ),
    (
        "config setup\n  uniqueid=no\n",
        "/etc/ipsec.conf:2:3: uniqueid: unknown keyword 'uniqueid' in config setup (did you mean 'uniqueids'?)",
    ),
    (
        "conn a\n  authby=xauthpsk\n",
        "/etc/ipsec.conf:2:10: authby: authby=xauthpsk is IKEv1 (XAUTH) only",
    ),
    (
        "conn a\n  leftauth=eap-foo\n",
        "/etc/ipsec.conf:2:12: leftauth: unknown EAP method 'eap-foo'",
    ),
    (
        "conn a\n  reqid=0\n",
        "/etc/ipsec.conf:2:9: reqid: '0' is not a reqid",
    ),
    (
        "conn a\n  auto=start\n",
        "/etc/ipsec.conf:2:8: auto: auto=start/route needs a concrete peer address",
    ),
    (
        "conn a\n  rightsubnet=10.1.0.0/16\n  type=passthrough\n  auto=route\n",
        "/etc/ipsec.conf:3:8: type: a type=passthrough conn needs leftsubnet= (or a concrete left=) for its policies (conn 'a')",
    ),
    (
        "conn a\n  leftrsasigkey=0s!!!\n",
        "/etc/ipsec.conf:2:17: leftrsasigkey: 0s key is not valid base64",
    ),
    (
        "conn a\n  rightgroups=staff\n",
        "/etc/ipsec.conf:2:3: rightgroups: group membership (attribute certificates, EAP-RADIUS Class) is not supported by iked",
    ),
    (
        "conn a\n  rightca=CN\n",
        "/etc/ipsec.conf:2:11: rightca: DN component 'CN' lacks '='",
    ),
    (
        "conn a\n  rightca=%same\n",
        "/etc/ipsec.conf:2:11: rightca: %same needs a leftca= distinguished name",
    ),
    (
        "conn a\n  rightauth=rsa-2048-sha257\n",
        "/etc/ipsec.conf:2:13: rightauth: 'rsa-2048-sha257': 'sha257' is not a key type",
    ),
];

#[test]
fn bad_inputs_name_file_line_and_keyword() {
    let mut table = String::from("| input | message |\n|---|---|\n");
    let mut failures = Vec::new();
    for (input, want) in CASES {
        let errs = errors(input);
        let first = errs.first().cloned().unwrap_or_default();
        table.push_str(&format!(
            "| `{}` | `{}` |\n",
            input.trim_end().replace('\n', "⏎"),
            first
        ));
        if !first.starts_with(want) {
            failures.push(format!(
                "input {input:?}\n  want: {want}\n  got:  {errs:#?}"
            ));
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_shunt_needs_no_peer_address() {
    let src = conf::MemSource::default().with(
        "/etc/ipsec.conf",
        "conn local-net\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.1.0.0/16\n  authby=never\n  type=passthrough\n  auto=route\n",
    );
    let cfg = conf::load_from(&src, Path::new("/etc/ipsec.conf"), None).unwrap();
    assert!(cfg.conn("local-net").unwrap().is_shunt());
}

#[test]
fn errors_are_collected_not_stop_at_first() {
    let errs = errors("conn a\n  auto=never\n  left=x..y\n  ike=foo\nconn b\n  type=tunel\n");
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(errs[3].contains("did you mean") || errs[3].contains("not one of"));
}

#[test]
fn inherited_error_names_the_also_chain() {
    let errs = errors(
        "conn base\n  auto=ignore\n  esp=aes999\nconn site\n  also=base\n  right=192.0.2.1\n",
    );
    assert!(
        errs.iter().any(
            |e| e.starts_with("/etc/ipsec.conf:3:7: esp: unknown algorithm 'aes999'")
                && e.contains("(conn 'base'); also affects conn 'site' (via also=base)")
        ),
        "{errs:#?}"
    );
}

#[test]
fn secrets_errors_name_file_and_line() {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", "conn a\n  right=192.0.2.1\n")
        .with("/etc/ipsec.secrets", "# c\n: PSK \"ok\"\n: PKS \"typo\"\n");
    let e = conf::load_from(
        &src,
        Path::new("/etc/ipsec.conf"),
        Some(Path::new("/etc/ipsec.secrets")),
    )
    .unwrap_err();
    let errs: Vec<String> = e.errors().map(|d| d.to_string()).collect();
    assert_eq!(
        errs,
        vec![
            "/etc/ipsec.secrets:3:3: PKS: unknown secret type 'PKS' (did you mean 'PSK'?) (expected one of PSK, RSA, ECDSA, BLISS, PKCS8, P12, EAP, NTLM, XAUTH, PIN)"
        ]
    );
    // The secret itself never appears in any message.
    assert!(!e.to_string().contains("typo\""));
}

#[test]
fn secrets_file_mode_is_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("iked-conf-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf_p = dir.join("ipsec.conf");
    let sec_p = dir.join("ipsec.secrets");
    std::fs::write(&conf_p, "conn a\n  right=192.0.2.1\n").unwrap();
    std::fs::write(&sec_p, ": PSK \"x\"\n").unwrap();
    std::fs::set_permissions(&sec_p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = conf::load(&conf_p, Some(&sec_p)).unwrap();
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.message.contains("readable by group or others (mode 644)"))
    );
    std::fs::set_permissions(&sec_p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = conf::load(&conf_p, Some(&sec_p)).unwrap();
    assert!(!cfg.warnings.iter().any(|w| w.message.contains("readable")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rightca_same_is_leftca_and_auth_constraints_are_typed() {
    use conf::conn::{AuthMethod, PubkeyConstraint as C, PubkeyKind, SigHash};
    let src = conf::MemSource::default().with(
        "/etc/ipsec.conf",
        "conn a\n  leftca=\"C=CH, O=strongSwan Project, CN=strongSwan Root CA\"\n  rightca=%same\n  rightauth=rsa-2048-sha256-ecdsa-384\n  right=192.0.2.2\n",
    );
    let cfg = conf::load_from(&src, Path::new("/etc/ipsec.conf"), None).unwrap();
    let c = &cfg.conns[0];
    assert_eq!(
        c.right.ca.as_deref(),
        Some("C=CH, O=strongSwan Project, CN=strongSwan Root CA")
    );
    assert_eq!(c.right.ca, c.left.ca);
    assert_eq!(
        c.right.auth,
        AuthMethod::Pubkey {
            kind: PubkeyKind::Rsa,
            constraints: vec![
                C::MinBits(2048),
                C::Hash(SigHash::Sha256),
                C::Kind(PubkeyKind::Ecdsa),
                C::MinBits(384)
            ],
        }
    );
}

#[test]
fn leftfirewall_with_a_leftupdown_script_is_reported() {
    let text = "conn a\n  right=192.0.2.1\n  leftfirewall=yes\n  leftupdown=/etc/ipsec.d/up.sh\nconn b\n  right=192.0.2.2\n  leftfirewall=yes\n";
    let src = conf::MemSource::default().with("/etc/ipsec.conf", text);
    let cfg = conf::load_from(&src, Path::new("/etc/ipsec.conf"), None).unwrap();
    let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w.iter()
            .filter(|w| w.contains("leftfirewall=yes has no effect"))
            .count(),
        1,
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.starts_with("/etc/ipsec.conf:3:")),
        "{w:?}"
    );
    assert!(cfg.conn("b").unwrap().left.firewall);
}
