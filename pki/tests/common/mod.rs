//! Test PKIs made at run time by strongSwan's `pki` tool and by `openssl`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Fails (never skips) when a tool is missing: CI installs both.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        let hint = match tool {
            "pki" => "strongSwan's `pki` tool is required: apt-get install strongswan-pki",
            "openssl" => "`openssl` is required: apt-get install openssl",
            _ => "install it",
        };
        panic!("test tool `{tool}` not found on PATH. {hint}");
    }
}

/// Runs a shell command in `dir`; panics with its stderr on failure.
pub fn sh(dir: &Path, cmd: &str) -> Vec<u8> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; {cmd}"))
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .expect("bash runs");
    if !out.status.success() {
        panic!(
            "command failed in {}: {cmd}\nstdout: {}\nstderr: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

/// Runs a command that is expected to fail; returns whether it succeeded.
pub fn sh_ok(dir: &Path, cmd: &str) -> bool {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rsa2048,
    Rsa4096,
    P256,
    P384,
    P521,
    Ed25519,
}

pub const ALGS: [Alg; 6] = [
    Alg::Rsa2048,
    Alg::Rsa4096,
    Alg::P256,
    Alg::P384,
    Alg::P521,
    Alg::Ed25519,
];

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rsa2048 => "rsa2048",
            Alg::Rsa4096 => "rsa4096",
            Alg::P256 => "p256",
            Alg::P384 => "p384",
            Alg::P521 => "p521",
            Alg::Ed25519 => "ed25519",
        }
    }
    /// `pki --gen` arguments.
    fn pki_gen(self) -> &'static str {
        match self {
            Alg::Rsa2048 => "--type rsa --size 2048",
            Alg::Rsa4096 => "--type rsa --size 4096",
            Alg::P256 => "--type ecdsa --size 256",
            Alg::P384 => "--type ecdsa --size 384",
            Alg::P521 => "--type ecdsa --size 521",
            Alg::Ed25519 => "--type ed25519",
        }
    }
    /// `pki --type` of a private key.
    fn pki_type(self) -> &'static str {
        match self {
            Alg::Rsa2048 | Alg::Rsa4096 => "rsa",
            Alg::P256 | Alg::P384 | Alg::P521 => "ecdsa",
            Alg::Ed25519 => "ed25519",
        }
    }
    /// `openssl genpkey` arguments.
    fn openssl_gen(self) -> &'static str {
        match self {
            Alg::Rsa2048 => "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
            Alg::Rsa4096 => "-algorithm RSA -pkeyopt rsa_keygen_bits:4096",
            Alg::P256 => "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
            Alg::P384 => "-algorithm EC -pkeyopt ec_paramgen_curve:P-384",
            Alg::P521 => "-algorithm EC -pkeyopt ec_paramgen_curve:P-521",
            Alg::Ed25519 => "-algorithm ED25519",
        }
    }
    /// openssl's digest option for signing with this key type.
    pub fn openssl_md(self) -> &'static str {
        match self {
            Alg::Ed25519 => "",
            Alg::P384 => "-sha384",
            Alg::P521 => "-sha512",
            _ => "-sha256",
        }
    }
}

pub const EE_DN: &str = "C=CH, O=iked test, CN=moon.strongswan.org";

/// Files of one algorithm's test PKI made by strongSwan's `pki`.
pub struct SwanPki {
    pub dir: PathBuf,
    pub alg: Alg,
}

