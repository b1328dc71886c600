//! strongswan.conf syntax (strongswan.conf(5)): nested `name { ... }`
//! sections, `key = value` lines (the value runs to the end of the line, or
//! is a double-quoted string that may span lines), `#` comments, `include`
//! with shell globs relative to the including file (the included settings
//! land in the section the `include` is in), and section references
//! (`name : other.section, more { ... }`).
//!
//! Later definitions replace earlier ones and sections of the same name are
//! merged, as strongSwan does for includes. This layer knows no key's meaning.

use crate::diag::{Diags, Location};
use crate::syntax::{MAX_FILES, MAX_INCLUDE_DEPTH, Source, has_wildcard, include_path};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A `key = value` setting. An empty value clears the key (its default applies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub key_loc: Location,
    pub value_loc: Location,
}

/// A section: its settings and subsections, each name once, in first-seen order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Where the section was (first) opened; `None` for a file's root.
    pub loc: Option<Location>,
    /// `name : a.b, c { }`: absolute names of the sections inherited from.
    pub refs: Vec<(String, Location)>,
    pub values: Vec<(String, Value)>,
    pub sections: Vec<Section>,
}

impl Section {
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section by dotted path (`charon.plugins.vici`).
    pub fn path(&self, dotted: &str) -> Option<&Section> {
        dotted.split('.').try_fold(self, |s, name| s.section(name))
    }

    /// Whether any non-empty value is set here or in a subsection.
    pub fn has_values(&self) -> bool {
        self.values.iter().any(|(_, v)| !v.text.is_empty())
            || self.sections.iter().any(Section::has_values)
    }

    fn set(&mut self, key: String, value: Value) {
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.values.push((key, value)),
        }
    }

    /// Merges `other` into `self`: its values replace ours, its subsections
    /// extend ours.
    pub fn merge(&mut self, other: Section) {
        self.refs.extend(other.refs);
        for (k, v) in other.values {
            self.set(k, v);
        }
        for s in other.sections {
            self.merge_child(s);
        }
    }

    fn merge_child(&mut self, s: Section) {
        match self.sections.iter_mut().find(|c| c.name == s.name) {
            Some(c) => c.merge(s),
            None => self.sections.push(s),
        }
    }
}

/// A character cursor that knows its line and column.
struct Cursor<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
    line: u32,
    col: u32,
}

impl<'t> Cursor<'t> {
    fn new(text: &'t str) -> Self {
        Cursor {
            chars: text.chars().peekable(),
            line: 1,
            col: 1,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
    }

    /// Skips white space, newlines and comments.
    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                _ => return,
            }
        }
    }

    /// Skips to (not past) the end of the line.
    fn skip_line(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.bump();
        }
    }

    /// An unquoted value: up to the end of the line, a comment, or a `}` that
    /// closes the section (left for the caller), trimmed. strongSwan 5.9's
    /// parser reads `knl = 2 } }` as `knl = 2` and two closing braces, and
    /// configurations in the field rely on it.
    fn unquoted_value(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' || c == '#' || c == '}' {
                break;
            }
            s.push(c);
            self.bump();
        }
        if self.peek() == Some('#') {
            self.skip_line();
        }
        s.trim().to_owned()
    }
}

/// Characters that end a name (strongswan.conf(5): names may not contain
/// `, : { } = " #`, white space; `.` only in section names).
fn is_name_char(c: char) -> bool {
    !matches!(
        c,
        ',' | ':' | '{' | '}' | '=' | '"' | '#' | ' ' | '\t' | '\r' | '\n'
    ) && !c.is_control()
}

/// Parses strongswan.conf files (and what they include) into one tree.
pub struct Parser<'a> {
    src: &'a dyn Source,
    pub diags: Diags,
    stack: Vec<PathBuf>,
    files_read: usize,
}

