//! CHILD_SAs whose outer addresses or ports change: a NAT mapping the kernel
//! reports, a peer seen behind a new mapping, a MOBIKE move. The kernel
//! cannot change an SA in place beyond its UDP ports, so these rebuild the
//! SAs from the ones [`Kernel`] recorded at install.

use super::{Kernel, Owner, moved, moved_policy, remap};
use tracing::warn;

impl Kernel {
    /// An XFRM_MSG_MAPPING event: the peer's NAT mapping of one of our inbound
    /// UDP-encapsulated SAs changed (ESP arrived from another source port).
    /// Updates that CHILD_SA's inbound SA (encap sport) and outbound SA (encap
    /// dport) to the new port, as strongSwan does. `None` when the SA is not
    /// iked's; otherwise `Ok((conn, child_id))` or an error to log.
    pub fn on_mapping(&mut self, m: &xfrm::Mapping) -> Option<Result<(String, u32), String>> {
        let (&child_id, pair) = self
            .sas
            .iter()
            .find(|(_, p)| p.0.dst == m.dst && p.0.spi == m.spi && p.0.protocol == m.protocol)?;
        let conn = self
            .children
            .get(&child_id)
            .map(|r| r.conn.clone())
            .unwrap_or_default();
        let (sa_in, sa_out) = match remap(&pair.0, &pair.1, m) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let Some(x) = self.xfrm.as_mut() else {
            return Some(Err("no XFRM socket".into()));
        };
        for sa in [&sa_in, &sa_out] {
            if let Err(e) = x.update_sa(sa) {
                return Some(Err(format!(
                    "unable to update SAD entry with SPI {:08x}: {e}",
                    sa.spi
                )));
            }
        }
        self.sas.insert(child_id, Box::new((sa_in, sa_out)));
        Some(Ok((conn, child_id)))
    }

    /// The peer of CHILD_SA `child_id` is now at `remote` (its NAT mapping
    /// changed): moves the UDP encapsulation of both SAs to the new port.
    /// `Ok(false)` when nothing had to change (not iked's, or already there).
    pub fn move_peer(
        &mut self,
        child_id: u32,
        remote: std::net::SocketAddr,
    ) -> Result<bool, String> {
        let Some(pair) = self.sas.get(&child_id) else {
            return Ok(false);
        };
        if pair.0.encap.map(|e| e.sport) == Some(remote.port()) && pair.0.src == remote.ip() {
            return Ok(false);
        }
        let m = xfrm::Mapping {
            dst: pair.0.dst,
            spi: pair.0.spi,
            protocol: pair.0.protocol,
            reqid: 0,
            old_src: pair.0.src,
            old_sport: pair.0.encap.map(|e| e.sport).unwrap_or_default(),
            new_src: remote.ip(),
            new_sport: remote.port(),
        };
        let (sa_in, sa_out) = remap(&pair.0, &pair.1, &m)?;
        // An outbound SA still held back (rekey responder) is only updated in
        // our record: install_outbound adds it with the new port.
        let out_installed = self
            .children
            .get(&child_id)
            .is_some_and(|r| r.sa_out.is_some());
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        for (sa, installed) in [(&sa_in, true), (&sa_out, out_installed)] {
            if installed {
                x.update_sa(sa).map_err(|e| {
                    format!("unable to update SAD entry with SPI {:08x}: {e}", sa.spi)
                })?;
            }
        }
        self.sas.insert(child_id, Box::new((sa_in, sa_out)));
        Ok(true)
    }

    /// The IKE_SA of CHILD_SA `child_id` moved (MOBIKE UPDATE_SA_ADDRESSES):
    /// its SAs and policy templates go to the new outer addresses, with UDP
    /// encapsulation iff `encap`. An SA whose id (destination, SPI) stays is
    /// replaced (the kernel cannot change an SA's source in place); one whose
    /// id changes is added first and the old one deleted after the policies
    /// point at the new addresses. `Ok(false)`: not iked's, or already there.
    pub fn migrate(
        &mut self,
        child_id: u32,
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
        encap: bool,
    ) -> Result<bool, String> {
        let Some((old_in, old_out)) = self.sas.get(&child_id).map(|b| (**b).clone()) else {
            return Ok(false);
        };
        let (new_in, new_out) = moved(&old_in, &old_out, local, remote, encap)?;
        if new_in == old_in && new_out == old_out {
            return Ok(false);
        }
        let Some(rec) = self.children.get(&child_id).cloned() else {
            return Ok(false);
        };
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        let mut late_delete = Vec::new();
        for (old, new, installed) in [
            (&old_in, &new_in, rec.sa_in.is_some()),
            (&old_out, &new_out, rec.sa_out.is_some()),
        ] {
            if !installed {
                continue;
            }
            // The sequence numbers go along: restarted ones would be
            // replays to the peer (strongSwan keeps its replay window when
            // it moves its SAs), and an old inbound packet replayed to the
            // new SA must still be refused.
            let mut new = new.clone();
            match x.get_sa(&old.id()) {
                Ok(info) => new.replay_state = info.replay_state,
                Err(e) => {
                    warn!(target: "knl", "SA {:08x}: its sequence numbers unreadable ({e}); the moved SA starts afresh", old.spi)
                }
            }
            let new = &new;
            if old.id() == new.id() {
                match x.delete_sa(&old.id()) {
                    Err(e) if !e.is_not_found() => {
                        return Err(format!("unable to replace SA {:08x}: {e}", old.spi));
                    }
                    _ => {}
                }
            } else {
                late_delete.push(old.id());
            }
            x.add_sa(new)
                .map_err(|e| format!("unable to add SAD entry with SPI {:08x}: {e}", new.spi))?;
            self.journal.sa_added(&new.id());
        }
        let owner = Owner::Child(child_id);
        for id in &rec.policies {
            let Some(owners) = self.policy_owners.get_mut(id) else {
                continue;
            };
            let current = owners.last().is_some_and(|(o, _)| *o == owner);
            let Some(entry) = owners.iter_mut().find(|(o, _)| *o == owner) else {
                continue;
            };
            entry.1 = moved_policy(&entry.1, local.ip(), remote.ip());
            let p = entry.1.clone();
            if current {
                let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
                x.update_policy(&p)
                    .map_err(|e| format!("unable to update policy {id}: {e}"))?;
            }
        }
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        for id in late_delete {
            match x.delete_sa(&id) {
                Err(e) if !e.is_not_found() => warn!(target: "knl", "unable to delete {id}: {e}"),
                _ => self.journal.sa_removed(&id),
            }
        }
        if let Some(r) = self.children.get_mut(&child_id) {
            r.sa_in = r.sa_in.map(|_| new_in.id());
            r.sa_out = r.sa_out.map(|_| new_out.id());
        }
        self.sas.insert(child_id, Box::new((new_in, new_out)));
        Ok(true)
    }
}
