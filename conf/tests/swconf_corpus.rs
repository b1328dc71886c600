//! Parses every strongswan.conf of strongSwan's own test suite (read from
//! ../shared/corpus at test time, never copied into the repository), with the
//! PH_IP* placeholders substituted as strongSwan's suite does.

mod common;

use common::{corpus_or_skip, find, placeholders, substitute};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The file system with placeholders substituted on read. strongSwan's
/// harness puts a host's strongswan.conf beside the suite's
/// strongswan.conf.testing (which includes it): here moon's default stands in.
struct Substituting(HashMap<String, String>, PathBuf);

impl conf::Source for Substituting {
    fn read(&self, path: &Path) -> Result<String, String> {
        let stand_in = path.ends_with("hosts/default/etc/strongswan.conf");
        let path = if stand_in { self.1.as_path() } else { path };
        conf::FileSystem.read(path).map(|t| substitute(&t, &self.0))
    }
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String> {
        conf::FileSystem.glob(pattern)
    }
}

fn source(root: &Path) -> Substituting {
    Substituting(
        placeholders(root),
        root.join("hosts/moon/etc/strongswan.conf"),
    )
}

#[test]
fn every_strongswan_conf_parses() {
    let Some(root) = corpus_or_skip("every_strongswan_conf_parses") else {
        return;
    };
    let src = source(&root);
    let mut files = Vec::new();
    find(&root, "strongswan.conf", &mut files);
    // /etc/ld.so.conf.d/strongswan.conf is the dynamic linker's, not strongSwan's.
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "ld.so.conf.d"));
    find(&root, "strongswan.conf.testing", &mut files);
    assert!(
        files.len() > 500,
        "only {} strongswan.conf files found",
        files.len()
    );
    let mut warnings = 0;
    let mut failures = Vec::new();
    for f in &files {
        let (_, diags) = conf::swconf::load_from(&src, f);
        warnings += diags.iter().filter(|d| !d.is_error()).count();
        if std::env::var_os("SWCONF_SHOW").is_some() {
            for d in &diags {
                eprintln!("{d}");
            }
        }
        failures.extend(
            diags
                .iter()
                .filter(|d| d.is_error())
                .map(ToString::to_string),
        );
    }
    assert!(
        failures.is_empty(),
        "{} errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} strongswan.conf files parsed without errors ({warnings} warnings)",
        files.len()
    );
}

#[test]
fn corpus_settings_are_typed() {
    let Some(root) = corpus_or_skip("corpus_settings_are_typed") else {
        return;
    };
    let map = placeholders(&root);
    let src = source(&root);
    // The suite's defaults for every host: short retransmissions, syslog levels.
    let testing = root.join("hosts/default/etc/strongswan.conf.testing");
    let testing = if testing.is_file() {
        testing
    } else {
        let mut v = Vec::new();
        find(&root, "strongswan.conf.testing", &mut v);
        v.into_iter().next().expect("strongswan.conf.testing")
    };
    let (s, d) = conf::swconf::load_from(&src, &testing);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    let r = &s.charon.retransmit;
    assert_eq!((r.tries, r.timeout, r.base), (2, 1.0, 1.0));
    assert!(
        s.charon.loggers.iter().any(
            |l| l.target == conf::swconf::LogTarget::Syslog("auth".into()) && l.level("ike") == 0
        ),
        "{:?}",
        s.charon.loggers
    );

    // ikev2-stroke/config-payload: moon hands out two DNS servers.
    let moon = root.join("tests/ikev2-stroke/config-payload/hosts/moon/etc/strongswan.conf");
    let (s, d) = conf::swconf::load_from(&src, &moon);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    let want: Vec<IpAddr> = ["PH_IP_WINNETOU", "PH_IP_VENUS"]
        .iter()
        .map(|k| map[*k].parse().unwrap())
        .collect();
    assert_eq!(s.charon.dns, want);

    // route-based/net2net-vti: sun does not install routes.
    let sun = root.join("tests/route-based/net2net-vti/hosts/sun/etc/strongswan.conf");
    let (s, _) = conf::swconf::load_from(&src, &sun);
    assert!(!s.charon.install_routes);
}
