//! CHILD_SA installation through the `xfrm` crate: the translation of the
//! protocol core's [`ChildSaInstall`] / [`Event::DeleteChild`] into SAs and
//! policies, a record of exactly what iked installed (so that `down`,
//! DELETE and shutdown remove that and nothing else), kernel SPI allocation
//! and SA counters.
//!
//! [`Event::DeleteChild`]: crate::sa::Event::DeleteChild

use crate::crypto::{Encr, Integ};
use crate::sa::{ChildSaInstall, EspKeys, Mode, Selector, SpiAllocator, SpiError};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, error, info, warn};
use xfrm::{
    Action, AeadAlg, Crypto, Direction, EncrAlg, IntegAlg, Key, Lifetime, Limits, Mark, Policy,
    PolicyId, Prefix, Sa, SaFlags, SaId, SpiRequest, Template, UdpEncap, Xfrm,
};

/// strongSwan-like policy priorities: a base for IPsec policies, minus the
/// selector's specificity (longer prefixes, a protocol, ports win). For the
/// usual subnet-to-subnet policy this gives strongSwan's own numbers
/// (10.1.0.0/24 === 10.2.0.0/24: 375423, as its charon installs them).
const PRIO_BASE: u32 = 400_000;

/// The priority of a policy with this kernel selector: lower is preferred.
pub fn priority(sel: &xfrm::Selector) -> u32 {
    let mut p = PRIO_BASE - 1;
    p -= 512 * (u32::from(sel.src.len) + u32::from(sel.dst.len));
    if sel.proto != 0 {
        p -= 256;
    }
    if sel.sport.is_some() {
        p -= 64;
    }
    if sel.dport.is_some() {
        p -= 64;
    }
    p
}

/// The kernel transform for a negotiated ESP transform and one direction's keys.
pub fn crypto(encr: Encr, integ: Option<Integ>, keys: &EspKeys) -> Result<Crypto, String> {
    let key = |b: &crate::crypto::SecretBytes| Key::from_slice(b.as_slice());
    Ok(match encr {
        Encr::AesGcm { icv_len, .. } => Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: key(&keys.encr),
            icv_bits: u32::from(icv_len) * 8,
        },
        Encr::ChaCha20Poly1305 => Crypto::Aead {
            alg: AeadAlg::ChaCha20Poly1305,
            key: key(&keys.encr),
            icv_bits: 128,
        },
        Encr::AesCbc { .. } => {
            let Some(i) = integ else {
                return Err("AES-CBC without an integrity algorithm".into());
            };
            let (alg, trunc_bits) = match i {
                Integ::HmacSha1_96 => (IntegAlg::HmacSha1, 96),
                Integ::AesXcbc96 => (IntegAlg::Named("xcbc(aes)".into()), 96),
                Integ::HmacSha256_128 => (IntegAlg::HmacSha256, 128),
                Integ::HmacSha384_192 => (IntegAlg::HmacSha384, 192),
                Integ::HmacSha512_256 => (IntegAlg::HmacSha512, 256),
            };
            Crypto::EncrInteg {
                encr: EncrAlg::AesCbc,
                encr_key: key(&keys.encr),
                integ: alg,
                integ_key: key(&keys.integ),
                trunc_bits,
            }
        }
    })
}

/// Splits an address range into the prefixes that cover exactly it.
pub fn range_prefixes(start: IpAddr, end: IpAddr) -> Vec<Prefix> {
    crate::ts::range_prefixes(start, end)
        .into_iter()
        .map(|(a, len)| Prefix::new(a, len))
        .collect()
}