impl SwanPki {
    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
    pub fn read(&self, f: &str) -> Vec<u8> {
        std::fs::read(self.path(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
    }
}

fn base() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// Builds (once per test binary and algorithm) a strongSwan-`pki` PKI:
/// root CA, intermediate CA, and end entities signed by the intermediate:
/// `ee` (good), `expired`, `notyet`, `revoked` (in `int.crl`), plus
/// `wrongca` (a root with another DN) with an end entity it signed,
/// `pl0` (a root with pathlen 0) with `pl0-int` and `pl0-ee` below it, and
/// `notca` (an end entity) that signed `notca-ee`.
pub fn swan(alg: Alg) -> &'static SwanPki {
    static CELLS: [OnceLock<SwanPki>; ALGS.len()] = [const { OnceLock::new() }; ALGS.len()];
    let idx = ALGS.iter().position(|a| *a == alg).unwrap_or(0);
    CELLS[idx].get_or_init(|| {
        require("pki");
        let dir = base().join(format!("swan-{}", alg.name()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let g = alg.pki_gen();
        let t = alg.pki_type();
        let n = alg.name();
        let o = "O=iked test";
        let script = format!(
            r#"
pki --gen {g} > ca.der 2>/dev/null
pki --self --in ca.der --type {t} --dn "C=CH, {o}, CN={n} Root CA" --ca --lifetime 30 --outform pem > ca.pem 2>/dev/null
pki --gen {g} > int.der 2>/dev/null
pki --pub --in int.der --type priv 2>/dev/null | pki --issue --cacert ca.pem --cakey ca.der --dn "C=CH, {o}, CN={n} Intermediate CA" --ca --lifetime 30 --outform pem > int.pem 2>/dev/null
pki --gen {g} > ee.der 2>/dev/null
pki --pub --in ee.der --type priv --outform pem > ee.pub.pem 2>/dev/null
issue() {{ pki --issue --in ee.pub.pem --cacert "$1" --cakey "$2" --dn "$3" "${{@:5}}" --outform pem > "$4" 2>/dev/null; }}
issue int.pem int.der "{EE_DN}" ee.pem --san moon.strongswan.org --san 192.0.2.1 --san 2001:db8::1 --san moon@strongswan.org --flag serverAuth --crl http://crl.example/int.crl --lifetime 30
issue int.pem int.der "C=CH, {o}, CN=expired" expired.pem --not-before "01.01.20 00:00:00" --not-after "01.01.21 00:00:00"
issue int.pem int.der "C=CH, {o}, CN=notyet" notyet.pem --not-before "01.01.40 00:00:00" --not-after "01.01.41 00:00:00"
issue int.pem int.der "C=CH, {o}, CN=revoked" revoked.pem --lifetime 30
pki --signcrl --cacert int.pem --cakey int.der --reason key-compromise --date 1700000000 --cert revoked.pem --outform pem > int.crl 2>/dev/null
pki --signcrl --cacert ca.pem --cakey ca.der --outform pem > ca.crl 2>/dev/null
pki --signcrl --cacert int.pem --cakey int.der --this-update "01.01.20 00:00:00" --next-update "02.01.20 00:00:00" --outform pem > stale.crl 2>/dev/null
pki --self --in int.der --type {t} --dn "C=CH, {o}, CN={n} Other Root CA" --ca --lifetime 30 --outform pem > wrongca.pem 2>/dev/null
issue wrongca.pem int.der "{EE_DN}" wrongca-ee.pem --san moon.strongswan.org --lifetime 30
pki --self --in ca.der --type {t} --dn "C=CH, {o}, CN={n} Root pathlen 0" --ca --pathlen 0 --lifetime 30 --outform pem > pl0.pem 2>/dev/null
issue pl0.pem ca.der "C=CH, {o}, CN={n} Intermediate under pathlen 0" pl0-int.pem --ca --lifetime 30
issue int.pem int.der "C=CH, {o}, CN=not a ca" notca.pem --lifetime 30
"#
        );
        sh(&dir, &script);
        // ee issued (by openssl: pki refuses) by a certificate that isn't a CA;
        // and by an intermediate (with ee's key) under pathlen 0.
        sh(
            &dir,
            &format!(
                r#"openssl pkey -inform DER -in ee.der -out ee.key.pem
openssl req -new -key ee.key.pem -subj "/C=CH/O=iked test/CN=under not a ca" -out notca-ee.csr
openssl x509 -req -in notca-ee.csr -CA notca.pem -CAkey ee.key.pem -set_serial 9 -days 30 -out notca-ee.pem 2>/dev/null
pki --issue --in ee.pub.pem --cacert pl0-int.pem --cakey ee.der --dn "C=CH, {o}, CN=under pathlen" --lifetime 30 --outform pem > pl0-ee.pem 2>/dev/null"#
            ),
        );
        SwanPki { dir, alg }
    })
}

/// The same kind of PKI made by openssl: `ca.pem`/`ca.key`, `int.pem`/`int.key`,
/// `ee.pem`/`ee.key` (PKCS#8 PEM), `ee-enc.pem` (encrypted PKCS#8,
/// passphrase "test passphrase"), `noku.pem` (keyUsage keyEncipherment only).
pub fn openssl(alg: Alg) -> &'static SwanPki {
    static CELLS: [OnceLock<SwanPki>; ALGS.len()] = [const { OnceLock::new() }; ALGS.len()];
    let idx = ALGS.iter().position(|a| *a == alg).unwrap_or(0);
    CELLS[idx].get_or_init(|| {
        require("openssl");
        let dir = base().join(format!("openssl-{}", alg.name()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let g = alg.openssl_gen();
        let n = alg.name();
        let script = format!(
            r#"
for k in ca int ee; do openssl genpkey {g} -out $k.key 2>/dev/null; done
cat > ext.cnf <<'X'
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[ee]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
subjectAltName=DNS:moon.strongswan.org,IP:192.0.2.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[noku]
basicConstraints=CA:FALSE
keyUsage=critical,keyEncipherment
subjectAltName=DNS:moon.strongswan.org
X
openssl req -x509 -new -key ca.key -subj "/C=CH/O=iked openssl/CN={n} openssl Root CA" -days 30 -extensions ca -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n'; cat ext.cnf) -out ca.pem
openssl req -new -key int.key -subj "/C=CH/O=iked openssl/CN={n} openssl Intermediate CA" -out int.csr
openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 30 -extfile ext.cnf -extensions ca -out int.pem 2>/dev/null
openssl req -new -key ee.key -subj "/C=CH/O=iked openssl/CN=moon.strongswan.org" -out ee.csr
openssl x509 -req -in ee.csr -CA int.pem -CAkey int.key -set_serial 3 -days 30 -extfile ext.cnf -extensions ee -out ee.pem 2>/dev/null
openssl x509 -req -in ee.csr -CA int.pem -CAkey int.key -set_serial 4 -days 30 -extfile ext.cnf -extensions noku -out noku.pem 2>/dev/null
openssl pkcs8 -topk8 -v2 aes256 -in ee.key -passout "pass:test passphrase" -out ee-enc.pem
openssl pkey -in ee.key -pubout -out ee.pub.pem
"#
        );
        sh(&dir, &script);
        SwanPki { dir, alg }
    })
}
