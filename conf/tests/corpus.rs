//! Parses every ipsec.conf / ipsec.secrets of strongSwan's own test suite
//! (read from ../shared/corpus, never copied into the repo), after
//! substituting the PH_IP* placeholders the way strongSwan's suite does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The corpus lives beside the repository (`../shared`), never inside it.
fn corpus_root() -> Option<PathBuf> {
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
fn corpus_or_skip(test: &str) -> Option<PathBuf> {
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
fn placeholders(root: &Path) -> HashMap<String, String> {
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

fn substitute(text: &str, map: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.len())); // PH_IP_CAROL10 before PH_IP_CAROL1
    let mut out = text.to_owned();
    for k in keys {
        out = out.replace(k.as_str(), &map[k]);
    }
    out
}

fn find(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
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

fn load(
    root: &Path,
    conf: &Path,
    map: &HashMap<String, String>,
) -> Result<conf::Config, conf::ConfigErrors> {
    let text = substitute(&std::fs::read_to_string(conf).expect("read"), map);
    let secrets_path = conf.with_file_name("ipsec.secrets");
    let mut src = conf::MemSource::default().with("/etc/ipsec.conf", &text);
    let sec = if secrets_path.is_file() {
        let s = substitute(&std::fs::read_to_string(&secrets_path).expect("read"), map);
        src = src.with("/etc/ipsec.secrets", &s);
        Some(Path::new("/etc/ipsec.secrets"))
    } else {
        None
    };
    let _ = root;
    conf::load_from(&src, Path::new("/etc/ipsec.conf"), sec)
}

#[test]
fn every_ikev2_and_ipv6_config_parses() {
    let Some(root) = corpus_or_skip("every_ikev2_and_ipv6_config_parses") else {
        return;
    };
    let map = placeholders(&root);
    assert!(map.contains_key("PH_IP_MOON") && map.contains_key("PH_IP6_MOON"));
    let mut files = Vec::new();
    for d in ["tests/ikev2-stroke", "tests/ipv6-stroke", "hosts"] {
        find(&root.join(d), "ipsec.conf", &mut files);
    }
    // ipv6-stroke scenarios also run IKEv1 conns; those are checked below.
    let mut ok = 0;
    let mut conns = 0;
    let mut ikev1 = 0;
    let mut failures = Vec::new();
    for f in &files {
        match load(&root, f, &map) {
            Ok(cfg) => {
                ok += 1;
                conns += cfg.conns.len();
            }
            Err(e) => {
                let only_ikev1 = e.errors().all(|d| d.message.contains("IKEv1"));
                if only_ikev1 && f.to_string_lossy().contains("-ikev1/") {
                    ikev1 += 1;
                } else {
                    failures.push(format!("{}:\n{e}", f.display()));
                }
            }
        }
    }
    println!(
        "corpus: {ok} ipsec.conf files ({conns} conns) parsed without error, {ikev1} ipv6-stroke IKEv1 configs rejected with the IKEv1 error, of {} files",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ok > 50, "too few files parsed: {ok}");
}

#[test]
fn every_secrets_file_parses() {
    let Some(root) = corpus_or_skip("every_ikev1_config_gets_the_ikev1_error") else {
        return;
    };
    let map = placeholders(&root);
    let mut files = Vec::new();
    for d in [
        "tests/ikev2-stroke",
        "tests/ipv6-stroke",
        "tests/ikev1-stroke",
        "hosts",
    ] {
        find(&root.join(d), "ipsec.secrets", &mut files);
    }
    let mut failures = Vec::new();
    let mut entries = 0;
    for f in &files {
        let text = substitute(&std::fs::read_to_string(f).expect("read"), &map);
        let src = conf::MemSource::default().with("/etc/ipsec.secrets", &text);
        let mut p = conf::secrets::SecretsParser::new(&src);
        p.parse_file(Path::new("/etc/ipsec.secrets"), None);
        if p.diags.has_errors() {
            let msgs: Vec<String> = p.diags.list.iter().map(|d| d.to_string()).collect();
            failures.push(format!("{}: {}", f.display(), msgs.join("; ")));
        }
        entries += p.secrets.entries.len();
    }
    println!(
        "corpus: {} ipsec.secrets files, {entries} entries parsed",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(files.len() > 50);
}

#[test]
fn every_ikev1_config_gets_the_ikev1_error() {
    let Some(root) = corpus_or_skip("every_ikev1_config_gets_the_ikev1_error") else {
        return;
    };
    let map = placeholders(&root);
    let mut files = Vec::new();
    find(&root.join("tests/ikev1-stroke"), "ipsec.conf", &mut files);
    assert!(!files.is_empty());
    let mut bad = Vec::new();
    for f in &files {
        match load(&root, f, &map) {
            Ok(_) => bad.push(format!("{}: accepted", f.display())),
            Err(e) => {
                let errs: Vec<&conf::Diagnostic> = e.errors().collect();
                let has = errs
                    .iter()
                    .any(|d| d.message.contains("IKEv1 is not supported"));
                let other: Vec<String> = errs
                    .iter()
                    .filter(|d| !d.message.contains("IKEv1"))
                    .map(|d| d.to_string())
                    .collect();
                if !has || !other.is_empty() {
                    bad.push(format!("{}: {}", f.display(), e));
                }
            }
        }
    }
    println!(
        "corpus: {} ikev1-stroke configs, each rejected with the IKEv1 error",
        files.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
