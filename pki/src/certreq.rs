//! CERTREQ (RFC 7296 section 3.7): the authorities we trust, and which
//! certificates to send (`leftsendcert=`).

use crate::cert::Certificate;
use crate::trust::TrustStore;

/// Certificate encoding "X.509 Certificate - Signature".
pub const CERT_X509_SIGNATURE: u8 = 4;

/// CERTREQ Certification Authority data: the SHA-1 hashes of the
/// subjectPublicKeyInfo of every trusted CA, concatenated (duplicates dropped).
pub fn certreq_data(trust: &TrustStore) -> Vec<u8> {
    certreq_data_for(trust, None)
}

/// As [`certreq_data`], narrowed to the trusted CAs whose subject matches
/// `ca` (a conn's `rightca=`): the peer is asked for a certificate from that
/// CA only. When no trusted CA matches (`rightca=` names an authority that
/// is not loaded as such), every trusted CA is asked for.
pub fn certreq_data_for(trust: &TrustStore, ca: Option<&crate::Dn>) -> Vec<u8> {
    let wanted: Vec<&Certificate> = match ca {
        Some(dn) => trust
            .anchors
            .iter()
            .filter(|a| dn.matches(&a.subject))
            .collect(),
        None => Vec::new(),
    };
    let from: Vec<&Certificate> = if wanted.is_empty() {
        trust.anchors.iter().collect()
    } else {
        wanted
    };
    let mut seen: Vec<[u8; 20]> = Vec::new();
    for a in from {
        let h = a.public_key.spki_sha1();
        if !seen.contains(&h) {
            seen.push(h);
        }
    }
    seen.concat()
}

/// The 20-byte hashes of a received CERTREQ (a trailing partial hash is ignored).
pub fn parse_certreq(data: &[u8]) -> Vec<[u8; 20]> {
    data.chunks_exact(20)
        .filter_map(|c| <[u8; 20]>::try_from(c).ok())
        .collect()
}

/// `leftsendcert=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SendCert {
    Always,
    #[default]
    IfAsked,
    Never,
}

impl SendCert {
    /// strongSwan's values: `always`/`yes`, `ifasked`, `never`/`no`.
    pub fn parse(s: &str) -> Option<SendCert> {
        Some(match s {
            "always" | "yes" => SendCert::Always,
            "ifasked" => SendCert::IfAsked,
            "never" | "no" => SendCert::Never,
            _ => return None,
        })
    }
}

/// Which of our certificates to put into CERT payloads.
///
/// `own` is our end-entity certificate followed by any intermediates we hold
/// for it (never the root). `certreqs` is `None` if the peer sent no CERTREQ,
/// else the CA hashes it asked for (possibly empty). With `ifasked` a CERTREQ
/// of any content triggers sending, as in strongSwan; intermediates are sent
/// along with the end-entity certificate.
pub fn certs_to_send<'a>(
    policy: SendCert,
    certreqs: Option<&[[u8; 20]]>,
    own: &'a [Certificate],
) -> Vec<&'a Certificate> {
    let send = match policy {
        SendCert::Always => true,
        SendCert::IfAsked => certreqs.is_some(),
        SendCert::Never => false,
    };
    if send {
        own.iter()
            .filter(|c| !(c.is_ca() && c.subject == c.issuer))
            .collect()
    } else {
        Vec::new()
    }
}

/// From several candidate certificates of ours (e.g. an RSA and an ECDSA
/// one), the first whose issuer's key hash the peer requested, else the first.
pub fn select_cert<'a>(
    candidates: &'a [Certificate],
    certreqs: &[[u8; 20]],
    trust: &TrustStore,
) -> Option<&'a Certificate> {
    candidates
        .iter()
        .find(|c| {
            trust
                .anchors
                .iter()
                .chain(candidates.iter())
                .any(|ca| ca.subject == c.issuer && certreqs.contains(&ca.public_key.spki_sha1()))
        })
        .or_else(|| candidates.first())
}
