//! A CHILD_SA install with the real kernel, in a network namespace this test
//! creates: whether the kernel takes it (a kernel with ESP: both SAs and the
//! three policies) or refuses it (this host's kernel has no ESP), what the
//! install leaves behind is exactly what its record says, and once the
//! CHILD_SA (or, after a refusal, its SPI) is released nothing of it is left:
//! not its SAs, not its policies, not the larval SA of the SPI.
//!
//! The test re-runs itself inside the namespace (`ip netns exec`). Needs
//! root; without it the test is skipped (and fails under `CI`).

mod netns;

use ike::crypto::{Encr, SecretBytes};
use ike::daemon::kernel::Kernel;
use ike::sa::{ChildSaInstall, EspKeys, Mode, Selector, SpiAllocator};
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

const INNER: &str = "IKED_KERNEL_INSTALL_INNER";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn count(what: &str) -> usize {
    let o = Command::new("ip")
        .args(["xfrm", what, "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("src "))
        .count()
}

fn child(spi_in: u32) -> ChildSaInstall {
    let keys = |n: u8| EspKeys {
        encr: SecretBytes::new(vec![n; 20]),
        integ: SecretBytes::new(Vec::new()),
    };
    let sel = |a: &str, b: &str| Selector {
        start: ip(a),
        end: ip(b),
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    };
    ChildSaInstall {
        conn: "rw".into(),
        ike_id: 1,
        child_id: 1,
        reqid: 7,
        mode: Mode::Tunnel,
        local: ip("192.0.2.1"),
        remote: ip("192.0.2.2"),
        encap: None,
        spi_in,
        spi_out: 0xc100_0002,
        encr: Encr::AesGcm {
            key_bits: 128,
            icv_len: 16,
        },
        integ: None,
        esn: false,
        keys_in: keys(1),
        keys_out: keys(3),
        ts_local: vec![sel("198.51.100.0", "198.51.100.255")],
        ts_remote: vec![sel("203.0.113.7", "203.0.113.7")],
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        soft_lifetime: Duration::from_secs(3000),
        hard_lifetime: Duration::from_secs(3600),
        replay_window: 32,
        install_policy: true,
        updown: None,
        my_sourceips: Vec::new(),
        peer_sourceips: Vec::new(),
        host_access: false,
        firewall: false,
        replaces: None,
        defer_outbound: false,
    }
}

fn inner() {
    let (mut k, mut spis) = Kernel::open_pair();
    let spi = spis
        .alloc_spi(ip("192.0.2.1"), ip("192.0.2.2"))
        .expect("ALLOCSPI");
    assert_eq!(count("state"), 1, "the SPI's larval SA");
    let c = child(spi);
    match k.install(&c) {
        Ok(()) => {
            eprintln!("the kernel took the CHILD_SA");
            assert_eq!(
                count("state"),
                2,
                "the larval SA completed, the outbound one added"
            );
            assert_eq!(count("policy"), 3, "in, out, fwd");
            let rec = k.installed(1).expect("recorded");
            assert!(rec.sa_in.is_some() && rec.sa_out.is_some());
            assert_eq!(rec.policies.len(), 3);
            assert!(k.remove(1));
        }
        Err(e) => {
            eprintln!("the kernel refused the CHILD_SA: {e}");
            assert!(e.contains(&format!("{spi:08x}")), "names the SPI: {e}");
            assert!(k.installed(1).is_none(), "nothing recorded");
            assert_eq!(count("policy"), 0, "no policy for a refused SA");
            assert_eq!(count("state"), 1, "only the larval SA, until its SPI goes");
            // the negotiation gives the SPI back: its larval SA goes
            assert!(
                k.release_spi(ip("192.0.2.1"), spi),
                "the larval SA was still ours"
            );
        }
    }
    assert_eq!(count("state"), 0, "no SA left");
    assert_eq!(count("policy"), 0, "no policy left");
}

#[test]
fn an_install_leaves_what_it_recorded_and_nothing_once_released() {
    netns::run_inside(
        INNER,
        "an_install_leaves_what_it_recorded_and_nothing_once_released",
        inner,
    );
}
