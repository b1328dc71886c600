//! Where strongswan.conf's loggers write, and how each line looks there:
//!
//! - `filelog` (a file, `stderr`, `stdout`): charon's line,
//!   `[TIME ]NN[GRP] [<name|id> ]message` (`time_format` is strftime(3),
//!   `time_precision` adds `.ms`/`.us`, `log_level` makes `[IKE2]`,
//!   `ike_name` adds the IKE_SA), appended unless `append = no`.
//! - `syslog` (a facility): an RFC 3164 datagram to `/dev/log`,
//!   `<PRI>TIME IDENT[PID]: NN[GRP] [<name|id> ]message`, priority LOG_INFO as
//!   charon's syslog logger sends every level.
//! - `journal`: systemd's native protocol (a datagram of `FIELD=value`
//!   lines) to `/run/systemd/journal/socket`, with charon-systemd's fields:
//!   MESSAGE, PRIORITY (level 0 notice, 1 info, higher debug), LEVEL, GROUP,
//!   THREAD, IKE_SA_UNIQUE_ID, IKE_SA_NAME, and SYSLOG_IDENTIFIER=iked.
//!
//! A sink that cannot write (disk full, no journal) loses the line: a logger
//! never stops the daemon. The first failure of each sink is told on stderr.

use conf::swconf::{LogTarget, Logger};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// systemd's journal socket (`IKED_JOURNAL_SOCKET` overrides it, for tests).
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// The syslog socket (`IKED_SYSLOG_SOCKET` overrides it, for tests).
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// One log line, before a sink formats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// strongSwan's level: 0 (audit) .. 4.
    pub level: i8,
    /// The subsystem (`ike`, `cfg`, ...; `lib` for other crates).
    pub group: &'a str,
    pub thread: u64,
    /// The IKE_SA the line is about: (conn name, unique id).
    pub ike_sa: Option<(&'a str, u32)>,
    pub msg: &'a str,
}

/// Options of a file or syslog logger that shape its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Format {
    pub time_format: Option<String>,
    /// `ms` or `us` after the time.
    pub time_precision: Option<String>,
    pub log_level: bool,
    pub ike_name: bool,
}

#[derive(Debug)]
enum Out {
    File(Mutex<std::fs::File>, PathBuf),
    Stderr,
    Stdout,
    Syslog {
        sock: UnixDatagram,
        path: PathBuf,
        facility: u8,
        ident: String,
    },
    Journal {
        sock: UnixDatagram,
        path: PathBuf,
    },
}

/// One logger of strongswan.conf, opened.
#[derive(Debug)]
pub struct Sink {
    out: Out,
    logger: Logger,
    format: Format,
    failed: AtomicBool,
}

/// syslog(3)'s facility codes by name.
pub fn facility(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        n => {
            let d = n.strip_prefix("local")?.parse::<u8>().ok()?;
            return (d <= 7).then_some(16 + d);
        }
    })
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

