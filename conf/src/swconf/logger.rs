//! `charon.filelog`, `charon.syslog` and `charon.journal` logger sections
//! (strongswan.conf(5), LOGGER CONFIGURATION): a default level and
//! per-subsystem levels for each logger, and the options that shape its
//! lines (the daemon's `logging` writes them).

use super::value;
use super::{Walk, keys};
use crate::diag::Location;
use crate::swconf::syntax::Section;
use std::path::PathBuf;

/// Where a strongSwan logger writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    File(PathBuf),
    Stderr,
    Stdout,
    /// A syslog facility (`daemon`, `auth`).
    Syslog(String),
    Journal,
}

/// How a file or syslog logger shapes its lines (strongswan.conf(5),
/// `charon.filelog.<name>.*`, `charon.syslog.<facility>.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggerOptions {
    /// `append` (yes): append to an existing file, else truncate it at start.
    pub append: bool,
    /// `time_format`: strftime(3) format of a timestamp before each line.
    pub time_format: Option<String>,
    /// `time_precision` (`ms`, `us`; `time_add_ms = yes` is `ms`).
    pub time_precision: Option<String>,
    /// `log_level` (no): the level after the subsystem, `[IKE2]`.
    pub log_level: bool,
    /// `ike_name` (no): `<conn|unique id>` of the IKE_SA a line is about.
    pub ike_name: bool,
    /// `charon.syslog.identifier`: the syslog ident (default `iked`).
    pub identifier: Option<String>,
}

impl Default for LoggerOptions {
    fn default() -> Self {
        LoggerOptions {
            append: true,
            time_format: None,
            time_precision: None,
            log_level: false,
            ike_name: false,
            identifier: None,
        }
    }
}

/// One logger: its target, levels (strongSwan's -1 silent .. 4 private) and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logger {
    pub target: LogTarget,
    /// Level of subsystems without their own (`default`, 1 if not set).
    pub default: i8,
    /// Subsystem -> level, as configured.
    pub levels: Vec<(String, i8)>,
    pub options: LoggerOptions,
    pub loc: Option<Location>,
}

impl Logger {
    /// The level of `subsystem` in this logger.
    pub fn level(&self, subsystem: &str) -> i8 {
        self.levels
            .iter()
            .find(|(s, _)| s == subsystem)
            .map(|(_, l)| *l)
            .unwrap_or(self.default)
    }
}

/// Options of each kind of logger: (those iked applies, those it accepts
/// with a warning).
const FILE_OPTS: (&[&str], &[&str]) = (
    &[
        "append",
        "flush_line",
        "ike_name",
        "time_format",
        "time_add_ms",
        "time_precision",
        "log_level",
    ],
    &["json"],
);
const SYSLOG_OPTS: (&[&str], &[&str]) = (&["ike_name", "log_level"], &["map_level"]);
const JOURNAL_OPTS: (&[&str], &[&str]) = (&[], &["ike_name"]);

