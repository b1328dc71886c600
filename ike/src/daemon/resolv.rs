//! DNS servers a gateway assigned us (CP reply, `leftsourceip=%config`),
//! written where strongSwan's `resolve` plugin writes them: a line
//! `nameserver ADDR   # by strongSwan` at the top of
//! `charon.plugins.resolve.file` (default /etc/resolv.conf) while an IKE_SA
//! (or its rekeyed successor) holds the server, removed after. Lines that
//! were there before are never touched; a server two IKE_SAs name is
//! written once and removed with the last of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

/// The line for a server (strongSwan's form, which tools and tests grep).
fn line(ip: &IpAddr) -> String {
    format!("nameserver {ip}   # by strongSwan")
}

/// Which IKE_SAs hold which server, and the file they went to.
#[derive(Debug, Default)]
pub struct Resolv {
    users: BTreeMap<IpAddr, BTreeSet<u32>>,
    by_sa: HashMap<u32, Vec<IpAddr>>,
    file: Option<PathBuf>,
}

impl Resolv {
    /// IKE_SA `ike_id` came up (or is a rekey's successor) with `servers`.
    pub fn ike_up(&mut self, file: &Path, ike_id: u32, servers: &[IpAddr]) {
        self.file = Some(file.to_owned());
        let mut add = Vec::new();
        for s in servers {
            let users = self.users.entry(*s).or_default();
            if users.is_empty() {
                add.push(*s);
            }
            users.insert(ike_id);
        }
        self.by_sa.insert(ike_id, servers.to_vec());
        if add.is_empty() {
            return;
        }
        let edit = |text: &str| {
            let mut out: String = add.iter().map(|s| line(s) + "\n").collect();
            out.push_str(text);
            out
        };
        match rewrite(file, edit) {
            Ok(()) => {
                for s in &add {
                    info!(target: "ike", "installing DNS server {s} to {}", file.display());
                }
            }
            Err(e) => warn!(target: "ike", "DNS servers {add:?} not installed: {e}"),
        }
    }

    /// IKE_SA `ike_id` is gone: the servers nobody else holds are removed.
    pub fn ike_down(&mut self, ike_id: u32) {
        let Some(servers) = self.by_sa.remove(&ike_id) else {
            return;
        };
        let mut gone = Vec::new();
        for s in servers {
            if let Some(users) = self.users.get_mut(&s) {
                users.remove(&ike_id);
                if users.is_empty() {
                    self.users.remove(&s);
                    gone.push(s);
                }
            }
        }
        self.remove(&gone);
    }

    /// The daemon stops: every line it wrote goes.
    pub fn shutdown(&mut self) {
        let all: Vec<IpAddr> = std::mem::take(&mut self.users).into_keys().collect();
        self.by_sa.clear();
        self.remove(&all);
    }

    fn remove(&self, gone: &[IpAddr]) {
        let Some(file) = &self.file else { return };
        if gone.is_empty() {
            return;
        }
        let ours: Vec<String> = gone.iter().map(line).collect();
        let edit = |text: &str| {
            text.split_inclusive('\n')
                .filter(|l| !ours.iter().any(|o| l.trim_end() == o))
                .collect()
        };
        match rewrite(file, edit) {
            Ok(()) => {
                for s in gone {
                    info!(target: "ike", "removing DNS server {s} from {}", file.display());
                }
            }
            Err(e) => warn!(target: "ike", "DNS servers {gone:?} not removed: {e}"),
        }
    }
}

/// Rewrites `file` in place (a symlinked resolv.conf stays a link).
fn rewrite(file: &Path, edit: impl Fn(&str) -> String) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    std::fs::write(file, edit(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn servers_come_and_go_with_their_ike_sas_and_others_stay() {
        let dir = std::env::temp_dir().join(format!("iked-resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("resolv.conf");
        std::fs::write(&f, "nameserver 192.0.2.53\nsearch example.org\n").unwrap();
        let read = || std::fs::read_to_string(&f).unwrap();
        let mut r = Resolv::default();
        r.ike_up(&f, 1, &[ip("198.51.100.1"), ip("2001:db8::1")]);
        assert_eq!(
            read(),
            "nameserver 198.51.100.1   # by strongSwan\nnameserver 2001:db8::1   # by strongSwan\nnameserver 192.0.2.53\nsearch example.org\n"
        );
        // A rekey's successor holds the same server: written once, kept
        // when the old IKE_SA goes.
        r.ike_up(&f, 2, &[ip("198.51.100.1")]);
        assert_eq!(read().matches("198.51.100.1").count(), 1);
        r.ike_down(1);
        assert_eq!(
            read(),
            "nameserver 198.51.100.1   # by strongSwan\nnameserver 192.0.2.53\nsearch example.org\n"
        );
        r.ike_down(2);
        assert_eq!(read(), "nameserver 192.0.2.53\nsearch example.org\n");
        // An unknown IKE_SA going down changes nothing; shutdown removes all.
        r.ike_down(9);
        r.ike_up(&f, 3, &[ip("198.51.100.7")]);
        r.shutdown();
        assert_eq!(read(), "nameserver 192.0.2.53\nsearch example.org\n");
        let _ = std::fs::remove_dir_all(dir);
    }
}
