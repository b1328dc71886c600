//! What a conn demands of the credentials a peer authenticated with, beyond
//! a valid signature (ipsec.conf(5)):
//! - `rightca=`: a CA named so (wildcards allowed) in the verified chain;
//! - `rightauth=rsa-2048-sha256-ecdsa-256`: the key type of the peer's key,
//!   a minimum strength for each key of the trust chain of a listed type,
//!   and the hashes the chain's certificates and the AUTH signature may use
//!   (`rsa/pss`: the AUTH signature must be RSASSA-PSS);
//! - `rightcertpolicy=`: certificatePolicies OIDs the peer's certificate has.
//!
//! Checked once AUTH verified (never before); a responder moves on to the
//! next candidate conn whose demands the same credentials meet, as
//! strongSwan does ("constraint check failed", then "switching to peer
//! config"). A conn with `rightca=`/`rightcertpolicy=` admits no peer that
//! authenticates without a certificate (PSK, EAP).

use conf::conn::{AuthMethod, End, PubkeyConstraint, PubkeyKind, SigHash};
use pki::{Hash, PublicKey, Scheme};

/// The credentials behind a verified signature AUTH.
#[derive(Debug, Clone)]
pub(crate) struct PeerCreds {
    /// The key AUTH verified with.
    pub key: PublicKey,
    /// The scheme of the AUTH signature.
    pub scheme: Scheme,
    /// The verified chain, end entity first, trust anchor last; only the
    /// pinned certificate when a `rightcert=` is not below a loaded CA; empty
    /// for a raw key (`rightsigkey=`).
    pub chain: Vec<pki::Certificate>,
}

/// Whether an end's demands can only be met with a certificate.
pub(crate) fn demands_certificate(end: &End) -> bool {
    end.ca.is_some() || !end.certpolicy.is_empty()
}

/// Whether `creds` meet what `end` (the peer's end of a conn) demands; the
/// error says what is missing.
pub(crate) fn check(end: &End, creds: &PeerCreds) -> Result<(), String> {
    if let Some(ca) = &end.ca {
        let want = pki::Dn::parse(ca).map_err(|e| format!("rightca '{ca}' unreadable: {e}"))?;
        if !creds.chain.iter().skip(1).any(|c| want.matches(&c.subject)) {
            return Err(format!(
                "constraint check failed: peer not authenticated by CA '{ca}'"
            ));
        }
    }
    if !end.certpolicy.is_empty() {
        let have = creds.chain.first().map(|c| &c.policies[..]).unwrap_or(&[]);
        if let Some(oid) = end.certpolicy.iter().find(|o| !have.contains(o)) {
            return Err(format!(
                "constraint check failed: peer certificate lacks certificate policy {oid}"
            ));
        }
    }
    if let AuthMethod::Pubkey { kind, constraints } = &end.auth {
        check_pubkey(*kind, constraints, creds)?;
    }
    Ok(())
}

/// The key rules of a `rightauth=` value: (key type, minimum bits).
fn key_rules(head: PubkeyKind, constraints: &[PubkeyConstraint]) -> Vec<(PubkeyKind, u32)> {
    let mut rules: Vec<(PubkeyKind, u32)> = Vec::new();
    if head != PubkeyKind::Any {
        rules.push((head, 0));
    }
    for c in constraints {
        match *c {
            PubkeyConstraint::Kind(k) => rules.push((k, 0)),
            PubkeyConstraint::MinBits(b) => match rules.last_mut() {
                Some(r) => r.1 = b,
                // `pubkey-2048`: any type, at least that strong.
                None => rules.push((PubkeyKind::Any, b)),
            },
            PubkeyConstraint::Hash(_) => {}
        }
    }
    rules
}

fn kind_of(key: &PublicKey) -> PubkeyKind {
    match key {
        PublicKey::Rsa { .. } => PubkeyKind::Rsa,
        PublicKey::Ec { .. } => PubkeyKind::Ecdsa,
        PublicKey::Ed25519(_) => PubkeyKind::Ed25519,
    }
}

