//! Who owns which traffic: the selectors of every CHILD_SA, with the peer it
//! belongs to. A responder refuses (TS_UNACCEPTABLE) a CHILD_SA whose
//! selectors overlap, in both directions and under the same mark / interface
//! id, those of another peer's CHILD_SA: the kernel's newer policy would
//! divert that peer's traffic into the newcomer's SA (issue 13 item 7). The
//! same peer (the same identity, as after a rekey or a reconnect) may
//! overlap itself.

use super::api::Selector;
use conf::conn::Conn;
use conf::values::{IfId, MarkValue};
use std::collections::HashMap;

/// Where a CHILD_SA's outbound policy lives: (mark value and mask, if_id).
pub(super) type Scope = (Option<(u32, u32)>, Option<u32>);

/// The scope `conn`'s CHILD_SAs get when it is fixed; None when every
/// CHILD_SA gets its own (`%unique`), so none can overlap another.
pub(super) fn fixed_scope(conn: &Conn) -> Option<Scope> {
    let mark = match conn.mark_out {
        None => None,
        Some(m) => match m.value {
            MarkValue::Fixed(v) => Some((v, m.mask)),
            MarkValue::Unique | MarkValue::UniqueDir => return None,
        },
    };
    let if_id = match conn.if_id_out {
        None => None,
        Some(IfId::Fixed(v)) => Some(v),
        Some(IfId::Unique | IfId::UniqueDir) => return None,
    };
    Some((mark, if_id))
}

#[derive(Debug, Clone)]
struct Claim {
    /// The peer (`IkeSa::peer_key`: its EAP or IKE identity).
    owner: String,
    /// The conn and the reqid the CHILD_SA's SAs and policies carry.
    conn: String,
    reqid: u32,
    /// The CHILD_SA's name for logs, e.g. `gw{3}`.
    name: String,
    scope: Scope,
    local: Vec<Selector>,
    remote: Vec<Selector>,
}

/// Every CHILD_SA's claim, by its unique id.
#[derive(Debug, Default)]
pub(super) struct Claims {
    by_child: HashMap<u32, Claim>,
}

fn overlap(a: &[Selector], b: &[Selector]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| crate::ts::intersect(x, y).is_some()))
}

impl Claims {
    /// CHILD_SA `child_id` of `owner` (named `name`) now holds these selectors.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        child_id: u32,
        owner: String,
        (conn, reqid): (&str, u32),
        name: String,
        scope: Scope,
        local: &[Selector],
        remote: &[Selector],
    ) {
        self.by_child.insert(
            child_id,
            Claim {
                owner,
                conn: conn.to_owned(),
                reqid,
                name,
                scope,
                local: local.to_vec(),
                remote: remote.to_vec(),
            },
        );
    }

    /// The reqid for a new CHILD_SA of `conn` with these selectors, as
    /// strongSwan gives them: one per set of selectors. The kernel finds an
    /// outbound SA by (peer address, reqid), so two CHILD_SAs of one conn to
    /// one address (two identities on one host, clients behind one NAT) with
    /// one reqid would send each other's traffic through the newer SA.
    /// `base` (the conn's reqid, its trap policies') while no other set of
    /// this conn holds it; None: a fresh one is needed.
    pub fn reqid_for(
        &self,
        conn: &str,
        base: u32,
        local: &[Selector],
        remote: &[Selector],
    ) -> Option<u32> {
        let mine = || self.by_child.values().filter(|c| c.conn == conn);
        if let Some(c) = mine().find(|c| c.local == local && c.remote == remote) {
            return Some(c.reqid);
        }
        (!mine().any(|c| c.reqid == base)).then_some(base)
    }

    pub fn remove(&mut self, child_id: u32) {
        self.by_child.remove(&child_id);
    }

    /// Another peer's CHILD_SA that `local === remote` of `owner` would
    /// take traffic from: its name and owner.
    pub fn conflict(
        &self,
        owner: &str,
        scope: Scope,
        local: &[Selector],
        remote: &[Selector],
    ) -> Option<(String, String)> {
        self.by_child
            .values()
            .find(|c| {
                c.owner != owner
                    && c.scope == scope
                    && overlap(&c.local, local)
                    && overlap(&c.remote, remote)
            })
            .map(|c| (c.name.clone(), c.owner.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Vec<Selector> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        vec![Selector {
            start: a.parse().unwrap(),
            end: b.parse().unwrap(),
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }]
    }

    #[test]
    fn another_peers_overlap_is_a_conflict_the_same_peers_is_not() {
        let mut c = Claims::default();
        let l = sel("10.1.0.0-10.1.255.255");
        c.add(
            1,
            "alice".into(),
            ("gw", 1),
            "gw{1}".into(),
            (None, None),
            &l,
            &sel("10.9.0.1"),
        );
        // one reqid per set of selectors: the same set shares it, another gets a fresh one
        assert_eq!(c.reqid_for("gw", 1, &l, &sel("10.9.0.1")), Some(1));
        assert_eq!(c.reqid_for("gw", 1, &l, &sel("10.9.0.2")), None);
        assert_eq!(c.reqid_for("other", 2, &l, &sel("10.9.0.2")), Some(2));
        // bob asks for alice's address: conflict
        let got = c.conflict(
            "bob",
            (None, None),
            &sel("10.1.2.0-10.1.2.255"),
            &sel("10.9.0.0-10.9.0.255"),
        );
        assert_eq!(got, Some(("gw{1}".into(), "alice".into())));
        // alice again (rekey, reconnect): fine
        assert!(
            c.conflict("alice", (None, None), &l, &sel("10.9.0.1"))
                .is_none()
        );
        // another address, or another mark: fine
        assert!(
            c.conflict("bob", (None, None), &l, &sel("10.9.0.2"))
                .is_none()
        );
        assert!(
            c.conflict("bob", (Some((7, !0)), None), &l, &sel("10.9.0.1"))
                .is_none()
        );
        c.remove(1);
        assert!(
            c.conflict("bob", (None, None), &l, &sel("10.9.0.1"))
                .is_none()
        );
    }
}
