//! What a tunnel needs beside its SAs, as charon does it (strongswan.conf
//! `install_virtual_ip`, `install_routes`, `routing_table`,
//! `routing_table_prio`):
//!
//! - the virtual IP a peer assigned us goes on the interface of our IKE
//!   address while the IKE_SA (or its rekeyed successor) lives;
//! - a CHILD_SA in tunnel mode whose local selector holds one of our
//!   addresses (the virtual IP, or the gateway's own address in its subnet)
//!   gets a route to each remote selector in table 220 (`via` the next hop to
//!   the peer, `src` that address), and one `ip rule` (priority 220) sends
//!   lookups there: traffic to the remote subnet then leaves with the address
//!   the policy protects.
//!
//! Addresses and routes are counted by who uses them, so a rekey (the new
//! CHILD_SA / IKE_SA arrives before the old one goes) never removes them, and
//! what was there before iked is never removed.

use std::collections::HashMap;
use std::net::IpAddr;

use tracing::{debug, info, warn};
use xfrm::route::{Route, Rtnl};

use crate::sa::{ChildSaInstall, Mode};

/// The settings (from strongswan.conf's `charon` section).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub install_virtual_ip: bool,
    pub install_routes: bool,
    pub table: u32,
    pub priority: u32,
}

impl Settings {
    pub fn of(c: &conf::swconf::CharonSettings) -> Settings {
        Settings {
            install_virtual_ip: c.install_virtual_ip,
            install_routes: c.install_routes && c.routing_table != 0,
            table: c.routing_table,
            priority: c.routing_table_prio,
        }
    }
}

/// One thing iked put in the kernel, and who needs it.
#[derive(Debug)]
struct Held<T> {
    users: Vec<u32>,
    /// iked added it (else it was there already, and stays).
    ours: bool,
    what: T,
}

#[derive(Debug, Default)]
pub struct Routing {
    rtnl: Option<Rtnl>,
    /// Virtual IP -> (interface, prefix), by IKE_SA id.
    vips: HashMap<IpAddr, Held<(u32, u8)>>,
    /// Routes, by CHILD_SA id.
    routes: Vec<Held<Route>>,
    /// The `ip rule` per family (v4, v6), once added.
    rules: [bool; 2],
}

fn host_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

impl Routing {
    fn rtnl(&mut self) -> Option<&mut Rtnl> {
        if self.rtnl.is_none() {
            match Rtnl::open() {
                Ok(r) => self.rtnl = Some(r),
                Err(e) => {
                    warn!(target: "knl", "unable to open a NETLINK_ROUTE socket: {e}");
                    return None;
                }
            }
        }
        self.rtnl.as_mut()
    }

    /// An IKE_SA came up (or is a rekey's successor) with these virtual IPs,
    /// reached over `local` (our IKE address).
    pub fn ike_up(&mut self, s: Settings, ike_id: u32, local: IpAddr, vips: &[IpAddr]) {
        if !s.install_virtual_ip {
            return;
        }
        for &vip in vips {
            if let Some(h) = self.vips.get_mut(&vip) {
                if !h.users.contains(&ike_id) {
                    h.users.push(ike_id);
                }
                continue;
            }
            let Some(rt) = self.rtnl() else { return };
            let index = match rt.interface_of(local) {
                Ok(Some(i)) => i,
                Ok(None) => {
                    warn!(target: "knl", "virtual IP {vip} not installed: no interface holds {local}");
                    continue;
                }
                Err(e) => {
                    warn!(target: "knl", "virtual IP {vip} not installed: {e}");
                    continue;
                }
            };
            let prefix = host_prefix(vip);
            match rt.add_address(index, vip, prefix) {
                Ok(ours) => {
                    info!(target: "knl", "virtual IP {vip} installed on the interface of {local} (#{index}){}", if ours { "" } else { " (it was there already)" });
                    self.vips.insert(
                        vip,
                        Held {
                            users: vec![ike_id],
                            ours,
                            what: (index, prefix),
                        },
                    );
                }
                Err(e) => warn!(target: "knl", "installing virtual IP {vip} failed: {e}"),
            }
        }
    }

    /// An IKE_SA is gone: its virtual IPs go unless a successor holds them.
    pub fn ike_down(&mut self, ike_id: u32) {
        let mut gone = Vec::new();
        for (vip, h) in &mut self.vips {
            h.users.retain(|u| *u != ike_id);
            if h.users.is_empty() {
                gone.push(*vip);
            }
        }
        for vip in gone {
            let Some(h) = self.vips.remove(&vip) else {
                continue;
            };
            if !h.ours {
                continue;
            }
            let (index, prefix) = h.what;
            let Some(rt) = self.rtnl() else { return };
            match rt.del_address(index, vip, prefix) {
                Ok(()) => info!(target: "knl", "virtual IP {vip} removed"),
                Err(e) if e.is_not_found() => {
                    debug!(target: "knl", "virtual IP {vip} was gone already")
                }
                Err(e) => warn!(target: "knl", "removing virtual IP {vip} failed: {e}"),
            }
        }
    }