/// Kernel selectors for one (local, remote) traffic-selector pair, in the
/// outbound direction (src = local). Port ranges the kernel cannot express
/// (neither one port nor all) are refused.
fn kernel_selectors(l: &Selector, r: &Selector) -> Result<Vec<xfrm::Selector>, String> {
    if l.start.is_ipv4() != r.start.is_ipv4() {
        return Ok(Vec::new());
    }
    if l.protocol != r.protocol && l.protocol != 0 && r.protocol != 0 {
        return Ok(Vec::new());
    }
    let port = |s: &Selector| -> Result<Option<u16>, String> {
        if s.start_port == 0 && s.end_port == 65535 {
            Ok(None)
        } else if s.start_port == s.end_port {
            Ok(Some(s.start_port))
        } else {
            Err(format!(
                "port range {}-{} cannot be expressed as a kernel selector",
                s.start_port, s.end_port
            ))
        }
    };
    let (sport, dport) = (port(l)?, port(r)?);
    let proto = l.protocol.max(r.protocol);
    let mut out = Vec::new();
    for src in range_prefixes(l.start, l.end) {
        for dst in range_prefixes(r.start, r.end) {
            let mut sel = xfrm::Selector::new(src, dst);
            sel.proto = proto;
            sel.sport = sport;
            sel.dport = dport;
            out.push(sel);
        }
    }
    Ok(out)
}

fn reverse(sel: &xfrm::Selector) -> xfrm::Selector {
    let mut r = xfrm::Selector::new(sel.dst, sel.src);
    r.proto = sel.proto;
    r.sport = sel.dport;
    r.dport = sel.sport;
    r
}

fn mark(m: Option<(u32, u32)>) -> Option<Mark> {
    m.map(|(value, mask)| Mark { value, mask })
}

fn xmode(m: Mode) -> xfrm::Mode {
    match m {
        Mode::Tunnel => xfrm::Mode::Tunnel,
        Mode::Transport => xfrm::Mode::Transport,
    }
}

fn lifetime(c: &ChildSaInstall) -> Lifetime {
    let secs = |d: Duration| (!d.is_zero()).then(|| d.as_secs().max(1));
    Lifetime {
        soft: Limits {
            add_seconds: secs(c.soft_lifetime),
            ..Limits::default()
        },
        hard: Limits {
            add_seconds: secs(c.hard_lifetime),
            ..Limits::default()
        },
    }
}

/// The two SAs of a CHILD_SA (inbound, outbound).
pub fn sas(c: &ChildSaInstall) -> Result<(Sa, Sa), String> {
    let mode = xmode(c.mode);
    let mut sa_in = Sa::new(
        c.remote,
        c.local,
        c.spi_in,
        mode,
        c.reqid,
        crypto(c.encr, c.integ, &c.keys_in)?,
    );
    let mut sa_out = Sa::new(
        c.local,
        c.remote,
        c.spi_out,
        mode,
        c.reqid,
        crypto(c.encr, c.integ, &c.keys_out)?,
    );
    sa_in.replay_window = c.replay_window;
    sa_out.replay_window = if c.esn { c.replay_window.max(1) } else { 0 };
    // Like strongSwan (its `mark_in_sa` defaults to no, and ipsec.conf cannot
    // set it), mark_in goes on the inbound policies only, not on the inbound SA:
    // a VTI's i_key still matches it, and ESP that reaches the SA by another path
    // (no tunnel mark) is not dropped. if_id_in does go on the inbound SA.
    for (sa, m, i) in [
        (&mut sa_in, None, c.if_id_in),
        (&mut sa_out, c.mark_out, c.if_id_out),
    ] {
        sa.esn = c.esn;
        if c.mode == Mode::Tunnel {
            // like strongSwan: either inner family (4in6, 6in4)
            sa.flags = sa.flags | SaFlags::AF_UNSPEC;
        }
        sa.mark = mark(m);
        sa.if_id = i;
        sa.lifetime = lifetime(c);
    }
    if let Some((lport, rport)) = c.encap {
        sa_in.encap = Some(UdpEncap {
            sport: rport,
            dport: lport,
        });
        sa_out.encap = Some(UdpEncap {
            sport: lport,
            dport: rport,
        });
    }
    Ok((sa_in, sa_out))
}

