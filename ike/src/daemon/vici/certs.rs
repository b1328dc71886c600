//! `list-certs`: the X.509 certificates iked loads (ipsec.d's `cacerts/` as
//! CA, `certs/` and every conn's `leftcert=`/`rightcert=` as end entities),
//! streamed as `list-cert` events with their DER `data`, as `swanctl
//! --list-certs` and the exporters read them. Read from the files on each
//! request, as iked reads them on a reload. `has_privkey` is not sent (the
//! keys stay with the daemon loop).

use super::codec::Message;
use std::path::{Path, PathBuf};

/// One certificate as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub ca: bool,
    pub subject: String,
    pub der: Vec<u8>,
}

/// Files of a folder, in name order (none if it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Every certificate of `ipsec_d` and the conns' `leftcert=`/`rightcert=`,
/// each once (files that do not parse are left out: the loader logs them).
pub fn load(ipsec_d: &Path, config: &conf::Config) -> Vec<Listed> {
    let mut out: Vec<Listed> = Vec::new();
    let mut add = |path: &Path, ca: bool| {
        for c in pki::store::load_certs(path).into_iter().flatten() {
            if !out.iter().any(|l| l.der == c.der()) {
                out.push(Listed {
                    ca: ca || c.is_ca(),
                    subject: c.subject.to_string(),
                    der: c.der().to_vec(),
                });
            }
        }
    };
    for p in files(&ipsec_d.join("cacerts")) {
        add(&p, true);
    }
    for p in files(&ipsec_d.join("certs")) {
        add(&p, false);
    }
    for conn in &config.conns {
        for end in [&conn.left, &conn.right] {
            if let Some(f) = &end.cert {
                let p = Path::new(f);
                let p = if p.is_absolute() {
                    p.to_owned()
                } else {
                    ipsec_d.join("certs").join(p)
                };
                add(&p, false);
            }
        }
    }
    out
}

/// The `list-cert` events for a request's `type`, `flag` and `subject` filters.
pub fn list_certs(certs: &[Listed], args: &Message) -> Vec<Message> {
    let ty = args.get_str("type").unwrap_or("ANY");
    if !matches!(ty, "ANY" | "X509") {
        return Vec::new();
    }
    let flag = args.get_str("flag").unwrap_or("ANY");
    let subject = args.get_str("subject");
    certs
        .iter()
        .filter(|c| match flag {
            "ANY" => true,
            "CA" => c.ca,
            "NONE" => !c.ca,
            _ => false,
        })
        .filter(|c| subject.is_none_or(|s| s == c.subject))
        .map(|c| {
            let mut m = Message::new();
            m.kv("type", "X509")
                .kv("flag", if c.ca { "CA" } else { "NONE" })
                .kv("data", &c.der);
            m
        })
        .collect()
}
