//! strongSwan's credential layout: `ipsec.d/{cacerts,certs,private,crls}`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::cert::{Certificate, Crl};
use crate::error::Error;
use crate::key::{PrivateKey, PublicKey};
use crate::trust::TrustStore;

/// Files larger than this are refused (no credential file is this big).
pub const MAX_FILE: u64 = 4 << 20;

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let f = fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > MAX_FILE {
        return Err(Error::File {
            path: path.to_owned(),
            msg: format!("{len} bytes is too large for a credential file"),
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(len as usize));
    f.take(MAX_FILE).read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

fn in_file(path: &Path) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        e @ (Error::Io { .. } | Error::File { .. }) => e,
        e => Error::File {
            path: path.to_owned(),
            msg: e.to_string(),
        },
    }
}

/// Regular files of a directory, sorted by name; a missing directory is empty.
fn dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Everything loaded from an `ipsec.d` directory.
#[derive(Debug, Default)]
pub struct IpsecD {
    pub root: PathBuf,
    /// `cacerts/` and `crls/`.
    pub trust: TrustStore,
    /// `certs/`: our own (and possibly peers') end-entity certificates.
    pub certs: Vec<Certificate>,
    /// Files that could not be loaded (each says which file and why); the
    /// rest was loaded, as strongSwan does.
    pub errors: Vec<Error>,
}

impl IpsecD {
    /// Loads `cacerts/`, `certs/` and `crls/` below `root` (e.g. `/etc/ipsec.d`).
    /// Private keys are loaded on demand with [`IpsecD::load_private_key`],
    /// as ipsec.secrets names them.
    pub fn load(root: &Path) -> IpsecD {
        let mut d = IpsecD {
            root: root.to_owned(),
            ..IpsecD::default()
        };
        for p in dir_files(&root.join("cacerts")) {
            match load_certs(&p) {
                Ok(mut c) => d.trust.anchors.append(&mut c),
                Err(e) => d.errors.push(e),
            }
        }
        for p in dir_files(&root.join("certs")) {
            match load_certs(&p) {
                Ok(mut c) => d.certs.append(&mut c),
                Err(e) => d.errors.push(e),
            }
        }
        for p in dir_files(&root.join("crls")) {
            match load_crls(&p) {
                Ok(mut c) => d.trust.crls.append(&mut c),
                Err(e) => d.errors.push(e),
            }
        }
        for e in &d.errors {
            tracing::warn!(target: "cfg", "{e}");
        }
        tracing::info!(target: "cfg", "loaded {} CA certificate(s), {} certificate(s), {} CRL(s) from {}",
            d.trust.anchors.len(), d.certs.len(), d.trust.crls.len(), root.display());
        d
    }

    fn resolve(&self, sub: &str, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.root.join(sub).join(p)
        }
    }

    /// `leftcert=`: a path absolute or relative to `certs/`. The first
    /// certificate is the end entity; any further ones are its intermediates.
    pub fn load_cert(&self, leftcert: &str) -> Result<Vec<Certificate>, Error> {
        load_certs(&self.resolve("certs", leftcert))
    }

    /// `: RSA|ECDSA|PKCS8 file [passphrase]` from ipsec.secrets: a path
    /// absolute or relative to `private/`.
    pub fn load_private_key(
        &self,
        file: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<PrivateKey, Error> {
        let path = self.resolve("private", file);
        let data = read_file(&path)?;
        PrivateKey::from_pem_or_der(&data, passphrase).map_err(in_file(&path))
    }

    /// `leftsigkey=`/`leftrsasigkey=`: `0s...`/`0x...` RFC 3110 keys, or a
    /// PEM/DER public key file (absolute or relative to `certs/`).
    pub fn load_public_key(&self, value: &str) -> Result<PublicKey, Error> {
        if value.starts_with("0s") || value.starts_with("0x") {
            return PublicKey::from_sigkey(value);
        }
        let path = self.resolve("certs", value);
        let data = read_file(&path)?;
        PublicKey::from_pem_or_der(&data).map_err(in_file(&path))
    }

    /// The certificate (from `certs/` or `leftcert=`) whose key is `key`'s.
    pub fn cert_for_key<'a>(&'a self, key: &PrivateKey) -> Option<&'a Certificate> {
        self.certs
            .iter()
            .find(|c| &c.public_key == key.public_key())
    }
}

/// All certificates in a file (PEM with any number of blocks, or DER).
pub fn load_certs(path: &Path) -> Result<Vec<Certificate>, Error> {
    let data = read_file(path)?;
    Certificate::all_from_pem_or_der(&data).map_err(in_file(path))
}

/// All CRLs in a file.
pub fn load_crls(path: &Path) -> Result<Vec<Crl>, Error> {
    let data = read_file(path)?;
    Crl::all_from_pem_or_der(&data).map_err(in_file(path))
}