/// The policies of a CHILD_SA: out, in, and (tunnel mode) fwd per selector pair.
pub fn policies(c: &ChildSaInstall) -> Result<Vec<Policy>, String> {
    let mut out = Vec::new();
    for l in &c.ts_local {
        for r in &c.ts_remote {
            for sel in kernel_selectors(l, r)? {
                let (t_out, t_in) = match c.mode {
                    Mode::Tunnel => (
                        Template::tunnel(c.local, c.remote, c.reqid),
                        Template::tunnel(c.remote, c.local, c.reqid),
                    ),
                    Mode::Transport => (Template::transport(c.reqid), Template::transport(c.reqid)),
                };
                let rsel = reverse(&sel);
                let mut dirs = vec![
                    (sel, Direction::Out, t_out, c.mark_out, c.if_id_out),
                    (rsel, Direction::In, t_in, c.mark_in, c.if_id_in),
                ];
                if c.mode == Mode::Tunnel {
                    dirs.push((rsel, Direction::Fwd, t_in, c.mark_in, c.if_id_in));
                }
                for (s, d, t, m, i) in dirs {
                    let mut p = Policy::new(s, d, vec![t]);
                    p.priority = priority(&s);
                    p.mark = mark(m);
                    p.if_id = i;
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// The trap policies of an `auto=route` conn (out, in, and fwd in tunnel
/// mode, like strongSwan's), from its configuration.
/// `reqid`: the one the core gives the conn's CHILD_SAs, so an ACQUIRE's
/// larval state is the one the CHILD_SA later completes.
pub fn trap_policies(
    c: &conf::Conn,
    local_addrs: &[IpAddr],
    reqid: Option<u32>,
) -> Result<Vec<Policy>, String> {
    let (l, r) = c.ends(c.local_side(local_addrs));
    let (Some(lh), Some(rh)) = (
        l.addrs()
            .find(|a| local_addrs.contains(a))
            .or_else(|| l.addrs().next()),
        r.addrs().next(),
    ) else {
        return Err("auto=route needs concrete left= and right= addresses".into());
    };
    let fixed_mark = |m: Option<conf::values::Mark>| match m {
        None => Ok(None),
        Some(conf::values::Mark {
            value: conf::values::MarkValue::Fixed(v),
            mask,
        }) => Ok(Some(Mark { value: v, mask })),
        Some(_) => Err("auto=route with a unique mark is not supported".to_owned()),
    };
    let fixed_if_id = |i: Option<conf::values::IfId>| match i {
        None => Ok(None),
        Some(conf::values::IfId::Fixed(v)) => Ok(Some(v)),
        Some(_) => Err("auto=route with a unique if_id is not supported".to_owned()),
    };
    let (mark_out, mark_in) = (fixed_mark(c.mark_out)?, fixed_mark(c.mark_in)?);
    let (if_id_out, if_id_in) = (fixed_if_id(c.if_id_out)?, fixed_if_id(c.if_id_in)?);
    let reqid = reqid.or(c.reqid).unwrap_or(0);
    let tunnel = !matches!(
        c.conn_type,
        conf::conn::ConnType::Transport | conf::conn::ConnType::TransportProxy
    );
    let (t_out, t_in) = if tunnel {
        (
            Template::tunnel(lh, rh, reqid),
            Template::tunnel(rh, lh, reqid),
        )
    } else {
        (Template::transport(reqid), Template::transport(reqid))
    };
    let ls = crate::ts::configured(&l.subnets, &l.protoport, lh);
    let rs = crate::ts::configured(&r.subnets, &r.protoport, rh);
    let mut out = Vec::new();
    for a in &ls {
        for b in &rs {
            for sel in kernel_selectors(a, b)? {
                // out (triggers ACQUIREs), and like strongSwan in and (tunnel) fwd:
                // cleartext from the peer's side is dropped until the tunnel is up
                let rsel = reverse(&sel);
                let mut dirs = vec![
                    (sel, Direction::Out, t_out, mark_out, if_id_out),
                    (rsel, Direction::In, t_in, mark_in, if_id_in),
                ];
                if tunnel {
                    dirs.push((rsel, Direction::Fwd, t_in, mark_in, if_id_in));
                }
                for (s, d, t, m, i) in dirs {
                    let mut p = Policy::new(s, d, vec![t]);
                    p.priority = priority(&s);
                    p.mark = m;
                    p.if_id = i;
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// The policies of a shunt conn (`type=passthrough` / `type=drop`, installed
/// at start like a route): out, in and fwd without templates, `allow` (a
/// bypass) or `block`, at priorities that win over every IPsec policy
/// (strongSwan's `PASS`/`DROP` policies).
pub fn shunt_policies(c: &conf::Conn, local_addrs: &[IpAddr]) -> Result<Vec<Policy>, String> {
    let action = match c.conn_type {
        conf::conn::ConnType::Passthrough => Action::Allow,
        conf::conn::ConnType::Drop => Action::Block,
        _ => return Err("not a type=passthrough/drop conn".into()),
    };
    let (l, r) = c.ends(c.local_side(local_addrs));
    let host = |e: &conf::conn::End, v6: bool| {
        e.addrs()
            .find(|a| local_addrs.contains(a))
            .or_else(|| e.addrs().next())
            .unwrap_or(if v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            })
    };
    let ls = crate::ts::configured(&l.subnets, &l.protoport, host(l, false));
    let rs = crate::ts::configured(&r.subnets, &r.protoport, host(r, false));
    let mut out = Vec::new();
    for a in &ls {
        for b in &rs {
            if a.start.is_ipv4() != b.start.is_ipv4()
                || a.start.is_unspecified() && a.end.is_unspecified()
            {
                continue;
            }
            for sel in kernel_selectors(a, b)? {
                let rsel = reverse(&sel);
                for (s, d) in [
                    (sel, Direction::Out),
                    (rsel, Direction::In),
                    (rsel, Direction::Fwd),
                ] {
                    let mut p = Policy::new(s, d, vec![]);
                    p.action = action;
                    p.priority = priority(&s) - SHUNT_PRIO_OFFSET;
                    out.push(p);
                }
            }
        }
    }
    if out.is_empty() {
        return Err("no traffic selectors (leftsubnet=/rightsubnet= of one address family)".into());
    }
    Ok(out)
}

/// Shunt policies sit this much below (= before) the IPsec policies' priorities.
const SHUNT_PRIO_OFFSET: u32 = 200_000;

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
    /// order, with what they installed. The kernel holds the last one's; when
    /// it goes, the one before it is put back (a trap traps again, an older
    /// peer's tunnel gets its policy back); when nobody is left, it is deleted.
    policy_owners: HashMap<PolicyId, Vec<(Owner, Policy)>>,
    /// SPIs allocated (larval SAs) and not yet completed, shared with [`KernelSpis`].
    larval: Larval,
    /// Trap policies of `auto=route` conns: (policy, conn).
    traps: Vec<(PolicyId, String)>,
    /// Shunt policies of `type=passthrough/drop` conns: (policy, conn).
    shunts: Vec<(PolicyId, String)>,
    /// child_id -> the SAs as installed (inbound, outbound), to update them when
    /// the kernel reports a new NAT mapping (XFRM_MSG_UPDSA needs the whole SA).
    sas: HashMap<u32, (Sa, Sa)>,
    /// What is in the kernel because of this iked, for its successor after a crash.
    journal: super::journal::Journal,
}

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
            sas: HashMap::new(),
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
            policies: Vec::new(),
        };
        // The inbound SPI came from ALLOCSPI: complete its larval SA.
        let r = match x.update_sa(&sa_in) {
            Err(e) if e.is_not_found() => x.add_sa(&sa_in),
            r => r,
        };
        if let Err(e) = r {
            return Err(format!(
                "unable to add SAD entry with SPI {:08x}: {e}",
                c.spi_in
            ));
        }
        rec.sa_in = Some(sa_in.id());
        self.journal.sa_added(&sa_in.id());
        if let Ok(mut l) = self.larval.lock() {
            l.retain(|&(a, spi)| !(a == c.local && spi == c.spi_in));
        }
        // As a rekey responder the outbound SA waits (install_outbound).
        if !c.defer_outbound {
            if let Err(e) = x.add_sa(&sa_out) {
                self.remove_record(&Owner::Child(c.child_id), &rec);
                return Err(format!(
                    "unable to add SAD entry with SPI {:08x}: {e}",
                    c.spi_out
                ));
            }
            rec.sa_out = Some(sa_out.id());
            self.journal.sa_added(&sa_out.id());
        }
        let owner = Owner::Child(c.child_id);
        for p in &pols {
            if let Err(e) = self.own_policy(&owner, p) {
                self.remove_record(&owner, &rec);
                return Err(format!(
                    "unable to install policy {} === {} {}: {e}",
                    p.selector.src, p.selector.dst, p.dir
                ));
            }
            rec.policies.push(p.id());
        }
        debug!(target: "knl", "installed SAs {:08x}/{:08x} and {} policies for {}{{{}}}",
            c.spi_in, c.spi_out, rec.policies.len(), c.conn, c.child_id);
        self.sas.insert(c.child_id, (sa_in, sa_out));
        self.children.insert(c.child_id, rec);
        Ok(())
    }

    /// Installs (or replaces) a policy for `owner`, who goes on top of the
    /// policy's owners.
    fn own_policy(&mut self, owner: &Owner, p: &Policy) -> Result<(), xfrm::Error> {
        let x = self
            .xfrm
            .as_mut()
            .ok_or_else(|| xfrm::Error::Invalid("no XFRM socket".into()))?;
        x.update_policy(p)?;
        let id = p.id();
        let owners = self.policy_owners.entry(id).or_default();
        owners.retain(|(o, _)| o != owner);
        owners.push((owner.clone(), p.clone()));
        self.journal.policy_added(&id);
        Ok(())
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
            match owners.last() {
                None => {
                    self.policy_owners.remove(id);
                    match x.delete_policy(id) {
                        Err(e) if !e.is_not_found() => {
                            warn!(target: "knl", "unable to delete {id}: {e}")
                        }
                        _ => self.journal.policy_removed(id),
                    }
                }
                Some((prev, p)) if was_current => match x.update_policy(p) {
                    Ok(()) => debug!(target: "knl", "policy {id} restored for {prev:?}"),
                    Err(e) => warn!(target: "knl", "unable to restore {id} for {prev:?}: {e}"),
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
        let Some((_, sa_out)) = self.sas.get(&child_id) else {
            return Ok(false);
        };
        let x = self.xfrm.as_mut().ok_or("no XFRM socket")?;
        x.add_sa(sa_out)
            .map_err(|e| format!("unable to add SAD entry with SPI {:08x}: {e}", sa_out.spi))?;
        rec.sa_out = Some(sa_out.id());
        self.journal.sa_added(&sa_out.id());
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
        self.sas.remove(&child_id);
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

    /// An XFRM_MSG_MAPPING event: the peer's NAT mapping of one of our inbound
    /// UDP-encapsulated SAs changed (ESP arrived from another source port).
    /// Updates that CHILD_SA's inbound SA (encap sport) and outbound SA (encap
    /// dport) to the new port, as strongSwan does. `None` when the SA is not
    /// iked's; otherwise `Ok((conn, child_id))` or an error to log.
    pub fn on_mapping(&mut self, m: &xfrm::Mapping) -> Option<Result<(String, u32), String>> {
        let (&child_id, pair) = self
            .sas
            .iter()
            .find(|(_, (i, _))| i.dst == m.dst && i.spi == m.spi && i.protocol == m.protocol)?;
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
        self.sas.insert(child_id, (sa_in, sa_out));
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
        self.sas.insert(child_id, (sa_in, sa_out));
        Ok(true)
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

/// The pair of SAs after a NAT mapping change: the peer's new port becomes the
/// inbound SA's encap source port and the outbound SA's encap destination port.
/// A changed peer address is refused (it needs new SA ids and policy templates:
/// MOBIKE-style address updates are the IKE_SA's business).
pub fn remap(sa_in: &Sa, sa_out: &Sa, m: &xfrm::Mapping) -> Result<(Sa, Sa), String> {
    let (Some(ei), Some(eo)) = (sa_in.encap, sa_out.encap) else {
        return Err(format!(
            "MAPPING for SPI {:08x}, which is not UDP-encapsulated",
            m.spi
        ));
    };
    if m.new_src != sa_in.src {
        return Err(format!(
            "NAT mapping of SPI {:08x} moved the peer from {} to {}: address changes are not supported",
            m.spi, sa_in.src, m.new_src
        ));
    }
    let mut i = sa_in.clone();
    let mut o = sa_out.clone();
    i.encap = Some(UdpEncap {
        sport: m.new_sport,
        dport: ei.dport,
    });
    o.encap = Some(UdpEncap {
        sport: eo.sport,
        dport: m.new_sport,
    });
    Ok((i, o))
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::SecretBytes;

    fn sel(net: &str, len: u8) -> Selector {
        let a: IpAddr = net.parse().unwrap();
        let (start, end) = crate::ts::prefix_range(a, len);
        Selector {
            start,
            end,
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }
    }

    pub(crate) fn install(mode: Mode, encr: Encr, integ: Option<Integ>) -> ChildSaInstall {
        let keys = |n: u8, el: usize, il: usize| EspKeys {
            encr: SecretBytes::new(vec![n; el]),
            integ: SecretBytes::new(vec![n + 1; il]),
        };
        let (el, il) = match (encr, integ) {
            (Encr::AesGcm { key_bits, .. }, _) => (usize::from(key_bits) / 8 + 4, 0),
            (Encr::ChaCha20Poly1305, _) => (36, 0),
            (Encr::AesCbc { key_bits }, _) => (usize::from(key_bits) / 8, 32),
        };
        ChildSaInstall {
            conn: "net-net".into(),
            ike_id: 1,
            child_id: 1,
            reqid: 7,
            mode,
            local: "192.0.2.1".parse().unwrap(),
            remote: "192.0.2.2".parse().unwrap(),
            encap: None,
            spi_in: 0xc000_0001,
            spi_out: 0xc000_0002,
            encr,
            integ,
            esn: false,
            keys_in: keys(1, el, il),
            keys_out: keys(3, el, il),
            ts_local: vec![sel("198.51.100.0", 24)],
            ts_remote: vec![sel("203.0.113.0", 24)],
            mark_in: None,
            mark_out: None,
            if_id_in: None,
            if_id_out: None,
            soft_lifetime: Duration::from_secs(3000),
            hard_lifetime: Duration::from_secs(3600),
            replay_window: 32,
            install_policy: true,
            updown: None,
            my_sourceips: Vec::new(),
            peer_sourceips: Vec::new(),
            host_access: false,
            defer_outbound: false,
        }
    }

    #[test]
    fn mapping_moves_the_peer_port_on_both_sas() {
        let mut c = install(
            Mode::Tunnel,
            Encr::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            None,
        );
        c.encap = Some((4500, 4500));
        let (i, o) = sas(&c).unwrap();
        let m = xfrm::Mapping {
            dst: c.local,
            spi: c.spi_in,
            protocol: xfrm::Protocol::Esp,
            reqid: 7,
            old_src: c.remote,
            old_sport: 4500,
            new_src: c.remote,
            new_sport: 31337,
        };
        let (i2, o2) = remap(&i, &o, &m).unwrap();
        assert_eq!(
            i2.encap,
            Some(UdpEncap {
                sport: 31337,
                dport: 4500
            })
        );
        assert_eq!(
            o2.encap,
            Some(UdpEncap {
                sport: 4500,
                dport: 31337
            })
        );
        // Only the ports change: same ids, same keys.
        assert_eq!((i2.id(), o2.id()), (i.id(), o.id()));
        assert_eq!((&i2.crypto, &o2.crypto), (&i.crypto, &o.crypto));
        // A new peer address is not a port update.
        let moved = xfrm::Mapping {
            new_src: "192.0.2.99".parse().unwrap(),
            ..m.clone()
        };
        assert!(remap(&i, &o, &moved).unwrap_err().contains("192.0.2.99"));
        // Without UDP encapsulation there is nothing to remap.
        c.encap = None;
        let (pi, po) = sas(&c).unwrap();
        assert!(remap(&pi, &po, &m).is_err());
    }

    #[test]
    fn gcm_tunnel_sas_and_policies() {
        let mut c = install(
            Mode::Tunnel,
            Encr::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            None,
        );
        c.mark_in = Some((6, 0xffff_ffff));
        c.if_id_out = Some(42);
        c.encap = Some((4500, 4501));
        let (i, o) = sas(&c).unwrap();
        assert_eq!(
            (i.src, i.dst, i.spi, i.reqid),
            (c.remote, c.local, 0xc000_0001, 7)
        );
        assert_eq!((o.src, o.dst, o.spi), (c.local, c.remote, 0xc000_0002));
        assert!(
            matches!(&i.crypto, Crypto::Aead { alg: AeadAlg::AesGcm, key, icv_bits: 128 } if key.len() == 20)
        );
        assert_eq!(i.replay_window, 32);
        assert_eq!(o.replay_window, 0);
        // mark_in is for the inbound policies only (strongSwan's mark_in_sa=no).
        assert_eq!(i.mark, None);
        assert_eq!(o.mark, None);
        assert_eq!((i.if_id, o.if_id), (None, Some(42)));
        assert_eq!(
            i.encap,
            Some(UdpEncap {
                sport: 4501,
                dport: 4500
            })
        );
        assert_eq!(
            o.encap,
            Some(UdpEncap {
                sport: 4500,
                dport: 4501
            })
        );
        assert_eq!(i.lifetime.hard.add_seconds, Some(3600));
        assert_eq!(i.lifetime.soft.add_seconds, Some(3000));

        let p = policies(&c).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].dir, Direction::Out);
        assert_eq!(p[0].selector.src.to_string(), "198.51.100.0/24");
        assert_eq!(p[0].selector.dst.to_string(), "203.0.113.0/24");
        assert_eq!(p[0].templates[0], Template::tunnel(c.local, c.remote, 7));
        assert_eq!(p[0].if_id, Some(42));
        assert_eq!(p[1].dir, Direction::In);
        assert_eq!(p[1].selector.src.to_string(), "203.0.113.0/24");
        assert_eq!(p[1].templates[0], Template::tunnel(c.remote, c.local, 7));
        assert_eq!(p[1].mark, Some(Mark::exact(6)));
        assert_eq!(p[2].dir, Direction::Fwd);
        assert_eq!(p[0].priority, 375_423);
    }

    #[test]
    fn cbc_transport_no_fwd_and_installpolicy_no() {
        let mut c = install(
            Mode::Transport,
            Encr::AesCbc { key_bits: 256 },
            Some(Integ::HmacSha256_128),
        );
        let (i, _) = sas(&c).unwrap();
        assert!(matches!(
            &i.crypto,
            Crypto::EncrInteg { encr: EncrAlg::AesCbc, integ: IntegAlg::HmacSha256, trunc_bits: 128, encr_key, integ_key }
                if encr_key.len() == 32 && integ_key.len() == 32
        ));
        assert_eq!(i.mode, xfrm::Mode::Transport);
        let p = policies(&c).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].templates[0], Template::transport(7));
        c.integ = None;
        assert!(sas(&c).is_err());
        c.integ = Some(Integ::HmacSha1_96);
        assert!(matches!(
            sas(&c).unwrap().0.crypto,
            Crypto::EncrInteg { trunc_bits: 96, .. }
        ));
        let cc = install(Mode::Tunnel, Encr::ChaCha20Poly1305, None);
        assert!(matches!(
            sas(&cc).unwrap().0.crypto,
            Crypto::Aead {
                alg: AeadAlg::ChaCha20Poly1305,
                icv_bits: 128,
                ..
            }
        ));
    }

    #[test]
    fn several_subnets_and_families() {
        let mut c = install(Mode::Tunnel, Encr::ChaCha20Poly1305, None);
        c.ts_local.push(sel("2001:db8:a::", 64));
        c.ts_remote.push(sel("10.0.0.0", 8));
        c.ts_remote.push(sel("2001:db8:b::", 64));
        // v4 local x 2 v4 remote, v6 local x 1 v6 remote: 3 pairs x 3 directions
        assert_eq!(policies(&c).unwrap().len(), 9);
    }

    #[test]
    fn ports_and_protocols() {
        let mut c = install(Mode::Tunnel, Encr::ChaCha20Poly1305, None);
        c.ts_local[0].protocol = 6;
        c.ts_local[0].start_port = 22;
        c.ts_local[0].end_port = 22;
        let p = policies(&c).unwrap();
        assert_eq!(
            (
                p[0].selector.proto,
                p[0].selector.sport,
                p[0].selector.dport
            ),
            (6, Some(22), None)
        );
        assert_eq!((p[1].selector.sport, p[1].selector.dport), (None, Some(22)));
        assert!(p[0].priority < 375_423);
        c.ts_local[0].end_port = 80;
        assert!(policies(&c).is_err());
    }

    #[test]
    fn trap_policies_from_conf() {
        let src = conf::MemSource::default().with(
            "/c",
            "conn r\n  left=192.0.2.1\n  leftsubnet=198.51.100.0/24\n  right=192.0.2.2\n  rightsubnet=203.0.113.0/24,10.0.0.0/8\n  authby=psk\n  mark_out=6\n  auto=route\nconn any\n  left=%any\n  right=192.0.2.9\n  authby=psk\n  auto=route\n",
        );
        let cfg = conf::load_from(&src, std::path::Path::new("/c"), None).unwrap();
        let local = [ip_of("192.0.2.1")];
        let all = trap_policies(cfg.conn("r").unwrap(), &local, None).unwrap();
        assert_eq!(all.len(), 6, "out, in, fwd for each of 2 selector pairs");
        assert!(
            all.iter()
                .filter(|p| p.dir != Direction::Out)
                .all(|p| p.mark.is_none()
                    && p.templates[0] == Template::tunnel(ip_of("192.0.2.2"), local[0], 0))
        );
        let p: Vec<_> = all
            .into_iter()
            .filter(|p| p.dir == Direction::Out)
            .collect();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.mark == Some(Mark::exact(6))));
        assert_eq!(
            p[0].templates[0],
            Template::tunnel(local[0], ip_of("192.0.2.2"), 0)
        );
        assert_eq!(p[1].selector.dst.to_string(), "10.0.0.0/8");
        // Swapped: the same conn seen from the right host.
        let p = trap_policies(cfg.conn("r").unwrap(), &[ip_of("192.0.2.2")], None).unwrap();
        assert_eq!(p[0].selector.src.to_string(), "203.0.113.0/24");
        assert_eq!(p[0].dir, Direction::Out);
        assert!(trap_policies(cfg.conn("any").unwrap(), &local, None).is_err());
    }

    #[test]
    fn shunt_policies_pass_and_drop() {
        let src = conf::MemSource::default().with(
            "/c",
            "conn local-net\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.1.0.0/16\n  authby=never\n  type=passthrough\n  auto=route\nconn block\n  left=192.0.2.1\n  leftsubnet=198.51.100.0/24\n  rightsubnet=203.0.113.3/32\n  type=drop\n  auto=route\nconn tun\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=route\n",
        );
        let cfg = conf::load_from(&src, std::path::Path::new("/c"), None).unwrap();
        let local = [ip_of("192.0.2.1")];
        let p = shunt_policies(cfg.conn("local-net").unwrap(), &local).unwrap();
        assert_eq!(p.len(), 3);
        assert!(
            p.iter()
                .all(|p| p.action == Action::Allow && p.templates.is_empty())
        );
        let dirs: Vec<_> = p.iter().map(|p| p.dir).collect();
        assert_eq!(dirs, [Direction::Out, Direction::In, Direction::Fwd]);
        let trap = trap_policies(cfg.conn("tun").unwrap(), &local, None).unwrap();
        // a shunt wins over any IPsec policy, even a /32 one
        assert!(p[0].priority < trap[0].priority);
        let d = shunt_policies(cfg.conn("block").unwrap(), &local).unwrap();
        assert!(d.iter().all(|p| p.action == Action::Block));
        assert_eq!(d[0].selector.dst.to_string(), "203.0.113.3/32");
        assert!(shunt_policies(cfg.conn("tun").unwrap(), &local).is_err());
    }

    fn ip_of(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_become_prefixes() {
        let p = |a: &str, b: &str| {
            range_prefixes(a.parse().unwrap(), b.parse().unwrap())
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(p("10.0.0.0", "10.0.255.255"), ["10.0.0.0/16"]);
        assert_eq!(
            p("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(p("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(p("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ["::/0"]);
        assert_eq!(
            p("255.255.255.255", "255.255.255.255"),
            ["255.255.255.255/32"]
        );
        assert_eq!(p("2001:db8::", "2001:db8::1"), ["2001:db8::/127"]);
        assert!(p("10.0.0.2", "10.0.0.1").is_empty());
        assert!(p("10.0.0.2", "::1").is_empty());
    }
}
