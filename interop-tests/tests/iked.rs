//! The iked peer slot: today iked has `--check-config` only. The lab's
//! ipsec.conf (the one strongSwan runs from in the starter scenarios and the
//! demo) must be accepted by it, so that the same file can later drive iked.
//!
//! Needs the iked binary (`cargo test --workspace` builds it, since the ike
//! crate has integration tests; or `cargo build -p ike --bin iked`, or
//! `IKED_BIN`). Under `CI` a missing binary is a failure.

use interop_tests::peer::Iked;
use interop_tests::scenario;

#[test]
fn iked_accepts_the_lab_ipsec_conf() {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
        || std::env::var_os("IKED_LAB_REQUIRE").is_some();
    if let Err(e) = Iked::binary() {
        assert!(!ci, "{e}");
        eprintln!("SKIPPED: {e}");
        return;
    }
    if !interop_tests::is_root() {
        assert!(!ci, "the lab needs root");
        eprintln!("SKIPPED: not root");
        return;
    }
    let root = std::path::PathBuf::from(format!("/tmp/iked-lab-test-iked.{}", std::process::id()));
    let o = scenario::find("host-iked-check-config")
        .expect("scenario")
        .run(&root);
    eprintln!("{}", o.line());
    let _ = std::fs::remove_dir_all(&root);
    assert!(o.pass, "{}", o.line());
    assert!(o.detail.contains("configuration OK"), "{}", o.detail);
}
