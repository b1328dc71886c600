//! strongswan.conf (and what it includes: Debian's `strongswan.d/*.conf` and
//! `strongswan.d/charon/*.conf`): parsed into a tree ([`syntax`]), then the
//! `charon` section into typed [`CharonSettings`].
//!
//! Every `charon.*` key iked does not implement gets one warning naming it;
//! plugin `load` lists get one note (iked has no plugins); misspelled keys get
//! a did-you-mean warning; bad syntax and bad values are errors with
//! file:line:col. Other top-level sections (`libstrongswan`, `swanctl`,
//! `starter`, ...) belong to other programs and are not read.
//!
//! ```
//! let src = conf::MemSource::default()
//!     .with("/etc/strongswan.conf", "charon {\n  retransmit_tries = 2\n  dns1 = 192.0.2.53\n}\n");
//! let (s, diags) = conf::swconf::load_from(&src, "/etc/strongswan.conf".as_ref());
//! assert!(diags.is_empty());
//! assert_eq!(s.charon.retransmit.tries, 2);
//! assert_eq!(s.charon.dns, ["192.0.2.53".parse::<std::net::IpAddr>().unwrap()]);
//! ```

mod charon;
pub mod keys;
mod logger;
pub mod syntax;
pub mod value;

pub use charon::{CharonSettings, DEFAULT_VICI_SOCKET, Retransmit};
pub use logger::{LogTarget, Logger, LoggerOptions};

use crate::diag::{Diagnostic, Diags, Location};
use crate::syntax::Source;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// strongSwan's default location.
pub const DEFAULT_STRONGSWAN_CONF: &str = "/etc/strongswan.conf";

/// The section iked reads: it replaces the starter's `charon`.
pub const NAMESPACE: &str = "charon";

/// What iked takes from strongswan.conf.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// The file read (`None`: none, all defaults).
    pub file: Option<PathBuf>,
    pub charon: CharonSettings,
}

/// Loads `path` (and its includes) from `src`: the settings and every
/// finding (errors and warnings, in file order).
pub fn load_from(src: &dyn Source, path: &Path) -> (Settings, Vec<Diagnostic>) {
    let mut p = syntax::Parser::new(src);
    let mut root = p.parse_file(path, None);
    let mut diags = std::mem::take(&mut p.diags);
    syntax::resolve_refs(&mut root, &mut diags);
    let mut w = Walk::new(&mut diags);
    let charon = root
        .section(NAMESPACE)
        .map(|c| charon::read(&mut w, c, NAMESPACE))
        .unwrap_or_default();
    if let Some(s) = root.section("charon-systemd") {
        // Debian ships it with empty sections and a plugin list: nothing to say then.
        let has_settings = s
            .values
            .iter()
            .any(|(k, v)| k != "load" && !v.text.is_empty())
            || s.sections.iter().any(Section::has_values);
        if let (true, Some(loc)) = (has_settings, &s.loc) {
            w.diags.warn(
                loc.clone(),
                Some("charon-systemd"),
                "settings for charon-systemd are not read: iked, like the starter's charon, reads the 'charon' section",
            );
        }
    }
    w.finish();
    let mut list = diags.list;
    list.sort_by(|a, b| {
        let k = |d: &Diagnostic| (d.location.file.clone(), d.location.line, d.location.col);
        k(a).cmp(&k(b))
    });
    (
        Settings {
            file: Some(path.to_path_buf()),
            charon,
        },
        list,
    )
}

/// Collects the findings of the typed layer, each key reported once.
pub(crate) struct Walk<'d> {
    pub(crate) diags: &'d mut Diags,
    warned: HashSet<String>,
    /// Plugin `load` settings seen: (first location, first key, count).
    plugin_loads: Option<(Location, String, usize)>,
}

impl<'d> Walk<'d> {
    fn new(diags: &'d mut Diags) -> Self {
        Walk {
            diags,
            warned: HashSet::new(),
            plugin_loads: None,
        }
    }

    pub(crate) fn err(&mut self, loc: &Location, key: &str, msg: impl Into<String>) {
        self.diags.err(loc.clone(), Some(key), msg);
    }

    /// A documented strongSwan key iked does not implement: one warning.
    pub(crate) fn not_implemented(&mut self, loc: &Location, full: &str, why: &str) {
        if self.warned.insert(full.to_owned()) {
            self.diags.warn(
                loc.clone(),
                Some(full),
                if why.is_empty() {
                    "not implemented by iked, ignored".to_owned()
                } else {
                    format!("not implemented by iked, ignored ({why})")
                },
            );
        }
    }

    /// A key strongSwan does not document: ignored, with a did-you-mean hint.
    pub(crate) fn unknown(&mut self, loc: &Location, full: &str, key: &str, cands: &[&str]) {
        if self.warned.insert(full.to_owned()) {
            let hint = crate::util::did_you_mean(key, cands.iter().copied());
            self.diags.warn(
                loc.clone(),
                Some(full),
                format!("unknown setting, ignored{hint}"),
            );
        }
    }

    pub(crate) fn plugin_loading(&mut self, loc: &Location, full: &str) {
        match &mut self.plugin_loads {
            Some((_, _, n)) => *n += 1,
            None => self.plugin_loads = Some((loc.clone(), full.to_owned(), 1)),
        }
    }

    /// Every key below `sec` (a strongSwan feature iked lacks): one warning each.
    pub(crate) fn ignore_tree(&mut self, sec: &Section, path: &str) {
        for (k, v) in &sec.values {
            let full = format!("{path}.{k}");
            if keys::PLUGIN_LOADING.contains(&k.as_str()) {
                self.plugin_loading(&v.key_loc, &full);
            } else {
                self.not_implemented(&v.key_loc, &full, "");
            }
        }
        for s in &sec.sections {
            self.ignore_tree(s, &format!("{path}.{}", s.name));
        }
    }

    fn finish(&mut self) {
        if let Some((loc, first, n)) = self.plugin_loads.take() {
            let more = if n > 1 {
                format!(
                    " and {} more plugin load setting{}",
                    n - 1,
                    if n == 2 { "" } else { "s" }
                )
            } else {
                String::new()
            };
            self.diags.warn(
                loc,
                Some(&first),
                format!("note: plugin lists are ignored{more}: iked has no loadable plugins, everything it implements is built in"),
            );
        }
    }
}

use syntax::Section;

#[cfg(test)]
mod tests;
