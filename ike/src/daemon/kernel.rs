//! CHILD_SA installation through the `xfrm` crate (the SAs and policies
//! are built in `xfrm_build.rs`): a record of exactly what iked installed (so that `down`,
//! DELETE and shutdown remove that and nothing else), kernel SPI allocation
//! and SA counters. SAs that move (NAT mappings, MOBIKE) are in
//! `kernel/moves.rs`.
//!
//! [`Event::DeleteChild`]: crate::sa::Event::DeleteChild

use crate::sa::{ChildSaInstall, SpiAllocator, SpiError};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tracing::{debug, error, info, warn};
use xfrm::{Direction, Policy, PolicyId, Sa, SaId, SpiRequest, Xfrm};

pub use super::xfrm_build::{
    crypto, moved, moved_policy, policies, priority, range_prefixes, remap, sas, shunt_policies,
    trap_policies,
};

mod moves;

/// What iked installed for one CHILD_SA.
#[derive(Debug, Clone)]
pub struct Installed {
    pub conn: String,
    pub sa_in: Option<SaId>,
    pub sa_out: Option<SaId>,
    pub policies: Vec<PolicyId>,
}

/// Kernel counters of a CHILD_SA: (inbound, outbound).
pub type ChildCounters = (xfrm::Current, xfrm::Current);

/// Owns the XFRM socket and the record of what iked installed.
#[derive(Debug)]
pub struct Kernel {
    xfrm: Option<Xfrm>,
    /// child_id -> what was installed for it.
    children: BTreeMap<u32, Installed>,
    /// Policies are shared between CHILD_SAs with the same selectors (a rekey,
    /// a trap and its CHILD_SA, two peers): everyone who installed each, in
    /// order. The kernel holds the last one's; when it goes, the one before it
    /// is put back (a trap traps again, an older peer's tunnel gets its policy
    /// back); when nobody is left, it is deleted. Only the owners below the
    /// last keep their policy here (read from the kernel when another owner
    /// went on top, `keep_previous`): the last one's is the kernel's.
    policy_owners: HashMap<PolicyId, Vec<(Owner, Kept)>>,
    /// SPIs allocated (larval SAs) and not yet completed, shared with [`KernelSpis`].
    larval: Larval,
    /// Trap policies of `auto=route` conns: (policy, conn).
    traps: Vec<(PolicyId, String)>,
    /// Shunt policies of `type=passthrough/drop` conns: (policy, conn).
    shunts: Vec<(PolicyId, String)>,
    /// child_id -> the outbound SA of a CHILD_SA installed with
    /// `defer_outbound`, until `install_outbound` adds it (the only SA whose
    /// keys iked keeps: an SA that moves is read back from the kernel,
    /// `read_sas`). Boxed: an SA is ~400 bytes.
    deferred: HashMap<u32, Box<Sa>>,
    /// What is in the kernel because of this iked, for its successor after a crash.
    journal: super::journal::Journal,
}

/// An owner's policy while another owner's is in the kernel (`None` for the
/// owner whose policy the kernel holds).
type Kept = Option<Box<Policy>>;

/// Who installed a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Child(u32),
    Trap(String),
    Shunt(String),
}

/// Policies that belong to a conn, not to a CHILD_SA.
#[derive(Debug, Clone, Copy)]
enum Named {
    /// `auto=route` trap policies.
    Trap,
    /// `type=passthrough/drop` policies.
    Shunt,
}

/// The conns of a trap/shunt list, in installation order, once each.
fn named_conns(list: &[(PolicyId, String)]) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for (_, c) in list {
        if !v.contains(&c.as_str()) {
            v.push(c);
        }
    }
    v
}

/// The result of a request the kernel did not answer.
fn no_reply(what: &str) -> Result<(), xfrm::Error> {
    Err(xfrm::Error::NoReply { what: what.into() })
}

/// Inbound SPIs handed out by ALLOCSPI: (local address, SPI).
type Larval = Arc<Mutex<Vec<(IpAddr, u32)>>>;