impl std::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("swconf::Parser")
            .field("files_read", &self.files_read)
            .finish()
    }
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a dyn Source) -> Self {
        Parser {
            src,
            diags: Diags::default(),
            stack: Vec::new(),
            files_read: 0,
        }
    }

    /// Parses one file into a root section (empty if it cannot be read).
    pub fn parse_file(&mut self, path: &Path, included_from: Option<Location>) -> Section {
        let loc = included_from.unwrap_or_else(|| Location::file_only(path));
        let chain = || {
            self.stack
                .iter()
                .map(|p| p.display().to_string())
                .chain(std::iter::once(path.display().to_string()))
                .collect::<Vec<_>>()
                .join(" -> ")
        };
        if self.stack.iter().any(|p| p == path) {
            let msg = format!("include loop: {}", chain());
            self.diags.err(loc, Some("include"), msg);
            return Section::default();
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            let msg = format!(
                "includes nested more than {MAX_INCLUDE_DEPTH} deep: {}",
                chain()
            );
            self.diags.err(loc, Some("include"), msg);
            return Section::default();
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
            return Section::default();
        }
        match self.src.read(path) {
            Ok(text) => {
                self.stack.push(path.to_path_buf());
                let root = self.parse_text(path, &text);
                self.stack.pop();
                root
            }
            Err(e) => {
                let kw = (!self.stack.is_empty()).then_some("include");
                self.diags
                    .err(loc, kw, format!("cannot read {}: {e}", path.display()));
                Section::default()
            }
        }
    }

    /// Parses the text of one file (includes are read through the source).
    pub fn parse_text(&mut self, path: &Path, text: &str) -> Section {
        let file = Arc::new(path.to_path_buf());
        let mut cur = Cursor::new(text);
        // The open sections, innermost last; [0] is the file's root.
        let mut open: Vec<Section> = vec![Section::default()];
        loop {
            cur.skip_space();
            let loc = Location::new(&file, cur.line, cur.col);
            let Some(c) = cur.peek() else { break };
            if c == '}' {
                cur.bump();
                if open.len() > 1 {
                    if let Some(done) = open.pop() {
                        if let Some(parent) = open.last_mut() {
                            parent.merge_child(done);
                        }
                    }
                } else {
                    self.diags.err(loc, None, "'}' without an open section");
                }
                continue;
            }
            let name = read_name(&mut cur);
            if name.is_empty() {
                cur.bump();
                self.diags.err(
                    loc,
                    None,
                    format!(
                        "unexpected '{}': expected a key, a section name, '}}' or 'include'",
                        c.escape_default()
                    ),
                );
                cur.skip_line();
                continue;
            }
            cur.skip_blanks();
            let next = cur.peek();
            if name == "include" && !matches!(next, Some('=' | '{' | ':') | None) {
                let arg = cur.unquoted_value();
                let arg = arg.trim_matches('"');
                if arg.is_empty() {
                    self.diags
                        .err(loc, Some("include"), "include needs a file name or pattern");
                    continue;
                }
                let included = self.include(&file, loc, arg);
                if let Some(top) = open.last_mut() {
                    for s in included {
                        top.merge(s);
                    }
                }
                continue;
            }
            match next {
                Some('=') => {
                    cur.bump();
                    if let Some(v) = self.value(&mut cur, &file, &name, loc.clone()) {
                        if name.contains('.') {
                            self.diags.err(
                                loc,
                                Some(&name),
                                format!("'.' is not allowed in a key (strongSwan refuses this file too): nest sections instead, e.g. '{}'", nested_example(&name, &v.text)),
                            );
                        } else if let Some(top) = open.last_mut() {
                            top.set(name, v);
                        }
                    }
                }
                Some('{' | ':') => {
                    let refs = if next == Some(':') {
                        cur.bump();
                        match self.refs(&mut cur, &file, &name) {
                            Some(r) => r,
                            None => continue,
                        }
                    } else {
                        Vec::new()
                    };
                    cur.skip_space();
                    if cur.peek() != Some('{') {
                        let at = Location::new(&file, cur.line, cur.col);
                        self.diags.err(
                            at,
                            Some(&name),
                            format!("expected '{{' to open section '{name}'"),
                        );
                        cur.skip_line();
                        continue;
                    }
                    cur.bump();
                    open.push(Section {
                        name: name.replace("::", ":"),
                        loc: Some(loc),
                        refs,
                        ..Section::default()
                    });
                }
                _ => {
                    let shown = match next {
                        None | Some('\n') => "the end of the line".to_owned(),
                        Some(c) => format!("'{}'", c.escape_default()),
                    };
                    let at = Location::new(&file, cur.line, cur.col);
                    self.diags.err(
                        at,
                        Some(&name),
                        format!("expected '=' or '{{' after '{name}', found {shown}"),
                    );
                    cur.skip_line();
                }
            }
        }
        while open.len() > 1 {
            if let Some(s) = open.pop() {
                let at = s.loc.clone().unwrap_or_else(|| Location::file_only(path));
                self.diags.err(
                    at,
                    Some(&s.name),
                    format!(
                        "section '{}' is not closed (missing '}}' before the end of the file)",
                        s.name
                    ),
                );
                if let Some(parent) = open.last_mut() {
                    parent.merge_child(s);
                }
            }
        }
        open.pop().unwrap_or_default()
    }

    /// After `=`: a quoted string, or the rest of the line.
    fn value(
        &mut self,
        cur: &mut Cursor<'_>,
        file: &Arc<PathBuf>,
        key: &str,
        key_loc: Location,
    ) -> Option<Value> {
        cur.skip_blanks();
        let value_loc = Location::new(file, cur.line, cur.col);
        if cur.peek() != Some('"') {
            let text = cur.unquoted_value();
            return Some(Value {
                text,
                key_loc,
                value_loc,
            });
        }
        cur.bump();
        let mut text = String::new();
        loop {
            match cur.bump() {
                None => {
                    self.diags.err(
                        value_loc,
                        Some(key),
                        "unterminated quoted string (missing closing '\"')",
                    );
                    return None;
                }
                Some('"') => break,
                Some('\\') => match cur.bump() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('\n') => {}
                    Some(e) => text.push(e),
                    None => {}
                },
                Some(c) => text.push(c),
            }
        }
        cur.skip_blanks();
        if !matches!(cur.peek(), None | Some('\n' | '#' | '}')) {
            let at = Location::new(file, cur.line, cur.col);
            self.diags.err(
                at,
                Some(key),
                "unexpected text after the closing '\"' (a quoted value must end its line)",
            );
            cur.skip_line();
            return None;
        }
        Some(Value {
            text,
            key_loc,
            value_loc,
        })
    }

    /// After `name :`: `a.b, c` up to (not including) `{`.
    fn refs(
        &mut self,
        cur: &mut Cursor<'_>,
        file: &Arc<PathBuf>,
        section: &str,
    ) -> Option<Vec<(String, Location)>> {
        let mut refs = Vec::new();
        loop {
            cur.skip_space();
            let loc = Location::new(file, cur.line, cur.col);
            let r = read_name(cur);
            if r.is_empty() {
                self.diags.err(
                    loc,
                    Some(section),
                    format!("expected the name of a section for '{section}' to inherit from"),
                );
                cur.skip_line();
                return None;
            }
            refs.push((r, loc));
            cur.skip_space();
            if cur.peek() == Some(',') {
                cur.bump();
            } else {
                return Some(refs);
            }
        }
    }

    fn include(&mut self, file: &Arc<PathBuf>, loc: Location, arg: &str) -> Vec<Section> {
        let target = include_path(file, arg);
        if !has_wildcard(arg) {
            return vec![self.parse_file(&target, Some(loc))];
        }
        match self.src.glob(&target) {
            // strongSwan: a pattern matching nothing is fine (e.g. an empty strongswan.d).
            Ok(list) => list
                .iter()
                .map(|p| self.parse_file(p, Some(loc.clone())))
                .collect(),
            Err(e) => {
                self.diags
                    .err(loc, Some("include"), format!("{}: {e}", target.display()));
                Vec::new()
            }
        }
    }
}

