//! UDP sockets for IKE (500) and NAT-T (4500), one per local address so every
//! datagram's local address is known without IP_PKTINFO; the non-ESP marker;
//! local addresses read from the kernel.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer asked for per IKE socket: the kernel accounts ~1-2 KB per
/// small datagram, so some 3,000-6,000 IKE_SA_INITs fit while the loop is
/// busy (used only while they wait).
const RECEIVE_BUFFER: usize = 4 << 20;

/// A datagram received on one of our sockets.
#[derive(Debug)]
pub struct Datagram {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub data: Vec<u8>,
}

/// What to do with a datagram that arrived on the NAT-T port.
#[derive(Debug, PartialEq, Eq)]
pub enum NattInput<'a> {
    /// IKE, marker stripped.
    Ike(&'a [u8]),
    /// A NAT keepalive (one 0xff octet).
    Keepalive,
    /// ESP the kernel did not decapsulate (no SA), or a runt: dropped.
    Drop,
}

/// Classifies a datagram received on port 4500 (RFC 3948 §2.2).
pub fn natt_input(data: &[u8]) -> NattInput<'_> {
    match data {
        [0xff] => NattInput::Keepalive,
        [0, 0, 0, 0, rest @ ..] if !rest.is_empty() => NattInput::Ike(rest),
        _ => NattInput::Drop,
    }
}

/// Prepends the non-ESP marker.
pub fn natt_output(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 4);
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(data);
    v
}

/// The host's addresses (all interfaces, IPv6 link-local excluded: they need a
/// scope to be bound and are not used for IKE here).
pub fn local_addrs() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(list) => list.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            warn!(target: "knl", "unable to read local addresses: {e}");
            Vec::new()
        }
    };
    v.retain(|a| match a {
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) != 0xfe80,
        IpAddr::V4(_) => true,
    });
    v.sort();
    v.dedup();
    v
}

struct Bound {
    /// For sending: a plain non-blocking handle on the same socket (tokio's
    /// `try_send_to` refuses until the reactor has seen the socket writable).
    tx: std::net::UdpSocket,
    reader: JoinHandle<()>,
}

