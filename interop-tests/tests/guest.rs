//! Guest scenarios: one QEMU boot of Debian's kernel (virtme-ng, TCG) runs
//! every guest scenario; each `#[test]` below reports one scenario's result
//! from that shared boot. Ignored by default (a boot costs minutes of both
//! cores): `scripts/test-all.sh` runs them with `--ignored`, or by hand:
//!
//! ```sh
//! cargo test -p interop-tests --test guest -- --ignored --test-threads=8
//! LAB_SCENARIOS="gcm vti" cargo test -p interop-tests --test guest -- --ignored gcm vti
//! ```
//!
//! Needs `interop-tests/lab/setup.sh` (QEMU, kernel, virtme-ng) and
//! `interop-tests/lab/setup-peers.sh` (strongSwan, libreswan). A boot failure
//! or timeout fails every test here, with the console's tail.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use interop_tests::guest::{GuestReport, GuestRun};
use interop_tests::scenario::{self, Place};

static RUN: OnceLock<Result<GuestReport, String>> = OnceLock::new();

fn guest() -> &'static Result<GuestReport, String> {
    RUN.get_or_init(|| {
        let names = interop_tests::guest::default_names();
        let mut g = GuestRun::new(names, PathBuf::from(env!("CARGO_BIN_EXE_interop-lab")));
        if let Some(out) = std::env::var_os("LAB_OUT") {
            g.out = PathBuf::from(out);
        }
        if let Some(t) = std::env::var("LAB_TIMEOUT")
            .ok()
            .and_then(|t| t.parse().ok())
        {
            g.timeout = Duration::from_secs(t);
        }
        let r = g.run().map_err(|e| e.to_string());
        match &r {
            Ok(rep) => {
                eprintln!(
                    "guest: kernel {}, boot to first command {}, whole run {:.1}s, results in {}",
                    rep.kernel,
                    rep.boot_secs
                        .map(|b| format!("{b:.1}s"))
                        .unwrap_or_else(|| "?".into()),
                    rep.total_secs,
                    rep.out.display()
                );
                for o in &rep.outcomes {
                    eprintln!("{}", o.line());
                }
            }
            Err(e) => eprintln!("guest run failed: {e}"),
        }
        r
    })
}

fn check(name: &str) {
    let rep = match guest() {
        Ok(r) => r,
        Err(e) => panic!("guest run failed: {e}"),
    };
    let Some(o) = rep.outcomes.iter().find(|o| o.name == name) else {
        eprintln!("scenario {name} not selected (LAB_SCENARIOS)");
        return;
    };
    if !o.pass {
        // a conformance pass keeps its failing checks in failures.txt
        let report = std::fs::read_to_string(o.dir.join("report.txt"))
            .or_else(|_| std::fs::read_to_string(o.dir.join("failures.txt")))
            .unwrap_or_default();
        panic!("{}\n--- report ({}):\n{report}", o.line(), o.dir.display());
    }
}

macro_rules! guest_tests {
    ($($f:ident => $n:literal),* $(,)?) => {
        $(
            #[test]
            #[ignore = "boots a QEMU guest: run with --ignored (scripts/test-all.sh does)"]
            fn $f() {
                check($n);
            }
        )*
        #[test]
        fn every_guest_scenario_has_a_test() {
            let listed = [$($n),*];
            for n in scenario::names(Place::Guest) {
                assert!(listed.contains(&n), "guest scenario {n} has no #[test] in tests/guest.rs");
            }
        }
    };
}

/// The conformance CI subset (`interop_tests::conformance::CI`: strongSwan's
/// own scenarios that iked passes), run in the same boot; each must pass.
#[test]
#[ignore = "boots a QEMU guest: run with --ignored (scripts/test-all.sh does)"]
fn conformance_subset() {
    let names = interop_tests::conformance::ci_names();
    if names.is_empty() {
        eprintln!("conformance: no pass in the CI subset (interop_tests::conformance::CI)");
    }
    for n in &names {
        check(n);
    }
}

guest_tests! {
    gcm => "gcm",
    cbc => "cbc",
    vti => "vti",
    xfrmi => "xfrmi",
    ipv6 => "ipv6",
    libreswan => "libreswan",
    starter => "starter",
    iked_swanctl => "iked-swanctl",
    iked_starter => "iked-starter",
    iked_responder_cbc => "iked-responder-cbc",
    iked_libreswan => "iked-libreswan",
    libreswan_iked => "libreswan-iked",
    neg_no_sa => "neg-no-sa",
    // iked's daemon lab (src/daemon_lab), under the names of the shell lab it replaced
    swan_init => "swan-init",
    swan_resp => "swan-resp",
    starter_init => "starter-init",
    starter_resp => "starter-resp",
    install_gcm => "install-gcm",
    install_cbc => "install-cbc",
    install_chacha => "install-chacha",
    install_encap => "install-encap",
    install_transport => "install-transport",
    iked_gcm => "iked-gcm",
    iked_firewall => "iked-firewall",
    iked_vip_client => "iked-vip-client",
    iked_mobike => "iked-mobike",
    iked_mobike_client => "iked-mobike-client",
    iked_mobike_failover => "iked-mobike-failover",
    iked_eap_client => "iked-eap-client",
    iked_dpd => "iked-dpd",
    iked_cbc => "iked-cbc",
    iked_rekey => "iked-rekey",
    iked_flood => "iked-flood",
    iked_crash => "iked-crash",
    iked_transport_ike => "iked-transport-ike",
    iked_rekey_resp => "iked-rekey-resp",
    iked_vici => "iked-vici",
    iked_badpsk => "iked-badpsk",
    iked_route => "iked-route",
    iked_shunt => "iked-shunt",
    iked_route6 => "iked-route6",
    iked_route6_resp => "iked-route6-resp",
    iked_natt => "iked-natt",
    iked_encaps => "iked-encaps",
    iked_encaps_resp => "iked-encaps-resp",
    iked_nat => "iked-nat",
    iked_nat_resp => "iked-nat-resp",
    iked_v6 => "iked-v6",
    iked_v4in6 => "iked-4in6",
    iked_v6in4 => "iked-6in4",
    iked_vti => "iked-vti",
    iked_vti_resp => "iked-vti-resp",
    iked_vti6 => "iked-vti6",
    iked_vti6_resp => "iked-vti6-resp",
    iked_xfrmi => "iked-xfrmi",
    iked_xfrmi_swan => "iked-xfrmi-swan",
    iked_xfrmi_swan_resp => "iked-xfrmi-swan-resp",
    iked_gre => "iked-gre",
    iked_gre_resp => "iked-gre-resp",
    rw_peruser => "rw-peruser",
    rw_windows => "rw-windows",
    rw_android => "rw-android",
    rw_ios => "rw-ios",
    rw_two_users => "rw-two-users",
    iked_defaultroute => "iked-defaultroute",
    deb_systemd => "deb-systemd",
}
