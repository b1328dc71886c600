//! Logging: `tracing` with strongSwan's subsystem names as targets (`cfg`,
//! `ike`, `chd`, `knl`, `net`, `enc`, `mgr`, ...) and `charondebug` levels
//! from `config setup` mapped onto tracing levels:
//!
//! | charondebug | strongSwan | tracing |
//! | --- | --- | --- |
//! | -1 | silent | off |
//! | 0 | basic (audit) | warn |
//! | 1 | audit / control (default) | info |
//! | 2 | diag | debug |
//! | 3, 4 | raw, private | trace |
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

/// The filter directives for a `config setup` section: every subsystem at its
/// level, everything else (other crates) at the `any` level, default 1.
pub fn directives(setup: &conf::Setup) -> String {
    let mut d = vec![level_name(setup.level("any")).to_owned()];
    for s in SUBSYSTEMS {
        d.push(format!("{s}={}", level_name(setup.level(s))));
    }
    d.join(",")
}

fn filter_for(setup: &conf::Setup) -> EnvFilter {
    match std::env::var("IKED_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new("info")),
        _ => EnvFilter::try_new(directives(setup)).unwrap_or_else(|_| EnvFilter::new("info")),
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

    /// Applies a new `config setup` (after a reload).
    pub fn apply(&self, setup: &conf::Setup) {
        if let Some(h) = &self.0 {
            let _ = h.reload(filter_for(setup));
        }
    }
}

/// Installs the global subscriber (stderr, with targets). A second call (tests)
/// keeps the first subscriber and returns an inert handle.
pub fn init(setup: &conf::Setup) -> LogHandle {
    let (filter, handle) = reload::Layer::new(filter_for(setup));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(false);
    let sub = Registry::default().with(filter).with(fmt);
    match tracing::subscriber::set_global_default(sub) {
        Ok(()) => LogHandle(Some(handle)),
        Err(_) => LogHandle(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charondebug_levels_map_onto_targets() {
        let setup = conf::Setup {
            charondebug: vec![("ike".into(), 2), ("knl".into(), -1), ("cfg".into(), 4)],
            ..Default::default()
        };
        let d = directives(&setup);
        assert!(d.starts_with("info,"), "{d}");
        assert!(d.contains(",ike=debug,"), "{d}");
        assert!(d.contains(",knl=off,"), "{d}");
        assert!(d.contains(",cfg=trace,"), "{d}");
        assert!(d.contains(",chd=info,"), "{d}");
        EnvFilter::try_new(&d).unwrap();

        let any = conf::Setup {
            charondebug: vec![("any".into(), 0), ("net".into(), 3)],
            ..Default::default()
        };
        let d = directives(&any);
        assert!(d.starts_with("warn,"), "{d}");
        assert!(d.contains(",mgr=warn,"), "{d}");
        assert!(d.contains(",net=trace,"), "{d}");
    }

    #[test]
    fn charondebug_from_ipsec_conf() {
        let src = conf::MemSource::default().with(
            "/c",
            "config setup\n  charondebug=\"ike 2, knl 3, cfg 0\"\n",
        );
        let cfg = conf::load_from(&src, std::path::Path::new("/c"), None).unwrap();
        let d = directives(&cfg.setup);
        assert!(
            d.contains(",ike=debug,") && d.contains(",knl=trace,") && d.contains(",cfg=warn,"),
            "{d}"
        );
    }
}