impl Kernel {
    /// The installer and the SPI allocator that feeds it (they share the list of
    /// allocated SPIs, so larval SAs of failed negotiations can be removed).
    pub fn open_pair() -> (Kernel, KernelSpis) {
        let k = Kernel::open();
        let spis = KernelSpis {
            xfrm: Xfrm::open().ok(),
            larval: k.larval.clone(),
        };
        (k, spis)
    }

    /// Opens the XFRM socket; without one (no permission, no netlink) every
    /// install fails with a logged error and the daemon goes on.
    pub fn open() -> Self {
        let xfrm = match Xfrm::open() {
            Ok(x) => Some(x),
            Err(e) => {
                error!(target: "knl", "unable to open the XFRM netlink socket: {e}");
                None
            }
        };
        Kernel {
            xfrm,
            children: BTreeMap::new(),
            policy_owners: HashMap::new(),
            larval: Larval::default(),
            traps: Vec::new(),
            shunts: Vec::new(),
            deferred: HashMap::new(),
            journal: super::journal::Journal::disabled(),
        }
    }

    /// Removes what the previous iked of this control socket left in the
    /// kernel (its journal at `path`: it was killed), and journals from now
    /// on. Returns how many (SAs, policies) were removed.
    pub fn take_over(&mut self, path: &std::path::Path) -> (usize, usize) {
        use super::journal::{Entry, parse_policy, parse_sa};
        let (journal, left) = super::journal::Journal::open(path);
        self.journal = journal;
        let Some(x) = self.xfrm.as_mut() else {
            return (0, 0);
        };
        let (mut sas, mut pols) = (0, 0);
        // Policies first: no packet is sent in the clear or dropped for an SA
        // that is about to go.
        let mut order: Vec<&Entry> = left
            .iter()
            .filter(|e| matches!(e, Entry::Policy(_)))
            .collect();
        order.extend(left.iter().filter(|e| matches!(e, Entry::Sa(_))));
        for e in order {
            let r = match e {
                Entry::Policy(k) => parse_policy(k).map(|id| (x.delete_policy(&id), false)),
                Entry::Sa(k) => parse_sa(k).map(|id| (x.delete_sa(&id), true)),
            };
            match r {
                Ok((Ok(()), true)) => sas += 1,
                Ok((Ok(()), false)) => pols += 1,
                Ok((Err(e), _)) if e.is_not_found() => {}
                Ok((Err(err), _)) => {
                    warn!(target: "knl", "unable to remove {e:?} left by the previous iked: {err}")
                }
                Err(why) => warn!(target: "knl", "kernel journal: {why}"),
            }
        }
        if sas + pols > 0 {
            info!(target: "knl", "removed {sas} SAs and {pols} policies a previous iked left in the kernel (it did not stop cleanly)");
        }
        (sas, pols)
    }

    /// After a clean stop (everything removed): the journal goes.
    pub fn close_journal(&mut self) {
        self.journal.close();
    }

    /// Whether iked installed SAs for this CHILD_SA.
    pub fn installed(&self, child_id: u32) -> Option<&Installed> {
        self.children.get(&child_id)
    }

