//! `config setup` and `ca` sections.

use crate::diag::{Diagnostic, Diags, Location};
use crate::resolve::Settings;
use crate::syntax::Entry;
use crate::values::parse_bool;

/// strongSwan's logging subsystems (charondebug / strongswan.conf).
pub const SUBSYSTEMS: &[&str] = &[
    "dmn", "mgr", "ike", "chd", "job", "cfg", "knl", "net", "asn", "enc", "tnc", "imc", "imv",
    "pts", "tls", "esp", "lib", "app", "any",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueIds {
    Yes,
    No,
    Never,
    Replace,
    Keep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlPolicy {
    No,
    Yes,
    IfUri,
}

/// `config setup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Subsystem -> level (-1 .. 4); subsystems not listed use level 1 (strongSwan's default).
    pub charondebug: Vec<(String, i8)>,
    pub uniqueids: UniqueIds,
    pub strictcrlpolicy: CrlPolicy,
    pub cachecrls: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            charondebug: Vec::new(),
            uniqueids: UniqueIds::Yes,
            strictcrlpolicy: CrlPolicy::No,
            cachecrls: false,
        }
    }
}

impl Setup {
    /// The level of a subsystem (explicit, else `any`, else 1).
    pub fn level(&self, subsystem: &str) -> i8 {
        let find = |n: &str| {
            self.charondebug
                .iter()
                .rev()
                .find(|(s, _)| s == n)
                .map(|(_, l)| *l)
        };
        find(subsystem).or_else(|| find("any")).unwrap_or(1)
    }
}

