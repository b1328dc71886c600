//! Address and route changes of this host, as the kernel announces them
//! (rtnetlink multicast groups), for a daemon that must notice at once that
//! its address went (MOBIKE, RFC 4555) instead of on its next rescan.

use std::io;

use netlink_sys::{Socket, protocols::NETLINK_ROUTE};
use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};

// rtnetlink multicast groups (linux/rtnetlink.h, enum rtnetlink_groups)
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RX_BUF: usize = 16 * 1024;

/// What the kernel announced since the last [`AddrWatch::changed`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// An address was added or removed (RTM_NEWADDR / RTM_DELADDR).
    pub addresses: bool,
    /// A route was added or removed (RTM_NEWROUTE / RTM_DELROUTE).
    pub routes: bool,
    /// The kernel dropped announcements (socket buffer full): anything may
    /// have changed.
    pub lost: bool,
}

/// A subscription to the IPv4/IPv6 address and route groups of the
/// caller's network namespace.
pub struct AddrWatch {
    fd: AsyncFd<Socket>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for AddrWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddrWatch").finish_non_exhaustive()
    }
}

impl AddrWatch {
    /// Subscribes. Must be called inside a tokio runtime with IO enabled (an
    /// [`Error::Io`] otherwise, not a panic).
    pub fn open() -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Io(io::Error::other(
                "AddrWatch::open needs a tokio runtime",
            )));
        }
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        for g in [
            RTNLGRP_IPV4_IFADDR,
            RTNLGRP_IPV6_IFADDR,
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV6_ROUTE,
        ] {
            sock.add_membership(g)?;
        }
        sock.set_non_blocking(true)?;
        // SAFETY: `Socket` owns its file descriptor: it is open from `Socket::new` until
        // the `Socket` is dropped, which happens only when the `AsyncFd` that owns it is
        // dropped, and `as_raw_fd()` always returns that same descriptor.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| Error::Io(e.into()))?;
        Ok(AddrWatch {
            fd,
            buf: vec![0; RX_BUF],
        })
    }

    /// Waits for the next announcement, then takes every one already
    /// queued (a move is a burst: address added, routes, address removed),
    /// and says what kinds they were.
    pub async fn changed(&mut self) -> Result<Changes> {
        let mut changes = Changes::default();
        loop {
            let mut guard = self.fd.readable().await.map_err(Error::Io)?;
            // bounded: the socket buffer holds a finite number of datagrams
            for _ in 0..4096 {
                let buf = &mut self.buf;
                let res = guard.try_io(|s| {
                    let mut slice: &mut [u8] = &mut buf[..];
                    s.get_ref().recv(&mut slice, 0)
                });
                match res {
                    Err(_would_block) => break,
                    Ok(Ok(n)) => classify(&self.buf[..n.min(RX_BUF)], &mut changes),
                    Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => changes.lost = true,
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(Err(e)) => return Err(Error::Io(e)),
                }
            }
            if changes != Changes::default() {
                return Ok(changes);
            }
        }
    }
}

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;

/// The kinds of the messages in one datagram (their netlink headers only).
fn classify(mut data: &[u8], out: &mut Changes) {
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let ty = u16::from_ne_bytes([data[4], data[5]]);
        match ty {
            RTM_NEWADDR | RTM_DELADDR => out.addresses = true,
            RTM_NEWROUTE | RTM_DELROUTE => out.routes = true,
            _ => {}
        }
        if len < 16 {
            return;
        }
        let adv = (len + 3) & !3;
        data = data.get(adv..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, ty: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend(len.to_ne_bytes());
        h.extend(ty.to_ne_bytes());
        h.extend([0u8; 10]);
        h
    }

    #[test]
    fn messages_are_told_apart_and_garbage_ends_the_walk() {
        let mut c = Changes::default();
        let mut d = header(20, RTM_NEWADDR);
        d.extend([0u8; 4]);
        d.extend(header(16, RTM_DELROUTE));
        classify(&d, &mut c);
        assert_eq!(
            c,
            Changes {
                addresses: true,
                routes: true,
                lost: false
            }
        );
        let mut c = Changes::default();
        classify(&header(3, RTM_NEWADDR), &mut c);
        assert!(c.addresses, "the first header is read");
        let mut c = Changes::default();
        classify(&[1, 2, 3], &mut c);
        assert_eq!(c, Changes::default());
    }
}
