//! A road warrior against an iked gateway, both iked in network namespaces
//! this test creates, seen through Debian's `swanctl`: the gateway's pool
//! lease (`--list-pools --leases`) and the NAT flags of `list-sas` (the
//! client fakes a NAT with `forceencaps=yes`: it shows `nat-fake`, the
//! gateway `nat-remote`). The host kernel has no ESP: the IKE_SA comes up,
//! the gateway's kernel refuses the CHILD_SA, and the gateway gives the
//! address back at once (the lease stays carol's, offline; online leases
//! are the unit tests' and the guest's).
//!
//! Needs `swanctl` and root; missing either skips with a message, and fails
//! under `CI`.

use std::time::{Duration, Instant};

mod vici_lab;

use vici_lab::*;

const GW: &str = "conn rw\n  left=192.0.2.2\n  leftsubnet=198.51.100.0/24\n  leftid=@gw\n  right=%any\n  rightid=@carol\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n";
const CLIENT: &str = "conn home\n  left=192.0.2.1\n  leftsourceip=%config\n  leftid=@carol\n  right=192.0.2.2\n  rightsubnet=198.51.100.0/24\n  rightid=@gw\n  forceencaps=yes\n  authby=psk\n  auto=add\n";

/// Polls `f` (at most 10 s) until it holds.
fn until(mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_road_warriors_lease_and_nat_flags() {
    if !have_swanctl() {
        return;
    }
    if !is_root() {
        assert!(!ci(), "network namespaces need root");
        eprintln!("SKIPPED: not root");
        return;
    }
    let ns = Netns::new("rw");
    let secrets = "@gw @carol : PSK \"vici-rw-secret-4711\"\n";
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let gw = Iked::start(
        tmp.join(format!("iked-vici-gw-{pid}")),
        Some(&ns.names[1]),
        GW,
        secrets,
        (500, 4500),
    );
    let client = Iked::start(
        tmp.join(format!("iked-vici-carol-{pid}")),
        Some(&ns.names[0]),
        CLIENT,
        secrets,
        (500, 4500),
    );
    let o = client.swanctl(&["--initiate", "--child", "home", "--timeout", "20"]);
    assert!(o.status.success(), "{}\n{}", text(&o), client.log());

    let pools = text(&gw.swanctl(&["--list-pools", "--leases"]));
    let raw = text(&gw.swanctl(&["--list-pools", "--leases", "--raw"]));
    eprintln!("gateway: swanctl --list-pools --leases:\n{pools}{raw}");
    assert_eq!(
        raw,
        "get-pools reply {10.3.0.0/28 {base=10.3.0.0 size=14 online=0 offline=1 leases {0 {address=10.3.0.1 identity=carol status=offline}}}}\n"
    );
    assert!(
        gw.log()
            .contains("virtual IP 10.3.0.1 of pool 10.3.0.0/28 released")
    );
    let sas = text(&client.swanctl(&["--list-sas", "--raw"]));
    eprintln!("client: swanctl --list-sas --raw:\n{sas}");
    assert!(sas.contains(" nat-fake=yes nat-any=yes "), "{sas}");
    assert!(
        !sas.contains("nat-local") && !sas.contains("nat-remote"),
        "{sas}"
    );
    let gsas = text(&gw.swanctl(&["--list-sas", "--raw"]));
    eprintln!("gateway: swanctl --list-sas --raw:\n{gsas}");
    assert!(gsas.contains(" nat-remote=yes nat-any=yes "), "{gsas}");
    assert!(
        !gsas.contains("nat-fake") && !gsas.contains("nat-local"),
        "{gsas}"
    );
    assert!(gsas.contains("remote-port=4500"), "encapsulated: {gsas}");

    let o = client.swanctl(&["--terminate", "--ike", "home", "--timeout", "20"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(until(|| text(&gw.swanctl(&["--list-sas"])).is_empty()));
    // Asked for by name, without leases.
    let raw = text(&gw.swanctl(&["--list-pools", "--name", "10.3.0.0/28", "--raw"]));
    assert_eq!(
        raw,
        "get-pools reply {10.3.0.0/28 {base=10.3.0.0 size=14 online=0 offline=1}}\n"
    );
    drop(client);
    drop(gw);
    drop(ns);
}
