//! Shared by the corpus tests: where strongSwan's test suite lives (beside
//! the repository, never inside it) and its PH_IP* placeholders.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The corpus lives beside the repository (`../shared`), never inside it.
pub fn corpus_root() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("IKED_CORPUS").map(PathBuf::from),
        Some(here.join("../../shared/corpus/strongswan-testing")),
        Some(PathBuf::from("/work/shared/corpus/strongswan-testing")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

/// Without the corpus (a clone away from `../shared`) the corpus tests say so
/// loudly; with IKED_REQUIRE_CORPUS=1 they fail instead.
pub fn corpus_or_skip(test: &str) -> Option<PathBuf> {
    let root = corpus_root();
    if root.is_none() {
        assert!(
            std::env::var_os("IKED_REQUIRE_CORPUS").is_none(),
            "strongSwan corpus not found (set IKED_CORPUS)"
        );
        eprintln!(
            "SKIPPED {test}: strongSwan corpus not found beside the repository (../shared) nor in IKED_CORPUS"
        );
    }
    root
}

/// PH_IP_<HOST> -> IPv4 of <host>, PH_IP6_<HOST> -> IPv6 of ip6-<host>, from hosts/default/etc/hosts.
pub fn placeholders(root: &Path) -> HashMap<String, String> {
    let hosts = std::fs::read_to_string(root.join("hosts/default/etc/hosts")).expect("hosts file");
    let mut map = HashMap::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        let (Some(addr), names) = (w.next(), w) else {
            continue;
        };
        for n in names {
            let short = n.split('.').next().unwrap_or(n);
            if let Some(h) = short.strip_prefix("ip6-") {
                map.entry(format!("PH_IP6_{}", h.to_uppercase()))
                    .or_insert(addr.to_owned());
            } else if addr.contains('.') {
                map.entry(format!("PH_IP_{}", short.to_uppercase()))
                    .or_insert(addr.to_owned());
            }
        }
    }
    map
}

pub fn substitute(text: &str, map: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.len())); // PH_IP_CAROL10 before PH_IP_CAROL1
    let mut out = text.to_owned();
    for k in keys {
        out = out.replace(k.as_str(), &map[k]);
    }
    out
}

pub fn find(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            find(&p, name, out);
        } else if p.file_name().is_some_and(|f| f == name) {
            out.push(p);
        }
    }
}
