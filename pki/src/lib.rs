#![forbid(unsafe_code)]
//! X.509 certificates, private keys, trust chains and IKE AUTH signatures.
//!
//! How IKE_AUTH uses this crate:
//!
//! 1. At start: [`IpsecD::load`] reads `ipsec.d/{cacerts,certs,crls}`;
//!    [`IpsecD::load_cert`] resolves `leftcert=`, [`IpsecD::load_private_key`]
//!    each `: RSA|ECDSA file [passphrase]` line of ipsec.secrets, and
//!    [`IpsecD::load_public_key`] `leftrsasigkey=0s...` values.
//! 2. IKE_SA_INIT: send [`auth::encode_hash_algorithms`]`(&OUR_HASHES)` and
//!    a CERTREQ with [`certreq::certreq_data`]; decode the peer's with
//!    [`auth::decode_hash_algorithms`] and [`certreq::parse_certreq`].
//! 3. Our AUTH: [`auth::choose_scheme`] → [`auth::sign_auth`] over the octets
//!    of RFC 7296 §2.15; CERT payloads from [`certreq::certs_to_send`].
//! 4. The peer's AUTH: parse its CERT payloads with [`Certificate::from_der`],
//!    [`TrustStore::verify`] the chain (reasons in [`Rejection`]),
//!    [`Identity::check_cert`] its IDr/IDi, then [`auth::verify_auth`] with
//!    the end-entity's public key.
//!
//! The crate is a leaf: it does not depend on `conf`. The daemon maps
//! `conf::Identity` onto [`Identity`] case by case (UserFqdn → Rfc822, a DN
//! string through [`Dn::parse`]), and `conf::SecretKind::KeyFile { path,
//! passphrase }` onto [`IpsecD::load_private_key`]. Time comes in as Unix
//! seconds (sans-IO: tests pin it); [`time::now`] is there for the daemon.
//!
//! strongSwan semantics kept on purpose: FQDN/email IDs match
//! subjectAltNames only (never the CN); DN IDs match the subject (or a
//! directoryName SAN) attribute by attribute in order, case-insensitively,
//! `*` matching a whole value; every certificate in `cacerts` is a trust
//! anchor; EKU is not checked unless [`Policy::required_eku`] asks.
//!
//! Backend: aws-lc-rs for every signature and digest but one. Its
//! private-key operations are constant-time (RSA with blinding on a
//! constant-time bignum implementation; no RUSTSEC-2023-0071). It verifies
//! RSA PKCS#1 v1.5 with SHA-1 but won't make it, so AUTH method 1 (what a
//! peer without RFC 7427, like Windows, needs from an RSA gateway) is signed
//! by the system's OpenSSL through the `openssl` crate's safe API, also
//! constant-time with blinding (`rsa_sha1.rs`).

pub mod auth;
pub mod cert;
pub mod certreq;
mod der;
pub mod dn;
mod error;
pub mod identity;
pub mod key;
mod legacy;
mod pem;
mod rsa_sha1;
pub mod sigalg;
pub mod store;
pub mod time;
pub mod trust;

pub use auth::{AuthMethod, choose_scheme, sign_auth, verify_auth};
pub use cert::{Certificate, Crl, San};
pub use certreq::SendCert;
pub use dn::Dn;
pub use error::{Error, Rejection};
pub use identity::Identity;
pub use key::{Curve, Hash, PrivateKey, PublicKey, Scheme};
pub use store::IpsecD;
pub use trust::{CrlPolicy, Policy, TrustStore, VerifiedChain};
