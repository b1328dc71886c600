//! VICI's server-issued events: `ike-updown`, `ike-rekey`, `child-updown`,
//! `child-rekey` (published by the daemon loop, see `daemon/server/sa_events.rs`),
//! `log` (every log line iked writes) and `control-log` (the lines of the
//! SA an `initiate` / `terminate` works on, streamed to its caller).
//!
//! The layouts are those of strongSwan's VICI README: an SA event carries
//! the same fields as `list-sa`; a `log` event `group`, `level`, `thread`,
//! `ikesa-name`, `ikesa-uniqueid` and `msg`.
//!
//! Log lines are attributed to an IKE_SA by the `name[N]` / `name{N}` in
//! their text (iked names its SAs that way in every line about one).

use super::codec::Message;
use super::commands::{child_sa, ike_sa};
use crate::daemon::status::{ChildSaView, IkeSaView};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

/// The SA events (published by the daemon loop).
pub const SA_EVENTS: &[&str] = &["ike-updown", "ike-rekey", "child-updown", "child-rekey"];

/// Events buffered per client before a slow one misses some.
const BACKLOG: usize = 1024;

/// One published SA event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub name: &'static str,
    pub message: Message,
}

/// Where the daemon loop publishes SA events; each VICI client registered
/// for one holds a receiver. Publishing never blocks the loop.
#[derive(Debug, Clone)]
pub struct Hub(broadcast::Sender<Arc<Published>>);

impl Default for Hub {
    fn default() -> Self {
        Hub(broadcast::channel(BACKLOG).0)
    }
}

impl Hub {
    /// Whether any client listens (the loop builds events only then).
    pub fn listening(&self) -> bool {
        self.0.receiver_count() > 0
    }

    pub fn publish(&self, name: &'static str, message: Message) {
        let _ = self.0.send(Arc::new(Published { name, message }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.0.subscribe()
    }
}

/// An IKE_SA of `ike-updown` / `ike-rekey`: list-sa's fields and an empty
/// `child-sas` section (the README leaves it out; `swanctl --monitor-sa`
/// prints an IKE_SA only when that section opens).
fn ike_only(config: &conf::Config, sa: &IkeSaView) -> Message {
    let mut m = ike_sa(config, sa, false);
    m.section("child-sas", Message::new());
    m
}

/// `ike-updown`: the IKE_SA without its CHILD_SAs.
pub fn ike_updown(up: bool, config: &conf::Config, sa: &IkeSaView) -> Message {
    let mut m = Message::new();
    if up {
        m.kv("up", "yes");
    }
    m.section(&sa.conn, ike_only(config, sa));
    m
}

/// `ike-rekey`: the old and the new IKE_SA.
pub fn ike_rekey(config: &conf::Config, old: &IkeSaView, new: &IkeSaView) -> Message {
    let mut inner = Message::new();
    inner
        .section("old", ike_only(config, old))
        .section("new", ike_only(config, new));
    let mut m = Message::new();
    m.section(&new.conn, inner);
    m
}

fn child_key(c: &ChildSaView) -> String {
    format!("{}-{}", c.conn, c.child_id)
}

/// `child-updown`: the IKE_SA with only this CHILD_SA.
pub fn child_updown(
    up: bool,
    config: &conf::Config,
    sa: &IkeSaView,
    child: &ChildSaView,
) -> Message {
    let mut c = child_sa(child, config.conn(&child.conn));
    if !up {
        set_value(&mut c, "state", "DELETING");
    }
    let mut cs = Message::new();
    cs.section(&child_key(child), c);
    let mut ike = ike_sa(config, sa, false);
    ike.section("child-sas", cs);
    let mut m = Message::new();
    if up {
        m.kv("up", "yes");
    }
    m.section(&sa.conn, ike);
    m
}

/// Replaces the value of `key` (appends it if absent).
fn set_value(m: &mut Message, key: &str, value: &str) {
    match m.items.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = super::codec::Item::Value(value.as_bytes().to_vec()),
        None => {
            m.kv(key, value);
        }
    }
}

/// `child-rekey`: the IKE_SA with the old and the new CHILD_SA.
pub fn child_rekey(
    config: &conf::Config,
    sa: &IkeSaView,
    old: &ChildSaView,
    new: &ChildSaView,
) -> Message {
    let mut pair = Message::new();
    pair.section("old", child_sa(old, config.conn(&old.conn)))
        .section("new", child_sa(new, config.conn(&new.conn)));
    let mut cs = Message::new();
    cs.section(&child_key(new), pair);
    let mut ike = ike_sa(config, sa, false);
    ike.section("child-sas", cs);
    let mut m = Message::new();
    m.section(&sa.conn, ike);
    m
}

/// One log line as VICI clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// strongSwan's subsystem: `IKE`, `CHD`, `KNL`, ...
    pub group: String,
    /// strongSwan's level: 0 (warnings, errors), 1 (info), 2 (debug), 3 (trace).
    pub level: u8,
    pub thread: u64,
    /// The IKE_SA (or CHILD_SA) the line names: conn and, for `name[N]`, N.
    pub ikesa: Option<(String, Option<u32>)>,
    pub msg: String,
}

