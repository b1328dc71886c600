//! Policies with the same selectors installed by several owners: the
//! kernel holds the newest, and when it goes the previous owner's policy is
//! put back (never left pointing at a gone owner, never deleted under an
//! owner that still needs it). Shown with the real kernel in a network
//! namespace this test creates: an `auto=route` trap and a `type=drop`
//! shunt on the same selectors (policies only: the host kernel has no ESP).
//!
//! The test re-runs itself inside the namespace (`ip netns exec`). Needs
//! root; without it the test is skipped (and fails under `CI`).

mod netns;

use ike::daemon::kernel::{Kernel, shunt_policies, trap_policies};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const INNER: &str = "IKED_POLICY_OWNERS_INNER";

fn config() -> Arc<conf::Config> {
    let text = "conn routed\n  left=192.0.2.1\n  leftsubnet=10.1.0.0/16\n  right=192.0.2.2\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  auto=route\n\
                conn blocked\n  left=192.0.2.1\n  leftsubnet=10.1.0.0/16\n  right=192.0.2.2\n  rightsubnet=10.2.0.0/16\n  type=drop\n  auto=route\n";
    let src = conf::MemSource::default().with("/etc/ipsec.conf", text);
    Arc::new(conf::load_from(&src, Path::new("/etc/ipsec.conf"), None).unwrap())
}

fn policies() -> String {
    let o = Command::new("ip")
        .args(["xfrm", "policy", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `dir out` policy block of 10.1.0.0/16 -> 10.2.0.0/16.
fn out_policy(all: &str) -> String {
    let mut blocks = all.split("\nsrc ");
    blocks
        .find(|b| {
            let b = b.trim_start_matches("src ");
            b.starts_with("10.1.0.0/16 dst 10.2.0.0/16") && b.contains("dir out")
        })
        .map(str::to_owned)
        .unwrap_or_default()
}

fn inner() {
    let cfg = config();
    let addrs: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
    let routed = cfg.conn("routed").unwrap();
    let blocked = cfg.conn("blocked").unwrap();
    let traps = trap_policies(routed, &addrs, Some(7)).unwrap();
    let shunts = shunt_policies(blocked, &addrs).unwrap();
    let mut k = Kernel::open();
    assert!(k.install_trap("routed", &traps).unwrap() > 0);
    let p = out_policy(&policies());
    assert!(p.contains("tmpl"), "the trap: {p}");
    assert!(!p.contains("action block"), "{p}");
    // The shunt on the same selectors takes the policy over...
    assert!(k.install_shunt("blocked", &shunts).unwrap() > 0);
    let p = out_policy(&policies());
    assert!(
        p.contains("action block") && !p.contains("tmpl"),
        "the shunt: {p}"
    );
    // ...and when it goes, the trap is back (not deleted, not left blocking),
    // as it was: read from the kernel before the shunt replaced it (iked keeps
    // no copy of the policy the kernel holds)
    assert!(k.remove_shunts(Some("blocked")) > 0);
    let p = out_policy(&policies());
    assert!(
        p.contains("tmpl") && !p.contains("action block"),
        "the trap again: {p}"
    );
    assert!(
        p.contains("tmpl src 192.0.2.1 dst 192.0.2.2")
            && p.contains("reqid 7")
            && p.contains("mode tunnel"),
        "the trap's own template: {p}"
    );
    // A third owner on top of the two, leaving in the middle: the bottom
    // one's policy stays kept, the top one's stays in the kernel.
    k.install_shunt("blocked", &shunts).unwrap();
    assert!(out_policy(&policies()).contains("action block"));
    k.remove_traps(Some("routed"));
    k.install_trap("routed", &traps).unwrap();
    k.remove_traps(Some("routed"));
    let p = out_policy(&policies());
    assert!(p.contains("action block"), "the shunt is back: {p}");
    k.remove_shunts(None);
    assert!(out_policy(&policies()).is_empty(), "{}", policies());
    // The other order: the older owner leaves first, the newer's stays.
    k.install_shunt("blocked", &shunts).unwrap();
    k.remove_traps(Some("routed"));
    let p = out_policy(&policies());
    assert!(p.contains("action block"), "the shunt stays: {p}");
    k.remove_shunts(None);
    assert!(out_policy(&policies()).is_empty(), "{}", policies());
}

#[test]
fn a_policy_goes_back_to_its_previous_owner() {
    netns::run_inside(INNER, "a_policy_goes_back_to_its_previous_owner", inner);
}
