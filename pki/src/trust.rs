//! Trust: building a chain from a peer's certificate to a CA in `cacerts`,
//! checking validity, basicConstraints/pathLen, key usage and CRLs, and
//! saying precisely why a chain was rejected.

use crate::cert::{Certificate, Crl};
use crate::error::Rejection;
use crate::time::fmt_utc;

/// The longest chain accepted (end entity + intermediates + anchor).
pub const MAX_CHAIN: usize = 8;

/// At most this many candidate issuers are tried (each costs a signature
/// check) per verification: a peer sending many same-named certificates
/// cannot make the search explode.
pub const MAX_TRIES: usize = 32;

/// `strictcrlpolicy=` semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrlPolicy {
    /// `no`: a certificate is rejected only if a CRL revokes it.
    #[default]
    No,
    /// `ifuri`: also rejected if it names a CRL distribution point but no
    /// current CRL from its issuer is loaded.
    IfUri,
    /// `yes`: also rejected whenever no current CRL from its issuer is loaded.
    Yes,
}

impl CrlPolicy {
    pub fn parse(s: &str) -> Option<CrlPolicy> {
        Some(match s {
            "no" => CrlPolicy::No,
            "ifuri" => CrlPolicy::IfUri,
            "yes" => CrlPolicy::Yes,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            CrlPolicy::No => "no",
            CrlPolicy::IfUri => "ifuri",
            CrlPolicy::Yes => "yes",
        }
    }
}

pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
pub const EKU_IPSEC_IKE: &str = "1.3.6.1.5.5.7.3.17";
pub const EKU_ANY: &str = "2.5.29.37.0";

/// What a chain must satisfy beyond signatures and dates.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub strict_crl: CrlPolicy,
    /// If set, an end-entity certificate carrying an extendedKeyUsage
    /// extension must list this OID (or ipsecIKE / anyExtendedKeyUsage).
    /// strongSwan does not check EKU on IKE peers (only for OCSP signers), so
    /// the default is `None`; `Some(EKU_SERVER_AUTH)` mirrors what Windows
    /// and macOS clients demand of a gateway.
    pub required_eku: Option<&'static str>,
}

/// The trusted CAs (`ipsec.d/cacerts`) and loaded CRLs (`ipsec.d/crls`).
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    pub anchors: Vec<Certificate>,
    pub crls: Vec<Crl>,
}

/// A verified chain, end entity first, trust anchor last.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    pub certs: Vec<Certificate>,
}

impl VerifiedChain {
    pub fn end_entity(&self) -> Option<&Certificate> {
        self.certs.first()
    }
    /// `rightca=`: is a CA certificate of this chain (intermediate or
    /// anchor) named `ca` (wildcards allowed, as in strongSwan's DN matching)?
    pub fn has_ca(&self, ca: &crate::Dn) -> bool {
        self.certs.iter().skip(1).any(|c| ca.matches(&c.subject))
    }
    pub fn anchor(&self) -> Option<&Certificate> {
        self.certs.last()
    }
}

fn check_validity(c: &Certificate, now: i64) -> Result<(), Rejection> {
    if now < c.not_before {
        return Err(Rejection::NotYetValid {
            subject: c.subject.to_string(),
            not_before: c.not_before,
        });
    }
    if now > c.not_after {
        return Err(Rejection::Expired {
            subject: c.subject.to_string(),
            not_after: c.not_after,
        });
    }
    if let Some(oid) = c.unknown_critical.first() {
        return Err(Rejection::Malformed(format!(
            "\"{}\" has an unsupported critical extension {oid}",
            c.subject
        )));
    }
    Ok(())
}

/// Could `issuer` have issued `c` by names and key identifiers?
fn names_issuer(issuer: &Certificate, c: &Certificate) -> bool {
    issuer.subject == c.issuer
        && match (&c.authority_key_id, &issuer.subject_key_id) {
            (Some(a), Some(s)) => a == s,
            _ => true,
        }
}

