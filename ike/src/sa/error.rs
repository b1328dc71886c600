//! What can go wrong in an exchange, and the ONE place that decides what
//! follows from it: the log line (with the IKE_SA's name), the counter, the
//! notify to answer with, and whether the IKE_SA dies.

use crate::wire::NotifyType;

/// An exchange handler's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ExchangeError {
    /// The peer's request is refused with this notify; the IKE_SA stays.
    #[error("{why}: answering {notify}")]
    Refuse {
        notify: NotifyType,
        data: Vec<u8>,
        why: String,
    },
    /// The peer's request is refused with this notify and the IKE_SA dies
    /// (e.g. AUTHENTICATION_FAILED).
    #[error("{why}: answering {notify}")]
    RefuseAndKill { notify: NotifyType, why: String },
    /// The message is not acted on (logged and counted); nothing is sent.
    #[error("{0}")]
    Drop(String),
    /// The IKE_SA cannot go on (our side failed, or the peer's answer is unusable).
    #[error("{0}")]
    Fatal(String),
}

impl ExchangeError {
    pub fn refuse(notify: NotifyType, why: impl Into<String>) -> Self {
        ExchangeError::Refuse {
            notify,
            data: Vec::new(),
            why: why.into(),
        }
    }

    pub fn kill(notify: NotifyType, why: impl Into<String>) -> Self {
        ExchangeError::RefuseAndKill {
            notify,
            why: why.into(),
        }
    }

    pub fn fatal(why: impl Into<String>) -> Self {
        ExchangeError::Fatal(why.into())
    }

    pub fn drop(why: impl Into<String>) -> Self {
        ExchangeError::Drop(why.into())
    }
}

/// `?` on internal errors (key derivation, encoding) kills the IKE_SA.
impl From<String> for ExchangeError {
    fn from(s: String) -> Self {
        ExchangeError::Fatal(s)
    }
}

impl From<super::api::SpiError> for ExchangeError {
    fn from(e: super::api::SpiError) -> Self {
        ExchangeError::refuse(NotifyType::TEMPORARY_FAILURE, e.to_string())
    }
}