/// `charondebug="ike 1, knl 1, cfg 1"` (also `ike 2 knl 3` without commas).
pub fn parse_charondebug(v: &str) -> Result<Vec<(String, i8)>, String> {
    let mut out = Vec::new();
    let words: Vec<&str> = v
        .split([',', ' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect();
    let mut it = words.chunks(2);
    for pair in it.by_ref() {
        let [sub, lvl] = pair else {
            return Err(format!(
                "'{}' has no level (expected e.g. \"ike 2, knl 1\")",
                pair.first().unwrap_or(&"")
            ));
        };
        let sub = sub.to_ascii_lowercase();
        if !SUBSYSTEMS.contains(&sub.as_str()) {
            return Err(format!(
                "unknown subsystem '{sub}'{} (known: {})",
                crate::util::did_you_mean(&sub, SUBSYSTEMS.iter().copied()),
                SUBSYSTEMS.join(", ")
            ));
        }
        let l: i8 = lvl
            .parse()
            .ok()
            .filter(|l| (-1..=4).contains(l))
            .ok_or_else(|| format!("level '{lvl}' of '{sub}' is not one of -1, 0, 1, 2, 3, 4"))?;
        out.push((sub, l));
    }
    Ok(out)
}

const SETUP_OBSOLETE: &[&str] = &[
    "plutodebug",
    "plutostart",
    "charonstart",
    "nat_traversal",
    "keep_alive",
    "virtual_private",
    "crlcheckinterval",
    "nocrsend",
    "pkcs11module",
    "pkcs11keepstate",
    "pkcs11initargs",
    "pkcs11proxy",
    "interfaces",
    "plutostderrlog",
    "hashsize",
    "listen",
    "force_keepalive",
    "prepluto",
    "postpluto",
    "dumpdir",
    "fragicmp",
    "hidetos",
    "uniqueids_ikev1",
    "klipsdebug",
    "overridemtu",
    "packetdefault",
    "protostack",
    "ocspuri",
    "ocsp",
    "pkcs11",
];

fn err(diags: &mut Diags, e: &Entry, msg: impl Into<String>) {
    diags
        .list
        .push(Diagnostic::error(e.value_loc.clone(), Some(&e.key), msg));
}

pub fn build_setup(entries: &[Entry], diags: &mut Diags) -> Setup {
    let mut s = Setup::default();
    for e in entries {
        let v = e.value.as_str();
        match e.key.as_str() {
            "charondebug" => match parse_charondebug(v) {
                Ok(l) => s.charondebug = l,
                Err(m) => err(diags, e, m),
            },
            "uniqueids" => match v.to_ascii_lowercase().as_str() {
                "yes" => s.uniqueids = UniqueIds::Yes,
                "no" => s.uniqueids = UniqueIds::No,
                "never" => s.uniqueids = UniqueIds::Never,
                "replace" => s.uniqueids = UniqueIds::Replace,
                "keep" => s.uniqueids = UniqueIds::Keep,
                _ => err(
                    diags,
                    e,
                    format!("'{v}' is not one of: yes, no, never, replace, keep"),
                ),
            },
            "strictcrlpolicy" => match v.to_ascii_lowercase().as_str() {
                "yes" => s.strictcrlpolicy = CrlPolicy::Yes,
                "no" => s.strictcrlpolicy = CrlPolicy::No,
                "ifuri" => s.strictcrlpolicy = CrlPolicy::IfUri,
                _ => err(diags, e, format!("'{v}' is not one of: yes, no, ifuri")),
            },
            "cachecrls" => match parse_bool(v) {
                Ok(b) => s.cachecrls = b,
                Err(m) => err(diags, e, m),
            },
            k if SETUP_OBSOLETE.contains(&k) => {
                diags.warn(e.key_loc.clone(), Some(k), "ignored: a pluto/IKEv1 or obsolete setting with no meaning for an IKEv2 daemon");
            }
            k => {
                let known = ["charondebug", "uniqueids", "strictcrlpolicy", "cachecrls"];
                diags.err(
                    e.key_loc.clone(),
                    Some(k),
                    format!(
                        "unknown keyword '{k}' in config setup{}",
                        crate::util::did_you_mean(k, known)
                    ),
                );
            }
        }
    }
    s
}

/// A `ca` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaSection {
    pub name: String,
    pub location: Location,
    pub cacert: Option<String>,
    pub crluri: Vec<String>,
    pub ocspuri: Vec<String>,
    pub certuribase: Option<String>,
    pub auto_add: bool,
}

pub fn build_ca(
    name: &str,
    location: Location,
    settings: &Settings,
    diags: &mut Diags,
) -> CaSection {
    let mut ca = CaSection {
        name: name.to_owned(),
        location,
        cacert: None,
        crluri: Vec::new(),
        ocspuri: Vec::new(),
        certuribase: None,
        auto_add: false,
    };
    for (k, s) in settings {
        let e = &s.entry;
        let v = e.value.clone();
        match k.as_str() {
            "cacert" => ca.cacert = Some(v),
            "crluri" | "crluri1" | "crluri2" => ca.crluri.push(v),
            "ocspuri" | "ocspuri1" | "ocspuri2" => ca.ocspuri.push(v),
            "certuribase" => ca.certuribase = Some(v),
            "auto" => match v.as_str() {
                "add" => ca.auto_add = true,
                "ignore" => ca.auto_add = false,
                _ => err(
                    diags,
                    e,
                    format!("'{v}' is not one of: add, ignore (for a ca section)"),
                ),
            },
            "also" => {}
            "ldaphost" | "ldapbase" => {
                diags.warn(
                    e.key_loc.clone(),
                    Some(k),
                    "ignored, obsolete (LDAP CRL fetching)",
                );
            }
            _ => {
                let known = [
                    "cacert",
                    "crluri",
                    "crluri2",
                    "ocspuri",
                    "ocspuri2",
                    "certuribase",
                    "auto",
                    "also",
                ];
                diags.err(
                    e.key_loc.clone(),
                    Some(k),
                    format!(
                        "unknown keyword '{k}' in ca section{}",
                        crate::util::did_you_mean(k, known)
                    ),
                );
            }
        }
    }
    if ca.cacert.is_none() {
        diags.err(
            ca.location.clone(),
            Some("cacert"),
            format!("ca '{name}' has no cacert="),
        );
    }
    ca
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charondebug() {
        let l = parse_charondebug("ike 1, knl 1, cfg 1").unwrap();
        assert_eq!(
            l,
            vec![("ike".into(), 1), ("knl".into(), 1), ("cfg".into(), 1)]
        );
        let l = parse_charondebug("ike 4 knl -1").unwrap();
        assert_eq!(l[1], ("knl".into(), -1));
        assert!(parse_charondebug("ike").is_err());
        assert!(
            parse_charondebug("ikee 1")
                .unwrap_err()
                .contains("did you mean 'ike'")
        );
        assert!(parse_charondebug("ike 5").is_err());
        let s = Setup {
            charondebug: l,
            ..Setup::default()
        };
        assert_eq!(s.level("ike"), 4);
        assert_eq!(s.level("cfg"), 1);
    }
}