/// RFC 5280 4.2.1.10 for every certificate below `ca` (self-issued
/// intermediates excepted): no name in an excluded subtree, and for each name
/// type with permitted subtrees, every name of that type inside one.
fn check_name_constraints(
    ca: &Certificate,
    nc: &crate::cert::NameConstraints,
    below: &[Certificate],
) -> Result<(), Rejection> {
    use crate::cert::San;
    for (i, c) in below.iter().enumerate() {
        if i > 0 && c.subject == c.issuer {
            continue;
        }
        let mut names: Vec<San> = c.sans.clone();
        if !c.subject.avas.is_empty() {
            names.push(San::Dn(c.subject.clone()));
        }
        for n in &names {
            let reject = |why: String| Rejection::NameConstraint {
                ca: ca.subject.to_string(),
                subject: c.subject.to_string(),
                name: n.to_string(),
                why,
            };
            if let Some(x) = nc.excluded.iter().find(|x| x.applies(n) == Some(true)) {
                return Err(reject(format!("excluded by {x}")));
            }
            let relevant: Vec<_> = nc
                .permitted
                .iter()
                .filter(|p| p.applies(n).is_some())
                .collect();
            if !relevant.is_empty() && !relevant.iter().any(|p| p.applies(n) == Some(true)) {
                let list: Vec<String> = relevant.iter().map(|p| p.to_string()).collect();
                return Err(reject(format!(
                    "not within the permitted {}",
                    list.join(", ")
                )));
            }
        }
    }
    Ok(())
}

impl TrustStore {
    pub fn new(anchors: Vec<Certificate>, crls: Vec<Crl>) -> TrustStore {
        TrustStore { anchors, crls }
    }

    /// Verifies `end` (the peer's certificate) with the intermediates the
    /// peer sent, at Unix time `now`. On success the chain, end first.
    pub fn verify(
        &self,
        end: &Certificate,
        intermediates: &[Certificate],
        now: i64,
        policy: &Policy,
    ) -> Result<VerifiedChain, Rejection> {
        check_validity(end, now)?;
        if let Some(ku) = end.key_usage {
            if !ku.digital_signature && !ku.non_repudiation {
                return Err(Rejection::KeyUsageMissing {
                    subject: end.subject.to_string(),
                    usage: "digitalSignature",
                });
            }
        }
        if let (Some(want), Some(ekus)) = (policy.required_eku, &end.ext_key_usage) {
            if !ekus
                .iter()
                .any(|e| e == want || e == EKU_IPSEC_IKE || e == EKU_ANY)
            {
                return Err(Rejection::ExtendedKeyUsageMissing {
                    subject: end.subject.to_string(),
                    usage: match want {
                        EKU_SERVER_AUTH => "serverAuth",
                        EKU_CLIENT_AUTH => "clientAuth",
                        EKU_IPSEC_IKE => "ipsecIKE",
                        _ => "the required extendedKeyUsage",
                    },
                });
            }
        }
        let mut chain = vec![end.clone()];
        let mut budget = MAX_TRIES;
        self.extend(&mut chain, intermediates, now, &mut budget)?;
        self.check_revocation(&chain, now, policy)?;
        tracing::debug!(target: "cfg", "certificate \"{}\" verified via {} CA(s) to \"{}\"",
            end.subject, chain.len().saturating_sub(1),
            chain.last().map(|c| c.subject.to_string()).unwrap_or_default());
        Ok(VerifiedChain { certs: chain })
    }