/// A name; `::` stands for `:` in section names.
fn read_name(cur: &mut Cursor<'_>) -> String {
    let mut s = String::new();
    loop {
        match cur.peek() {
            Some(':') => {
                // `::` is a literal colon; a single one starts references.
                let mut ahead = cur.chars.clone();
                ahead.next();
                if ahead.peek() == Some(&':') {
                    cur.bump();
                    cur.bump();
                    s.push_str("::");
                } else {
                    return s;
                }
            }
            Some(c) if is_name_char(c) => {
                s.push(c);
                cur.bump();
            }
            _ => return s,
        }
    }
}

/// `a.b.c` = `v` written as nested sections.
fn nested_example(dotted: &str, value: &str) -> String {
    let parts: Vec<&str> = dotted.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, outer)) = parts.split_last() else {
        return String::new();
    };
    let mut s = String::new();
    for p in outer {
        s.push_str(p);
        s.push_str(" { ");
    }
    s.push_str(&format!("{last} = {value}"));
    for _ in outer {
        s.push_str(" }");
    }
    s
}

/// Resolves section references (`name : other { }`): every referenced
/// section's values and subsections are inherited where the section does not
/// set them itself (left to right). References name sections by absolute
/// dotted path from the root.
pub fn resolve_refs(root: &mut Section, diags: &mut Diags) {
    let snapshot = root.clone();
    resolve_in(root, &snapshot, diags, &mut Vec::new());
}

