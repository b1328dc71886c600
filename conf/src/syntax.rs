//! ipsec.conf syntax: sections, `key=value` lines, comments, quoting, `include`.
//!
//! This layer knows nothing of the keywords' meaning; it yields sections with
//! located entries, in file order, with includes expanded in place.

use crate::diag::{Diags, Location};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Maximum nesting of `include` (deeper means a loop, or a mistake).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Maximum number of files read for one configuration (glob explosions).
pub const MAX_FILES: usize = 1000;
/// Files larger than this are refused (an ipsec.conf of 10,000 conns is ~3 MB).
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    Setup,
    Conn,
    Ca,
}

impl SectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SectionKind::Setup => "config",
            SectionKind::Conn => "conn",
            SectionKind::Ca => "ca",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub key: String,
    /// The value with quotes removed; empty means "unset" (strongSwan 5.2+).
    pub value: String,
    pub key_loc: Location,
    pub value_loc: Location,
}

#[derive(Clone, Debug)]
pub struct Section {
    pub kind: SectionKind,
    pub name: String,
    pub loc: Location,
    pub entries: Vec<Entry>,
}

/// Source text access, so tests and fuzzers can parse from memory.
pub trait Source {
    fn read(&self, path: &Path) -> Result<String, String>;
    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String>;
    /// Unix permission bits, where the source has them.
    fn mode(&self, _path: &Path) -> Option<u32> {
        None
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSystem;

impl Source for FileSystem {
    fn read(&self, path: &Path) -> Result<String, String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if meta.len() > MAX_FILE_SIZE {
            return Err(format!(
                "file is {} bytes, larger than the {} byte limit",
                meta.len(),
                MAX_FILE_SIZE
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| {
            format!(
                "not valid UTF-8 text (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            )
        })
    }

    fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, String> {
        let pat = pattern.to_string_lossy();
        let paths = glob::glob(&pat).map_err(|e| format!("bad pattern: {e}"))?;
        let mut out = Vec::new();
        for p in paths {
            match p {
                Ok(p) => out.push(p),
                Err(e) => return Err(e.to_string()),
            }
        }
        out.sort();
        Ok(out)
    }

    fn mode(&self, path: &Path) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode())
    }
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Resolve an include argument relative to the including file's folder.
pub fn include_path(including: &Path, arg: &str) -> PathBuf {
    let p = Path::new(arg);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        including.parent().unwrap_or_else(|| Path::new(".")).join(p)
    }
}

/// Parses ipsec.conf text (and what it includes) into sections.
pub struct Parser<'a> {
    src: &'a dyn Source,
    pub diags: Diags,
    pub sections: Vec<Section>,
    stack: Vec<PathBuf>,
    files_read: usize,
}

impl std::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("sections", &self.sections.len())
            .finish()
    }
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a dyn Source) -> Self {
        Parser {
            src,
            diags: Diags::default(),
            sections: Vec::new(),
            stack: Vec::new(),
            files_read: 0,
        }
    }

    pub fn parse_file(&mut self, path: &Path, included_from: Option<Location>) {
        let loc = included_from.unwrap_or_else(|| Location::file_only(path));
        if self.stack.iter().any(|p| p == path) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&path.to_path_buf()))
                .map(|p| p.display().to_string())
                .collect();
            self.diags.err(
                loc,
                Some("include"),
                format!("include loop: {}", chain.join(" -> ")),
            );
            return;
        }
        self.files_read += 1;
        if self.files_read > MAX_FILES {
            if self.files_read == MAX_FILES + 1 {
                self.diags.err(
                    loc,
                    Some("include"),
                    format!("more than {MAX_FILES} files included; stopping"),
                );
            }
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.err(
                loc,
                Some("include"),
                format!(
                    "includes nested more than {MAX_INCLUDE_DEPTH} deep (loop?): {}",
                    self.stack
                        .iter()
                        .chain(std::iter::once(&path.to_path_buf()))
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" -> ")
                ),
            );
            return;
        }
        match self.src.read(path) {
            Ok(text) => {
                self.stack.push(path.to_path_buf());
                self.parse_text(path, &text);
                self.stack.pop();
            }
            Err(e) => {
                let kw = if self.stack.is_empty() {
                    None
                } else {
                    Some("include")
                };
                self.diags
                    .err(loc, kw, format!("cannot read {}: {e}", path.display()));
            }
        }
    }

    pub fn parse_text(&mut self, path: &Path, text: &str) {
        let file = Arc::new(path.to_path_buf());
        // Index of the section that indented lines of *this file* belong to.
        let mut current: Option<usize> = None;
        for (idx, raw_line) in text.lines().enumerate() {
            let lineno = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            let first = line.chars().next();
            let content = strip_comment(line);
            if content.trim().is_empty() {
                continue;
            }
            match first {
                Some(' ') | Some('\t') => {
                    let Some(sec) = current else {
                        let col = indent_width(line);
                        self.diags.err(
                            Location::new(&file, lineno, col),
                            None,
                            "setting outside of any section (add a 'conn NAME' or 'config setup' line above it)",
                        );
                        continue;
                    };
                    if let Some(entry) = self.parse_entry(&file, lineno, content) {
                        if let Some(s) = self.sections.get_mut(sec) {
                            s.entries.push(entry);
                        }
                    }
                }
                _ => {
                    let loc = Location::new(&file, lineno, 1);
                    let mut words = content.split_whitespace();
                    let head = words.next().unwrap_or("");
                    let rest: Vec<&str> = words.collect();
                    match head {
                        "config" | "conn" | "ca" => {
                            let kind = match head {
                                "config" => SectionKind::Setup,
                                "conn" => SectionKind::Conn,
                                _ => SectionKind::Ca,
                            };
                            match rest.as_slice() {
                                [name] => {
                                    if kind == SectionKind::Setup && *name != "setup" {
                                        self.diags.err(
                                            loc,
                                            Some("config"),
                                            format!("unknown section 'config {name}' (only 'config setup' exists)"),
                                        );
                                        current = None;
                                        continue;
                                    }
                                    if kind != SectionKind::Setup && !valid_section_name(name) {
                                        self.diags.err(
                                            loc,
                                            Some(head),
                                            format!("invalid {head} name '{name}': use letters, digits, '.', '_' and '-' (or %default)"),
                                        );
                                        current = None;
                                        continue;
                                    }
                                    self.sections.push(Section {
                                        kind,
                                        name: (*name).to_owned(),
                                        loc,
                                        entries: Vec::new(),
                                    });
                                    current = Some(self.sections.len() - 1);
                                }
                                [] => {
                                    self.diags.err(
                                        loc,
                                        Some(head),
                                        format!("'{head}' needs a name"),
                                    );
                                    current = None;
                                }
                                _ => {
                                    self.diags.err(
                                        loc,
                                        Some(head),
                                        format!(
                                            "section names cannot contain spaces: '{}'",
                                            rest.join(" ")
                                        ),
                                    );
                                    current = None;
                                }
                            }
                        }
                        "include" => {
                            current = None;
                            match rest.as_slice() {
                                [arg] => {
                                    let arg = arg.trim_matches('"');
                                    self.include(&file, loc, arg);
                                }
                                [] => self.diags.err(
                                    loc,
                                    Some("include"),
                                    "include needs a file name",
                                ),
                                _ => self.diags.err(
                                    loc,
                                    Some("include"),
                                    "only one file name (without spaces) may follow include",
                                ),
                            }
                        }
                        "version" => {
                            // Old "version 2" header: harmless, accepted.
                            current = None;
                        }
                        _ if head.contains('=') => {
                            self.diags.err(
                                loc,
                                head.split('=').next(),
                                "settings must be indented (start the line with a space or tab)",
                            );
                        }
                        _ => {
                            self.diags.err(
                                loc,
                                Some(head),
                                format!("unknown line '{}': expected 'config setup', 'conn NAME', 'ca NAME' or 'include FILE'", content.trim()),
                            );
                            current = None;
                        }
                    }
                }
            }
        }
    }

    fn include(&mut self, file: &Arc<PathBuf>, loc: Location, arg: &str) {
        let target = include_path(file, arg);
        if has_wildcard(arg) {
            match self.src.glob(&target) {
                Ok(list) => {
                    if list.is_empty() {
                        self.diags.warn(
                            loc.clone(),
                            Some("include"),
                            format!("no file matches {}", target.display()),
                        );
                    }
                    for p in list {
                        self.parse_file(&p, Some(loc.clone()));
                    }
                }
                Err(e) => {
                    self.diags
                        .err(loc, Some("include"), format!("{}: {e}", target.display()))
                }
            }
        } else {
            self.parse_file(&target, Some(loc));
        }
    }

    fn parse_entry(&mut self, file: &Arc<PathBuf>, lineno: u32, content: &str) -> Option<Entry> {
        let indent = content.len() - content.trim_start().len();
        let body = content.trim_start();
        let key_col = col_of(content, indent);
        let Some(eq) = body.find('=') else {
            let word = body.split_whitespace().next().unwrap_or(body);
            self.diags.err(
                Location::new(file, lineno, key_col),
                Some(word),
                format!("missing '=' (expected '{word}=VALUE')"),
            );
            return None;
        };
        let key = body[..eq].trim_end();
        let key_loc = Location::new(file, lineno, key_col);
        if key.is_empty() {
            self.diags.err(key_loc, None, "missing keyword before '='");
            return None;
        }
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.diags.err(
                key_loc,
                Some(key),
                "invalid keyword (letters, digits and '_' only; a value with spaces needs quotes)",
            );
            return None;
        }
        let after = &body[eq + 1..];
        let lead = after.len() - after.trim_start().len();
        let value_offset = indent + eq + 1 + lead;
        let value_loc = Location::new(file, lineno, col_of(content, value_offset));
        match unquote(after.trim()) {
            Ok(value) => Some(Entry {
                key: key.to_owned(),
                value,
                key_loc,
                value_loc,
            }),
            Err((off, msg)) => {
                self.diags.err(
                    Location::new(file, lineno, col_of(content, value_offset + off)),
                    Some(key),
                    msg,
                );
                None
            }
        }
    }
}

