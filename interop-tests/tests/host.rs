//! Host-only lab scenarios: real strongSwan daemons in network namespaces on
//! this machine's kernel (ESP in userspace through kernel-libipsec), and the
//! negative scenarios proving that a broken tunnel fails the check.
//!
//! They need root and the peers (`interop-tests/lab/setup-peers.sh`, which
//! `scripts/test-all.sh` runs first). Under `CI` (or `IKED_LAB_REQUIRE=1`) a
//! lab that cannot start FAILS with the reason; elsewhere it is skipped with
//! a loud message on stderr.

use std::path::PathBuf;

use interop_tests::scenario;

fn lab_unavailable() -> Option<String> {
    if !interop_tests::is_root() {
        return Some("not root (namespaces and XFRM need it)".into());
    }
    for p in [
        "/usr/sbin/charon-systemd",
        "/usr/sbin/swanctl",
        "/usr/sbin/ipsec",
        "/usr/bin/nsenter",
        "/usr/bin/ping",
        "/usr/bin/tcpdump",
    ] {
        if !std::path::Path::new(p).exists() {
            return Some(format!("{p} missing: run interop-tests/lab/setup-peers.sh"));
        }
    }
    None
}

fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
        || std::env::var_os("IKED_LAB_REQUIRE").is_some()
}

fn run(name: &str) {
    if let Some(why) = lab_unavailable() {
        if required() {
            panic!("lab scenario {name} cannot run: {why}");
        }
        eprintln!(
            "SKIPPED lab scenario {name}: {why} (set CI=true or IKED_LAB_REQUIRE=1 to make this a failure)"
        );
        return;
    }
    let root = PathBuf::from(format!("/tmp/iked-lab-test.{}", std::process::id()));
    let s = scenario::find(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let o = s.run(&root);
    eprintln!("{}", o.line());
    if o.pass {
        let _ = std::fs::remove_dir_all(&o.dir);
        let _ = std::fs::remove_dir(&root);
    } else {
        let report = std::fs::read_to_string(o.dir.join("report.txt")).unwrap_or_default();
        panic!("{}\n--- report ({}):\n{report}", o.line(), o.dir.display());
    }
}

#[test]
fn host_libipsec_gcm() {
    run("host-libipsec-gcm");
}

#[test]
fn host_libipsec_cbc() {
    run("host-libipsec-cbc");
}

#[test]
fn host_starter_libipsec() {
    run("host-starter-libipsec");
}

#[test]
fn host_neg_wrong_psk() {
    run("host-neg-wrong-psk");
}

#[test]
fn host_neg_cleartext() {
    run("host-neg-cleartext");
}

#[test]
fn every_host_scenario_has_a_test() {
    let here = include_str!("host.rs");
    for n in scenario::names(scenario::Place::Host) {
        if n == "host-iked-check-config" {
            continue; // needs the iked binary: tests/iked.rs
        }
        assert!(
            here.contains(&format!("run(\"{n}\")")),
            "host scenario {n} has no #[test] in tests/host.rs"
        );
    }
}
