//! packaging/systemd/iked.service: systemd accepts it (every directive known,
//! the commands it runs exist once the binaries are where the unit says), and
//! it keeps the contract the daemon implements (Type=notify, reload through
//! `ipsec reload`, the strongSwan aliases).

use std::path::Path;
use std::process::Command;

fn unit() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd/iked.service");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn values<'u>(unit: &'u str, key: &str) -> Vec<&'u str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn unit_keeps_the_daemons_contract() {
    let u = unit();
    assert_eq!(values(&u, "Type"), ["notify"]);
    assert_eq!(values(&u, "ExecStart"), ["/usr/sbin/iked"]);
    assert_eq!(values(&u, "ExecReload"), ["/usr/sbin/ipsec reload"]);
    let aliases: Vec<&str> = values(&u, "Alias")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .collect();
    assert!(
        aliases.contains(&"strongswan-starter.service") && aliases.contains(&"ipsec.service"),
        "{aliases:?}"
    );
    assert_eq!(values(&u, "Conflicts"), ["strongswan.service"]);
    let caps: Vec<&str> = values(&u, "CapabilityBoundingSet")
        .iter()
        .flat_map(|c| c.split_whitespace())
        .collect();
    assert_eq!(
        caps,
        ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
    );
    for k in [
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
    ] {
        assert!(!values(&u, k).is_empty(), "{k} missing");
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let ok = Command::new("systemd-analyze").arg("--version").output();
    if !ok.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED systemd_analyze_verify_accepts_the_unit: systemd-analyze not installed");
        return;
    }
    // The unit as installed, pointing at the binaries cargo built.
    let dir = std::env::temp_dir().join(format!("iked-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = unit()
        .replace("/usr/sbin/iked", env!("CARGO_BIN_EXE_iked"))
        .replace("/usr/sbin/ipsec", env!("CARGO_BIN_EXE_ipsec"));
    let p = dir.join("iked.service");
    std::fs::write(&p, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&p)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Unknown or misplaced directives are only warned about: none allowed.
    assert!(err.trim().is_empty(), "{err}");
}