/// Reads one logger section: levels and options; unknown keys get a hint.
fn levels(
    w: &mut Walk<'_>,
    sec: &Section,
    path: &str,
    (applied, accepted): (&[&str], &[&str]),
    target: LogTarget,
) -> Logger {
    let mut lg = Logger {
        target,
        default: 1,
        levels: Vec::new(),
        options: LoggerOptions::default(),
        loc: sec.loc.clone(),
    };
    for (k, v) in &sec.values {
        let full = format!("{path}.{k}");
        if v.text.is_empty() {
            continue;
        }
        let flag = |w: &mut Walk<'_>, field: &mut bool| match value::boolean(&v.text) {
            Ok(b) => *field = b,
            Err(e) => w.err(&v.value_loc, &full, e),
        };
        match k.as_str() {
            k if k == "default" || keys::SUBSYSTEMS.contains(&k) => match value::level(&v.text) {
                Ok(l) if k == "default" => lg.default = l,
                Ok(l) => lg.levels.push((k.to_owned(), l)),
                Err(e) => w.err(&v.value_loc, &full, e),
            },
            "path" if matches!(lg.target, LogTarget::File(_)) => lg.target = file_target(&v.text),
            k if !applied.contains(&k) => {
                if accepted.contains(&k) {
                    w.not_implemented(&v.key_loc, &full, "a log line format option");
                } else {
                    let mut cands: Vec<&str> = keys::SUBSYSTEMS.to_vec();
                    cands.extend_from_slice(applied);
                    cands.extend_from_slice(accepted);
                    cands.push("default");
                    w.unknown(&v.key_loc, &full, k, &cands);
                }
            }
            "append" => flag(w, &mut lg.options.append),
            "ike_name" => flag(w, &mut lg.options.ike_name),
            "log_level" => flag(w, &mut lg.options.log_level),
            // Every line is written (and flushed) at once: always line-buffered.
            "flush_line" => {
                let mut checked = true;
                flag(w, &mut checked);
            }
            "time_format" => lg.options.time_format = Some(v.text.clone()),
            "time_add_ms" => {
                let mut ms = false;
                flag(w, &mut ms);
                if ms && lg.options.time_precision.is_none() {
                    lg.options.time_precision = Some("ms".into());
                }
            }
            "time_precision" => match v.text.as_str() {
                "ms" | "us" => lg.options.time_precision = Some(v.text.clone()),
                t => w.err(&v.value_loc, &full, format!("'{t}' is not ms or us")),
            },
            _ => {}
        }
    }
    for s in &sec.sections {
        w.ignore_tree(s, &format!("{path}.{}", s.name));
    }
    lg
}

fn file_target(name: &str) -> LogTarget {
    match name {
        "stderr" => LogTarget::Stderr,
        "stdout" => LogTarget::Stdout,
        p => LogTarget::File(PathBuf::from(p)),
    }
}

/// `charon.filelog.*`, `charon.syslog.*`, `charon.journal`.
pub(super) fn loggers(w: &mut Walk<'_>, charon: &Section, ns: &str) -> Vec<Logger> {
    let mut out = Vec::new();
    if let Some(fl) = charon.section("filelog") {
        for (k, v) in &fl.values {
            w.unknown(&v.key_loc, &format!("{ns}.filelog.{k}"), k, &[]);
        }
        for s in &fl.sections {
            let path = format!("{ns}.filelog.{}", s.name);
            out.push(levels(w, s, &path, FILE_OPTS, file_target(&s.name)));
        }
    }
    let mut identifier = None;
    if let Some(sl) = charon.section("syslog") {
        for (k, v) in &sl.values {
            let full = format!("{ns}.syslog.{k}");
            if k == "identifier" {
                if !v.text.is_empty() {
                    identifier = Some(v.text.clone());
                }
            } else {
                w.unknown(&v.key_loc, &full, k, &["identifier"]);
            }
        }
        for s in &sl.sections {
            let path = format!("{ns}.syslog.{}", s.name);
            if !is_facility(&s.name) {
                if let Some(loc) = &s.loc {
                    w.diags.warn(
                        loc.clone(),
                        Some(&path),
                        format!(
                            "'{}' is not a syslog facility (daemon, auth, authpriv, user, local0 .. local7, ...): this logger is ignored",
                            s.name
                        ),
                    );
                }
                continue;
            }
            let mut lg = levels(w, s, &path, SYSLOG_OPTS, LogTarget::Syslog(s.name.clone()));
            lg.options.identifier = identifier.clone();
            out.push(lg);
        }
    }
    if let Some(j) = charon.section("journal") {
        let path = format!("{ns}.journal");
        out.push(levels(w, j, &path, JOURNAL_OPTS, LogTarget::Journal));
    }
    out
}

/// syslog(3)'s facility names.
fn is_facility(name: &str) -> bool {
    matches!(
        name,
        "kern"
            | "user"
            | "mail"
            | "daemon"
            | "auth"
            | "syslog"
            | "lpr"
            | "news"
            | "uucp"
            | "cron"
            | "authpriv"
            | "ftp"
    ) || name
        .strip_prefix("local")
        .is_some_and(|d| matches!(d, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7"))
}
