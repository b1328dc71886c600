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
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

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

/// Every CHILD_SA's claim, by its unique id, with indexes so that a new
/// CHILD_SA costs the same among 10 or 10,000 others: by (conn, selectors)
/// and (conn, reqid) for [`Claims::reqid_for`], by remote address for
/// [`Claims::conflict`]. The indexes only narrow the candidates; every
/// answer is still checked against the claims themselves.
#[derive(Debug, Default)]
pub(super) struct Claims {
    by_child: HashMap<u32, Claim>,
    /// hash of (conn, local, remote) -> CHILD_SAs with that set.
    by_set: HashMap<u64, Vec<u32>>,
    /// hash of (conn, reqid) -> CHILD_SAs with that reqid.
    by_reqid: HashMap<u64, Vec<u32>>,
    /// Remote selectors by width class (a selector of class c spans fewer
    /// than 2^c addresses after its first), then (family, start, CHILD_SA):
    /// one that overlaps a range starts at most 2^c - 1 before it.
    by_remote: BTreeMap<u8, BTreeSet<(u8, u128, u32)>>,
    /// CHILD_SAs with a remote selector whose ends are of two families.
    odd: HashSet<u32>,
}

fn overlap(a: &[Selector], b: &[Selector]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| crate::ts::intersect(x, y).is_some()))
}

fn hash_of(h: impl Hash) -> u64 {
    let mut s = std::collections::hash_map::DefaultHasher::new();
    h.hash(&mut s);
    s.finish()
}

/// (family, start, end) of a selector's addresses; None when its ends are
/// of two families (it is then treated as wide).
fn span(s: &Selector) -> Option<(u8, u128, u128)> {
    match (s.start, s.end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Some((4, u32::from(a).into(), u32::from(b).into())),
        (IpAddr::V6(a), IpAddr::V6(b)) => Some((6, a.into(), b.into())),
        _ => None,
    }
}

/// (width class, family, start) of a selector; None for an odd one.
fn class_of(s: &Selector) -> Option<(u8, u8, u128)> {
    let (f, a, b) = span(s).filter(|(_, a, b)| a <= b)?;
    let c = u8::try_from(128 - (b - a).leading_zeros()).unwrap_or(128);
    Some((c, f, a))
}