    /// Depth-first search for an issuer of the last certificate in `chain`,
    /// trust anchors first. Returns the first chain that reaches an anchor, or
    /// the most specific reason none did.
    fn extend(
        &self,
        chain: &mut Vec<Certificate>,
        pool: &[Certificate],
        now: i64,
        budget: &mut usize,
    ) -> Result<(), Rejection> {
        let Some(cur) = chain.last().cloned() else {
            return Err(Rejection::Malformed("empty chain".into()));
        };
        // The peer's own certificate is itself trusted.
        if chain.len() == 1 && self.anchors.iter().any(|a| a == &cur) {
            return Ok(());
        }
        if chain.len() >= MAX_CHAIN {
            return Err(Rejection::ChainTooLong(MAX_CHAIN));
        }
        let anchors = self
            .anchors
            .iter()
            .filter(|a| names_issuer(a, &cur))
            .map(|a| (a, true));
        let inter = pool
            .iter()
            .filter(|i| names_issuer(i, &cur) && !chain.contains(i))
            .map(|i| (i, false));
        let candidates: Vec<(&Certificate, bool)> = anchors.chain(inter).collect();
        let mut first_err: Option<Rejection> = None;
        for (cand, is_anchor) in candidates {
            if *budget == 0 {
                return Err(Rejection::Malformed(format!(
                    "gave up building a chain for \"{}\" after {MAX_TRIES} candidate issuers",
                    cur.subject
                )));
            }
            *budget -= 1;
            match self.try_issuer(chain, cand, is_anchor, pool, now, budget) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| Rejection::IssuerNotFound {
            subject: cur.subject.to_string(),
            issuer: cur.issuer.to_string(),
        }))
    }

    fn try_issuer(
        &self,
        chain: &mut Vec<Certificate>,
        cand: &Certificate,
        is_anchor: bool,
        pool: &[Certificate],
        now: i64,
        budget: &mut usize,
    ) -> Result<(), Rejection> {
        let Some(cur) = chain.last() else {
            return Err(Rejection::Malformed("empty chain".into()));
        };
        if let Err(e) = cur.verify_signature(&cand.public_key) {
            return Err(match e {
                crate::Error::Unsupported(alg) => Rejection::UnsupportedAlgorithm {
                    subject: cur.subject.to_string(),
                    alg,
                },
                _ => Rejection::BadSignature {
                    subject: cur.subject.to_string(),
                    issuer: cand.subject.to_string(),
                },
            });
        }
        // A CA certificate: basicConstraints CA:TRUE (a v1 root in cacerts,
        // without extensions, is accepted as strongSwan does).
        let v1_root = is_anchor && cand.basic_constraints.is_none() && cand.subject == cand.issuer;
        if !cand.is_ca() && !v1_root {
            return Err(Rejection::NotCa {
                subject: cand.subject.to_string(),
            });
        }
        if let Some(ku) = cand.key_usage {
            if !ku.key_cert_sign {
                return Err(Rejection::KeyUsageMissing {
                    subject: cand.subject.to_string(),
                    usage: "keyCertSign",
                });
            }
        }
        check_validity(cand, now)?;
        // CA certificates below `cand` in the chain: the end entity and
        // self-issued intermediates don't count (RFC 5280 4.2.1.9).
        let below = chain
            .iter()
            .skip(1)
            .filter(|c| c.subject != c.issuer)
            .count();
        if let Some((_, Some(pl))) = cand.basic_constraints {
            if below > pl as usize {
                return Err(Rejection::PathLenExceeded {
                    subject: cand.subject.to_string(),
                    path_len: pl,
                });
            }
        }
        if let Some(nc) = &cand.name_constraints {
            check_name_constraints(cand, nc, chain)?;
        }
        chain.push(cand.clone());
        if is_anchor {
            return Ok(());
        }
        let r = self.extend(chain, pool, now, budget);
        if r.is_err() {
            chain.pop();
        }
        r
    }

    /// CRL checks for every certificate but the anchor.
    fn check_revocation(
        &self,
        chain: &[Certificate],
        now: i64,
        policy: &Policy,
    ) -> Result<(), Rejection> {
        for pair in chain.windows(2) {
            let [cert, issuer] = pair else { continue };
            let crls: Vec<&Crl> = self
                .crls
                .iter()
                .filter(|crl| {
                    crl.issuer == issuer.subject
                        && match (&crl.authority_key_id, &issuer.subject_key_id) {
                            (Some(a), Some(s)) => a == s,
                            _ => true,
                        }
                        && issuer.key_usage.is_none_or(|ku| ku.crl_sign)
                        && crl.verify_signature(&issuer.public_key).is_ok()
                })
                .collect();
            for crl in &crls {
                if let Some(r) = crl.find(&cert.serial) {
                    return Err(Rejection::Revoked {
                        subject: cert.subject.to_string(),
                        serial: cert.serial_hex(),
                        revoked_at: r.date,
                        crl_issuer: crl.issuer.to_string(),
                        reason: r.reason.clone(),
                    });
                }
            }
            let current = crls
                .iter()
                .any(|c| c.this_update <= now && c.next_update.is_none_or(|n| now <= n));
            if current {
                continue;
            }
            let stale = crls.iter().filter_map(|c| c.next_update).max();
            let reject = match policy.strict_crl {
                CrlPolicy::No => false,
                CrlPolicy::IfUri => cert.has_crl_dp,
                CrlPolicy::Yes => true,
            };
            if reject {
                return Err(Rejection::RevocationUnknown {
                    subject: cert.subject.to_string(),
                    issuer: issuer.subject.to_string(),
                    policy: policy.strict_crl.name(),
                    stale,
                });
            }
            match stale {
                Some(t) => {
                    tracing::info!(target: "cfg", "CRL of \"{}\" expired on {}; \"{}\" accepted as strictcrlpolicy={}",
                    issuer.subject, fmt_utc(t), cert.subject, policy.strict_crl.name())
                }
                None => {
                    tracing::debug!(target: "cfg", "no CRL of \"{}\" for \"{}\"; accepted as strictcrlpolicy={}",
                    issuer.subject, cert.subject, policy.strict_crl.name())
                }
            }
        }
        Ok(())
    }
}
