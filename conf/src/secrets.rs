//! ipsec.secrets(5): `[SELECTORS] : TYPE VALUE`, secrets held in zeroizing memory.

use crate::diag::{Diags, Location};
use crate::syntax::{MAX_FILES, MAX_INCLUDE_DEPTH, Source, has_wildcard, include_path};
use crate::values::{Identity, parse_identity};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Secret bytes: zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(v: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(v))
    }
    /// The secret itself: for key derivation only, never for logs.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.0.len())
    }
}

/// A passphrase for a key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Passphrase {
    None,
    Given(SecretBytes),
    /// `%prompt`: ask on the terminal (not possible for a daemon; reported at load).
    Prompt,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretKind {
    Psk(SecretBytes),
    Eap(SecretBytes),
    Ntlm(SecretBytes),
    Xauth(SecretBytes),
    Pin(SecretBytes),
    /// A private key file (RSA, ECDSA, PKCS8, P12): path as written, resolved against ipsec.d/private.
    KeyFile {
        ty: KeyFileType,
        path: String,
        passphrase: Passphrase,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFileType {
    Rsa,
    Ecdsa,
    Pkcs8,
    P12,
    Bliss,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    /// The IDs the secret applies to; empty means any (`: PSK "..."`).
    pub selectors: Vec<Identity>,
    pub kind: SecretKind,
    pub location: Location,
}

impl Secret {
    /// The key file path, resolved against `private_dir` when relative.
    pub fn key_path(&self, private_dir: &Path) -> Option<PathBuf> {
        match &self.kind {
            SecretKind::KeyFile { path, .. } => {
                let p = Path::new(path);
                Some(if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    private_dir.join(p)
                })
            }
            _ => None,
        }
    }
}

/// All secrets, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    pub entries: Vec<Secret>,
}

impl Secrets {
    /// The best matching shared secret (PSK) for a pair of IDs, as strongSwan
    /// ranks them: both IDs matched > one matched > none (`%any` / empty).
    pub fn find_psk(&self, me: &Identity, other: &Identity) -> Option<&SecretBytes> {
        self.find(me, other, |k| match k {
            SecretKind::Psk(s) => Some(s),
            _ => None,
        })
    }

    /// The EAP secret for a user identity (and optionally the server's).
    pub fn find_eap(&self, me: &Identity, other: &Identity) -> Option<&SecretBytes> {
        self.find(me, other, |k| match k {
            SecretKind::Eap(s) | SecretKind::Ntlm(s) => Some(s),
            _ => None,
        })
    }

    fn find<'a>(
        &'a self,
        me: &Identity,
        other: &Identity,
        pick: impl Fn(&'a SecretKind) -> Option<&'a SecretBytes>,
    ) -> Option<&'a SecretBytes> {
        let mut best: Option<(u8, &SecretBytes)> = None;
        for s in &self.entries {
            let Some(sec) = pick(&s.kind) else { continue };
            let score = if s.selectors.is_empty() {
                Some(1)
            } else {
                let m_me = s.selectors.iter().any(|i| id_matches(i, me));
                let m_other = s.selectors.iter().any(|i| id_matches(i, other));
                let exact =
                    |x: &Identity| s.selectors.iter().any(|i| i == x && *i != Identity::Any);
                match (m_me, m_other) {
                    (true, true) => Some(2 + u8::from(exact(me)) + u8::from(exact(other))),
                    (true, false) | (false, true) => Some(2 + u8::from(exact(me) || exact(other))),
                    (false, false) => None,
                }
            };
            if let Some(sc) = score {
                if best.is_none_or(|(b, _)| sc > b) {
                    best = Some((sc, sec));
                }
            }
        }
        best.map(|(_, s)| s)
    }
}

