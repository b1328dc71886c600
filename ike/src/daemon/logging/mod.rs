//! Logging: `tracing` with strongSwan's subsystem names as targets (`cfg`,
//! `ike`, `chd`, `knl`, `net`, `enc`, `mgr`, ...) and strongSwan's levels
//! mapped onto tracing levels:
//!
//! | strongSwan level | meaning | tracing |
//! | --- | --- | --- |
//! | -1 | silent | off |
//! | 0 | basic (audit) | warn |
//! | 1 | audit / control (default) | info |
//! | 2 | diag | debug |
//! | 3, 4 | raw, private | trace |
//!
//! The loggers come from strongswan.conf (`charon.filelog.*`,
//! `charon.syslog.*`, `charon.journal`) when it defines any: each writes
//! what its own levels let through, formatted as charon does ([`sink`]); as
//! in strongSwan, `charondebug` then has no effect. Otherwise iked logs at
//! `charondebug`'s levels to stderr, or, when stderr is systemd's journal
//! stream (`JOURNAL_STREAM`, as under `iked.service`), to the journal with
//! charon-systemd's structured fields (`journalctl IKE_SA_NAME=net-net`).
//! The global filter lets through the most verbose level any logger wants.
//!
//! Lines logged while the core works on one IKE_SA (its span `ike_sa`)
//! carry that IKE_SA's name and unique id (`ike_name`, the journal's
//! IKE_SA_NAME / IKE_SA_UNIQUE_ID).
//!
//! Secrets are never logged at any level (they live in redacting types).
//! `IKED_LOG` (a tracing filter) overrides the levels when set.

pub mod sink;

use sink::{Line, Sink};
use std::sync::{Arc, RwLock};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt, reload};

/// strongSwan's subsystems, used as tracing targets.
pub const SUBSYSTEMS: &[&str] = &[
    "dmn", "mgr", "ike", "chd", "job", "cfg", "knl", "net", "asn", "enc", "tnc", "imc", "imv",
    "pts", "tls", "esp", "lib", "app",
];

