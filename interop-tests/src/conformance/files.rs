//! A host's files for one scenario, as strongSwan's harness lays them out:
//! the defaults of every host (`hosts/default/etc`: hosts, iptables rules,
//! strongswan.conf.testing), the host's own defaults (`hosts/<host>/etc`:
//! ipsec.conf, ipsec.secrets, strongswan.conf, ipsec.d), its credentials
//! from the test PKI, then the scenario's own `hosts/<host>/etc` over them,
//! with the address placeholders substituted as `load-testconfig` does
//! (and net2net-rsa's `*.in` templates filled with the gateways' DNS keys,
//! as `build-certs-chroot` fills them). Read from the corpus, written into
//! the run's folder; nothing of the corpus lands in the repository.

use std::path::Path;

use super::dat::substitute;
use crate::{Error, Result, lab_err, write_file};

/// The files of `hosts/default/etc` a test host gets (not its sshd or
/// systemd settings: only what the scenarios read).
const DEFAULTS: &[&str] = &[
    "hosts",
    "iptables.rules",
    "iptables.flush",
    "iptables.drop",
    "ip6tables.rules",
    "ip6tables.flush",
    "strongswan.conf.testing",
];

/// For a host that runs sshd: the corpus's `hosts/default/etc/ssh/sshd_config`
/// into `hdir/etc/ssh` and `hosts/default/root/.ssh/config` into
/// `hdir/root/.ssh` (see the conformance host's sshd set-up).
pub fn ssh_files(corpus: &Path, hdir: &Path) -> Result<()> {
    let d = corpus.join("hosts/default");
    for (from, to) in [
        ("etc/ssh/sshd_config", "etc/ssh/sshd_config"),
        ("root/.ssh/config", "root/.ssh/config"),
    ] {
        let src = d.join(from);
        let text = std::fs::read_to_string(&src).map_err(|e| lab_err!("{}: {e}", src.display()))?;
        write_file(&hdir.join(to), &text)?;
    }
    Ok(())
}

/// The files of `hosts/<host>/etc` a test host gets.
const HOST_FILES: &[&str] = &[
    "ipsec.conf",
    "ipsec.secrets",
    "strongswan.conf",
    "hostname",
    "ipsec.d",
];

/// Template values of `*.in` files: (marker, host whose DNS key it is).
const TEMPLATES: &[(&str, &str)] = &[("MOON_PUB_DNS", "moon"), ("SUN_PUB_DNS", "sun")];

