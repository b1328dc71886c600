//! Parses every ipsec.conf / ipsec.secrets of strongSwan's own test suite
//! (read from ../shared/corpus, never copied into the repo), after
//! substituting the PH_IP* placeholders the way strongSwan's suite does.

mod common;

use common::{corpus_or_skip, find, placeholders, substitute};
use std::collections::HashMap;
use std::path::Path;

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