    /// Number of CHILD_SAs with kernel state.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True when nothing is installed.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Installs both SAs and (unless `installpolicy=no`) the policies. On a
    /// failure, what this call installed is removed again.
    pub fn install(&mut self, c: &ChildSaInstall) -> Result<(), String> {
        let (sa_in, sa_out) = sas(c)?;
        // A CHILD_SA id installed twice (should not happen): remove the old state.
        if self.children.contains_key(&c.child_id) {
            warn!(target: "knl", "CHILD_SA {{{}}} installed twice; replacing", c.child_id);
            self.remove(c.child_id);
        }
        let Some(x) = self.xfrm.as_mut() else {
            return Err("no XFRM socket".into());
        };
        let pols = if c.install_policy {
            policies(c)?
        } else {
            Vec::new()
        };
        let mut rec = Installed {
            conn: c.conn.clone(),
            sa_in: None,
            sa_out: None,
            policies: Vec::with_capacity(pols.len()),
        };
        // Two pipelined requests (one sendmsg each; the kernel answers each
        // part inside it, in order, and goes on after a refused part): the SAs
        // first, the inbound one completing the larval SA of ALLOCSPI (the
        // outbound one of a rekey responder waits: install_outbound); then,
        // once both are in, the policies that send traffic to them.
        // (both encoded before anything goes: a request that cannot be
        // encoded fails the install with nothing installed)
        let mut batch = xfrm::Batch::new();
        batch.update_sa(&sa_in).map_err(|e| e.to_string())?;
        if !c.defer_outbound {
            batch.add_sa(&sa_out).map_err(|e| e.to_string())?;
        }
        let mut pol_batch = xfrm::Batch::new();
        for p in &pols {
            pol_batch.update_policy(p).map_err(|e| e.to_string())?;
        }
        let mut results = x.execute(&batch).into_iter();
        let mut r_in = results.next().unwrap_or_else(|| no_reply("SA update"));
        if matches!(&r_in, Err(e) if e.is_not_found()) {
            // the larval SA expired (or the SPI was not the kernel's): add it
            r_in = x.add_sa(&sa_in);
        }
        let r_out =
            (!c.defer_outbound).then(|| results.next().unwrap_or_else(|| no_reply("SA add")));
        if r_in.is_ok() {
            // completed: no longer larval (a refused one stays listed, so
            // that the SPI's release deletes its larval SA)
            if let Ok(mut l) = self.larval.lock() {
                l.retain(|&(a, spi)| !(a == c.local && spi == c.spi_in));
            }
        }
        let owner = Owner::Child(c.child_id);
        // the journal's lines of this install go out in one write
        self.journal.hold();
        let mut failure = None;
        match r_in {
            Ok(()) => {
                rec.sa_in = Some(sa_in.id());
                self.journal.sa_added(&sa_in.id());
            }
            Err(e) => {
                failure = Some(format!(
                    "unable to add SAD entry with SPI {:08x}: {e}",
                    c.spi_in
                ))
            }
        }
        match r_out {
            Some(Ok(())) => {
                rec.sa_out = Some(sa_out.id());
                self.journal.sa_added(&sa_out.id());
            }
            Some(Err(e)) => {
                failure.get_or_insert(format!(
                    "unable to add SAD entry with SPI {:08x}: {e}",
                    c.spi_out
                ));
            }
            None => {}
        }
        if failure.is_none() && !pols.is_empty() {
            for p in &pols {
                self.keep_previous(&owner, p);
            }
            let results = self
                .xfrm
                .as_mut()
                .map(|x| x.execute(&pol_batch))
                .unwrap_or_default();
            let mut results = results.into_iter();
            for p in &pols {
                match results.next().unwrap_or_else(|| no_reply("policy update")) {
                    Ok(()) => {
                        self.owned_policy(&owner, p);
                        rec.policies.push(p.id());
                    }
                    Err(e) => {
                        failure.get_or_insert(format!(
                            "unable to install policy {} === {} {}: {e}",
                            p.selector.src, p.selector.dst, p.dir
                        ));
                    }
                }
            }
        }
        self.journal.flush();
        if let Some(why) = failure {
            // what this call installed goes again (and policies it replaced
            // get their previous owner's back)
            self.remove_record(&owner, &rec);
            return Err(why);
        }
        debug!(target: "knl", "installed SAs {:08x}/{:08x} and {} policies for {}{{{}}}",
            c.spi_in, c.spi_out, rec.policies.len(), c.conn, c.child_id);
        if c.defer_outbound {
            self.deferred.insert(c.child_id, Box::new(sa_out));
        }
        self.children.insert(c.child_id, rec);
        Ok(())
    }

    /// Installs (or replaces) a policy for `owner`, who goes on top of the
    /// policy's owners.
    fn own_policy(&mut self, owner: &Owner, p: &Policy) -> Result<(), xfrm::Error> {
        self.keep_previous(owner, p);
        let x = self
            .xfrm
            .as_mut()
            .ok_or_else(|| xfrm::Error::Invalid("no XFRM socket".into()))?;
        x.update_policy(p)?;
        self.owned_policy(owner, p);
        Ok(())
    }

