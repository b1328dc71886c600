//! A rekey asked for by a command (VICI `rekey`, `swanctl --rekey`):
//! `Endpoint::rekey_ike` / `rekey_child` take the rekey timer's path now,
//! with two cores in memory (`ike::testing::Pair`). Both ends agree on the
//! new SPIs afterwards; an SA that is not there, or already rekeying, is
//! refused with the reason.

use ike::sa::{IkeState, RekeyError};
use ike::testing::{A, B, Pair};
use std::time::Duration;

fn conf() -> String {
    // Rekeys far away: only the command rekeys here.
    format!(
        "conn net-net\n  left={A}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon\n  right={B}\n  rightsubnet=10.2.0.0/16\n  rightid=@sun\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    )
}
const PSK: &str = "@moon @sun : PSK \"rekey-command-secret\"\n";

fn up() -> (Pair, u32) {
    let mut p = Pair::same(&conf(), PSK);
    p.until = p.now;
    let ike = p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(p.a.status(p.now)[0].state, IkeState::Established);
    // (A peer refuses an IKE_SA rekey in the first 2 s: too soon.)
    p.now += Duration::from_secs(3);
    p.until = p.now;
    (p, ike)
}

#[test]
fn an_ike_sa_rekeyed_by_command_has_new_spis_on_both_ends() {
    let (mut p, ike) = up();
    let before = p.a.status(p.now);
    let child = before[0].children[0].clone();
    assert_eq!(
        p.a.rekey_ike(p.now, ike + 100),
        Err(RekeyError::NoSuchIke(ike + 100))
    );
    assert_eq!(p.a.rekey_ike(p.now, ike), Ok(()));
    // Asked again while the first is out: refused, not sent twice.
    assert_eq!(p.a.rekey_ike(p.now, ike), Err(RekeyError::InProgress));
    p.run_clean();
    let (a, b) = (p.a.status(p.now), p.b.status(p.now));
    assert_eq!((a.len(), b.len()), (1, 1), "the old IKE_SA is deleted");
    assert_ne!(a[0].ike_id, ike, "a new IKE_SA, with its own unique id");
    assert_ne!(
        (a[0].spi_i, a[0].spi_r),
        (before[0].spi_i, before[0].spi_r),
        "new IKE SPIs"
    );
    assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
    assert_eq!(a[0].state, IkeState::Established);
    // The CHILD_SA moved over, untouched.
    assert_eq!(a[0].children.len(), 1);
    assert_eq!(a[0].children[0].spi_in, child.spi_in);
}

#[test]
fn a_child_sa_rekeyed_by_command_has_new_spis_on_both_ends() {
    let (mut p, _) = up();
    let before = p.a.status(p.now)[0].children[0].clone();
    let installs = Pair::installs(&p.a_events).len();
    assert_eq!(
        p.a.rekey_child(p.now, before.child_id + 100),
        Err(RekeyError::NoSuchChild(before.child_id + 100))
    );
    assert_eq!(p.a.rekey_child(p.now, before.child_id), Ok(()));
    assert_eq!(
        p.a.rekey_child(p.now, before.child_id),
        Err(RekeyError::InProgress)
    );
    p.run_clean();
    assert_eq!(
        Pair::installs(&p.a_events).len(),
        installs + 1,
        "one new CHILD_SA installed"
    );
    let (a, b) = (p.a.status(p.now), p.b.status(p.now));
    assert_eq!(
        (a[0].children.len(), b[0].children.len()),
        (1, 1),
        "the old one is deleted"
    );
    let (ca, cb) = (&a[0].children[0], &b[0].children[0]);
    assert_ne!(ca.child_id, before.child_id);
    assert_ne!(
        (ca.spi_in, ca.spi_out),
        (before.spi_in, before.spi_out),
        "new ESP SPIs"
    );
    assert_eq!(
        (ca.spi_in, ca.spi_out),
        (cb.spi_out, cb.spi_in),
        "both ends agree"
    );
    // The responder can rekey it too (it is not only the initiator's).
    assert_eq!(p.b.rekey_child(p.now, cb.child_id), Ok(()));
    p.run_clean();
    let a = p.a.status(p.now);
    assert_eq!(a[0].children.len(), 1);
    assert_ne!(a[0].children[0].spi_in, ca.spi_in);
}