impl Sink {
    /// Opens the logger's file or socket. `ident`: the syslog identifier.
    pub fn open(logger: &Logger, ident: &str) -> Result<Sink, String> {
        let o = &logger.options;
        let out = match &logger.target {
            LogTarget::File(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(o.append)
                    .truncate(!o.append)
                    .open(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                Out::File(Mutex::new(f), p.clone())
            }
            LogTarget::Stderr => Out::Stderr,
            LogTarget::Stdout => Out::Stdout,
            LogTarget::Syslog(name) => Out::Syslog {
                sock: UnixDatagram::unbound().map_err(|e| e.to_string())?,
                path: env_path("IKED_SYSLOG_SOCKET", SYSLOG_SOCKET),
                facility: facility(name)
                    .ok_or_else(|| format!("'{name}' is no syslog facility"))?,
                ident: ident.to_owned(),
            },
            LogTarget::Journal => Out::Journal {
                sock: UnixDatagram::unbound().map_err(|e| e.to_string())?,
                path: journal_socket(),
            },
        };
        Ok(Sink {
            out,
            format: Format {
                time_format: o.time_format.clone(),
                time_precision: o.time_precision.clone(),
                log_level: o.log_level,
                ike_name: o.ike_name,
            },
            logger: logger.clone(),
            failed: AtomicBool::new(false),
        })
    }

    /// The logger as configured.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// Whether this logger takes a line of `group` at `level`.
    pub fn wants(&self, group: &str, level: i8) -> bool {
        level <= self.logger.level(group)
    }

    /// Writes `line` (already checked with [`Sink::wants`]).
    pub fn write(&self, line: &Line<'_>) {
        let r = match &self.out {
            Out::File(f, _) => {
                let text = file_line(&self.format, line);
                match f.lock() {
                    Ok(mut f) => f.write_all(text.as_bytes()).and_then(|()| f.flush()),
                    Err(_) => Ok(()),
                }
            }
            Out::Stderr => std::io::stderr().write_all(file_line(&self.format, line).as_bytes()),
            Out::Stdout => std::io::stdout().write_all(file_line(&self.format, line).as_bytes()),
            Out::Syslog {
                sock,
                path,
                facility,
                ident,
            } => sock
                .send_to(
                    syslog_datagram(*facility, ident, &self.format, line).as_bytes(),
                    path,
                )
                .map(drop),
            Out::Journal { sock, path } => sock.send_to(&journal_datagram(line), path).map(drop),
        };
        if let Err(e) = r {
            if !self.failed.swap(true, Ordering::Relaxed) {
                let _ = writeln!(
                    std::io::stderr(),
                    "iked: logger {} cannot write ({e}): its lines are lost",
                    self.describe()
                );
            }
        }
    }

    fn describe(&self) -> String {
        match &self.out {
            Out::File(_, p) => p.display().to_string(),
            Out::Stderr => "stderr".into(),
            Out::Stdout => "stdout".into(),
            Out::Syslog { path, .. } => format!("syslog ({})", path.display()),
            Out::Journal { path, .. } => format!("journal ({})", path.display()),
        }
    }
}

/// The journal's socket path.
pub fn journal_socket() -> PathBuf {
    env_path("IKED_JOURNAL_SOCKET", JOURNAL_SOCKET)
}

/// Whether stderr is systemd's journal stream (`JOURNAL_STREAM` names the
/// device and inode of the stream systemd connected): charon-systemd's case,
/// where the journal is the default logger.
pub fn stderr_is_journal() -> bool {
    let Some(want) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = want.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(m) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    dev.parse() == Ok(m.dev())
        && ino.parse() == Ok(m.ino())
        && Path::new(&journal_socket()).exists()
}

fn now_text(f: &Format) -> Option<String> {
    let tf = f.time_format.as_deref()?;
    let now = jiff::ZonedDateTime::now();
    let mut s = now.strftime(tf).to_string();
    match f.time_precision.as_deref() {
        Some("ms") => s.push_str(&format!(".{:03}", now.subsec_nanosecond() / 1_000_000)),
        Some("us") => s.push_str(&format!(".{:06}", now.subsec_nanosecond() / 1_000)),
        _ => {}
    }
    Some(s)
}

/// `NN[GRP] [<name|id> ]message`: charon's line after its timestamp.
fn body(f: &Format, l: &Line<'_>) -> String {
    let group = l.group.to_ascii_uppercase();
    let level = if f.log_level {
        l.level.max(0).to_string()
    } else {
        String::new()
    };
    let sa = match (f.ike_name, l.ike_sa) {
        (true, Some((name, id))) => format!("<{name}|{id}> "),
        _ => String::new(),
    };
    format!("{:02}[{group}{level}] {sa}{}", l.thread, l.msg)
}

/// One `filelog` line, with its newline.
pub fn file_line(f: &Format, l: &Line<'_>) -> String {
    match now_text(f) {
        Some(t) => format!("{t} {}\n", body(f, l)),
        None => format!("{}\n", body(f, l)),
    }
}

/// One syslog datagram (RFC 3164), priority LOG_INFO.
pub fn syslog_datagram(facility: u8, ident: &str, f: &Format, l: &Line<'_>) -> String {
    const LOG_INFO: u8 = 6;
    let pri = u16::from(facility) * 8 + u16::from(LOG_INFO);
    let time = jiff::ZonedDateTime::now().strftime("%b %e %T").to_string();
    format!(
        "<{pri}>{time} {ident}[{}]: {}",
        std::process::id(),
        body(f, l)
    )
}

/// The journal's PRIORITY of a strongSwan level, as charon-systemd maps it.
pub fn journal_priority(level: i8) -> u8 {
    match level {
        i8::MIN..=0 => 5, // LOG_NOTICE
        1 => 6,           // LOG_INFO
        _ => 7,           // LOG_DEBUG
    }
}

/// One datagram of the journal's native protocol: `FIELD=value\n` each, or
/// `FIELD\n<u64 LE length>value\n` for a value with a newline.
pub fn journal_datagram(l: &Line<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(l.msg.len() + 160);
    let mut field = |k: &str, v: &str| {
        out.extend_from_slice(k.as_bytes());
        if v.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    };
    field("MESSAGE", l.msg);
    field("PRIORITY", &journal_priority(l.level).to_string());
    field("SYSLOG_IDENTIFIER", "iked");
    field("LEVEL", &l.level.to_string());
    field("GROUP", &l.group.to_ascii_uppercase());
    field("THREAD", &l.thread.to_string());
    if let Some((name, id)) = l.ike_sa {
        field("IKE_SA_UNIQUE_ID", &id.to_string());
        field("IKE_SA_NAME", name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(msg: &'a str, sa: Option<(&'a str, u32)>) -> Line<'a> {
        Line {
            level: 1,
            group: "ike",
            thread: 7,
            ike_sa: sa,
            msg,
        }
    }

    #[test]
    fn file_lines_look_like_charons() {
        let plain = Format::default();
        let l = line("establishing CHILD_SA net-net{1}", Some(("net-net", 3)));
        assert_eq!(
            file_line(&plain, &l),
            "07[IKE] establishing CHILD_SA net-net{1}\n"
        );
        let rich = Format {
            log_level: true,
            ike_name: true,
            ..Format::default()
        };
        assert_eq!(
            file_line(&rich, &l),
            "07[IKE1] <net-net|3> establishing CHILD_SA net-net{1}\n"
        );
        // ike_name without an IKE_SA: nothing added.
        assert_eq!(file_line(&rich, &line("x", None)), "07[IKE1] x\n");
        let timed = Format {
            time_format: Some("%Y".into()),
            time_precision: Some("ms".into()),
            ..Format::default()
        };
        let t = file_line(&timed, &l);
        let (stamp, rest) = t.split_once(' ').unwrap();
        assert_eq!(rest, "07[IKE] establishing CHILD_SA net-net{1}\n");
        let (year, ms) = stamp.split_once('.').unwrap();
        assert!(year.len() == 4 && year.starts_with("20"), "{t}");
        assert!(
            ms.len() == 3 && ms.bytes().all(|b| b.is_ascii_digit()),
            "{t}"
        );
    }

    #[test]
    fn journal_fields_are_charon_systemds() {
        let l = Line {
            level: 0,
            group: "ike",
            thread: 12,
            ike_sa: Some(("net-net", 4)),
            msg: "IKE_SA net-net[4] established",
        };
        let d = String::from_utf8(journal_datagram(&l)).unwrap();
        assert_eq!(
            d,
            "MESSAGE=IKE_SA net-net[4] established\nPRIORITY=5\nSYSLOG_IDENTIFIER=iked\nLEVEL=0\nGROUP=IKE\nTHREAD=12\nIKE_SA_UNIQUE_ID=4\nIKE_SA_NAME=net-net\n"
        );
        assert_eq!(
            (
                journal_priority(1),
                journal_priority(2),
                journal_priority(4)
            ),
            (6, 7, 7)
        );
        // A message with a newline goes length-prefixed.
        let d = journal_datagram(&line("a\nb", None));
        let want: Vec<u8> = [&b"MESSAGE\n"[..], &3u64.to_le_bytes(), b"a\nb\n"].concat();
        assert!(d.starts_with(&want), "{d:?}");
        assert!(!String::from_utf8_lossy(&d).contains("IKE_SA_NAME"));
    }

    #[test]
    fn syslog_datagrams_carry_the_facility() {
        assert_eq!((facility("daemon"), facility("auth")), (Some(3), Some(4)));
        assert_eq!((facility("local7"), facility("local8")), (Some(23), None));
        let f = Format {
            ike_name: true,
            ..Format::default()
        };
        let d = syslog_datagram(4, "charon", &f, &line("hi", Some(("rw", 2))));
        assert!(d.starts_with("<38>"), "auth.info = 4*8+6: {d}");
        assert!(
            d.ends_with(&format!(
                " charon[{}]: 07[IKE] <rw|2> hi",
                std::process::id()
            )),
            "{d}"
        );
    }
}
