//! `list-certs`: the X.509 certificates iked loads (ipsec.d's `cacerts/` as
//! CA, `certs/` and every conn's `leftcert=`/`rightcert=` as end entities),
//! streamed as `list-cert` events with their DER `data`, as `swanctl
//! --list-certs` and the exporters read them. Read from the files on each
//! request, as iked reads them on a reload. `has_privkey = yes` marks a
//! certificate whose private key iked holds (from ipsec.secrets; only the
//! public halves leave the daemon loop).

use super::codec::Message;
use std::path::{Path, PathBuf};

/// One certificate as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub ca: bool,
    pub subject: String,
    pub der: Vec<u8>,
    pub has_privkey: bool,
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
/// each once (files that do not parse are left out: the loader logs them);
/// `keys`: the public halves of the private keys iked holds.
pub fn load(ipsec_d: &Path, config: &conf::Config, keys: &[pki::PublicKey]) -> Vec<Listed> {
    let mut out: Vec<Listed> = Vec::new();
    let mut add = |path: &Path, ca: bool| {
        for c in pki::store::load_certs(path).into_iter().flatten() {
            if !out.iter().any(|l| l.der == c.der()) {
                out.push(Listed {
                    ca: ca || c.is_ca(),
                    subject: c.subject.to_string(),
                    der: c.der().to_vec(),
                    has_privkey: keys.contains(&c.public_key),
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
                .kv("flag", if c.ca { "CA" } else { "NONE" });
            if c.has_privkey {
                m.kv("has_privkey", "yes");
            }
            m.kv("data", &c.der);
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::codec::{Item, Message};
    use super::super::tests::{args, keys, snapshot};
    use super::{list_certs, load};

    /// `list-certs` from an ipsec.d made with openssl: cacerts/ as CA, certs/
    /// as end entities, the DER in `data`, the filters.
    #[test]
    fn list_certs_from_ipsec_d() {
        let dir = std::env::temp_dir().join(format!("iked-vici-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["cacerts", "certs"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mk = |out: &str, cn: &str, ca: bool| {
            let o = std::process::Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                ])
                .arg("-keyout")
                .arg(dir.join(format!("{cn}.key")))
                .arg("-out")
                .arg(dir.join(out))
                .args(["-days", "2", "-subj", &format!("/CN={cn}"), "-addext"])
                .arg(if ca {
                    "basicConstraints=critical,CA:TRUE"
                } else {
                    "basicConstraints=CA:FALSE"
                })
                .output()
                .expect("openssl (apt-get install openssl)");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        mk("cacerts/ca.pem", "Lab CA", true);
        mk("certs/moon.pem", "moon", false);
        std::fs::write(dir.join("certs/junk.pem"), "not a certificate").unwrap();
        let s = snapshot();
        // moon's private key is held: its certificate says so, the CA's not.
        let moon_key = pki::IpsecD::load(&dir)
            .load_private_key(&dir.join("moon.key").display().to_string(), None)
            .unwrap();
        let certs = load(&dir, &s.config, &[moon_key.public_key().clone()]);
        assert_eq!(certs.len(), 2, "the junk file is left out: {certs:?}");
        let all = list_certs(&certs, &Message::new());
        assert_eq!(all.len(), 2);
        assert_eq!(keys(&all[0]), ["type", "flag", "data"]);
        assert_eq!(keys(&all[1]), ["type", "flag", "has_privkey", "data"]);
        assert_eq!(all[1].get_str("has_privkey"), Some("yes"));
        assert!(load(&dir, &s.config, &[]).iter().all(|c| !c.has_privkey));
        assert_eq!(
            (all[0].get_str("type"), all[0].get_str("flag")),
            (Some("X509"), Some("CA"))
        );
        assert_eq!(all[1].get_str("flag"), Some("NONE"));
        let Some(Item::Value(der)) = all[1].get("data") else {
            panic!("no data")
        };
        assert_eq!(
            pki::Certificate::from_der(der).unwrap().subject.to_string(),
            "CN=moon"
        );
        let f = |kv: &[(&str, &str)]| list_certs(&certs, &args(kv)).len();
        assert_eq!(f(&[("type", "X509"), ("flag", "CA")]), 1);
        assert_eq!(f(&[("flag", "NONE")]), 1);
        assert_eq!(f(&[("type", "X509_CRL")]), 0);
        assert_eq!(f(&[("subject", "CN=moon")]), 1);
        assert_eq!(f(&[("subject", "CN=sun")]), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