/// Does a selector/pattern identity match a concrete one (`%any`, `*` wildcards)?
pub fn id_matches(pattern: &Identity, id: &Identity) -> bool {
    match (pattern, id) {
        (Identity::Any, _) => true,
        (Identity::Fqdn(p), Identity::Fqdn(s)) | (Identity::UserFqdn(p), Identity::UserFqdn(s)) => {
            wildcard_eq(p, s)
        }
        (Identity::Dn(p), Identity::Dn(s)) => {
            let pp: Vec<&str> = p.split(", ").collect();
            let ss: Vec<&str> = s.split(", ").collect();
            pp.len() == ss.len()
                && pp.iter().zip(&ss).all(|(a, b)| {
                    a.eq_ignore_ascii_case(b)
                        || a.split_once('=').is_some_and(|(k, v)| {
                            v == "*"
                                && b.split_once('=')
                                    .is_some_and(|(k2, _)| k.eq_ignore_ascii_case(k2))
                        })
                })
        }
        (a, b) => a == b,
    }
}

fn wildcard_eq(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return pattern.eq_ignore_ascii_case(s);
    }
    // Only a leading "*" is meaningful in strongSwan IDs (e.g. *@example.org).
    match pattern.split_once('*') {
        Some((pre, post)) => {
            let ls = s.to_ascii_lowercase();
            ls.len() >= pre.len() + post.len()
                && ls.starts_with(&pre.to_ascii_lowercase())
                && ls.ends_with(&post.to_ascii_lowercase())
        }
        None => false,
    }
}

/// A token of an entry. Its text may be a secret: zeroized on drop, and
/// sized once (a growing `String` would leave copies behind in freed memory).
struct Tok {
    text: Zeroizing<String>,
    quoted: bool,
    col: u32,
}

/// Splits one logical line into tokens (quoted strings keep their spaces;
/// `\` escapes in double quotes). Nothing of the line is copied outside
/// zeroizing buffers.
fn tokenize(line: &str) -> Result<Vec<Tok>, (u32, String)> {
    let mut out = Vec::new();
    let mut it = line.chars().enumerate().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c == ' ' || c == '\t' {
            it.next();
            continue;
        }
        let col = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if c == '#' {
            break;
        }
        let mut text = Zeroizing::new(String::with_capacity(line.len()));
        if c == '"' || c == '\'' {
            let q = c;
            it.next();
            let mut closed = false;
            while let Some((_, d)) = it.next() {
                if d == '\\' && q == '"' {
                    if let Some((_, e)) = it.next() {
                        text.push(e);
                        continue;
                    }
                    text.push(d);
                    break;
                }
                if d == q {
                    closed = true;
                    break;
                }
                text.push(d);
            }
            if !closed {
                return Err((col, "unterminated quoted string".into()));
            }
            out.push(Tok {
                text,
                quoted: true,
                col,
            });
        } else {
            while let Some(&(_, d)) = it.peek() {
                if matches!(d, ' ' | '\t' | '"') {
                    break;
                }
                text.push(d);
                it.next();
            }
            out.push(Tok {
                text,
                quoted: false,
                col,
            });
        }
    }
    Ok(out)
}

const TYPES: &[&str] = &[
    "PSK", "RSA", "ECDSA", "BLISS", "PKCS8", "P12", "EAP", "NTLM", "XAUTH", "PIN",
];

fn decode_secret(t: &Tok) -> Result<SecretBytes, String> {
    use base64::Engine as _;
    if t.quoted {
        return Ok(SecretBytes::new(t.text.as_bytes().to_vec()));
    }
    if let Some(h) = t.text.strip_prefix("0x") {
        return hex::decode(h)
            .map(SecretBytes::new)
            .map_err(|_| "0x secret is not valid hex".into());
    }
    if let Some(b) = t.text.strip_prefix("0s") {
        return base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(SecretBytes::new)
            .map_err(|_| "0s secret is not valid base64".into());
    }
    Ok(SecretBytes::new(t.text.as_bytes().to_vec()))
}

/// Parses ipsec.secrets (and its includes).
pub struct SecretsParser<'a> {
    src: &'a dyn Source,
    pub diags: Diags,
    pub secrets: Secrets,
    stack: Vec<PathBuf>,
    files_read: usize,
}

