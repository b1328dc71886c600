//! Errors: loading failures, and the reasons a certificate is rejected.

use std::path::PathBuf;

use crate::time::fmt_utc;

/// A failure to load, parse or use a credential.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
    #[error("malformed certificate: {0}")]
    BadCertificate(String),
    #[error("malformed CRL: {0}")]
    BadCrl(String),
    #[error("malformed key: {0}")]
    BadKey(String),
    #[error("key is encrypted and no passphrase was given")]
    NeedPassphrase,
    #[error("wrong passphrase, or the encrypted key is damaged")]
    BadPassphrase,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed AUTH data: {0}")]
    BadAuthData(String),
    #[error("private key operation failed")]
    SignFailed,
    #[error("no data found in input (expected PEM or DER)")]
    Empty,
}

/// Why a peer certificate (or its chain) was rejected. The `Display` text is
/// meant for operators: it says which certificate, and what exactly failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("certificate \"{subject}\" expired on {}", fmt_utc(*not_after))]
    Expired { subject: String, not_after: i64 },
    #[error("certificate \"{subject}\" is not valid before {}", fmt_utc(*not_before))]
    NotYetValid { subject: String, not_before: i64 },
    #[error(
        "issuer not found: \"{issuer}\" (issuer of \"{subject}\" is in neither cacerts nor the certificates sent by the peer)"
    )]
    IssuerNotFound { subject: String, issuer: String },
    #[error("signature of \"{subject}\" does not verify with the key of its issuer \"{issuer}\"")]
    BadSignature { subject: String, issuer: String },
    #[error("signature algorithm of \"{subject}\" is not supported: {alg}")]
    UnsupportedAlgorithm { subject: String, alg: String },
    #[error("issuer \"{subject}\" is not a CA (basicConstraints CA:TRUE missing)")]
    NotCa { subject: String },
    #[error("path length constraint of CA \"{subject}\" ({path_len}) exceeded")]
    PathLenExceeded { subject: String, path_len: u32 },
    #[error("key usage missing: \"{subject}\" lacks {usage}")]
    KeyUsageMissing {
        subject: String,
        usage: &'static str,
    },
    #[error("extended key usage missing: \"{subject}\" lacks {usage}")]
    ExtendedKeyUsageMissing {
        subject: String,
        usage: &'static str,
    },
    #[error("certificate \"{subject}\" (serial {serial}) revoked on {} by CRL of \"{crl_issuer}\"{}", fmt_utc(*revoked_at), reason.as_ref().map(|r| format!(" (reason: {r})")).unwrap_or_default())]
    Revoked {
        subject: String,
        serial: String,
        revoked_at: i64,
        crl_issuer: String,
        reason: Option<String>,
    },
    #[error("no valid CRL for \"{subject}\" from \"{issuer}\" and strictcrlpolicy={policy}{}", stale.map(|t| format!(" (the CRL expired on {})", fmt_utc(t))).unwrap_or_default())]
    RevocationUnknown {
        subject: String,
        issuer: String,
        policy: &'static str,
        stale: Option<i64>,
    },
    #[error("name constraints of CA \"{ca}\": {name} of \"{subject}\" is {why}")]
    NameConstraint {
        ca: String,
        subject: String,
        name: String,
        why: String,
    },
    #[error("chain too long (more than {0} certificates)")]
    ChainTooLong(usize),
    #[error("ID mismatch: wanted {wanted}, certificate has {has}")]
    IdMismatch { wanted: String, has: String },
    #[error("certificate is malformed: {0}")]
    Malformed(String),
}
