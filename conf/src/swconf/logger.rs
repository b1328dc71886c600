//! `charon.filelog`, `charon.syslog` and `charon.journal` logger sections
//! (strongswan.conf(5), LOGGER CONFIGURATION): a default level and
//! per-subsystem levels for each logger.

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

/// One logger: its levels (strongSwan's -1 silent .. 4 private).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logger {
    pub target: LogTarget,
    /// Level of subsystems without their own (`default`, 1 if not set).
    pub default: i8,
    /// Subsystem -> level, as configured.
    pub levels: Vec<(String, i8)>,
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

/// Logger options iked accepts but does not implement (formatting of
/// strongSwan's own log lines).
const FILE_OPTS: &[&str] = &[
    "append",
    "flush_line",
    "ike_name",
    "time_format",
    "time_add_ms",
    "time_precision",
    "log_level",
    "json",
];
const SYSLOG_OPTS: &[&str] = &["ike_name", "log_level", "map_level"];
const JOURNAL_OPTS: &[&str] = &["ike_name"];

/// Reads one logger section's levels; other options get one warning each.
fn levels(w: &mut Walk<'_>, sec: &Section, path: &str, opts: &[&str], target: LogTarget) -> Logger {
    let mut lg = Logger {
        target,
        default: 1,
        levels: Vec::new(),
        loc: sec.loc.clone(),
    };
    for (k, v) in &sec.values {
        let full = format!("{path}.{k}");
        if v.text.is_empty() {
            continue;
        }
        if k == "default" || keys::SUBSYSTEMS.contains(&k.as_str()) {
            match value::level(&v.text) {
                Ok(l) if k == "default" => lg.default = l,
                Ok(l) => lg.levels.push((k.clone(), l)),
                Err(e) => w.err(&v.value_loc, &full, e),
            }
        } else if k == "path" && matches!(lg.target, LogTarget::File(_)) {
            lg.target = file_target(&v.text);
        } else if opts.contains(&k.as_str()) {
            w.not_implemented(&v.key_loc, &full, "a log line format option");
        } else {
            let mut cands: Vec<&str> = keys::SUBSYSTEMS.to_vec();
            cands.extend_from_slice(opts);
            cands.push("default");
            w.unknown(&v.key_loc, &full, k, &cands);
        }
    }
    for s in &sec.sections {
        w.ignore_tree(s, &format!("{path}.{}", s.name));
    }
    let sink = match &lg.target {
        LogTarget::File(p) => Some(format!("the file {} is not written", p.display())),
        LogTarget::Syslog(f) => Some(format!("the syslog facility '{f}' is not used")),
        _ => None,
    };
    if let (Some(sink), Some(loc)) = (sink, &sec.loc) {
        w.diags.warn(
            loc.clone(),
            Some(path),
            format!("iked logs to stderr (the journal, under systemd): this logger's levels apply there, {sink}"),
        );
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
    if let Some(sl) = charon.section("syslog") {
        for (k, v) in &sl.values {
            let full = format!("{ns}.syslog.{k}");
            if k == "identifier" {
                w.not_implemented(&v.key_loc, &full, "iked does not call openlog()");
            } else {
                w.unknown(&v.key_loc, &full, k, &["identifier"]);
            }
        }
        for s in &sl.sections {
            let path = format!("{ns}.syslog.{}", s.name);
            out.push(levels(
                w,
                s,
                &path,
                SYSLOG_OPTS,
                LogTarget::Syslog(s.name.clone()),
            ));
        }
    }
    if let Some(j) = charon.section("journal") {
        let path = format!("{ns}.journal");
        out.push(levels(w, j, &path, JOURNAL_OPTS, LogTarget::Journal));
    }
    out
}