fn indent_width(line: &str) -> u32 {
    u32::try_from(line.len() - line.trim_start().len() + 1).unwrap_or(u32::MAX)
}

fn col_of(line: &str, byte_off: usize) -> u32 {
    let prefix = line.get(..byte_off).unwrap_or(line);
    u32::try_from(prefix.chars().count() + 1).unwrap_or(u32::MAX)
}

pub fn valid_section_name(name: &str) -> bool {
    name == "%default"
        || (!name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

/// Removes a comment: `#` at the start of the line or after white space, outside quotes.
pub fn strip_comment(line: &str) -> &str {
    let mut in_quote = false;
    let mut prev_ws = true;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c == ' ' || c == '\t';
    }
    line
}

/// Removes double quotes (with `\"`, `\\`, `\n`, `\t` escapes inside them) and
/// collapses unquoted white space to one space.
pub fn unquote(v: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.char_indices().peekable();
    let mut pending_space = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                let mut closed = false;
                while let Some((_, q)) = chars.next() {
                    match q {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, e)) => out.push(e),
                            None => break,
                        },
                        _ => out.push(q),
                    }
                }
                if !closed {
                    return Err((
                        i,
                        "unterminated quoted string (missing closing '\"')".into(),
                    ));
                }
            }
            ' ' | '\t' => pending_space = !out.is_empty(),
            _ => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_quotes() {
        assert_eq!(strip_comment("  left=1.2.3.4 # c"), "  left=1.2.3.4 ");
        assert_eq!(strip_comment("  leftid=@#abcd"), "  leftid=@#abcd");
        assert_eq!(strip_comment("  x=\"a # b\" # c"), "  x=\"a # b\" ");
        assert_eq!(unquote("\"ike 1, knl 1\"").unwrap(), "ike 1, knl 1");
        assert_eq!(unquote("a,   b").unwrap(), "a, b");
        assert_eq!(unquote("\"C=CH, O=x\"").unwrap(), "C=CH, O=x");
        assert_eq!(unquote(r#""a\"b""#).unwrap(), "a\"b");
        assert!(unquote("\"abc").is_err());
    }
}