impl LogLine {
    /// The `log` event (`thread`) or the `control-log` event (no thread).
    pub fn message(&self, thread: bool) -> Message {
        let mut m = Message::new();
        m.kv("group", &self.group)
            .kv("level", self.level.to_string());
        if thread {
            m.kv("thread", self.thread.to_string());
        }
        if let Some((name, id)) = &self.ikesa {
            m.kv("ikesa-name", name);
            if let Some(id) = id {
                m.kv("ikesa-uniqueid", id.to_string());
            }
        }
        m.kv("msg", &self.msg);
        m
    }
}

/// The first SA a log message names: `gw[3]` -> ("gw", Some(3)), `gw{5}` ->
/// ("gw", None). Addresses with ports in brackets (`192.0.2.1[500]`,
/// `2001:db8::1[500]`) are not names.
pub fn sa_of(msg: &str) -> Option<(String, Option<u32>)> {
    let b = msg.as_bytes();
    let name_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    for (i, &c) in b.iter().enumerate() {
        let close = match c {
            b'[' => b']',
            b'{' => b'}',
            _ => continue,
        };
        let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 || b.get(i + 1 + digits) != Some(&close) {
            continue;
        }
        let start = b[..i]
            .iter()
            .rposition(|&x| !name_char(x))
            .map_or(0, |p| p + 1);
        let name = &msg[start..i];
        let address = name.bytes().all(|x| x.is_ascii_digit() || x == b'.')
            || (start > 0 && b[start - 1] == b':');
        if name.is_empty() || address {
            continue;
        }
        let id = (c == b'[')
            .then(|| msg[i + 1..i + 1 + digits].parse().ok())
            .flatten();
        return Some((name.to_owned(), id));
    }
    None
}

fn log_sender() -> &'static broadcast::Sender<Arc<LogLine>> {
    static LOG: OnceLock<broadcast::Sender<Arc<LogLine>>> = OnceLock::new();
    LOG.get_or_init(|| broadcast::channel(BACKLOG).0)
}

/// A receiver of every log line from now on.
pub fn subscribe_log() -> broadcast::Receiver<Arc<LogLine>> {
    log_sender().subscribe()
}

/// strongSwan's level of a tracing level (the inverse of `logging::level_name`).
fn level_of(l: &tracing::Level) -> u8 {
    match *l {
        tracing::Level::ERROR | tracing::Level::WARN => 0,
        tracing::Level::INFO => 1,
        tracing::Level::DEBUG => 2,
        tracing::Level::TRACE => 3,
    }
}

/// strongSwan's group of a tracing target (`ike` -> `IKE`; other crates' -> `LIB`).
fn group_of(target: &str) -> String {
    if crate::daemon::logging::SUBSYSTEMS.contains(&target) {
        target.to_ascii_uppercase()
    } else {
        "LIB".into()
    }
}

/// A small number per thread, like strongSwan's thread ids.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|i| *i)
}

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// The tracing layer that hands every log line (past the level filter) to
/// the VICI clients registered for `log` or running `initiate`/`terminate`.
/// It formats a line only while one listens, and never logs itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogLayer;

impl<S: tracing::Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let tx = log_sender();
        if tx.receiver_count() == 0 {
            return;
        }
        let mut t = Text(String::new());
        event.record(&mut t);
        let meta = event.metadata();
        let line = LogLine {
            group: group_of(meta.target()),
            level: level_of(meta.level()),
            thread: thread_number(),
            ikesa: sa_of(&t.0),
            msg: t.0,
        };
        let _ = tx.send(Arc::new(line));
    }
}

/// Which log lines an `initiate` / `terminate` streams as `control-log`:
/// those naming its conn, and those naming no SA at all (iked names the SA
/// in most lines about one, not in all), up to the client's `loglevel`.
#[derive(Debug, Clone)]
pub struct ControlFilter {
    pub conn: String,
    pub level: u8,
}

impl ControlFilter {
    pub fn wants(&self, l: &LogLine) -> bool {
        l.level <= self.level && l.ikesa.as_ref().is_none_or(|(n, _)| *n == self.conn)
    }
}
