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
        let names: Vec<String> = match std::env::var("LAB_SCENARIOS") {
            Ok(s) if !s.trim().is_empty() => s.split_whitespace().map(String::from).collect(),
            _ => scenario::names(Place::Guest)
                .into_iter()
                .map(String::from)
                .collect(),
        };
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
        let report = std::fs::read_to_string(o.dir.join("report.txt")).unwrap_or_default();
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
}
