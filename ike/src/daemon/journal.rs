//! What this iked put into the kernel, written down as it happens, so that
//! an iked started after a crash (`kill -9`, OOM) removes exactly what its
//! predecessor installed — SAs and policies, traps and shunts — and nothing
//! that another daemon or the administrator installed.
//!
//! The journal is a text file beside the control socket (`<ctl>.xfrm`), one
//! line per change: `+` or `-`, then `sa DST SPI PROTO MARK` or
//! `pol DIR SRC DST PROTO SPORT DPORT IFINDEX MARK IF_ID`. It lives in /run
//! (tmpfs): after a reboot the kernel state is gone, and so is the journal.
//! Appends are not synced (a killed process loses nothing the page cache
//! holds; a machine crash loses the kernel state too). Larval SAs of
//! ALLOCSPI are not journaled: the kernel expires them by itself.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tracing::{debug, warn};
use xfrm::{Direction, Mark, PolicyId, Prefix, Protocol, SaId, Selector};

/// One kernel object, by the keys the kernel finds it with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    Sa(String),
    Policy(String),
}

fn mark_text(m: Option<Mark>) -> String {
    m.map_or("-".into(), |m| format!("{:#x}/{:#x}", m.value, m.mask))
}

fn proto_num(p: Protocol) -> u8 {
    match p {
        Protocol::Esp => 50,
        Protocol::Ah => 51,
        Protocol::Comp => 108,
        Protocol::Other(n) => n,
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The journal line body of an SA.
pub fn sa_key(id: &SaId) -> String {
    format!(
        "sa {} {:08x} {} {}",
        id.dst,
        id.spi,
        proto_num(id.protocol),
        mark_text(id.mark)
    )
}

/// The journal line body of a policy.
pub fn policy_key(id: &PolicyId) -> String {
    let s = &id.selector;
    format!(
        "pol {} {} {} {} {} {} {} {} {}",
        match id.dir {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Fwd => "fwd",
        },
        s.src,
        s.dst,
        s.proto,
        opt(s.sport),
        opt(s.dport),
        s.ifindex,
        mark_text(id.mark),
        opt(id.if_id)
    )
}

fn parse_mark(t: &str) -> Result<Option<Mark>, String> {
    if t == "-" {
        return Ok(None);
    }
    let (v, m) = t.split_once('/').ok_or("mark without '/'")?;
    let num = |x: &str| {
        u32::from_str_radix(x.trim_start_matches("0x"), 16).map_err(|e| format!("mark {x}: {e}"))
    };
    Ok(Some(Mark {
        value: num(v)?,
        mask: num(m)?,
    }))
}

fn parse_opt<T: std::str::FromStr>(t: &str) -> Result<Option<T>, String> {
    if t == "-" {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| format!("'{t}' is not a number"))
}

/// An SA id back from its journal key.
pub fn parse_sa(key: &str) -> Result<SaId, String> {
    let f: Vec<&str> = key.split(' ').collect();
    let [_, dst, spi, proto, mark] = f[..] else {
        return Err(format!("unreadable SA entry '{key}'"));
    };
    let protocol = match proto.parse::<u8>().map_err(|e| e.to_string())? {
        50 => Protocol::Esp,
        51 => Protocol::Ah,
        108 => Protocol::Comp,
        n => Protocol::Other(n),
    };
    Ok(SaId {
        dst: dst.parse::<IpAddr>().map_err(|e| e.to_string())?,
        spi: u32::from_str_radix(spi, 16).map_err(|e| e.to_string())?,
        protocol,
        mark: parse_mark(mark)?,
    })
}

/// A policy id back from its journal key.
pub fn parse_policy(key: &str) -> Result<PolicyId, String> {
    let f: Vec<&str> = key.split(' ').collect();
    let [_, dir, src, dst, proto, sport, dport, ifindex, mark, if_id] = f[..] else {
        return Err(format!("unreadable policy entry '{key}'"));
    };
    let dir = match dir {
        "in" => Direction::In,
        "out" => Direction::Out,
        "fwd" => Direction::Fwd,
        d => return Err(format!("direction '{d}'")),
    };
    let prefix = |t: &str| t.parse::<Prefix>().map_err(|e| format!("{t}: {e}"));
    let mut selector = Selector::new(prefix(src)?, prefix(dst)?);
    selector.proto = proto.parse().map_err(|_| format!("protocol '{proto}'"))?;
    selector.sport = parse_opt(sport)?;
    selector.dport = parse_opt(dport)?;
    selector.ifindex = ifindex
        .parse()
        .map_err(|_| format!("ifindex '{ifindex}'"))?;
    Ok(PolicyId {
        selector,
        dir,
        index: 0,
        mark: parse_mark(mark)?,
        if_id: parse_opt(if_id)?,
    })
}

/// The journal of one iked instance.
#[derive(Debug, Default)]
pub struct Journal {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    /// Lines not yet written: one write per change, or per [`Journal::hold`].
    buf: String,
    held: bool,
}

impl Journal {
    /// A journal that writes nothing (tests, or no writable place).
    pub fn disabled() -> Journal {
        Journal::default()
    }

    /// The journal of the iked whose control socket is `ctl`.
    pub fn path_for(ctl: &Path) -> PathBuf {
        let mut p = ctl.as_os_str().to_owned();
        p.push(".xfrm");
        PathBuf::from(p)
    }

    /// Reads what a previous instance left (entries added and not removed),
    /// then starts an empty journal at `path`. Unreadable lines are skipped
    /// with a warning (nothing is removed on a guess).
    pub fn open(path: &Path) -> (Journal, Vec<Entry>) {
        let mut live: BTreeSet<Entry> = BTreeSet::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for (n, line) in text.lines().enumerate() {
                let (sign, body) = line.split_at_checked(1).unwrap_or(("", ""));
                let e = if body.starts_with("sa ") {
                    Entry::Sa(body.to_owned())
                } else if body.starts_with("pol ") {
                    Entry::Policy(body.to_owned())
                } else {
                    warn!(target: "knl", "{}:{}: unreadable journal line skipped", path.display(), n + 1);
                    continue;
                };
                match sign {
                    "+" => {
                        live.insert(e);
                    }
                    "-" => {
                        live.remove(&e);
                    }
                    _ => {
                        warn!(target: "knl", "{}:{}: unreadable journal line skipped", path.display(), n + 1)
                    }
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path);
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                warn!(target: "knl", "unable to write the kernel journal {}: {e} (after a crash, what this iked installed would stay in the kernel)", path.display());
                None
            }
        };
        (
            Journal {
                path: Some(path.to_owned()),
                file,
                ..Journal::default()
            },
            live.into_iter().collect(),
        )
    }

    fn write(&mut self, sign: char, body: &str) {
        if self.file.is_none() {
            return;
        }
        self.buf.push(sign);
        self.buf.push_str(body);
        self.buf.push('\n');
        if !self.held {
            self.flush();
        }
    }

    /// Collects the lines of the changes that follow until [`Journal::flush`]
    /// (one install: its SAs and policies), to write them at once.
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Writes the collected lines (one `write`) and ends a [`Journal::hold`].
    pub fn flush(&mut self) {
        self.held = false;
        if self.buf.is_empty() {
            return;
        }
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(self.buf.as_bytes()) {
                warn!(target: "knl", "kernel journal: {e}; no longer written");
                self.file = None;
            }
        }
        self.buf.clear();
    }

    pub fn sa_added(&mut self, id: &SaId) {
        self.write('+', &sa_key(id));
    }
    pub fn sa_removed(&mut self, id: &SaId) {
        self.write('-', &sa_key(id));
    }
    pub fn policy_added(&mut self, id: &PolicyId) {
        self.write('+', &policy_key(id));
    }
    pub fn policy_removed(&mut self, id: &PolicyId) {
        self.write('-', &policy_key(id));
    }

    /// A clean stop with nothing left installed: the journal goes.
    pub fn close(&mut self) {
        self.file = None;
        if let Some(p) = self.path.take() {
            if let Err(e) = std::fs::remove_file(&p) {
                debug!(target: "knl", "removing {}: {e}", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicyId {
        let mut s = Selector::new(
            "198.51.100.0/24".parse().unwrap(),
            "203.0.113.0/24".parse().unwrap(),
        );
        s.proto = 47;
        s.dport = Some(443);
        PolicyId {
            selector: s,
            dir: Direction::Fwd,
            index: 0,
            mark: Some(Mark {
                value: 6,
                mask: u32::MAX,
            }),
            if_id: Some(9),
        }
    }

    fn sa() -> SaId {
        SaId {
            dst: "2001:db8::1".parse().unwrap(),
            spi: 0xc0ffee01,
            protocol: Protocol::Esp,
            mark: None,
        }
    }

    #[test]
    fn keys_read_back_to_the_same_ids() {
        assert_eq!(parse_sa(&sa_key(&sa())).unwrap(), sa());
        assert_eq!(parse_policy(&policy_key(&policy())).unwrap(), policy());
    }

    #[test]
    fn what_was_added_and_not_removed_is_left_over() {
        let p = std::env::temp_dir().join(format!("iked-journal-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let (mut j, left) = Journal::open(&p);
        assert!(left.is_empty());
        let mut gone = sa();
        gone.spi = 7;
        j.sa_added(&sa());
        j.sa_added(&gone);
        j.policy_added(&policy());
        j.sa_removed(&gone);
        drop(j); // "killed": no close
        std::fs::write(&p, std::fs::read_to_string(&p).unwrap() + "garbage\n").unwrap();
        let (mut j, left) = Journal::open(&p);
        assert_eq!(
            left,
            vec![
                Entry::Sa(sa_key(&sa())),
                Entry::Policy(policy_key(&policy()))
            ]
        );
        // The new instance starts empty.
        drop(j);
        let (mut j2, left) = Journal::open(&p);
        assert!(left.is_empty());
        j2.close();
        assert!(!p.exists());
        j = Journal::disabled();
        j.sa_added(&sa());
    }
}
