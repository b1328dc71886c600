//! The ONE rule that picks a conn for a peer, used by IKE_SA_INIT (addresses
//! and proposals), IKE_AUTH (identities and how the peer authenticates),
//! again after EAP (the EAP identity) and by CREATE_CHILD_SA (which conns an
//! IKE_SA may carry CHILD_SAs of).
//!
//! Like strongSwan's peer-config lookup: every candidate must match what is
//! known; among those the best match wins — identities first (an exact ID
//! beats a wildcard, which beats `%any`; the peer's ID, then ours), then the
//! addresses (an address beats a subnet or range, which beats `%any`); ties go
//! to the conn written first.

use conf::conn::{AuthMethod, Auto, Conn, EapMethod, Side};
use conf::values::{Host, Identity};
use std::net::IpAddr;
use std::sync::Arc;

/// How the peer authenticates (known in IKE_AUTH: AUTH method, or no AUTH = EAP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PeerAuth {
    Psk,
    Pubkey,
    Eap,
}

impl PeerAuth {
    /// Whether a conn's `rightauth=` accepts this.
    fn allowed_by(self, auth: &AuthMethod) -> bool {
        matches!(
            (self, auth),
            (PeerAuth::Psk, AuthMethod::Psk | AuthMethod::Any)
                | (
                    PeerAuth::Pubkey,
                    AuthMethod::Pubkey { .. } | AuthMethod::Any
                )
                | (PeerAuth::Eap, AuthMethod::Eap(_))
        )
    }
}

/// What is known about the peer when a conn is picked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Query<'a> {
    pub local: IpAddr,
    pub remote: IpAddr,
    /// The peer's identity (IDi), once received.
    pub peer_id: Option<&'a Identity>,
    /// The identity the peer asked us to have (IDr), if it sent one.
    pub our_id: Option<&'a Identity>,
    pub auth: Option<PeerAuth>,
    /// The identity EAP authenticated, once EAP succeeded.
    pub eap_id: Option<&'a Identity>,
}

impl<'a> Query<'a> {
    pub fn addresses(local: IpAddr, remote: IpAddr) -> Query<'a> {
        Query {
            local,
            remote,
            peer_id: None,
            our_id: None,
            auth: None,
            eap_id: None,
        }
    }
}

/// A conn that matches, with this host's side of it.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub conn: Arc<Conn>,
    pub side: Side,
}

/// How well an identity pattern matches: 3 exact, 2 wildcard, 1 `%any`.
fn id_quality(pattern: &Identity, id: &Identity) -> Option<u8> {
    if !super::ident::id_matches(pattern, id) {
        return None;
    }
    Some(match pattern {
        Identity::Any => 1,
        p if super::ident::has_wildcard(p) => 2,
        _ => 3,
    })
}

/// How well an address matches `left=`/`right=`: 3 the address, 2 a subnet or
/// range, 1 `%any`.
fn addr_quality(a: IpAddr, hosts: &[Host]) -> Option<u8> {
    hosts
        .iter()
        .filter_map(|h| match h {
            Host::Any(None) => Some(1),
            Host::Any(Some(conf::values::AddrFamily::V4)) => a.is_ipv4().then_some(1),
            Host::Any(Some(conf::values::AddrFamily::V6)) => a.is_ipv6().then_some(1),
            Host::Addr(x) => (*x == a).then_some(3),
            Host::Net(n) => n.contains(a).then_some(2),
            Host::Range(x, y) => (*x <= a && a <= *y).then_some(2),
            Host::Name(_) => None,
        })
        .max()
}

/// Whether `a` is one of `hosts`.
pub(super) fn addr_in_hosts(a: IpAddr, hosts: &[Host]) -> bool {
    addr_quality(a, hosts).is_some()
}

/// The identity a conn expects of the peer (`rightid=`, else its address, else `%any`).
pub(super) fn peer_pattern(conn: &Conn, side: Side) -> Identity {
    let (_, r) = conn.ends(side);
    r.id.clone().unwrap_or_else(|| r.effective_id())
}

/// Whether `eap_identity=` of a conn accepts an EAP identity (`idi`: the IDi).
pub(super) fn eap_identity_ok(conn: &Conn, eap: &Identity, idi: Option<&Identity>) -> bool {
    match &conn.eap_identity {
        // No eap_identity: EAP authenticates the IDi itself.
        None => idi.is_none_or(|i| i == eap),
        Some(Identity::Any) => true,
        Some(Identity::Fqdn(f)) if f == "%identity" => true,
        Some(want) => super::ident::id_matches(want, eap),
    }
}

