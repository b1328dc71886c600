#![forbid(unsafe_code)]
//! X.509 certificates, private keys, trust chains and IKE AUTH signatures (see issue: pki).
