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
//! The levels come from strongswan.conf's loggers (`charon.filelog.*`,
//! `charon.syslog.*`, `charon.journal`) when it defines any (as in strongSwan,
//! `charondebug` then has no effect); iked has one log (stderr, the journal
//! under systemd), so each subsystem gets the most verbose level any logger
//! gives it. Otherwise `charondebug` from `config setup` applies.
//!
//! Secrets are never logged at any level (they live in redacting types).
//! `IKED_LOG` (a tracing filter) overrides everything when set.

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

/// Lets a reload change the levels.
#[derive(Debug, Clone)]
pub struct LogHandle(Option<reload::Handle<EnvFilter, Registry>>);

impl LogHandle {
    /// A handle that changes nothing (tests, or when another subscriber is installed).
    pub fn inert() -> Self {
        LogHandle(None)
    }

    /// Applies the levels of a new configuration (after a reload).
    pub fn apply(&self, cfg: &conf::Config) {
        if let Some(h) = &self.0 {
            let _ = h.reload(filter_for(cfg));
        }
    }
}

/// Installs the global subscriber (stderr, with targets). A second call (tests)
/// keeps the first subscriber and returns an inert handle.
pub fn init(cfg: &conf::Config) -> LogHandle {
    let (filter, handle) = reload::Layer::new(filter_for(cfg));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(false);
    // VICI's `log` / `control-log` see the lines that pass the filter.
    let sub = Registry::default()
        .with(filter)
        .with(fmt)
        .with(super::vici::events::LogLayer);
    match tracing::subscriber::set_global_default(sub) {
        Ok(()) => LogHandle(Some(handle)),
        Err(_) => LogHandle(None),
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