    /// Before `owner`'s policy `p` replaces another owner's in the kernel:
    /// that owner's policy is read from the kernel and kept, to be put back
    /// when `owner` goes. Unreadable (not expected: iked installed it), `p`
    /// is kept in its place (same selectors; its templates may differ).
    fn keep_previous(&mut self, owner: &Owner, p: &Policy) {
        let id = p.id();
        let Some(owners) = self.policy_owners.get_mut(&id) else {
            return;
        };
        let Some((top, kept @ None)) = owners.last_mut() else {
            return;
        };
        if top == owner {
            return;
        }
        let read = match self.xfrm.as_mut().map(|x| x.get_policy(&id)) {
            Some(Ok(info)) => info.policy,
            Some(Err(e)) => {
                warn!(target: "knl", "unable to read {id} of {top:?} before replacing it ({e}): it gets the new one's back");
                p.clone()
            }
            None => p.clone(),
        };
        *kept = Some(Box::new(Policy { index: 0, ..read }));
    }

    /// Records that the kernel accepted `owner`'s policy `p`: `owner` goes on
    /// top of its owners (the one below keeps its policy: `keep_previous`).
    fn owned_policy(&mut self, owner: &Owner, p: &Policy) {
        let id = p.id();
        // one owner is the rule: room for one (an empty Vec's first push
        // makes room for four)
        let owners = self
            .policy_owners
            .entry(id)
            .or_insert_with(|| Vec::with_capacity(1));
        owners.retain(|(o, _)| o != owner);
        owners.push((owner.clone(), None));
        self.journal.policy_added(&id);
    }

    /// `owner` gives up these policies: a policy nobody else installed is
    /// deleted; one whose current (last) owner leaves gets the previous
    /// owner's policy back.
    fn release_policies(&mut self, owner: &Owner, ids: &[PolicyId]) {
        let Some(x) = self.xfrm.as_mut() else {
            return;
        };
        for id in ids {
            let Some(owners) = self.policy_owners.get_mut(id) else {
                continue;
            };
            let was_current = owners.last().is_some_and(|(o, _)| o == owner);
            owners.retain(|(o, _)| o != owner);
            match owners.last_mut() {
                None => {
                    self.policy_owners.remove(id);
                    match x.delete_policy(id) {
                        Err(e) if !e.is_not_found() => {
                            warn!(target: "knl", "unable to delete {id}: {e}")
                        }
                        _ => self.journal.policy_removed(id),
                    }
                }
                Some((prev, kept)) if was_current => match kept.take() {
                    // back in the kernel: the kernel's copy is the one now
                    Some(p) => match x.update_policy(&p) {
                        Ok(()) => debug!(target: "knl", "policy {id} restored for {prev:?}"),
                        Err(e) => {
                            warn!(target: "knl", "unable to restore {id} for {prev:?}: {e}");
                            *kept = Some(p);
                        }
                    },
                    None => {
                        warn!(target: "knl", "no policy {id} kept for {prev:?}: the kernel keeps the last one's")
                    }
                },
                Some(_) => {}
            }
        }
    }

    /// Removes a record's SAs and `owner`'s share of its policies.
    fn remove_record(&mut self, owner: &Owner, rec: &Installed) {
        self.release_policies(owner, &rec.policies);
        let Some(x) = self.xfrm.as_mut() else {
            return;
        };
        for id in [rec.sa_in, rec.sa_out].into_iter().flatten() {
            match x.delete_sa(&id) {
                Err(e) if !e.is_not_found() => warn!(target: "knl", "unable to delete {id}: {e}"),
                _ => self.journal.sa_removed(&id),
            }
        }
    }

    /// Installs the trap policies of an `auto=route` conn: matching outbound
    /// packets without an SA make the kernel send an ACQUIRE. A CHILD_SA with
    /// the same selectors later replaces the policy's template and leaves it in
    /// place when it goes (it traps again: the template names the conn's reqid).
    pub fn install_trap(&mut self, conn: &str, policies: &[Policy]) -> Result<usize, String> {
        self.install_named(Named::Trap, conn, policies)
    }

    /// Removes the trap policies of a conn (all conns with `None`).
    pub fn remove_traps(&mut self, conn: Option<&str>) -> usize {
        self.remove_named(Named::Trap, conn)
    }

    /// Installs the bypass/drop policies of a shunt conn; returns how many.
    pub fn install_shunt(&mut self, conn: &str, policies: &[Policy]) -> Result<usize, String> {
        self.install_named(Named::Shunt, conn, policies)
    }

