//! NETLINK_ROUTE, the kernel's other half of a tunnel: the virtual IP a peer
//! assigned us on an interface, and source routes in a routing table of
//! their own (strongSwan's table 220, reached by an `ip rule` of priority
//! 220) so that traffic to the remote subnet leaves with the address the
//! policy protects. Like [`crate::Xfrm`], it decides nothing: the daemon
//! says what to add and remove.
//!
//! rtnetlink requests are handled inside `sendmsg()`, so, as for XFRM, the
//! socket is non-blocking and a missing reply is reported, never waited for.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

const RX_BUF: usize = 64 * 1024;
/// Upper bound on receive calls for one dump.
const MAX_RECVS: usize = 100_000;

/// A route in a table of its own: `dst/prefix [via gateway] dev oif [src src]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub table: u32,
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    pub src: Option<IpAddr>,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.dst, self.prefix)?;
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        write!(f, " dev #{}", self.oif)?;
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        write!(f, " table {}", self.table)
    }
}

/// What the kernel would use to reach an address (`ip route get`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTo {
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub src: Option<IpAddr>,
}

/// A NETLINK_ROUTE socket in the caller's network namespace.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
}

impl std::fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rtnl(seq {})", self.seq)
    }
}

fn family(a: IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn route_addr(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v) => RouteAddress::Inet(v),
        IpAddr::V6(v) => RouteAddress::Inet6(v),
    }
}

fn from_route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

fn map_errno(what: String, errno: i32) -> Error {
    match errno {
        libc::EEXIST => Error::Exists { what },
        libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL => Error::NotFound { what },
        libc::EPERM | libc::EACCES => Error::PermissionDenied { what },
        _ => Error::Kernel {
            what,
            errno,
            message: None,
        },
    }
}

impl Rtnl {
    /// Opens the socket.
    pub fn open() -> Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        let _ = sock.set_rx_buf_sz(1 << 20);
        sock.set_non_blocking(true)?;
        Ok(Rtnl {
            sock,
            seq: 1,
            rx: vec![0; RX_BUF],
        })
    }

    /// Sends one request and collects its answers: the messages of a dump
    /// (until DONE), or none for an acknowledged change.
    fn ask(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        for _ in 0..MAX_RECVS {
            let n = {
                let mut slice: &mut [u8] = &mut self.rx[..];
                match self.sock.recv(&mut slice, 0) {
                    Ok(n) => n.min(RX_BUF),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(Error::Io(e)),
                }
            };
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.rx[off..n])
                    .map_err(|e| Error::Malformed(format!("rtnetlink reply to {what}: {e}")))?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(Error::Malformed(format!("empty rtnetlink reply to {what}")));
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(c) => Err(map_errno(what.to_owned(), -c.get())),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(r) => {
                        out.push(r);
                        if !dump {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
        Err(Error::NoReply { what: what.into() })
    }

    /// The interface that holds `addr` (its index).
    pub fn interface_of(&mut self, addr: IpAddr) -> Result<Option<u32>> {
        let mut m = AddressMessage::default();
        m.header.family = family(addr);
        let all = self.ask(
            RouteNetlinkMessage::GetAddress(m),
            NLM_F_DUMP,
            "the address dump",
        )?;
        for r in all {
            let RouteNetlinkMessage::NewAddress(a) = r else {
                continue;
            };
            let holds = a.attributes.iter().any(|x| {
                matches!(x, AddressAttribute::Local(l) | AddressAttribute::Address(l) if *l == addr)
            });
            if holds {
                return Ok(Some(a.header.index));
            }
        }
        Ok(None)
    }

    fn address(index: u32, addr: IpAddr, prefix: u8) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = family(addr);
        m.header.prefix_len = prefix;
        m.header.index = index;
        if addr.is_ipv4() {
            m.attributes.push(AddressAttribute::Local(addr));
        }
        m.attributes.push(AddressAttribute::Address(addr));
        m
    }

    /// Adds `addr/prefix` to interface `index`; `Ok(false)` when it is there already.
    pub fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> Result<bool> {
        let what = format!("address {addr}/{prefix} on interface #{index}");
        match self.ask(
            RouteNetlinkMessage::NewAddress(Self::address(index, addr, prefix)),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &what,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is_exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes `addr/prefix` from interface `index`.
    pub fn del_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let what = format!("address {addr}/{prefix} on interface #{index}");
        self.ask(
            RouteNetlinkMessage::DelAddress(Self::address(index, addr, prefix)),
            NLM_F_ACK,
            &what,
        )
        .map(drop)
    }

    /// The kernel's route to `dst` (`ip route get DST`).
    pub fn route_to(&mut self, dst: IpAddr) -> Result<RouteTo> {
        let mut m = RouteMessage::default();
        m.header.address_family = family(dst);
        m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(route_addr(dst)));
        let r = self.ask(
            RouteNetlinkMessage::GetRoute(m),
            0,
            &format!("the route to {dst}"),
        )?;
        let mut to = RouteTo::default();
        for x in r.iter().filter_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(&r.attributes),
            _ => None,
        }) {
            for a in x {
                match a {
                    RouteAttribute::Gateway(g) => to.gateway = from_route_addr(g),
                    RouteAttribute::Oif(i) => to.oif = Some(*i),
                    RouteAttribute::PrefSource(s) => to.src = from_route_addr(s),
                    _ => {}
                }
            }
        }
        Ok(to)
    }

    fn route_msg(r: &Route) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family(r.dst);
        m.header.destination_prefix_length = r.prefix;
        m.header.table = u8::try_from(r.table).unwrap_or(0);
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = if r.gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Table(r.table));
        m.attributes
            .push(RouteAttribute::Destination(route_addr(r.dst)));
        if let Some(g) = r.gateway {
            m.attributes.push(RouteAttribute::Gateway(route_addr(g)));
        }
        m.attributes.push(RouteAttribute::Oif(r.oif));
        if let Some(s) = r.src {
            m.attributes.push(RouteAttribute::PrefSource(route_addr(s)));
        }
        m
    }

    /// Adds a route; `Ok(false)` when the same one is there already.
    pub fn add_route(&mut self, r: &Route) -> Result<bool> {
        match self.ask(
            RouteNetlinkMessage::NewRoute(Self::route_msg(r)),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("route {r}"),
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is_exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a route.
    pub fn del_route(&mut self, r: &Route) -> Result<()> {
        self.ask(
            RouteNetlinkMessage::DelRoute(Self::route_msg(r)),
            NLM_F_ACK,
            &format!("route {r}"),
        )
        .map(drop)
    }

    fn rule_msg(v6: bool, priority: u32, table: u32) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        m.header.table = u8::try_from(table).unwrap_or(0);
        m.header.action = RuleAction::ToTable;
        m.attributes.push(RuleAttribute::Table(table));
        m.attributes.push(RuleAttribute::Priority(priority));
        m
    }

    /// Adds `ip rule add pref PRIORITY table TABLE`; `Ok(false)` when there already.
    pub fn add_rule(&mut self, v6: bool, priority: u32, table: u32) -> Result<bool> {
        match self.ask(
            RouteNetlinkMessage::NewRule(Self::rule_msg(v6, priority, table)),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("rule pref {priority} table {table}"),
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is_exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes that rule.
    pub fn del_rule(&mut self, v6: bool, priority: u32, table: u32) -> Result<()> {
        self.ask(
            RouteNetlinkMessage::DelRule(Self::rule_msg(v6, priority, table)),
            NLM_F_ACK,
            &format!("rule pref {priority} table {table}"),
        )
        .map(drop)
    }
}