fn resolve_in(sec: &mut Section, root: &Section, diags: &mut Diags, chain: &mut Vec<String>) {
    for (r, loc) in std::mem::take(&mut sec.refs) {
        if chain.contains(&r) {
            diags.err(
                loc,
                Some(&sec.name),
                format!("section reference loop: {} -> {r}", chain.join(" -> ")),
            );
            continue;
        }
        let Some(target) = root.path(&r) else {
            diags.err(
                loc,
                Some(&sec.name),
                format!(
                    "section '{}' inherits from '{r}', which does not exist",
                    sec.name
                ),
            );
            continue;
        };
        let mut inherited = target.clone();
        chain.push(r);
        resolve_in(&mut inherited, root, diags, chain);
        chain.pop();
        for (k, v) in inherited.values {
            if sec.value(&k).is_none() {
                sec.values.push((k, v));
            }
        }
        for s in inherited.sections {
            match sec.sections.iter_mut().find(|c| c.name == s.name) {
                Some(own) => {
                    // ours wins: merge ours over the inherited copy
                    let mut base = s;
                    base.merge(std::mem::take(own));
                    *own = base;
                }
                None => sec.sections.push(s),
            }
        }
    }
    for s in &mut sec.sections {
        resolve_in(s, root, diags, chain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;

    fn parse(files: &[(&str, &str)]) -> (Section, Diags) {
        let mut src = MemSource::default();
        for (p, t) in files {
            src = src.with(p, t);
        }
        let mut p = Parser::new(&src);
        let mut root = p.parse_file(Path::new(files[0].0), None);
        resolve_refs(&mut root, &mut p.diags);
        (root, p.diags)
    }

    fn get<'s>(root: &'s Section, dotted: &str) -> Option<&'s str> {
        let (sec, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
        let s = if sec.is_empty() {
            root
        } else {
            root.path(sec)?
        };
        s.value(key).map(|v| v.text.as_str())
    }

    #[test]
    fn sections_values_comments_quotes() {
        let (root, d) = parse(&[(
            "/s.conf",
            "# top\na = b\ncharon {\n  port = 4501 # comment\n  plugins {\n    vici { socket = unix:///x\n    }\n  }\n  q = \"a # not a comment\\n\"\n  multi = \"one\ntwo\"\n  time_format = %b %e %T\n  empty =\n}\n",
        )]);
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(get(&root, "a"), Some("b"));
        assert_eq!(get(&root, "charon.port"), Some("4501"));
        assert_eq!(get(&root, "charon.plugins.vici.socket"), Some("unix:///x"));
        assert_eq!(get(&root, "charon.q"), Some("a # not a comment\n"));
        assert_eq!(get(&root, "charon.multi"), Some("one\ntwo"));
        assert_eq!(get(&root, "charon.time_format"), Some("%b %e %T"));
        assert_eq!(get(&root, "charon.empty"), Some(""));
        let v = root.path("charon").unwrap().value("port").unwrap();
        assert_eq!((v.key_loc.line, v.key_loc.col), (4, 3));
        assert_eq!((v.value_loc.line, v.value_loc.col), (4, 10));
    }

    #[test]
    fn includes_land_in_the_enclosing_section_and_replace() {
        let (root, d) = parse(&[
            (
                "/etc/strongswan.conf",
                "charon {\n  load_modular = yes\n  plugins {\n    include strongswan.d/charon/*.conf\n  }\n  port = 1\n}\ninclude strongswan.d/*.conf\n",
            ),
            (
                "/etc/strongswan.d/charon/aes.conf",
                "aes {\n  load = yes\n}\n",
            ),
            (
                "/etc/strongswan.d/charon/vici.conf",
                "vici {\n  load = yes\n  socket = unix:///v\n}\n",
            ),
            (
                "/etc/strongswan.d/charon.conf",
                "charon {\n  port = 2\n  # dns1 =\n}\n",
            ),
            ("/etc/strongswan.d/zz.conf", "charon {\n  port = 3\n}\n"),
        ]);
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(get(&root, "charon.plugins.aes.load"), Some("yes"));
        assert_eq!(get(&root, "charon.plugins.vici.socket"), Some("unix:///v"));
        // later files (sorted glob order) replace earlier values
        let port = root.path("charon").unwrap().value("port").unwrap();
        assert_eq!(port.text, "3");
        assert_eq!(
            port.key_loc.file.to_str(),
            Some("/etc/strongswan.d/zz.conf")
        );
    }

    #[test]
    fn errors_have_file_line_col() {
        let (_, d) = parse(&[("/s.conf", "charon {\n  port 500\n  a.b = 1\n  x = \"open\n")]);
        let msgs: Vec<String> = d.list.iter().map(ToString::to_string).collect();
        assert!(
            msgs.iter()
                .any(|m| m
                    .starts_with("/s.conf:2:8: port: expected '=' or '{' after 'port', found '5'")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(
                |m| m.starts_with("/s.conf:3:3: a.b: '.' is not allowed in a key")
                    && m.contains("'a { b = 1 }'")
            ),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("/s.conf:4:7: x: unterminated quoted string")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("/s.conf:1:1: charon: section 'charon' is not closed")),
            "{msgs:?}"
        );
    }

    #[test]
    fn stray_brace_and_missing_include() {
        let (_, d) = parse(&[("/s.conf", "}\ninclude /nope.conf\ninclude /none/*.conf\n")]);
        let msgs: Vec<String> = d.list.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("/s.conf:1:1: '}' without an open section"));
        assert!(msgs[1].starts_with("/s.conf:2:1: include: cannot read /nope.conf"));
    }

    #[test]
    fn include_loop_is_an_error() {
        let (_, d) = parse(&[
            ("/a.conf", "include b.conf\n"),
            ("/b.conf", "include a.conf\n"),
        ]);
        assert!(
            d.list.iter().any(|x| x
                .message
                .contains("include loop: /a.conf -> /b.conf -> /a.conf")),
            "{:?}",
            d.list
        );
    }

    #[test]
    fn references_inherit_without_overriding() {
        let (root, d) = parse(&[(
            "/s.conf",
            "base {\n  a = 1\n  b = 2\n  sub {\n    x = 1\n    y = 1\n  }\n}\nuse : base {\n  b = 3\n  sub {\n    y = 2\n  }\n}\nbad : nowhere {\n}\nlog::file {\n}\n",
        )]);
        assert_eq!(get(&root, "use.a"), Some("1"));
        assert_eq!(get(&root, "use.b"), Some("3"));
        assert_eq!(get(&root, "use.sub.x"), Some("1"));
        assert_eq!(get(&root, "use.sub.y"), Some("2"));
        assert!(root.section("log:file").is_some());
        assert_eq!(d.list.len(), 1, "{:?}", d.list);
        assert!(
            d.list[0]
                .to_string()
                .starts_with("/s.conf:15:7: bad: section 'bad' inherits from 'nowhere'")
        );
    }

    #[test]
    fn a_brace_after_a_value_closes_the_section_like_strongswan() {
        // The lab's strongSwan peers have run with exactly this for sessions.
        let text = "charon {\n  filelog { swan { path = /tmp/x.log\n    default = 1\n    knl = 2 } }\n  port = 4501\n}\n";
        let (root, d) = parse(&[("/s.conf", text)]);
        assert!(
            d.list.is_empty(),
            "{:?}",
            d.list.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        assert_eq!(get(&root, "charon.filelog.swan.knl"), Some("2"));
        assert_eq!(get(&root, "charon.filelog.swan.path"), Some("/tmp/x.log"));
        assert_eq!(get(&root, "charon.port"), Some("4501"));
        // So does an include on the same line (Debian's plugins line).
        let (_, d) = parse(&[
            (
                "/s.conf",
                "charon {\n  plugins { include p/*.conf }\n  port = 4501\n}\n",
            ),
            ("/p/a.conf", "a { load = yes }\n"),
        ]);
        assert!(
            d.list.iter().all(|m| !m.to_string().contains("not closed")),
            "{:?}",
            d.list.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        // A quoted value keeps its braces.
        let (root, d) = parse(&[("/s.conf", "a { b = \"c }\" }\n")]);
        assert!(
            d.list.is_empty(),
            "{:?}",
            d.list.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        assert_eq!(get(&root, "a.b"), Some("c }"));
    }
}