    /// Removes the shunt policies of a conn (all with `None`).
    pub fn remove_shunts(&mut self, conn: Option<&str>) -> usize {
        self.remove_named(Named::Shunt, conn)
    }

    /// Conns with shunt policies installed, in installation order.
    pub fn shunted_conns(&self) -> Vec<&str> {
        named_conns(&self.shunts)
    }

    /// Conns with trap policies installed, in installation order.
    pub fn routed_conns(&self) -> Vec<&str> {
        named_conns(&self.traps)
    }

    /// Installs policies that belong to a conn rather than to a CHILD_SA
    /// (traps, shunts), recorded in that kind's list; returns how many were new.
    fn install_named(
        &mut self,
        kind: Named,
        conn: &str,
        policies: &[Policy],
    ) -> Result<usize, String> {
        if self.xfrm.is_none() {
            return Err("no XFRM socket".into());
        }
        let (what, owner) = match kind {
            Named::Trap => ("trap", Owner::Trap(conn.to_owned())),
            Named::Shunt => ("shunt", Owner::Shunt(conn.to_owned())),
        };
        let mut n = 0;
        for p in policies {
            let id = p.id();
            let list = match kind {
                Named::Trap => &self.traps,
                Named::Shunt => &self.shunts,
            };
            if list.iter().any(|(t, _)| *t == id) {
                continue;
            }
            self.own_policy(&owner, p).map_err(|e| {
                format!(
                    "unable to install {what} policy {} === {} {}: {e}",
                    p.selector.src, p.selector.dst, p.dir
                )
            })?;
            match kind {
                Named::Trap => self.traps.push((id, conn.to_owned())),
                Named::Shunt => self.shunts.push((id, conn.to_owned())),
            }
            n += 1;
        }
        Ok(n)
    }

    /// Removes a conn's policies of one kind (every conn's with `None`).
    fn remove_named(&mut self, kind: Named, conn: Option<&str>) -> usize {
        let list = match kind {
            Named::Trap => &mut self.traps,
            Named::Shunt => &mut self.shunts,
        };
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(list)
            .into_iter()
            .partition(|(_, c)| conn.is_none_or(|n| n == c));
        *list = keep;
        for (id, c) in &gone {
            let owner = match kind {
                Named::Trap => Owner::Trap(c.clone()),
                Named::Shunt => Owner::Shunt(c.clone()),
            };
            self.release_policies(&owner, std::slice::from_ref(id));
        }
        gone.len()
    }

    /// The conn whose trap policy an ACQUIRE names (by selector, mark, if_id).
    pub fn trap_conn(&self, a: &xfrm::Acquire) -> Option<&str> {
        self.traps
            .iter()
            .find(|(id, _)| {
                id.selector.src == a.policy_selector.src
                    && id.selector.dst == a.policy_selector.dst
                    && id.selector.proto == a.policy_selector.proto
                    && id.mark == a.mark
                    && id.if_id == a.if_id
            })
            .map(|(_, c)| c.as_str())
    }

    /// Adds the outbound SA of a CHILD_SA installed with `defer_outbound`;
    /// Ok(false) when there is none waiting.
    pub fn install_outbound(&mut self, child_id: u32) -> Result<bool, String> {
        let Some(rec) = self.children.get_mut(&child_id) else {
            return Ok(false);
        };
        if rec.sa_out.is_some() {
            return Ok(false);
        }
        let Some(sa_out) = self.deferred.get(&child_id) else {
            return Ok(false);
        };
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        x.add_sa(sa_out)
            .map_err(|e| format!("unable to add SAD entry with SPI {:08x}: {e}", sa_out.spi))?;
        rec.sa_out = Some(sa_out.id());
        self.journal.sa_added(&sa_out.id());
        self.deferred.remove(&child_id);
        Ok(true)
    }

    /// Deletes the larval SA of one allocated SPI a negotiation will not use;
    /// true if there was one.
    pub fn release_spi(&mut self, local: IpAddr, spi: u32) -> bool {
        let known = match self.larval.lock() {
            Ok(mut l) => {
                let before = l.len();
                l.retain(|&(a, s)| !(a == local && s == spi));
                l.len() != before
            }
            Err(_) => false,
        };
        let Some(x) = self.xfrm.as_mut() else {
            return false;
        };
        if !known {
            return false;
        }
        let id = SaId {
            dst: local,
            spi,
            protocol: xfrm::Protocol::Esp,
            mark: None,
        };
        match x.delete_sa(&id) {
            Ok(()) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => {
                debug!(target: "knl", "unable to delete larval {id}: {e}");
                false
            }
        }
    }

