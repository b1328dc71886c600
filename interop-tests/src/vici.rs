//! A small VICI client on the project's own codec
//! (`ike::daemon::vici::codec`): commands, streamed commands (`list-sas`
//! answers with `list-sa` events) and an event listener on a thread. It
//! talks to iked's socket and to strongSwan's alike, so a scenario can
//! compare what both ends of one tunnel report, field by field.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ike::daemon::vici::codec::segment_len;
pub use ike::daemon::vici::codec::{Item, Message, Packet};

use crate::{Result, lab_err};

/// How long one answer may take (an `initiate` waits for the peer).
const ANSWER: Duration = Duration::from_secs(60);

/// One connection to a VICI socket.
#[derive(Debug)]
pub struct Vici {
    s: UnixStream,
    path: PathBuf,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> crate::Error {
    lab_err!("vici {}: {what}: {e}", path.display())
}

impl Vici {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Vici> {
        let s = UnixStream::connect(path).map_err(|e| io(path, "connect", e))?;
        s.set_read_timeout(Some(ANSWER))
            .and_then(|_| s.set_write_timeout(Some(ANSWER)))
            .map_err(|e| io(path, "timeouts", e))?;
        Ok(Vici {
            s,
            path: path.to_owned(),
        })
    }

    fn send(&mut self, p: &Packet) -> Result<()> {
        let f = p
            .frame()
            .map_err(|e| lab_err!("vici: cannot encode {p:?}: {e}"))?;
        self.s.write_all(&f).map_err(|e| io(&self.path, "write", e))
    }

    fn recv(&mut self) -> Result<Packet> {
        read_packet(&mut self.s).map_err(|e| lab_err!("vici {}: {e}", self.path.display()))
    }

    /// Sends `command` with `args` and returns its CMD_RESPONSE; events
    /// that arrive first (of a registration on this connection) go to
    /// `on_event`.
    fn exchange(
        &mut self,
        command: &str,
        args: Message,
        mut on_event: impl FnMut(String, Message),
    ) -> Result<Message> {
        self.send(&Packet::CmdRequest {
            command: command.into(),
            message: args,
        })?;
        // bounded: each packet read is bounded by ANSWER, and a daemon
        // streams a finite list before its answer
        for _ in 0..100_000 {
            match self.recv()? {
                Packet::CmdResponse(m) => return Ok(m),
                Packet::CmdUnknown => return Err(lab_err!("vici: '{command}' is unknown")),
                Packet::Event { name, message } => on_event(name, message),
                other => return Err(lab_err!("vici: '{command}' answered with {other:?}")),
            }
        }
        Err(lab_err!("vici: '{command}': no answer after 100000 events"))
    }

    /// A command and its answer.
    pub fn request(&mut self, command: &str, args: Message) -> Result<Message> {
        self.exchange(command, args, |_, _| {})
    }

    fn registration(&mut self, p: Packet) -> Result<()> {
        let what = format!("{p:?}");
        self.send(&p)?;
        match self.recv()? {
            Packet::EventConfirm => Ok(()),
            other => Err(lab_err!("vici: {what} answered with {other:?}")),
        }
    }

    /// Registers for the event `name` on this connection.
    pub fn register(&mut self, name: &str) -> Result<()> {
        self.registration(Packet::EventRegister(name.into()))
    }

    /// A streamed command: registers for `event`, sends `command`, collects
    /// the events up to the answer, unregisters.
    pub fn stream(
        &mut self,
        command: &str,
        args: Message,
        event: &str,
    ) -> Result<(Vec<Message>, Message)> {
        self.register(event)?;
        let mut got = Vec::new();
        let answer = self.exchange(command, args, |n, m| {
            if n == event {
                got.push(m);
            }
        })?;
        self.registration(Packet::EventUnregister(event.into()))?;
        Ok((got, answer))
    }

    /// `list-sas`: one message per IKE_SA (`{conn: {fields, child-sas}}`).
    pub fn list_sas(&mut self) -> Result<Vec<Message>> {
        Ok(self.stream("list-sas", Message::new(), "list-sa")?.0)
    }
}

/// Reads one transport segment and decodes it.
fn read_packet(s: &mut UnixStream) -> std::result::Result<Packet, String> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).map_err(|e| format!("read: {e}"))?;
    let n = segment_len(h).map_err(|e| e.to_string())?;
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).map_err(|e| format!("read: {e}"))?;
    Packet::decode(&b).map_err(|e| format!("malformed packet: {e}"))
}

/// One event as the listener saw it.
#[derive(Debug, Clone)]
pub struct Event {
    /// `ike-updown`, `child-rekey`, ...
    pub name: String,
    /// Its message.
    pub message: Message,
    /// When it arrived.
    pub at: Instant,
}

