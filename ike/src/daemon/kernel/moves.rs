//! CHILD_SAs whose outer addresses or ports change: a NAT mapping the kernel
//! reports, a peer seen behind a new mapping, a MOBIKE move. The kernel
//! cannot change an SA in place beyond its UDP ports, so these rebuild the
//! SAs from the kernel's own (read back whole, keys and replay state
//! included: iked keeps no copy of an installed SA) and the policies from
//! the kernel's.

use super::{Kernel, Owner, moved, moved_policy, remap};
use tracing::warn;
use xfrm::Sa;

impl Kernel {
    /// The SAs of CHILD_SA `child_id` as they are now (inbound, outbound):
    /// read from the kernel, the outbound one from `deferred` while it waits.
    /// `Ok(None)`: not iked's.
    fn read_sas(&mut self, child_id: u32) -> Result<Option<(Sa, Sa)>, String> {
        let Some(rec) = self.children.get(&child_id) else {
            return Ok(None);
        };
        let (Some(id_in), id_out) = (rec.sa_in, rec.sa_out) else {
            return Ok(None);
        };
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        let read = |x: &mut xfrm::Xfrm, id: &xfrm::SaId| {
            x.read_sa(id)
                .map_err(|e| format!("unable to read SAD entry with SPI {:08x}: {e}", id.spi))
        };
        let sa_in = read(x, &id_in)?;
        let sa_out = match (id_out, self.deferred.get(&child_id)) {
            (Some(id), _) => read(x, &id)?,
            (None, Some(waiting)) => (**waiting).clone(),
            (None, None) => return Ok(None),
        };
        Ok(Some((sa_in, sa_out)))
    }

    /// Writes moved SAs whose id stays (new UDP ports: XFRM_MSG_UPDSA); an
    /// outbound SA still held back (rekey responder) is only updated in
    /// `deferred`: install_outbound adds it as it is then.
    fn update_in_place(&mut self, child_id: u32, sa_in: &Sa, sa_out: Sa) -> Result<(), String> {
        let out_installed = self
            .children
            .get(&child_id)
            .is_some_and(|r| r.sa_out.is_some());
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        for (sa, installed) in [(sa_in, true), (&sa_out, out_installed)] {
            if installed {
                x.update_sa(sa).map_err(|e| {
                    format!("unable to update SAD entry with SPI {:08x}: {e}", sa.spi)
                })?;
            }
        }
        if !out_installed {
            self.deferred.insert(child_id, Box::new(sa_out));
        }
        Ok(())
    }

    /// An XFRM_MSG_MAPPING event: the peer's NAT mapping of one of our inbound
    /// UDP-encapsulated SAs changed (ESP arrived from another source port).
    /// Updates that CHILD_SA's inbound SA (encap sport) and outbound SA (encap
    /// dport) to the new port, as strongSwan does. `None` when the SA is not
    /// iked's; otherwise `Ok((conn, child_id))` or an error to log.
    pub fn on_mapping(&mut self, m: &xfrm::Mapping) -> Option<Result<(String, u32), String>> {
        let (&child_id, rec) = self.children.iter().find(|(_, r)| {
            r.sa_in
                .is_some_and(|id| id.dst == m.dst && id.spi == m.spi && id.protocol == m.protocol)
        })?;
        let conn = rec.conn.clone();
        let r = (|| {
            let Some((sa_in, sa_out)) = self.read_sas(child_id)? else {
                return Err(format!("SA {:08x}: no longer installed", m.spi));
            };
            let (sa_in, sa_out) = remap(&sa_in, &sa_out, m)?;
            self.update_in_place(child_id, &sa_in, sa_out)
        })();
        Some(r.map(|()| (conn, child_id)))
    }

    /// The peer of CHILD_SA `child_id` is now at `remote` (its NAT mapping
    /// changed): moves the UDP encapsulation of both SAs to the new port.
    /// `Ok(false)` when nothing had to change (not iked's, or already there).
    pub fn move_peer(
        &mut self,
        child_id: u32,
        remote: std::net::SocketAddr,
    ) -> Result<bool, String> {
        let Some((sa_in, sa_out)) = self.read_sas(child_id)? else {
            return Ok(false);
        };
        if sa_in.encap.map(|e| e.sport) == Some(remote.port()) && sa_in.src == remote.ip() {
            return Ok(false);
        }
        let m = xfrm::Mapping {
            dst: sa_in.dst,
            spi: sa_in.spi,
            protocol: sa_in.protocol,
            reqid: 0,
            old_src: sa_in.src,
            old_sport: sa_in.encap.map(|e| e.sport).unwrap_or_default(),
            new_src: remote.ip(),
            new_sport: remote.port(),
        };
        let (sa_in, sa_out) = remap(&sa_in, &sa_out, &m)?;
        self.update_in_place(child_id, &sa_in, sa_out)?;
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
        // The sequence numbers go along (read with the SAs): restarted ones
        // would be replays to the peer (strongSwan keeps its replay window
        // when it moves its SAs), and an old inbound packet replayed to the
        // new SA must still be refused.
        let Some((old_in, old_out)) = self.read_sas(child_id)? else {
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
            if current {
                // ours is the kernel's: read, moved, written back
                let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
                let p = x
                    .get_policy(id)
                    .map_err(|e| format!("unable to read policy {id}: {e}"))?
                    .policy;
                x.update_policy(&moved_policy(&p, local.ip(), remote.ip()))
                    .map_err(|e| format!("unable to update policy {id}: {e}"))?;
                entry.1 = None;
            } else if let Some(p) = &mut entry.1 {
                // kept for when the owners above go
                **p = moved_policy(p, local.ip(), remote.ip());
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
        if rec.sa_out.is_none() {
            // still held back: added where the IKE_SA now is
            self.deferred.insert(child_id, Box::new(new_out));
        }
        Ok(true)
    }
}
