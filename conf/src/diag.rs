//! Diagnostics: every error and warning names file:line:col and the keyword.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A place in a configuration file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<PathBuf>,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: &Arc<PathBuf>, line: u32, col: u32) -> Self {
        Location {
            file: Arc::clone(file),
            line,
            col,
        }
    }

    /// A location for a whole file (errors opening or reading it).
    pub fn file_only(file: &Path) -> Self {
        Location {
            file: Arc::new(file.to_path_buf()),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    /// The keyword (or construct, e.g. `conn`, `include`) the finding is about.
    pub keyword: Option<String>,
    pub message: String,
    /// For settings inherited through `also=`: the chain of sections, outermost first.
    pub via: Vec<String>,
    /// The conn the finding applies to, where it is about a resolved conn.
    pub conn: Option<String>,
    /// Further conns that inherit the same faulty setting (name, also= chain).
    pub also_affects: Vec<(String, Vec<String>)>,
}

impl Diagnostic {
    pub fn error(location: Location, keyword: Option<&str>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            keyword: keyword.map(str::to_owned),
            message: message.into(),
            via: Vec::new(),
            conn: None,
            also_affects: Vec::new(),
        }
    }

    pub fn warning(location: Location, keyword: Option<&str>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, keyword, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if self.severity == Severity::Warning {
            write!(f, "warning: ")?;
        }
        if let Some(k) = &self.keyword {
            write!(f, "{k}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(c) = &self.conn {
            write!(f, " (conn '{c}'")?;
            if !self.via.is_empty() {
                write!(f, ", inherited via also={}", self.via.join(" -> also="))?;
            }
            write!(f, ")")?;
        }
        const SHOWN: usize = 3;
        for (name, via) in self.also_affects.iter().take(SHOWN) {
            write!(
                f,
                "; also affects conn '{name}' (via also={})",
                via.join(" -> also=")
            )?;
        }
        if self.also_affects.len() > SHOWN {
            write!(f, "; and {} more conns", self.also_affects.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// All the errors found (never only the first), plus the warnings seen on the way.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigErrors {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        writeln!(
            f,
            "{n} error{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics while parsing.
#[derive(Debug, Default)]
pub struct Diags {
    pub list: Vec<Diagnostic>,
}

impl Diags {
    pub fn err(&mut self, location: Location, keyword: Option<&str>, message: impl Into<String>) {
        self.list
            .push(Diagnostic::error(location, keyword, message));
    }
    pub fn warn(&mut self, location: Location, keyword: Option<&str>, message: impl Into<String>) {
        self.list
            .push(Diagnostic::warning(location, keyword, message));
    }
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
}
