//! A test host's syslog daemon: the part of strongSwan's testing
//! rsyslog.conf the suite reads (`daemon.*` to `/var/log/daemon.log`,
//! `auth,authpriv.*` to `/var/log/auth.log`), lines in rsyslog's
//! traditional file format (`Mmm dd hh:mm:ss HOST TAG[PID]: MESSAGE`).
//! It listens on a datagram socket (bind-mounted over the host's
//! `/dev/log`) until it is ended by PID, or after `max` at the latest.

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Error, Result};

const DAEMON: u8 = 3;
const AUTH: u8 = 4;
const AUTHPRIV: u8 = 10;

/// A received datagram, split: (facility, the file line without newline).
pub fn format_line(datagram: &str, host: &str, now: &dyn Fn() -> String) -> Option<(u8, String)> {
    let rest = datagram.strip_prefix('<')?;
    let (pri, msg) = rest.split_once('>')?;
    let pri: u16 = pri.parse().ok()?;
    let facility = u8::try_from(pri / 8).ok()?;
    let msg = msg.trim_end_matches(['\n', '\0']);
    // RFC 3164 as glibc's syslog(3) sends it: "Mmm dd hh:mm:ss TAG: MSG"
    let has_time = msg.len() > 16
        && msg.is_char_boundary(15)
        && msg.as_bytes()[15] == b' '
        && msg.as_bytes()[3] == b' '
        && msg.as_bytes()[9] == b':';
    let line = if has_time {
        format!("{} {host} {}", &msg[..15], &msg[16..])
    } else {
        format!("{} {host} {msg}", now())
    };
    Some((facility, line))
}

/// Which file of `dir` a facility's lines go to.
pub fn file_of(facility: u8) -> Option<&'static str> {
    match facility {
        DAEMON => Some("daemon.log"),
        AUTH | AUTHPRIV => Some("auth.log"),
        _ => None,
    }
}

fn now_text() -> String {
    // the guest's clock as rsyslog prints it; `date` keeps this crate free
    // of a time dependency
    std::process::Command::new("date")
        .arg("+%b %e %T")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Serves `socket` until ended (or `max` has passed).
pub fn serve(socket: &Path, dir: &Path, host: &str, max: Duration) -> Result<()> {
    let _ = std::fs::remove_file(socket);
    let sock = UnixDatagram::bind(socket).map_err(|source| Error::Io {
        path: socket.to_owned(),
        source,
    })?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|source| Error::Io {
            path: socket.to_owned(),
            source,
        })?;
    let t = Instant::now();
    let mut buf = vec![0u8; 65536];
    while t.elapsed() < max {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(source) => {
                return Err(Error::Io {
                    path: socket.to_owned(),
                    source,
                });
            }
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let Some((facility, line)) = format_line(&text, host, &now_text) else {
            continue;
        };
        let Some(file) = file_of(facility) else {
            continue;
        };
        let path = dir.join(file);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        let _ = writeln!(f, "{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_rsyslogs() {
        let (f, l) = format_line(
            "<30>Dec  2 07:30:01 charon: 09[IKE] IKE_SA net-net[1] established",
            "moon",
            &|| "X".into(),
        )
        .expect("line");
        assert_eq!(f, DAEMON);
        assert_eq!(
            l,
            "Dec  2 07:30:01 moon charon: 09[IKE] IKE_SA net-net[1] established"
        );
        assert_eq!(file_of(f), Some("daemon.log"));
        let (f, l) =
            format_line("<86>no time here\n", "sun", &|| "Dec  2 07:30:02".into()).expect("line");
        assert_eq!(file_of(f), Some("auth.log"));
        assert_eq!(l, "Dec  2 07:30:02 sun no time here");
        assert_eq!(file_of(0), None);
        assert!(format_line("no priority", "sun", &|| "X".into()).is_none());
        assert!(format_line("<x>bad", "sun", &|| "X".into()).is_none());
    }
}
