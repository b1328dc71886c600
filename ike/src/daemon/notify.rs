//! systemd's readiness protocol (sd_notify(3)): newline-separated `KEY=VALUE`
//! datagrams (`READY=1`, `STATUS=...`, `RELOADING=1`, `STOPPING=1`,
//! `WATCHDOG=1`) sent to the unix datagram socket named by `$NOTIFY_SOCKET`
//! (a path, or `@name` for the abstract namespace). Without the variable
//! (not started by systemd with `Type=notify`) every call does nothing.
//!
//! Written with std alone (a dozen lines) rather than a crate.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;
use tracing::debug;

/// Where systemd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// The notification socket, if systemd gave one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
    sock: Option<UnixDatagram>,
    /// `$WATCHDOG_USEC` when it names this process (or no process).
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` / `$WATCHDOG_PID`.
    pub fn from_env() -> Self {
        let target =
            std::env::var_os("NOTIFY_SOCKET").and_then(|v| parse_target(v.as_encoded_bytes()));
        let pid_ok = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && pid_ok)
            .map(Duration::from_micros);
        let sock = target.as_ref().and_then(|_| UnixDatagram::unbound().ok());
        Notifier {
            target,
            sock,
            watchdog,
        }
    }

    /// A notifier that sends nothing (tests, or not under systemd).
    pub fn none() -> Self {
        Notifier {
            target: None,
            sock: None,
            watchdog: None,
        }
    }

    /// Whether systemd listens (else every notification is dropped).
    pub fn active(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send `WATCHDOG=1` (half systemd's timeout), if asked to.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref()?;
        self.watchdog.map(|w| w / 2)
    }

    /// Sends one notification (`KEY=VALUE` lines); failures are logged at debug.
    pub fn send(&self, state: &str) {
        let (Some(t), Some(s)) = (&self.target, &self.sock) else {
            return;
        };
        let r = match t {
            Target::Path(p) => s.send_to(state.as_bytes(), p),
            Target::Abstract(name) => send_abstract(s, name, state.as_bytes()),
        };
        if let Err(e) = r {
            debug!(target: "dmn", "sd_notify '{}': {e}", state.replace('\n', " "));
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!(
            "READY=1\nSTATUS={}\nMAINPID={}",
            one_line(status),
            std::process::id()
        ));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// After a reload (`READY=1` again, as sd_notify(3) asks).
    pub fn reloaded(&self, status: &str) {
        self.ready(status);
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

fn parse_target(v: &[u8]) -> Option<Target> {
    match v {
        [] => None,
        [b'@', name @ ..] => Some(Target::Abstract(name.to_vec())),
        [b'/', ..] => Some(Target::Path(PathBuf::from(
            String::from_utf8_lossy(v).into_owned(),
        ))),
        // vsock and relative paths are not for a system daemon
        _ => None,
    }
}

fn send_abstract(s: &UnixDatagram, name: &[u8], data: &[u8]) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt as _;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    s.send_to_addr(data, &addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(s: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target(b""), None);
        assert_eq!(parse_target(b"vsock:2:1"), None);
        assert_eq!(parse_target(b"@sd"), Some(Target::Abstract(b"sd".to_vec())));
        assert_eq!(
            parse_target(b"/run/systemd/notify"),
            Some(Target::Path("/run/systemd/notify".into()))
        );
    }

    #[test]
    fn sends_to_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("iked-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier {
            target: Some(Target::Path(path.clone())),
            sock: UnixDatagram::unbound().ok(),
            watchdog: Some(Duration::from_secs(30)),
        };
        n.ready("1 IKE_SA\nup");
        assert_eq!(
            recv(&listener),
            format!(
                "READY=1\nSTATUS=1 IKE_SA up\nMAINPID={}",
                std::process::id()
            )
        );
        n.stopping();
        assert_eq!(recv(&listener), "STOPPING=1\nSTATUS=stopping");
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));

        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("iked-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abs = UnixDatagram::bind_addr(&addr).unwrap();
        abs.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier {
            target: Some(Target::Abstract(name.into_bytes())),
            sock: UnixDatagram::unbound().ok(),
            watchdog: None,
        };
        n.watchdog();
        assert_eq!(recv(&abs), "WATCHDOG=1");
        assert_eq!(n.watchdog_interval(), None);
        Notifier::none().ready("nothing happens");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