/// The set of bound sockets, kept in step with the local addresses.
pub struct Sockets {
    ports: (u16, u16),
    socks: BTreeMap<SocketAddr, Bound>,
    /// Addresses whose bind failed last time (warned once, retried on every sync).
    failed: std::collections::BTreeSet<SocketAddr>,
    tx: mpsc::Sender<Datagram>,
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sockets")
            .field("ports", &self.ports)
            .field("bound", &self.socks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Sockets {
    /// `ports` = (IKE, NAT-T); received datagrams go to `tx`.
    pub fn new(ports: (u16, u16), tx: mpsc::Sender<Datagram>) -> Self {
        Sockets {
            ports,
            socks: BTreeMap::new(),
            failed: Default::default(),
            tx,
        }
    }

    /// The NAT-T port.
    pub fn natt_port(&self) -> u16 {
        self.ports.1
    }

    /// Addresses with at least one bound socket.
    pub fn bound_addrs(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.socks.keys().map(|s| s.ip()).collect();
        v.dedup();
        v
    }

    /// Binds sockets for new addresses (and retries failed ones) and closes
    /// those of vanished ones.
    pub fn sync(&mut self, addrs: &[IpAddr]) {
        self.failed.retain(|s| addrs.contains(&s.ip()));
        let want: Vec<SocketAddr> = addrs
            .iter()
            .flat_map(|a| {
                [
                    SocketAddr::new(*a, self.ports.0),
                    SocketAddr::new(*a, self.ports.1),
                ]
            })
            .collect();
        let gone: Vec<SocketAddr> = self
            .socks
            .keys()
            .filter(|s| !want.contains(s))
            .copied()
            .collect();
        for s in gone {
            if let Some(b) = self.socks.remove(&s) {
                b.reader.abort();
                info!(target: "net", "closed socket {s}");
            }
        }
        for s in want {
            if self.socks.contains_key(&s) {
                continue;
            }
            match self.bind(s) {
                Ok(b) => {
                    debug!(target: "net", "listening on {s}");
                    self.failed.remove(&s);
                    self.socks.insert(s, b);
                }
                Err(e) if self.failed.insert(s) => warn!(target: "net", "unable to bind {s}: {e}"),
                Err(e) => debug!(target: "net", "unable to bind {s}: {e}"),
            }
        }
    }

    fn bind(&self, addr: SocketAddr) -> std::io::Result<Bound> {
        let std_sock = std::net::UdpSocket::bind(addr)?;
        std_sock.set_nonblocking(true)?;
        // IKE never goes through our own CHILD_SAs (their selectors may cover
        // the IKE endpoints): a per-socket bypass policy, both directions.
        if let Err(e) = xfrm::socket_policy::bypass(&std_sock, addr.is_ipv6()) {
            warn!(target: "net", "unable to exempt the IKE socket {addr} from IPsec policies: {e} (a CHILD_SA covering the IKE endpoints would capture IKE)");
        }
        // A burst waits in the kernel while the loop computes (mod.rs).
        match xfrm::udp_buffer::raise_receive_buffer(&std_sock, RECEIVE_BUFFER) {
            Ok(n) => debug!(target: "net", "receive buffer of {addr}: {n} bytes"),
            Err(e) => {
                warn!(target: "net", "unable to raise the receive buffer of {addr}: {e} (a burst of peers may overflow it)")
            }
        }
        if addr.port() == self.ports.1 {
            // Let the kernel decapsulate ESP-in-UDP arriving on this port.
            xfrm::udp_encap::enable_espinudp(&std_sock)?;
        }
        let send = std_sock.try_clone()?;
        let s = UdpSocket::from_std(std_sock)?;
        let tx = self.tx.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            // Ends when the daemon drops the receiver or aborts this task.
            loop {
                match s.recv_from(&mut buf).await {
                    Ok((n, remote)) => {
                        let d = Datagram {
                            local: addr,
                            remote,
                            data: buf[..n.min(buf.len())].to_vec(),
                        };
                        if tx.send(d).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        debug!(target: "net", "receive error on {addr}: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        });
        Ok(Bound { tx: send, reader })
    }

    /// Sends a datagram from `local` (marker added on the NAT-T port).
    pub fn send(&self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let sock = self.socks.get(&local).or_else(|| {
            // An unspecified local address: the first socket of that port and family.
            local.ip().is_unspecified().then(|| {
                self.socks
                    .iter()
                    .find(|(a, _)| a.port() == local.port() && a.is_ipv4() == remote.is_ipv4())
                    .map(|(_, b)| b)
            })?
        });
        let Some(b) = sock else {
            warn!(target: "net", "no socket for {local}, dropping a datagram to {remote}");
            return;
        };
        let buf;
        // NAT-T keepalives (RFC 3948: one 0xFF octet) go without the marker.
        let out = if local.port() == self.ports.1 && data != [0xff] {
            buf = natt_output(data);
            &buf[..]
        } else {
            data
        };
        match b.tx.send_to(out, remote) {
            Ok(_) => {
                debug!(target: "net", "sending packet: from {local} to {remote} ({} bytes)", out.len())
            }
            Err(e) => warn!(target: "net", "error sending to {remote}: {e}"),
        }
    }

    /// Closes every socket.
    pub fn close(&mut self) {
        for (_, b) in std::mem::take(&mut self.socks) {
            b.reader.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_esp_marker() {
        assert_eq!(natt_input(&[0, 0, 0, 0, 1, 2]), NattInput::Ike(&[1, 2]));
        assert_eq!(natt_input(&[0xff]), NattInput::Keepalive);
        // ESP (non-zero SPI) that the kernel did not take, and runts.
        assert_eq!(natt_input(&[0xc0, 0, 0, 1, 0, 0, 0, 1]), NattInput::Drop);
        assert_eq!(natt_input(&[0, 0, 0, 0]), NattInput::Drop);
        assert_eq!(natt_input(&[0, 0]), NattInput::Drop);
        assert_eq!(natt_input(&[]), NattInput::Drop);
        assert_eq!(natt_output(&[9]), vec![0, 0, 0, 0, 9]);
    }

    #[test]
    fn local_addrs_include_loopback() {
        assert!(local_addrs().contains(&"127.0.0.1".parse().unwrap()));
    }

    #[tokio::test]
    async fn sockets_per_address_and_marker() {
        let (tx, mut rx) = mpsc::channel(8);
        // Ephemeral-looking high ports, loopback only.
        let base = 20_000 + (std::process::id() % 20_000) as u16;
        let mut s = Sockets::new((base, base + 1), tx);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        s.sync(&[lo]);
        assert_eq!(s.bound_addrs(), vec![lo]);
        assert_eq!(s.socks.len(), 2, "{s:?}");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let natt = SocketAddr::new(lo, base + 1);
        s.send(natt, peer.local_addr().unwrap(), b"ike");
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\0\0\0\0ike");
        assert_eq!(from, natt);
        peer.send_to(b"\0\0\0\0hi", natt).unwrap();
        let d = rx.recv().await.unwrap();
        assert_eq!(
            (d.local, d.remote, &d.data[..]),
            (natt, peer.local_addr().unwrap(), &b"\0\0\0\0hi"[..])
        );
        s.sync(&[]);
        assert!(s.bound_addrs().is_empty());
    }
}

/// The kernel's route lookup, the way the kernel itself answers it: a UDP
/// socket "connected" to the peer (no packet is sent) is given the source
/// address of the route to it (the RTM_GETROUTE answer), in the daemon's
/// network namespace.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelRoutes;

impl crate::sa::RouteLookup for KernelRoutes {
    fn source_for(&self, remote: std::net::IpAddr) -> Option<std::net::IpAddr> {
        let any: std::net::SocketAddr = match remote {
            std::net::IpAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            std::net::IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let s = std::net::UdpSocket::bind(any).ok()?;
        s.connect((remote, 500)).ok()?;
        let ip = s.local_addr().ok()?.ip();
        (!ip.is_unspecified()).then_some(ip)
    }
}