/// strongSwan 5.9.8 (Debian's, the peers here) derives IKE keys with its
/// `kdf` plugin; the corpus is written for 6.0, whose openssl plugin does
/// it. A plugin list (`load = ...`) without `kdf` gets it appended. And
/// Debian builds strongSwan without integrity checksums, so charon refuses
/// to start with `integrity_test = yes` ("integrity test of libstrongswan
/// failed", rw-cert): that becomes `no`. The only changes made to the
/// scenarios' strongswan.conf files (iked ignores both settings).
pub fn kdf_for_598(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let t = body.trim_start();
        let is_load = t
            .strip_prefix("load")
            .map(|r| r.trim_start().starts_with('='))
            .unwrap_or(false);
        let integrity = t
            .strip_prefix("integrity_test")
            .and_then(|r| r.trim_start().strip_prefix('='))
            .is_some_and(|v| v.trim() == "yes");
        if integrity {
            out.push_str(&body.replacen("yes", "no", 1));
            out.push_str(&line[body.len()..]);
        } else if is_load && !t.split_whitespace().any(|w| w == "kdf") {
            out.push_str(body.trim_end());
            out.push_str(" kdf");
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The testing hosts retransmit after 1 s, twice (`strongswan.conf.testing`),
/// made for KVM guests; in this emulated guest an IKE_AUTH whose updown
/// script runs iptables takes longer than that to answer. The harness file
/// (not a scenario's) gets 3 s and 5 tries: a dead peer still fails, later.
pub fn emulated_retransmits(text: &str) -> String {
    text.replace("retransmit_tries = 2", "retransmit_tries = 5")
        .replace("retransmit_timeout = 1.0", "retransmit_timeout = 3.0")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Copies `src` (file or folder) to `dst`, substituting placeholders in
/// text files; `fill` replaces template markers in `*.in` files, which
/// land without their `.in`.
fn copy(src: &Path, dst: &Path, fill: &dyn Fn(&str) -> String) -> Result<()> {
    let meta = std::fs::metadata(src).map_err(io(src))?;
    if meta.is_dir() {
        crate::make_dir(dst)?;
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(io(src))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            copy(&e.path(), &dst.join(e.file_name()), fill)?;
        }
        return Ok(());
    }
    let bytes = std::fs::read(src).map_err(io(src))?;
    let (dst, templ) = match dst.to_str().and_then(|s| s.strip_suffix(".in")) {
        Some(s) => (std::path::PathBuf::from(s), true),
        None => (dst.to_owned(), false),
    };
    match String::from_utf8(bytes) {
        Ok(text) => {
            let text = substitute(&text);
            let text = if templ { fill(&text) } else { text };
            let is_swconf = dst
                .file_name()
                .map(|n| n == "strongswan.conf")
                .unwrap_or(false);
            let text = if is_swconf { kdf_for_598(&text) } else { text };
            let is_testing = dst
                .file_name()
                .map(|n| n == "strongswan.conf.testing")
                .unwrap_or(false);
            let text = if is_testing {
                emulated_retransmits(&text)
            } else {
                text
            };
            write_file(&dst, &text)
        }
        Err(e) => {
            if let Some(d) = dst.parent() {
                crate::make_dir(d)?;
            }
            std::fs::write(&dst, e.into_bytes()).map_err(io(&dst))
        }
    }
}

/// Lays out `host`'s `/etc` files for the scenario in `scenario_dir` into
/// `dest`, from `corpus` and the PKI in `pki`.
pub fn host_etc(
    corpus: &Path,
    scenario_dir: &Path,
    pki: &Path,
    host: &str,
    dest: &Path,
) -> Result<()> {
    let fill = |text: &str| {
        let mut t = text.to_owned();
        for (marker, h) in TEMPLATES {
            let key = std::fs::read_to_string(pki.join(h).join("pub.dnskey")).unwrap_or_default();
            t = t.replace(marker, key.trim());
        }
        t
    };
    crate::make_dir(dest)?;
    let defaults = corpus.join("hosts/default/etc");
    for f in DEFAULTS {
        let p = defaults.join(f);
        if p.exists() {
            copy(&p, &dest.join(f), &fill)?;
        }
    }
    // no DNS in the test network: a resolver without servers fails at once
    // (tcpdump resolves every address it prints; one waiting on an
    // unreachable server falls minutes behind the packets)
    write_file(
        &dest.join("resolv.conf"),
        "# the test network has no DNS: names come from /etc/hosts\n",
    )?;
    let own = corpus.join("hosts").join(host).join("etc");
    if !own.is_dir() {
        return Err(lab_err!("{}: no such test host folder", own.display()));
    }
    for f in HOST_FILES {
        let p = own.join(f);
        if p.exists() {
            copy(&p, &dest.join(f), &fill)?;
        }
    }
    let creds = pki.join(host).join("ipsec.d");
    if creds.is_dir() {
        copy(&creds, &dest.join("ipsec.d"), &fill)?;
    }
    let theirs = scenario_dir.join("hosts").join(host).join("etc");
    if theirs.is_dir() {
        copy(&theirs, dest, &fill)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_joins_plugin_lists_without_it() {
        assert_eq!(
            kdf_for_598("charon {\n  load = random nonce openssl stroke\n  x = 1\n}\n"),
            "charon {\n  load = random nonce openssl stroke kdf\n  x = 1\n}\n"
        );
        let has = "  load = sha1 kdf pem\n";
        assert_eq!(kdf_for_598(has), has);
        assert_eq!(kdf_for_598("  loader = x\n"), "  loader = x\n");
        assert_eq!(
            kdf_for_598("charon {\n  integrity_test = yes\n}\n"),
            "charon {\n  integrity_test = no\n}\n"
        );
        assert_eq!(
            emulated_retransmits("  retransmit_tries = 2\n  retransmit_timeout = 1.0\n"),
            "  retransmit_tries = 5\n  retransmit_timeout = 3.0\n"
        );
    }

    #[test]
    fn copies_substitute_and_fill_templates() {
        let base = std::env::temp_dir().join(format!("cf-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let src = base.join("src");
        write_file(
            &src.join("ipsec.conf.in"),
            "left=PH_IP_MOON\nkey=0sMOON_PUB_DNS\n",
        )
        .unwrap();
        write_file(&src.join("sub/ipsec.secrets"), "PH_IP_SUN : PSK x\n").unwrap();
        std::fs::write(src.join("bin.der"), [0xff, 0xfe, 0x00]).unwrap();
        let fill = |t: &str| t.replace("MOON_PUB_DNS", "AwEAAQ");
        copy(&src, &base.join("dst"), &fill).unwrap();
        let read = |p: &str| std::fs::read_to_string(base.join("dst").join(p)).unwrap();
        assert_eq!(read("ipsec.conf"), "left=192.168.0.1\nkey=0sAwEAAQ\n");
        assert_eq!(read("sub/ipsec.secrets"), "192.168.0.2 : PSK x\n");
        assert_eq!(
            std::fs::read(base.join("dst/bin.der")).unwrap(),
            [0xff, 0xfe, 0x00]
        );
        assert!(!base.join("dst/ipsec.conf.in").exists());
        let _ = std::fs::remove_dir_all(&base);
    }
}
