//! The test PKI the scenarios expect, made at run time with Debian's `pki`
//! (strongswan-pki): the CA `C=CH, O=strongSwan Project, CN=strongSwan Root
//! CA` (`strongswanCert.pem`), each host's RSA key (`<host>Key.pem`) and
//! certificate (`<host>Cert.pem`: the DN and subjectAltName the configs
//! name, the CRL distribution point `http://crl.strongswan.org/strongswan.crl`
//! winnetou serves), the CRL itself, and the gateways' public keys in DNS
//! KEY format (net2net-rsa's `rightsigkey`). The names and fields follow
//! strongSwan's `build-certs-chroot`; the key size is 2048 bits (theirs is
//! 3072: nothing checks it, and the emulated guest signs faster).
//!
//! Layout under the PKI folder: `<host>/ipsec.d/{cacerts,certs,private}/`,
//! `<host>/pub.dnskey`, `crl/strongswan.crl`, `ca/strongswanKey.pem`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{run, run_ok};
use crate::{Result, lab_err, write_file};

/// The CRL distribution point every host certificate names.
pub const CDP: &str = "http://crl.strongswan.org/strongswan.crl";

/// (host, serial, CN, OU) as strongSwan's build-certs-chroot issues them.
pub const CERTS: &[(&str, &str, &str, Option<&str>)] = &[
    ("carol", "01", "carol@strongswan.org", Some("Research")),
    ("dave", "02", "dave@strongswan.org", Some("Accounting")),
    ("moon", "03", "moon.strongswan.org", None),
    ("sun", "04", "sun.strongswan.org", None),
    ("alice", "05", "alice@strongswan.org", Some("Sales")),
    ("venus", "06", "venus.strongswan.org", None),
    ("bob", "07", "bob@strongswan.org", Some("Research")),
];

const T: Duration = Duration::from_secs(120);

/// The DN of a host certificate.
pub fn dn(cn: &str, ou: Option<&str>) -> String {
    match ou {
        Some(ou) => format!("C=CH, O=strongSwan Project, OU={ou}, CN={cn}"),
        None => format!("C=CH, O=strongSwan Project, CN={cn}"),
    }
}

fn pki(args: &[&str], out: &Path) -> Result<()> {
    let mut argv = vec!["pki"];
    argv.extend_from_slice(args);
    let o = run(&argv, T)?.ok()?;
    std::fs::write(out, o.stdout.as_bytes()).map_err(|source| crate::Error::Io {
        path: out.to_owned(),
        source,
    })
}

fn pki_bin(args: &[&str], out: &Path) -> Result<()> {
    // DER output: read the bytes, not text
    let o = std::process::Command::new("pki")
        .args(args)
        .output()
        .map_err(|e| lab_err!("cannot run pki: {e} (apt-get install strongswan-pki)"))?;
    if !o.status.success() {
        return Err(lab_err!(
            "pki {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    std::fs::write(out, &o.stdout).map_err(|source| crate::Error::Io {
        path: out.to_owned(),
        source,
    })
}

/// Makes the PKI in `dir` unless it is there (`dir/done`). Returns `dir`.
pub fn ensure(dir: &Path) -> Result<PathBuf> {
    if dir.join("done").exists() {
        return Ok(dir.to_owned());
    }
    if !crate::cmd::have("pki") {
        return Err(lab_err!(
            "pki not found: apt-get install strongswan-pki (interop-tests/lab/setup-peers.sh)"
        ));
    }
    let _ = std::fs::remove_dir_all(dir);
    let ca = dir.join("ca");
    crate::make_dir(&ca)?;
    crate::make_dir(&dir.join("crl"))?;
    // two days back, as strongSwan's own PKI: a guest clock a little behind
    // the host's still sees the certificates valid
    let start = run_ok(&["date", "-d", "-2 day", "+%d.%m.%y %T"], T)?
        .trim()
        .to_owned();
    let ca_key = ca.join("strongswanKey.pem");
    let ca_cert = ca.join("strongswanCert.pem");
    pki(
        &[
            "--gen",
            "--type",
            "rsa",
            "--size",
            "2048",
            "--outform",
            "pem",
        ],
        &ca_key,
    )?;
    let (ca_key_s, ca_cert_s) = (ca_key.display().to_string(), ca_cert.display().to_string());
    pki(
        &[
            "--self",
            "--type",
            "rsa",
            "--in",
            &ca_key_s,
            "--not-before",
            &start,
            "--lifetime",
            "3650",
            "--ca",
            "--pathlen",
            "1",
            "--dn",
            "C=CH, O=strongSwan Project, CN=strongSwan Root CA",
            "--outform",
            "pem",
        ],
        &ca_cert,
    )?;
    pki_bin(
        &[
            "--signcrl",
            "--cakey",
            &ca_key_s,
            "--cacert",
            &ca_cert_s,
            "--lifetime",
            "30",
        ],
        &dir.join("crl/strongswan.crl"),
    )?;
    let ca_pem = std::fs::read_to_string(&ca_cert).map_err(|source| crate::Error::Io {
        path: ca_cert.clone(),
        source,
    })?;
    for (host, serial, cn, ou) in CERTS {
        let d = dir.join(host).join("ipsec.d");
        write_file(&d.join("cacerts/strongswanCert.pem"), &ca_pem)?;
        crate::make_dir(&d.join("certs"))?;
        crate::make_dir(&d.join("private"))?;
        let key = d.join(format!("private/{host}Key.pem"));
        pki(
            &[
                "--gen",
                "--type",
                "rsa",
                "--size",
                "2048",
                "--outform",
                "pem",
            ],
            &key,
        )?;
        let key_s = key.display().to_string();
        let dn = dn(cn, *ou);
        pki(
            &[
                "--issue",
                "--cakey",
                &ca_key_s,
                "--cacert",
                &ca_cert_s,
                "--crl",
                CDP,
                "--type",
                "rsa",
                "--in",
                &key_s,
                "--not-before",
                &start,
                "--lifetime",
                "2920",
                "--san",
                cn,
                "--serial",
                serial,
                "--dn",
                &dn,
                "--outform",
                "pem",
            ],
            &d.join(format!("certs/{host}Cert.pem")),
        )?;
        pki(
            &[
                "--pub",
                "--type",
                "rsa",
                "--in",
                &key_s,
                "--outform",
                "dnskey",
            ],
            &dir.join(host).join("pub.dnskey"),
        )?;
    }
    write_file(&dir.join("done"), "")?;
    Ok(dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_as_build_certs_chroot_writes_them() {
        assert_eq!(
            dn("moon.strongswan.org", None),
            "C=CH, O=strongSwan Project, CN=moon.strongswan.org"
        );
        assert_eq!(
            dn("carol@strongswan.org", Some("Research")),
            "C=CH, O=strongSwan Project, OU=Research, CN=carol@strongswan.org"
        );
    }
}