fn unlink(index: &mut HashMap<u64, Vec<u32>>, key: u64, child_id: u32) {
    if let Some(v) = index.get_mut(&key) {
        v.retain(|c| *c != child_id);
        if v.is_empty() {
            index.remove(&key);
        }
    }
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
        self.remove(child_id);
        self.by_set
            .entry(hash_of((conn, local, remote)))
            .or_default()
            .push(child_id);
        self.by_reqid
            .entry(hash_of((conn, reqid)))
            .or_default()
            .push(child_id);
        for r in remote {
            match class_of(r) {
                Some((c, f, a)) => {
                    self.by_remote
                        .entry(c)
                        .or_default()
                        .insert((f, a, child_id));
                }
                None => {
                    self.odd.insert(child_id);
                }
            }
        }
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
        let claims = |index: &HashMap<u64, Vec<u32>>, key: u64| {
            index
                .get(&key)
                .into_iter()
                .flatten()
                .filter_map(|id| self.by_child.get(id))
                .filter(|c| c.conn == conn)
                .collect::<Vec<_>>()
        };
        let same = claims(&self.by_set, hash_of((conn, local, remote)));
        // The lowest of them: the same answer whatever the table's order.
        if let Some(r) = same
            .iter()
            .filter(|c| c.local == local && c.remote == remote)
            .map(|c| c.reqid)
            .min()
        {
            return Some(r);
        }
        let base_used = claims(&self.by_reqid, hash_of((conn, base)))
            .iter()
            .any(|c| c.reqid == base);
        (!base_used).then_some(base)
    }

    pub fn remove(&mut self, child_id: u32) {
        let Some(c) = self.by_child.remove(&child_id) else {
            return;
        };
        unlink(
            &mut self.by_set,
            hash_of((c.conn.as_str(), &c.local[..], &c.remote[..])),
            child_id,
        );
        unlink(
            &mut self.by_reqid,
            hash_of((c.conn.as_str(), c.reqid)),
            child_id,
        );
        for r in &c.remote {
            if let Some((k, f, a)) = class_of(r) {
                if let Some(set) = self.by_remote.get_mut(&k) {
                    set.remove(&(f, a, child_id));
                    if set.is_empty() {
                        self.by_remote.remove(&k);
                    }
                }
            }
        }
        self.odd.remove(&child_id);
    }

    /// The CHILD_SAs whose remote selectors may overlap `remote` (a superset
    /// of those that do).
    fn near(&self, remote: &[Selector]) -> Vec<u32> {
        let mut ids: Vec<u32> = self.odd.iter().copied().collect();
        for r in remote {
            for (c, set) in &self.by_remote {
                match span(r) {
                    Some((f, a, b)) if a <= b => {
                        let reach = 1u128
                            .checked_shl(u32::from(*c))
                            .map_or(u128::MAX, |w| w - 1);
                        let lo = a.saturating_sub(reach);
                        ids.extend(
                            set.range((f, lo, 0)..=(f, b, u32::MAX))
                                .map(|(_, _, id)| *id),
                        );
                    }
                    // an empty or odd range: every claim is a candidate
                    _ => ids.extend(set.iter().map(|(_, _, id)| *id)),
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
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
        self.near(remote)
            .into_iter()
            .filter_map(|id| self.by_child.get(&id))
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

    /// The indexes answer as a scan of every claim would: narrow and wide
    /// remote selectors, both families, removals, many reqids.
    #[test]
    fn the_indexes_answer_as_a_full_scan() {
        let mut c = Claims::default();
        // (id, owner, reqid, local, remote) of every live claim
        type Live = (u32, String, u32, Vec<Selector>, Vec<Selector>);
        let mut all: Vec<Live> = Vec::new();
        let mut x: u64 = 7;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let remote_of = |k: u64| match k % 5 {
            0 => sel(&format!("10.9.{}.0-10.9.{}.255", k % 7, k % 7)),
            1 => sel("10.0.0.0-10.255.255.255"),
            2 => sel(&format!("2001:db8::{:x}", k % 11)),
            _ => sel(&format!("10.9.0.{}", k % 13)),
        };
        for id in 1..400u32 {
            let k = next();
            let owner = format!("peer{}", k % 9);
            let local = sel(&format!("10.1.{}.0-10.1.{}.255", k % 3, k % 3));
            let remote = remote_of(next());
            let reqid = u32::try_from(k % 17).unwrap_or(0);
            c.add(
                id,
                owner.clone(),
                ("gw", reqid),
                format!("gw{{{id}}}"),
                (None, None),
                &local,
                &remote,
            );
            all.push((id, owner, reqid, local, remote));
            if k % 4 == 0 {
                let gone = all.remove(usize::try_from(k).unwrap_or(0) % all.len());
                c.remove(gone.0);
            }
            // the same questions to the index and to a scan
            let ql = if k % 2 == 0 {
                sel(&format!("10.1.{}.0-10.1.{}.255", k % 3, k % 3))
            } else {
                sel(&format!("10.1.{}.7", k % 3))
            };
            let qr = remote_of(next());
            let owner_q = format!("peer{}", next() % 9);
            let scan = all
                .iter()
                .find(|(_, o, _, l, r)| *o != owner_q && overlap(l, &ql) && overlap(r, &qr));
            let got = c.conflict(&owner_q, (None, None), &ql, &qr);
            assert_eq!(got.is_some(), scan.is_some(), "claim {id}");
            if let Some((name, o)) = got {
                let (gid, go) = all
                    .iter()
                    .find(|(i, ..)| format!("gw{{{i}}}") == name)
                    .map(|(i, o, ..)| (*i, o.clone()))
                    .expect("a live claim");
                assert!(go == o && o != owner_q, "{gid}");
            }
            let base = u32::try_from(next() % 17).unwrap_or(0);
            let same = all
                .iter()
                .filter(|(_, _, _, l, r)| *l == ql && *r == qr)
                .map(|(_, _, r, ..)| *r)
                .min();
            let want = same.or((!all.iter().any(|(_, _, r, ..)| *r == base)).then_some(base));
            assert_eq!(c.reqid_for("gw", base, &ql, &qr), want, "claim {id}");
        }
    }
}