/// Events of one VICI connection, collected by a thread until [`Listener::stop`]
/// (or the daemon closes the socket).
#[derive(Debug)]
pub struct Listener {
    events: Arc<Mutex<Vec<Event>>>,
    ended: Arc<Mutex<Option<String>>>,
    s: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Connects to `path` and registers for `names` (each confirmed before
    /// this returns: nothing published afterwards is missed).
    pub fn start(path: &Path, names: &[&str]) -> Result<Listener> {
        let mut v = Vici::connect(path)?;
        for n in names {
            v.register(n)?;
        }
        // the reader blocks; stop() ends it by shutting the socket down
        v.s.set_read_timeout(None)
            .map_err(|e| io(path, "timeouts", e))?;
        let s = v.s.try_clone().map_err(|e| io(path, "clone", e))?;
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let ended: Arc<Mutex<Option<String>>> = Arc::default();
        let (ev, end) = (events.clone(), ended.clone());
        let mut r = v.s;
        let thread = std::thread::spawn(move || {
            let why = loop {
                match read_packet(&mut r) {
                    Ok(Packet::Event { name, message }) => {
                        lock(&ev).push(Event {
                            name,
                            message,
                            at: Instant::now(),
                        });
                    }
                    Ok(other) => break format!("unexpected packet {other:?}"),
                    Err(e) => break e,
                }
            };
            *lock(&end) = Some(why);
        });
        Ok(Listener {
            events,
            ended,
            s,
            thread: Some(thread),
        })
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }

    /// Waits (at most `bound`) for an event named `name` whose message
    /// satisfies `pred`; returns it.
    pub fn wait_for(
        &self,
        name: &str,
        bound: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> Option<Event> {
        crate::cmd::poll(bound, || {
            self.events()
                .into_iter()
                .find(|e| e.name == name && pred(&e.message))
        })
    }

    /// Why the reader stopped early (the daemon closed the socket, a
    /// malformed packet), if it did.
    pub fn ended(&self) -> Option<String> {
        lock(&self.ended).clone()
    }

    /// Ends the reader thread; returns every event.
    pub fn stop(&mut self) -> Vec<Event> {
        let _ = self.s.shutdown(std::net::Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.events()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The value at `path` (section names, then a key) as text.
pub fn value<'a>(m: &'a Message, path: &[&str]) -> Option<&'a str> {
    let (key, sections) = path.split_last()?;
    section(m, sections)?.get_str(key)
}

/// The value at `path` as a number.
pub fn number(m: &Message, path: &[&str]) -> Option<u64> {
    value(m, path)?.parse().ok()
}

/// The section at `path` (empty: `m` itself).
pub fn section<'a>(m: &'a Message, path: &[&str]) -> Option<&'a Message> {
    path.iter().try_fold(m, |m, k| m.get_section(k))
}

/// The sub-sections of `m`, with their names, in order.
pub fn sections(m: &Message) -> Vec<(&str, &Message)> {
    m.items
        .iter()
        .filter_map(|(k, v)| match v {
            Item::Section(s) => Some((k.as_str(), s)),
            _ => None,
        })
        .collect()
}

/// `m` in one line: `key=value`, `name{...}` for sections, `key[a,b]` for
/// lists (for reports).
pub fn render(m: &Message) -> String {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    m.items
        .iter()
        .map(|(k, v)| match v {
            Item::Value(v) => format!("{k}={}", text(v)),
            Item::Section(s) => format!("{k}{{{}}}", render(s)),
            Item::List(l) => format!(
                "{k}[{}]",
                l.iter().map(|v| text(v)).collect::<Vec<_>>().join(",")
            ),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The list at `key` of `m`, as text.
pub fn list(m: &Message, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(Item::List(l)) => l
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_nested_values_and_lists() {
        let mut child = Message::new();
        child
            .kv("packets-in", "3")
            .list("local-ts", ["198.51.100.0/24"]);
        let mut cs = Message::new();
        cs.section("gw-1", child);
        let mut ike = Message::new();
        ike.kv("state", "ESTABLISHED").section("child-sas", cs);
        let mut m = Message::new();
        m.kv("up", "yes").section("gw", ike);
        assert_eq!(value(&m, &["up"]), Some("yes"));
        assert_eq!(value(&m, &["gw", "state"]), Some("ESTABLISHED"));
        assert_eq!(
            number(&m, &["gw", "child-sas", "gw-1", "packets-in"]),
            Some(3)
        );
        assert_eq!(value(&m, &["gw", "nosuch"]), None);
        let names: Vec<&str> = sections(&m).iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["gw"]);
        let c = section(&m, &["gw", "child-sas", "gw-1"]).unwrap();
        assert_eq!(list(c, "local-ts"), ["198.51.100.0/24"]);
        assert!(list(c, "remote-ts").is_empty());
        assert_eq!(
            render(&m),
            "up=yes gw{state=ESTABLISHED child-sas{gw-1{packets-in=3 local-ts[198.51.100.0/24]}}}"
        );
    }
}
