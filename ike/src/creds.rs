//! Credentials for public-key authentication: what the daemon loads from
//! ipsec.d and ipsec.secrets (through the `pki` crate) and hands to the
//! protocol core. The core itself reads no files.

use conf::conn::{Conn, SigKey};
use conf::secrets::{KeyFileType, Passphrase, SecretKind};
use std::collections::HashMap;
use std::path::Path;

/// Certificates, keys and trust anchors.
pub struct Credentials {
    pub trust: pki::TrustStore,
    /// End-entity certificates (ipsec.d/certs and every `leftcert=`/`rightcert=`).
    pub certs: Vec<pki::Certificate>,
    /// Private keys from ipsec.secrets (`: RSA file`, `: ECDSA file`, ...).
    pub keys: Vec<pki::PrivateKey>,
    /// `leftcert=` / `rightcert=` per (conn, is_left).
    pub conn_certs: HashMap<(String, bool), Vec<pki::Certificate>>,
    /// `leftrsasigkey=` / `leftsigkey=` raw public keys per (conn, is_left).
    pub sigkeys: HashMap<(String, bool), pki::PublicKey>,
    pub crl_policy: pki::CrlPolicy,
    /// Wall clock for certificate validity (Unix seconds); injectable for tests.
    pub clock: fn() -> i64,
    /// What could not be loaded (already logged by the loader).
    pub errors: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("anchors", &self.trust.anchors.len())
            .field("certs", &self.certs.len())
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            trust: pki::TrustStore::default(),
            certs: Vec::new(),
            keys: Vec::new(),
            conn_certs: HashMap::new(),
            sigkeys: HashMap::new(),
            crl_policy: pki::CrlPolicy::No,
            clock: system_clock,
            errors: Vec::new(),
        }
    }
}

impl Credentials {
    /// Loads everything the configuration refers to. Problems are collected
    /// in `errors` (and logged); what loads is usable.
    pub fn load(config: &conf::Config, ipsec_d: &Path) -> Credentials {
        let d = pki::IpsecD::load(ipsec_d);
        let mut c = Credentials {
            trust: d.trust.clone(),
            certs: d.certs.clone(),
            errors: d.errors.iter().map(ToString::to_string).collect(),
            crl_policy: match config.setup.strictcrlpolicy {
                conf::setup::CrlPolicy::No => pki::CrlPolicy::No,
                conf::setup::CrlPolicy::Yes => pki::CrlPolicy::Yes,
                conf::setup::CrlPolicy::IfUri => pki::CrlPolicy::IfUri,
            },
            ..Credentials::default()
        };
        for s in &config.secrets.entries {
            let SecretKind::KeyFile {
                ty,
                path,
                passphrase,
            } = &s.kind
            else {
                continue;
            };
            if matches!(ty, KeyFileType::P12 | KeyFileType::Bliss) {
                c.errors.push(format!(
                    "{}: {:?} key files are not supported yet",
                    s.location, ty
                ));
                continue;
            }
            let pass = match passphrase {
                Passphrase::None => None,
                Passphrase::Given(p) => Some(p.expose()),
                Passphrase::Prompt => {
                    c.errors.push(format!(
                        "{}: %prompt passphrases cannot be asked by a daemon",
                        s.location
                    ));
                    continue;
                }
            };
            match d.load_private_key(path, pass) {
                Ok(k) => c.keys.push(k),
                Err(e) => c.errors.push(format!("{}: {e}", s.location)),
            }
        }
        for conn in &config.conns {
            for (is_left, end) in [(true, &conn.left), (false, &conn.right)] {
                if let Some(file) = &end.cert {
                    match d.load_cert(file) {
                        Ok(certs) => {
                            if let (Some(ca), Some(first)) = (&end.ca, certs.first()) {
                                if let Err(e) = issued_by(first, ca, &d.trust.anchors) {
                                    let side = if is_left { "left" } else { "right" };
                                    c.errors.push(format!(
                                        "conn '{}': {side}cert {}: {e} ({side}ca=)",
                                        conn.name, file
                                    ));
                                }
                            }
                            c.certs.extend(certs.iter().cloned());
                            c.conn_certs.insert((conn.name.clone(), is_left), certs);
                        }
                        Err(e) => c.errors.push(format!("conn '{}': {e}", conn.name)),
                    }
                }
                match &end.sigkey {
                    Some(SigKey::Dns(b)) => {
                        c.add_raw_sigkey(conn, is_left, pki::PublicKey::from_rfc3110(b))
                    }
                    Some(SigKey::Ssh(b)) => {
                        c.add_raw_sigkey(conn, is_left, pki::PublicKey::from_ssh(b))
                    }
                    Some(SigKey::Raw(b)) => {
                        c.add_raw_sigkey(conn, is_left, pki::PublicKey::from_key_blob(b))
                    }
                    Some(SigKey::File(f)) => match d.load_public_key(f) {
                        Ok(k) => {
                            c.sigkeys.insert((conn.name.clone(), is_left), k);
                        }
                        Err(e) => c.errors.push(format!("conn '{}': {e}", conn.name)),
                    },
                    Some(SigKey::Cert) | None => {}
                }
            }
        }
        for e in &c.errors {
            tracing::warn!(target: "cfg", "{e}");
        }
        c
    }

    /// A raw `leftsigkey=`/`rightsigkey=` key, or the error naming the end.
    fn add_raw_sigkey(
        &mut self,
        conn: &Conn,
        is_left: bool,
        key: Result<pki::PublicKey, pki::Error>,
    ) {
        let side = if is_left { "left" } else { "right" };
        match key {
            Ok(k) => {
                self.sigkeys.insert((conn.name.clone(), is_left), k);
            }
            Err(e) => self
                .errors
                .push(format!("conn '{}': {side}sigkey: {e}", conn.name)),
        }
    }

    /// The certificate an end authenticates with (`leftcert=`), if any.
    pub fn end_cert(&self, conn: &Conn, is_left: bool) -> Option<&pki::Certificate> {
        self.conn_certs
            .get(&(conn.name.clone(), is_left))
            .and_then(|v| v.first())
    }

    /// The raw public key of an end (`leftrsasigkey=`), if any.
    pub fn end_sigkey(&self, conn: &Conn, is_left: bool) -> Option<&pki::PublicKey> {
        self.sigkeys.get(&(conn.name.clone(), is_left))
    }

    /// The private key for a public key.
    pub fn key_for(&self, public: &pki::PublicKey) -> Option<&pki::PrivateKey> {
        self.keys.iter().find(|k| k.public_key() == public)
    }
}

/// Whether `cert` comes from the authority `ca` names (a `leftca=` /
/// `rightca=` DN): its issuer, or an issuer's issuer among the trusted CAs.
fn issued_by(cert: &pki::Certificate, ca: &str, cas: &[pki::Certificate]) -> Result<(), String> {
    let want = pki::Dn::parse(ca).map_err(|e| format!("CA '{ca}' unreadable: {e}"))?;
    let mut issuer = &cert.issuer;
    for _ in 0..8 {
        if want.matches(issuer) {
            return Ok(());
        }
        match cas
            .iter()
            .find(|c| c.subject.matches(issuer) && !c.issuer.matches(&c.subject))
        {
            Some(up) => issuer = &up.issuer,
            None => break,
        }
    }
    Err(format!(
        "not issued by CA '{ca}' (its issuer is '{}')",
        cert.issuer
    ))
}