/// The tracing level name for a charondebug level.
pub fn level_name(level: i8) -> &'static str {
    match level {
        i8::MIN..=-1 => "off",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// The level of each subsystem (and of `any`, for everything else).
pub fn levels(cfg: &conf::Config) -> Vec<(&'static str, i8)> {
    let loggers = &cfg.strongswan.charon.loggers;
    let level = |s: &str| -> i8 {
        if loggers.is_empty() {
            cfg.setup.level(s)
        } else if s == "any" {
            loggers.iter().map(|l| l.default).max().unwrap_or(1)
        } else {
            loggers.iter().map(|l| l.level(s)).max().unwrap_or(1)
        }
    };
    std::iter::once("any")
        .chain(SUBSYSTEMS.iter().copied())
        .map(|s| (s, level(s)))
        .collect()
}

/// The filter directives: every subsystem at its level, everything else
/// (other crates) at the `any` level.
pub fn directives(cfg: &conf::Config) -> String {
    levels(cfg)
        .into_iter()
        .map(|(s, l)| {
            if s == "any" {
                level_name(l).to_owned()
            } else {
                format!("{s}={}", level_name(l))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn filter_for(cfg: &conf::Config) -> EnvFilter {
    match std::env::var("IKED_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new("info")),
        _ => EnvFilter::try_new(directives(cfg)).unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// Lets a reload change the levels and the loggers.
#[derive(Debug, Clone)]
pub struct LogHandle(Option<(reload::Handle<EnvFilter, Registry>, SinkLayer)>);

impl LogHandle {
    /// A handle that changes nothing (tests, or when another subscriber is installed).
    pub fn inert() -> Self {
        LogHandle(None)
    }

    /// Applies the levels and loggers of a new configuration (after a reload).
    pub fn apply(&self, cfg: &conf::Config) {
        if let Some((h, sinks)) = &self.0 {
            let _ = h.reload(filter_for(cfg));
            sinks.replace(cfg, sinks.journal_default);
        }
    }
}

/// Installs the global subscriber. A second call (tests) keeps the first
/// subscriber and returns an inert handle.
pub fn init(cfg: &conf::Config) -> LogHandle {
    let (filter, handle) = reload::Layer::new(filter_for(cfg));
    let configured = !cfg.strongswan.charon.loggers.is_empty();
    let journal_default = !configured && sink::stderr_is_journal();
    let sinks = SinkLayer {
        journal_default,
        ..SinkLayer::default()
    };
    sinks.replace(cfg, journal_default);
    // Without loggers and outside the journal: tracing's own stderr lines.
    let fmt = (!configured && !journal_default).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(true)
            .with_ansi(false)
    });
    // VICI's `log` / `control-log` see the lines that pass the filter.
    let sub = Registry::default()
        .with(filter)
        .with(fmt)
        .with(sinks.clone())
        .with(super::vici::events::LogLayer);
    match tracing::subscriber::set_global_default(sub) {
        Ok(()) => LogHandle(Some((handle, sinks))),
        Err(_) => LogHandle(None),
    }
}

/// The loggers a configuration asks for: strongswan.conf's, else (under
/// systemd) the journal at `charondebug`'s levels.
fn loggers(cfg: &conf::Config, journal_default: bool) -> Vec<conf::swconf::Logger> {
    let configured = &cfg.strongswan.charon.loggers;
    if !configured.is_empty() || !journal_default {
        return configured.clone();
    }
    let mut levels = self::levels(cfg).into_iter();
    let default = levels.next().map_or(1, |(_, l)| l);
    vec![conf::swconf::Logger {
        target: conf::swconf::LogTarget::Journal,
        default,
        levels: levels.map(|(s, l)| (s.to_owned(), l)).collect(),
        options: conf::swconf::LoggerOptions::default(),
        loc: None,
    }]
}

/// The tracing layer that writes every line to the loggers that want it.
#[derive(Debug, Clone, Default)]
pub struct SinkLayer {
    sinks: Arc<RwLock<Vec<Arc<Sink>>>>,
    journal_default: bool,
}

impl SinkLayer {
    /// Opens the loggers of `cfg`; one whose settings did not change is kept
    /// open as it is (a reload does not truncate an `append = no` file).
    fn replace(&self, cfg: &conf::Config, journal_default: bool) {
        let old = self.sinks.read().map(|s| s.clone()).unwrap_or_default();
        let ident = |l: &conf::swconf::Logger| {
            l.options
                .identifier
                .clone()
                .unwrap_or_else(|| "iked".into())
        };
        let new: Vec<Arc<Sink>> = loggers(cfg, journal_default)
            .iter()
            .filter_map(|l| match old.iter().find(|s| s.logger() == l) {
                Some(s) => Some(s.clone()),
                None => match Sink::open(l, &ident(l)) {
                    Ok(s) => Some(Arc::new(s)),
                    Err(e) => {
                        eprintln!("iked: logger not opened: {e}");
                        None
                    }
                },
            })
            .collect();
        if let Ok(mut s) = self.sinks.write() {
            *s = new;
        }
    }
}

/// The IKE_SA of a span named `ike_sa` (fields `name`, `id`).
#[derive(Debug, Default)]
struct IkeSaOfSpan {
    name: Option<String>,
    id: Option<u32>,
}

impl Visit for IkeSaOfSpan {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "id" {
            self.id = u32::try_from(value).ok();
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.name = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.name = Some(format!("{value:?}"));
        }
    }
}

/// An event's message (other fields appended as ` key=value`).
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

/// strongSwan's level of a tracing level (the inverse of [`level_name`]).
pub fn sw_level(l: &tracing::Level) -> i8 {
    match *l {
        tracing::Level::ERROR | tracing::Level::WARN => 0,
        tracing::Level::INFO => 1,
        tracing::Level::DEBUG => 2,
        tracing::Level::TRACE => 3,
    }
}

/// A small number per thread, like charon's thread ids.
fn thread_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|i| *i)
}

impl<S> Layer<S> for SinkLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() != "ike_sa" {
            return;
        }
        let mut f = IkeSaOfSpan::default();
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(f);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Ok(sinks) = self.sinks.read() else {
            return;
        };
        let meta = event.metadata();
        let group = SUBSYSTEMS
            .iter()
            .copied()
            .find(|s| *s == meta.target())
            .unwrap_or("lib");
        let level = sw_level(meta.level());
        if !sinks.iter().any(|s| s.wants(group, level)) {
            return;
        }
        let mut msg = Message::default();
        event.record(&mut msg);
        let ike_sa = ctx.event_scope(event).and_then(|scope| {
            scope.from_root().find_map(|span| {
                let ext = span.extensions();
                let f = ext.get::<IkeSaOfSpan>()?;
                Some((f.name.clone()?, f.id?))
            })
        });
        let line = Line {
            level,
            group,
            thread: thread_number(),
            ike_sa: ike_sa.as_ref().map(|(n, i)| (n.as_str(), *i)),
            msg: &msg.0,
        };
        for s in sinks.iter().filter(|s| s.wants(group, level)) {
            s.write(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(ipsec_conf: &str, strongswan_conf: Option<&str>) -> conf::Config {
        let mut src = conf::MemSource::default().with("/c", ipsec_conf);
        if let Some(t) = strongswan_conf {
            src = src.with("/s", t);
        }
        let sw = strongswan_conf.map(|_| Path::new("/s"));
        conf::load_all(&src, Path::new("/c"), None, sw).unwrap()
    }

    #[test]
    fn charondebug_levels_map_onto_targets() {
        let cfg = config(
            "config setup\n  charondebug=\"ike 2, knl -1, cfg 4\"\n",
            None,
        );
        let d = directives(&cfg);
        assert!(d.starts_with("info,"), "{d}");
        assert!(d.contains(",ike=debug,"), "{d}");
        assert!(d.contains(",knl=off,"), "{d}");
        assert!(d.contains(",cfg=trace,"), "{d}");
        assert!(d.contains(",chd=info,"), "{d}");
        EnvFilter::try_new(&d).unwrap();

        let any = config("config setup\n  charondebug=\"any 0, net 3\"\n", None);
        let d = directives(&any);
        assert!(d.starts_with("warn,"), "{d}");
        assert!(d.contains(",mgr=warn,"), "{d}");
        assert!(d.contains(",net=trace,"), "{d}");
    }

    #[test]
    fn strongswan_conf_loggers_replace_charondebug() {
        // strongSwan: with loggers in strongswan.conf, charondebug has no effect.
        let ipsec = "config setup\n  charondebug=\"ike 4, knl 4\"\n";
        let sw = "charon {\n  filelog {\n    stderr {\n      default = 0\n      ike = 2\n    }\n  }\n  syslog {\n    auth {\n      default = -1\n      net = 3\n    }\n  }\n}\n";
        let cfg = config(ipsec, Some(sw));
        let d = directives(&cfg);
        assert!(d.starts_with("warn,"), "{d}");
        assert!(
            d.contains(",ike=debug,"),
            "the most verbose logger wins: {d}"
        );
        assert!(d.contains(",net=trace,"), "{d}");
        assert!(d.contains(",knl=warn,"), "charondebug ignored: {d}");
        assert!(d.contains(",cfg=warn,"), "{d}");
        EnvFilter::try_new(&d).unwrap();

        // Without loggers, charondebug applies even with a strongswan.conf.
        let cfg = config(ipsec, Some("charon {\n  retransmit_tries = 2\n}\n"));
        let d = directives(&cfg);
        assert!(
            d.contains(",ike=trace,") && d.contains(",knl=trace,"),
            "{d}"
        );
    }

    #[test]
    fn a_silent_logger_alone_silences() {
        let cfg = config(
            "",
            Some("charon {\n  journal {\n    default = -1\n  }\n}\n"),
        );
        let d = directives(&cfg);
        assert!(d.starts_with("off,") && d.contains(",ike=off,"), "{d}");
    }
}
