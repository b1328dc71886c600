#![forbid(unsafe_code)]
//! strongSwan `ipsec.conf` / `ipsec.secrets` / `strongswan.conf`, parsed and
//! validated into a typed [`Config`]. Pure: text in, `Config` out (file access
//! goes through [`Source`]).
//!
//! ```
//! let text = "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=add\n";
//! let src = conf::MemSource::default().with("/etc/ipsec.conf", text).with("/etc/ipsec.secrets", ": PSK \"x\"\n");
//! let cfg = conf::load_from(&src, "/etc/ipsec.conf".as_ref(), Some("/etc/ipsec.secrets".as_ref())).unwrap();
//! assert_eq!(cfg.conns[0].name, "a");
//! ```

pub mod conn;
pub mod diag;
pub mod proposal;
pub mod resolve;
pub mod secrets;
pub mod setup;
pub mod swconf;
pub mod syntax;
mod util;
pub mod values;

pub use conn::{Conn, End, Side};
pub use diag::{ConfigErrors, Diagnostic, Location, Severity};
pub use proposal::{Proposal, ProposalList, Transform, TransformType};
pub use secrets::{SecretBytes, Secrets};
pub use setup::{CaSection, Setup};
pub use syntax::{FileSystem, Source};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const DEFAULT_CONF: &str = "/etc/ipsec.conf";
pub const DEFAULT_SECRETS: &str = "/etc/ipsec.secrets";

/// The whole validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub setup: Setup,
    /// Every conn except `%default`, in file order, resolved (also=, %default, defaults).
    pub conns: Vec<Conn>,
    pub cas: Vec<CaSection>,
    pub secrets: Secrets,
    /// strongswan.conf's `charon` settings (defaults when none was read).
    pub strongswan: swconf::Settings,
    /// Non-fatal findings (each names file:line and keyword).
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    pub fn conn(&self, name: &str) -> Option<&Conn> {
        self.conns.iter().find(|c| c.name == name)
    }
}

/// Loads from the file system.
pub fn load(conf: &Path, secrets: Option<&Path>) -> Result<Config, ConfigErrors> {
    load_from(&FileSystem, conf, secrets)
}

/// Loads ipsec.conf, ipsec.secrets and strongswan.conf (when given) from the file system.
pub fn load_with(
    conf: &Path,
    secrets: Option<&Path>,
    strongswan: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    load_all(&FileSystem, conf, secrets, strongswan)
}

/// Loads from any [`Source`]. Collects all errors; returns them with the warnings.
pub fn load_from(
    src: &dyn Source,
    conf: &Path,
    secrets: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    load_all(src, conf, secrets, None)
}

/// Like [`load_from`], also reading strongswan.conf (and its includes) when
/// `strongswan` is given; its findings join the others.
pub fn load_all(
    src: &dyn Source,
    conf: &Path,
    secrets: Option<&Path>,
    strongswan: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let mut parser = syntax::Parser::new(src);
    parser.parse_file(conf, None);
    let mut diags = std::mem::take(&mut parser.diags);
    let sections = resolve::merge_sections(std::mem::take(&mut parser.sections), &mut diags);

    let setup_entries: Vec<syntax::Entry> = sections
        .iter()
        .filter(|s| s.kind == syntax::SectionKind::Setup)
        .flat_map(|s| s.entries.iter().cloned())
        .collect();
    let setup = setup::build_setup(&setup_entries, &mut diags);

    // Each conn is built as soon as its settings are resolved (and they are
    // dropped): the peak memory of a load is the sections and the conns.
    // Sized once: growing a Vec of 10,000 Conns (1.4 KB each) by doubling
    // held the old and the new buffer at once.
    let n = sections
        .iter()
        .filter(|s| s.kind == syntax::SectionKind::Conn && s.name != "%default")
        .count();
    let mut conns = Vec::with_capacity(n);
    resolve::resolve_each(
        &sections,
        syntax::SectionKind::Conn,
        &mut diags,
        |i, settings, diags| {
            if let Some(sec) = sections.get(i) {
                conns.push(conn::build_conn(
                    &sec.name,
                    sec.loc.clone(),
                    settings,
                    diags,
                ));
            }
        },
    );
    let mut cas = Vec::new();
    resolve::resolve_each(
        &sections,
        syntax::SectionKind::Ca,
        &mut diags,
        |i, settings, diags| {
            if let Some(sec) = sections.get(i) {
                cas.push(setup::build_ca(&sec.name, sec.loc.clone(), settings, diags));
            }
        },
    );
    drop(sections);

    let mut secrets_out = Secrets::default();
    if let Some(sp) = secrets {
        let mut p = secrets::SecretsParser::new(src);
        p.parse_file(sp, None);
        diags.list.append(&mut p.diags.list);
        secrets_out = p.secrets;
    }

    let mut strongswan_out = swconf::Settings::default();
    if let Some(sw) = strongswan {
        let (settings, mut found) = swconf::load_from(src, sw);
        diags.list.append(&mut found);
        strongswan_out = settings;
    }

    // Settings inherited by several conns are reported once, naming the others.
    type Key = (String, Option<String>, String, Severity);
    let mut seen: HashMap<Key, usize> = HashMap::new();
    let mut list: Vec<Diagnostic> = Vec::new();
    for d in diags.list {
        let key = (
            d.location.to_string(),
            d.keyword.clone(),
            d.message.clone(),
            d.severity,
        );
        match seen.get(&key) {
            Some(&i) => {
                if let (Some(first), Some(c)) = (list.get_mut(i), d.conn) {
                    first.also_affects.push((c, d.via));
                }
            }
            None => {
                seen.insert(key, list.len());
                list.push(d);
            }
        }
    }
    list.sort_by(|a, b| {
        let k = |d: &Diagnostic| (d.location.file.clone(), d.location.line, d.location.col);
        k(a).cmp(&k(b))
    });
    if list.iter().any(Diagnostic::is_error) {
        return Err(ConfigErrors { diagnostics: list });
    }
    Ok(Config {
        setup,
        conns,
        cas,
        secrets: secrets_out,
        strongswan: strongswan_out,
        warnings: list,
    })
}

/// An in-memory file system for tests, fuzzing and reloading from buffers.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    pub files: BTreeMap<PathBuf, String>,
}

impl MemSource {
    pub fn with(mut self, path: &str, text: &str) -> Self {
        self.files.insert(PathBuf::from(path), text.to_owned());
        self
    }
}

impl Source for MemSource {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| "No such file or directory".to_owned())
    }

    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String> {
        let pat = glob::Pattern::new(&pattern.to_string_lossy()).map_err(|e| e.to_string())?;
        Ok(self
            .files
            .keys()
            .filter(|p| pat.matches_path(p))
            .cloned()
            .collect())
    }
}