    /// The routes a CHILD_SA calls for (pure but for the kernel's answers:
    /// our addresses, the route to the peer).
    fn wanted(&mut self, s: Settings, c: &ChildSaInstall) -> Vec<Route> {
        // route-based tunnels (VTI marks, XFRM interfaces) are routed by
        // their operator, through the device
        let routed = c.mark_out.is_some() || c.if_id_out.is_some();
        if !s.install_routes || c.mode != Mode::Tunnel || !c.install_policy || routed {
            return Vec::new();
        }
        let ours: Vec<IpAddr> = if_addrs::get_if_addrs()
            .map(|l| l.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default();
        let Some(rt) = self.rtnl() else {
            return Vec::new();
        };
        let to = match rt.route_to(c.remote) {
            Ok(t) => t,
            Err(e) => {
                warn!(target: "knl", "no route installed for CHILD_SA {}{{{}}}: the route to {} is unknown: {e}", c.conn, c.child_id, c.remote);
                return Vec::new();
            }
        };
        let Some(oif) = to.oif else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in &c.ts_remote {
            let Some((dst, prefix)) = r.as_prefix() else {
                continue;
            };
            // the address the policy protects on our side: the virtual IP,
            // else one of ours inside the local selector
            let src = c
                .my_sourceips
                .iter()
                .chain(ours.iter().filter(|a| !a.is_loopback()))
                .find(|a| {
                    a.is_ipv4() == dst.is_ipv4()
                        && c.ts_local.iter().any(|l| l.start <= **a && **a <= l.end)
                })
                .copied();
            let Some(src) = src else { continue };
            let route = Route {
                table: s.table,
                dst,
                prefix,
                // an on-link peer needs no gateway; else the peer's next hop
                gateway: to.gateway.filter(|g| g.is_ipv4() == dst.is_ipv4()),
                oif,
                src: Some(src),
            };
            if !out.contains(&route) {
                out.push(route);
            }
        }
        out
    }

    /// A CHILD_SA is in the kernel: its routes (and the rule) go in.
    pub fn child_up(&mut self, s: Settings, c: &ChildSaInstall) {
        for route in self.wanted(s, c) {
            if let Some(h) = self.routes.iter_mut().find(|h| h.what == route) {
                h.users.push(c.child_id);
                continue;
            }
            let fam = usize::from(route.dst.is_ipv6());
            let need_rule = !self.rules[fam];
            let Some(rt) = self.rtnl() else { return };
            if need_rule {
                match rt.add_rule(fam == 1, s.priority, s.table) {
                    Ok(_) => self.rules[fam] = true,
                    Err(e) => {
                        warn!(target: "knl", "adding the rule to routing table {} failed: {e}", s.table)
                    }
                }
            }
            let Some(rt) = self.rtnl() else { return };
            match rt.add_route(&route) {
                Ok(ours) => {
                    debug!(target: "knl", "installing route {route} for CHILD_SA {}{{{}}}", c.conn, c.child_id);
                    self.routes.push(Held {
                        users: vec![c.child_id],
                        ours,
                        what: route,
                    });
                }
                Err(e) => warn!(target: "knl", "installing route {route} failed: {e}"),
            }
        }
    }

    /// A CHILD_SA left the kernel: routes nobody else needs go.
    pub fn child_down(&mut self, child_id: u32) {
        let mut gone = Vec::new();
        self.routes.retain_mut(|h| {
            h.users.retain(|u| *u != child_id);
            if h.users.is_empty() {
                if h.ours {
                    gone.push(h.what.clone());
                }
                false
            } else {
                true
            }
        });
        for route in gone {
            let Some(rt) = self.rtnl() else { return };
            match rt.del_route(&route) {
                Ok(()) => debug!(target: "knl", "removed route {route}"),
                Err(e) if e.is_not_found() => {}
                Err(e) => warn!(target: "knl", "removing route {route} failed: {e}"),
            }
        }
    }

    /// Before iked exits: its rules go (routes and addresses left with
    /// their SAs).
    pub fn shutdown(&mut self, s: Settings) {
        for fam in [0usize, 1] {
            if !self.rules[fam] {
                continue;
            }
            let Some(rt) = self.rtnl() else { return };
            if let Err(e) = rt.del_rule(fam == 1, s.priority, s.table) {
                debug!(target: "knl", "removing the rule to table {}: {e}", s.table);
            }
            self.rules[fam] = false;
        }
    }
}