    /// Deletes the larval SAs of SPIs that were allocated but never installed
    /// (a negotiation failed); returns how many. A negotiation still running
    /// whose larval SA goes away is not harmed: its install adds the SA anew.
    pub fn drop_larval(&mut self) -> usize {
        let list = match self.larval.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(_) => return 0,
        };
        let Some(x) = self.xfrm.as_mut() else {
            return 0;
        };
        let mut n = 0;
        for (dst, spi) in list {
            let id = SaId {
                dst,
                spi,
                protocol: xfrm::Protocol::Esp,
                mark: None,
            };
            match x.delete_sa(&id) {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => debug!(target: "knl", "unable to delete larval {id}: {e}"),
            }
        }
        n
    }

    /// Removes what iked installed for a CHILD_SA; false if it had nothing.
    pub fn remove(&mut self, child_id: u32) -> bool {
        self.deferred.remove(&child_id);
        match self.children.remove(&child_id) {
            Some(rec) => {
                self.remove_record(&Owner::Child(child_id), &rec);
                true
            }
            None => false,
        }
    }

    /// Removes everything iked installed (shutdown); returns how many CHILD_SAs.
    pub fn remove_all(&mut self) -> usize {
        let ids: Vec<u32> = self.children.keys().copied().collect();
        for id in &ids {
            self.remove(*id);
        }
        self.remove_traps(None);
        self.remove_shunts(None);
        ids.len()
    }

    /// The kernel's counters for a CHILD_SA. `use_time` is the LAST use, as
    /// strongSwan shows it ("3 pkts, 1s ago"): an SA's own use_time is its first
    /// use, so it is taken from the CHILD_SA's policies (the kernel stamps a
    /// policy at every lookup): out for outbound, in/fwd for inbound. Without
    /// policies (installpolicy=no) the SA's first use remains.
    pub fn counters(&mut self, child_id: u32) -> Option<ChildCounters> {
        let rec = self.children.get(&child_id)?;
        let (i, o) = (rec.sa_in?, rec.sa_out?);
        let pols = rec.policies.clone();
        let x = self.xfrm.as_mut()?;
        let mut ci = x.get_sa(&i).ok()?.current;
        let mut co = x.get_sa(&o).ok()?.current;
        let (mut last_in, mut last_out) = (0u64, 0u64);
        for id in &pols {
            let Ok(p) = x.get_policy(id) else { continue };
            let t = p.current.use_time;
            match id.dir {
                Direction::Out => last_out = last_out.max(t),
                _ => last_in = last_in.max(t),
            }
        }
        // only while the SA itself was used (a shared policy may have been used by another SA)
        if ci.packets > 0 && last_in > 0 {
            ci.use_time = last_in.max(ci.use_time);
        }
        if co.packets > 0 && last_out > 0 {
            co.use_time = last_out.max(co.use_time);
        }
        Some((ci, co))
    }
}

/// [`SpiAllocator`] backed by XFRM_MSG_ALLOCSPI (SPIs in `c0000000..cfffffff`).
#[derive(Debug)]
pub struct KernelSpis {
    xfrm: Option<Xfrm>,
    larval: Larval,
}

impl SpiAllocator for KernelSpis {
    fn alloc_spi(&mut self, local: IpAddr, remote: IpAddr) -> Result<u32, SpiError> {
        let x = self
            .xfrm
            .as_mut()
            .ok_or_else(|| SpiError("no XFRM socket".into()))?;
        let spi = x
            .alloc_spi(&SpiRequest::new(remote, local, 0))
            .map_err(|e| SpiError(format!("the kernel refused: {e}")))?;
        debug!(target: "knl", "allocated SPI {spi:08x}");
        if let Ok(mut l) = self.larval.lock() {
            l.push((local, spi));
        }
        Ok(spi)
    }
}