impl std::fmt::Debug for SecretsParser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsParser")
            .field("entries", &self.secrets.entries.len())
            .finish()
    }
}

impl<'a> SecretsParser<'a> {
    pub fn new(src: &'a dyn Source) -> Self {
        SecretsParser {
            src,
            diags: Diags::default(),
            secrets: Secrets::default(),
            stack: Vec::new(),
            files_read: 0,
        }
    }

    pub fn parse_file(&mut self, path: &Path, from: Option<Location>) {
        let loc = from.clone().unwrap_or_else(|| Location::file_only(path));
        if self.stack.iter().any(|p| p == path) {
            self.diags.err(
                loc,
                Some("include"),
                format!("include loop: {} includes itself", path.display()),
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
                    "includes nested more than {MAX_INCLUDE_DEPTH} deep (loop?) at {}",
                    path.display()
                ),
            );
            return;
        }
        if let Some(mode) = self.src.mode(path) {
            if mode & 0o044 != 0 {
                self.diags.warn(
                    Location::file_only(path),
                    None,
                    format!("secrets file is readable by group or others (mode {:o}); run: chmod 600 {}", mode & 0o777, path.display()),
                );
            }
        }
        match self.src.read(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                self.stack.push(path.to_path_buf());
                self.parse_text(path, &text);
                self.stack.pop();
            }
            Err(e) => {
                let kw = from.is_some().then_some("include");
                self.diags
                    .err(loc, kw, format!("cannot read {}: {e}", path.display()));
            }
        }
    }

    pub fn parse_text(&mut self, path: &Path, text: &str) {
        let file = Arc::new(path.to_path_buf());
        // Join continuation lines (starting with white space) to their
        // entry, in zeroizing buffers (entries hold secrets).
        let mut logical: Vec<(u32, Zeroizing<String>)> = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            let lineno = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let cont = line.starts_with([' ', '\t']);
            match logical.last_mut() {
                Some((_, buf)) if cont => {
                    // A new buffer of the final size; the old one is zeroized.
                    let mut joined =
                        Zeroizing::new(String::with_capacity(buf.len() + 1 + line.len()));
                    joined.push_str(buf);
                    joined.push(' ');
                    joined.push_str(line);
                    *buf = joined;
                }
                _ => logical.push((lineno, Zeroizing::new(line.to_owned()))),
            }
        }
        for (lineno, line) in logical {
            self.entry(&file, lineno, &line);
        }
    }

    fn entry(&mut self, file: &Arc<PathBuf>, lineno: u32, line: &str) {
        let at = |col: u32| Location::new(file, lineno, col);
        let toks = match tokenize(line) {
            Ok(t) => t,
            Err((col, m)) => {
                self.diags.err(at(col), None, m);
                return;
            }
        };
        let Some(first) = toks.first() else { return };
        if !first.quoted && first.text.as_str() == "include" {
            match toks.get(1) {
                Some(t) if toks.len() == 2 => {
                    let target = include_path(file, &t.text);
                    let loc = at(first.col);
                    if has_wildcard(&t.text) {
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
                            Err(e) => self.diags.err(loc, Some("include"), e),
                        }
                    } else {
                        self.parse_file(&target, Some(loc));
                    }
                }
                _ => self.diags.err(
                    at(first.col),
                    Some("include"),
                    "include needs exactly one file name",
                ),
            }
            return;
        }
        // Find the ':' separator and the type keyword.
        let mut sel_end = None;
        let mut type_tok = None;
        for (i, t) in toks.iter().enumerate() {
            if t.quoted {
                continue;
            }
            if t.text.as_str() == ":" {
                sel_end = Some(i);
                type_tok = Some(i + 1);
                break;
            }
            if let Some(ty) = t.text.strip_prefix(':') {
                if TYPES.contains(&ty.to_ascii_uppercase().as_str()) {
                    sel_end = Some(i);
                    type_tok = Some(i);
                    break;
                }
            }
            if let Some(id) = t.text.strip_suffix(':') {
                if !id.is_empty()
                    && toks
                        .get(i + 1)
                        .is_some_and(|n| TYPES.contains(&n.text.to_ascii_uppercase().as_str()))
                {
                    sel_end = Some(i + 1);
                    type_tok = Some(i + 1);
                    break;
                }
            }
        }
        let (Some(sel_end), Some(ti)) = (sel_end, type_tok) else {
            self.diags.err(
                at(first.col),
                None,
                "missing ' : ' separator (expected '[IDs] : TYPE secret', e.g. ': PSK \"secret\"')",
            );
            return;
        };
        let mut selectors = Vec::new();
        for (i, t) in toks.iter().take(sel_end).enumerate() {
            // Selectors are identities, not secrets.
            let text = if i + 1 == sel_end && !t.quoted && t.text.ends_with(':') {
                t.text.trim_end_matches(':').to_owned()
            } else {
                t.text.to_string()
            };
            match parse_identity(&text) {
                Ok(id) => selectors.push(id),
                Err(m) => self.diags.err(at(t.col), Some("selector"), m),
            }
        }
        let Some(tt) = toks.get(ti) else {
            self.diags.err(
                at(first.col),
                None,
                format!(
                    "missing secret type after ':' (one of {})",
                    TYPES.join(", ")
                ),
            );
            return;
        };
        let ty = tt.text.trim_start_matches(':').to_ascii_uppercase();
        let args: Vec<&Tok> = toks.iter().skip(ti + 1).collect();
        let loc = at(tt.col);
        let one = |this: &mut Self| -> Option<SecretBytes> {
            match args.as_slice() {
                [t] => match decode_secret(t) {
                    Ok(s) => Some(s),
                    Err(m) => {
                        this.diags.err(at(t.col), Some(&ty), m);
                        None
                    }
                },
                [] => {
                    this.diags
                        .err(loc.clone(), Some(&ty), "missing secret value");
                    None
                }
                [_, extra, ..] => {
                    this.diags.err(
                        at(extra.col),
                        Some(&ty),
                        "more than one value: quote a secret that contains spaces",
                    );
                    None
                }
            }
        };
        let kind = match ty.as_str() {
            "PSK" => one(self).map(SecretKind::Psk),
            "EAP" => one(self).map(SecretKind::Eap),
            "NTLM" => one(self).map(SecretKind::Ntlm),
            "XAUTH" => {
                self.diags.warn(
                    loc.clone(),
                    Some("XAUTH"),
                    "XAUTH secrets are for IKEv1 only; kept but unused",
                );
                one(self).map(SecretKind::Xauth)
            }
            "PIN" => {
                self.diags.warn(
                    loc.clone(),
                    Some("PIN"),
                    "smartcard PINs are not implemented yet; entry ignored",
                );
                one(self).map(SecretKind::Pin)
            }
            "RSA" | "ECDSA" | "PKCS8" | "P12" | "BLISS" => {
                let kt = match ty.as_str() {
                    "RSA" => KeyFileType::Rsa,
                    "ECDSA" => KeyFileType::Ecdsa,
                    "PKCS8" => KeyFileType::Pkcs8,
                    "P12" => KeyFileType::P12,
                    _ => KeyFileType::Bliss,
                };
                match args.as_slice() {
                    [] => {
                        self.diags
                            .err(loc.clone(), Some(&ty), "missing key file name");
                        None
                    }
                    [f, rest @ ..] => {
                        let passphrase = match rest {
                            [] => Some(Passphrase::None),
                            [p] if !p.quoted && p.text.as_str() == "%prompt" => {
                                Some(Passphrase::Prompt)
                            }
                            [p] => decode_secret(p).ok().map(Passphrase::Given),
                            [_, extra, ..] => {
                                self.diags.err(at(extra.col), Some(&ty), "expected 'FILE [passphrase|%prompt]': quote a passphrase with spaces");
                                None
                            }
                        };
                        if kt == KeyFileType::Bliss {
                            self.diags.warn(
                                loc.clone(),
                                Some("BLISS"),
                                "BLISS keys are not supported; entry ignored",
                            );
                        }
                        passphrase.map(|passphrase| SecretKind::KeyFile {
                            ty: kt,
                            path: f.text.to_string(),
                            passphrase,
                        })
                    }
                }
            }
            other => {
                let hint = crate::util::did_you_mean(other, TYPES.iter().copied());
                self.diags.err(
                    loc.clone(),
                    Some(other),
                    format!(
                        "unknown secret type '{other}'{hint} (expected one of {})",
                        TYPES.join(", ")
                    ),
                );
                None
            }
        };
        if let Some(kind) = kind {
            self.secrets.entries.push(Secret {
                selectors,
                kind,
                location: at(first.col),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Secrets, Diags) {
        let src = crate::MemSource::default();
        let mut p = SecretsParser::new(&src);
        p.parse_text(Path::new("ipsec.secrets"), s);
        (p.secrets, p.diags)
    }

    #[test]
    fn kinds() {
        let (s, d) = parse(
            ": PSK \"v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL\"\n\
             : RSA /etc/ipsec.d/private/server-key.pem\n\
             client_a : EAP \"plaintext-password-for-client_a\"\n\
             192.0.2.1 2001:db8::1 : PSK 0x414243\n\
             @moon carol@strongswan.org : PSK 0sQUJD\n\
             : ECDSA key.pem %prompt\n\
             : P12 cert.p12 \"pass word\"\n\
             \"C=CH, O=strongSwan, CN=moon\" : RSA moon.pem\n",
        );
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(s.entries.len(), 8);
        assert!(
            matches!(&s.entries[1].kind, SecretKind::KeyFile { ty: KeyFileType::Rsa, path, passphrase: Passphrase::None } if path == "/etc/ipsec.d/private/server-key.pem")
        );
        assert_eq!(
            s.entries[2].selectors,
            vec![Identity::Fqdn("client_a".into())]
        );
        assert_eq!(s.entries[3].selectors.len(), 2);
        assert!(matches!(&s.entries[3].kind, SecretKind::Psk(b) if b.expose() == b"ABC"));
        assert!(matches!(&s.entries[4].kind, SecretKind::Psk(b) if b.expose() == b"ABC"));
        assert!(matches!(
            &s.entries[5].kind,
            SecretKind::KeyFile {
                passphrase: Passphrase::Prompt,
                ..
            }
        ));
        assert!(
            matches!(&s.entries[7].selectors[0], Identity::Dn(d) if d == "C=CH, O=strongSwan, CN=moon")
        );
    }

    #[test]
    fn debug_redacts() {
        let (s, _) = parse(": PSK \"topsecret-value\"\n");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("topsecret"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn lookup_ranks() {
        let (s, _) = parse(": PSK \"any\"\n192.0.2.2 : PSK \"peer\"\n@a @b : PSK \"both\"\n");
        let me = Identity::Ipv4("192.0.2.1".parse().unwrap());
        let peer = Identity::Ipv4("192.0.2.2".parse().unwrap());
        assert_eq!(s.find_psk(&me, &peer).unwrap().expose(), b"peer");
        let other = Identity::Ipv4("192.0.2.9".parse().unwrap());
        assert_eq!(s.find_psk(&me, &other).unwrap().expose(), b"any");
        let a = Identity::Fqdn("a".into());
        let b = Identity::Fqdn("b".into());
        assert_eq!(s.find_psk(&a, &b).unwrap().expose(), b"both");
    }

    #[test]
    fn errors() {
        let (_, d) = parse("carol EAP \"x\"\n: FOO bar\n: PSK\n: PSK \"unterminated\n: PSK a b\n");
        let msgs: Vec<String> = d.list.iter().map(|x| x.to_string()).collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        assert!(msgs[0].starts_with("ipsec.secrets:1:1: missing ' : '"));
        assert!(msgs[1].contains("unknown secret type 'FOO'"));
        assert!(msgs[2].contains("missing secret value"));
        assert!(msgs[3].contains("unterminated"));
        assert!(msgs[4].contains("more than one value"));
    }
}