/// Match quality, compared in order: peer ID, EAP identity, our ID, peer
/// address, our address.
type Score = (u8, u8, u8, u8, u8);

/// Every conn that matches the query, best first (ties in config order).
/// `our_id(conn, side)` gives our identity on a conn (leftid or certificate).
pub(super) fn rank(
    conns: &[Arc<Conn>],
    local_addrs: &[IpAddr],
    q: &Query<'_>,
    our_id: impl Fn(&Conn, Side) -> Option<Identity>,
) -> Vec<Choice> {
    let mut scored: Vec<(Score, Choice)> = Vec::new();
    for conn in conns {
        if conn.is_shunt() || conn.auto == Auto::Ignore {
            continue;
        }
        let side = conn.local_side(local_addrs);
        let (l, r) = conn.ends(side);
        let (Some(la), Some(ra)) = (
            addr_quality(q.local, &l.hosts),
            addr_quality(q.remote, &r.hosts),
        ) else {
            continue;
        };
        let peer_q = match q.peer_id {
            Some(p) => match id_quality(&peer_pattern(conn, side), p) {
                Some(x) => x,
                None => continue,
            },
            None => 0,
        };
        let our_q = match q.our_id {
            Some(want) => match our_id(conn, side) {
                Some(mine) if &mine == want => 3,
                _ => continue,
            },
            None => 0,
        };
        if q.auth.is_some_and(|a| !a.allowed_by(&r.auth)) {
            continue;
        }
        // rightca=/rightcertpolicy= admit only certificates.
        if matches!(q.auth, Some(PeerAuth::Psk | PeerAuth::Eap))
            && super::constraints::demands_certificate(r)
        {
            continue;
        }
        let eap_q = match q.eap_id {
            Some(e) => {
                if !eap_identity_ok(conn, e, q.peer_id) {
                    continue;
                }
                match &conn.eap_identity {
                    Some(want)
                        if !super::ident::has_wildcard(want) && !is_identity_keyword(want) =>
                    {
                        2
                    }
                    _ => 1,
                }
            }
            None => 0,
        };
        scored.push((
            (peer_q, eap_q, our_q, ra, la),
            Choice {
                conn: conn.clone(),
                side,
            },
        ));
    }
    // Stable: equal scores keep config order.
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    scored.into_iter().map(|(_, c)| c).collect()
}

fn is_identity_keyword(i: &Identity) -> bool {
    matches!(i, Identity::Fqdn(f) if f == "%identity")
}

/// Whether CHILD_SAs of conn `b` may ride on an IKE_SA authenticated for conn
/// `a`: the same peer authentication and its constraints (rightauth, rightca,
/// rightid, eap_identity) and the same local identity. Anything less would
/// let a peer reach another conn's subnets with a weaker credential. (`b`'s
/// `ike=` must also allow what the IKE_SA negotiated: `IkeSa::ike_allowed_by`.)
pub(super) fn same_peer(a: &Conn, a_side: Side, b: &Conn, b_side: Side) -> bool {
    if b.is_shunt() || b.auto == Auto::Ignore {
        return false;
    }
    let (al, ar) = a.ends(a_side);
    let (bl, br) = b.ends(b_side);
    // Our identity first: it tells most conns apart, and the initiator asks
    // this of every IKE_SA it has; the peer pattern (cloned) last.
    al.id == bl.id
        && al.cert == bl.cert
        && al.auth == bl.auth
        && ar.auth == br.auth
        && ar.auth2 == br.auth2
        && ar.ca == br.ca
        && ar.groups == br.groups
        && ar.certpolicy == br.certpolicy
        && ar.cert == br.cert
        && ar.sigkey == br.sigkey
        && a.eap_identity == b.eap_identity
        && peer_pattern(a, a_side) == peer_pattern(b, b_side)
}

/// The EAP method a conn wants, if it authenticates the peer with EAP.
pub(super) fn eap_method(conn: &Conn, side: Side) -> Option<&EapMethod> {
    match &conn.ends(side).1.auth {
        AuthMethod::Eap(m) => Some(m),
        _ => None,
    }
}