/// Whether a rule's key type covers a key (RSA-PSS keys are RSA keys).
fn kind_covers(rule: PubkeyKind, key: PubkeyKind) -> bool {
    rule == PubkeyKind::Any || rule == key || (rule == PubkeyKind::RsaPss && key == PubkeyKind::Rsa)
}

fn hash_of(s: Scheme) -> Hash {
    match s {
        Scheme::RsaPkcs1(h) | Scheme::RsaPss { hash: h, .. } | Scheme::Ecdsa { hash: h, .. } => h,
        Scheme::Ed25519 => Hash::Identity,
    }
}

fn sig_hash(h: SigHash) -> Hash {
    match h {
        SigHash::Sha1 => Hash::Sha1,
        SigHash::Sha256 => Hash::Sha256,
        SigHash::Sha384 => Hash::Sha384,
        SigHash::Sha512 => Hash::Sha512,
        SigHash::Identity => Hash::Identity,
    }
}

fn check_pubkey(
    head: PubkeyKind,
    constraints: &[PubkeyConstraint],
    creds: &PeerCreds,
) -> Result<(), String> {
    let rules = key_rules(head, constraints);
    let peer_kind = kind_of(&creds.key);
    if !rules.is_empty() && !rules.iter().any(|(k, _)| kind_covers(*k, peer_kind)) {
        return Err(format!(
            "constraint check failed: peer authenticated with a {} key, the conn demands {}",
            creds.key.describe(),
            rules
                .iter()
                .map(|(k, _)| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    if rules.iter().any(|(k, _)| *k == PubkeyKind::RsaPss)
        && !rules
            .iter()
            .any(|(k, _)| *k != PubkeyKind::RsaPss && kind_covers(*k, peer_kind))
        && !matches!(creds.scheme, Scheme::RsaPss { .. })
    {
        return Err(format!(
            "constraint check failed: peer signed with {}, the conn demands RSASSA-PSS",
            creds.scheme
        ));
    }
    // Strength: every key of the trust chain of a listed type.
    let keys = std::iter::once(&creds.key).chain(creds.chain.iter().skip(1).map(|c| &c.public_key));
    for key in keys {
        let k = kind_of(key);
        let bits = u32::try_from(key.bits()).unwrap_or(u32::MAX);
        let applicable: Vec<u32> = rules
            .iter()
            .filter(|(r, _)| kind_covers(*r, k))
            .map(|(_, b)| *b)
            .collect();
        if !applicable.is_empty() && applicable.iter().all(|min| bits < *min) {
            return Err(format!(
                "constraint check failed: the conn demands at least {} bits, the trust chain has a {} key",
                applicable.iter().min().copied().unwrap_or(0),
                key.describe()
            ));
        }
    }
    // Hashes: the AUTH signature's and the chain's certificate signatures
    // (a self-signed anchor's own signature proves nothing and is not judged).
    let hashes: Vec<Hash> = constraints
        .iter()
        .filter_map(|c| match c {
            PubkeyConstraint::Hash(h) => Some(sig_hash(*h)),
            _ => None,
        })
        .collect();
    if hashes.is_empty() {
        return Ok(());
    }
    let auth_hash = hash_of(creds.scheme);
    if !hashes.contains(&auth_hash) {
        return Err(format!(
            "constraint check failed: peer signed AUTH with {}, the conn accepts {hashes:?}",
            creds.scheme
        ));
    }
    for c in creds.chain.iter().filter(|c| !c.is_self_signed()) {
        let s = c
            .signature_scheme()
            .map_err(|e| format!("certificate \"{}\": {e}", c.subject))?;
        if !hashes.contains(&hash_of(s)) {
            return Err(format!(
                "constraint check failed: certificate \"{}\" is signed with {s}, the conn accepts {hashes:?}",
                c.subject
            ));
        }
    }
    Ok(())
}
