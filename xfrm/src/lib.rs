//! Typed Linux XFRM netlink API: SAs, policies, SPI allocation, kernel events.
//!
//! Built on `netlink-packet-xfrm` (message structs) and `netlink-sys` (the socket).
//! It knows no IKE types, owns nothing and decides nothing: the daemon says what to
//! install. All sockets are opened in the caller's network namespace.
//!
//! - [`Xfrm`]: requests. `add_sa`/`update_sa`/`delete_sa`/`get_sa`/`read_sa` (keys too)/`list_sas`/
//!   `flush_sas`/`flush_sas_matching`, `alloc_spi`, `add_policy`/`update_policy`/
//!   `delete_policy`/`get_policy`/`list_policies`/`flush_policies`, and
//!   [`Xfrm::execute`] for a pipelined [`Batch`]. The kernel answers XFRM requests
//!   inside `sendmsg()`, so the socket is non-blocking and a call never waits: it is
//!   fine to call from async code (wrap the `Xfrm` in a mutex to share it).
//! - [`EventStream`]: ACQUIRE, EXPIRE (soft/hard), POLEXPIRE and MAPPING as a tokio
//!   stream (`next().await`, or `futures_core::Stream`).
//! - [`udp_encap::enable_espinudp`]: the socket option a NAT-T (port 4500) socket needs
//!   for the kernel to decapsulate ESP-in-UDP.
//! - [`udp_buffer::raise_receive_buffer`]: room for a burst of datagrams on the IKE
//!   sockets (SO_RCVBUFFORCE).
//! - [`Error`]: `NoEsp` ("kernel lacks ESP support (CONFIG_INET_ESP ..."),
//!   `UnknownAlgorithm` (names it), `Exists`, `NotFound`, `PermissionDenied`,
//!   `Kernel { errno, message }` with the kernel's extended-ack text.
//!
//! Installing a CHILD_SA, responder or initiator:
//! 1. inbound SPI: [`Xfrm::alloc_spi`] (a larval SA the kernel drops after 30 s);
//! 2. inbound SA with that SPI: [`Xfrm::update_sa`] (it completes the larval SA);
//! 3. outbound SA (the peer's SPI): [`Xfrm::add_sa`];
//! 4. policies out, in and fwd with a template each ([`Template::tunnel`]), the same
//!    mark / if_id as the SAs for route-based tunnels; [`Xfrm::update_policy`] makes
//!    re-installing idempotent;
//! 5. rekey on [`Event::Expire`] with `hard == false`; on `Event::Acquire` (a trap
//!    policy without SA, `auto=route`) negotiate for `acquire.policy_selector`.
//!
//! ```no_run
//! use std::net::IpAddr;
//! use xfrm::*;
//! # fn main() -> Result<(), Error> {
//! let (l, r): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
//! let mut x = Xfrm::open()?;
//! let crypto = Crypto::Aead { alg: AeadAlg::AesGcm, key: Key::new(vec![7; 20]), icv_bits: 128 };
//! let mut sa = Sa::new(l, r, 0x1000, Mode::Tunnel, 1, crypto);
//! sa.replay_window = 32;
//! sa.mark = Some(Mark::exact(6)); // VTI key 6; or sa.if_id = Some(42) for an XFRM interface
//! x.add_sa(&sa)?;
//! let sel = Selector::new("198.51.100.0/24".parse()?, "203.0.113.0/24".parse()?);
//! let mut p = Policy::new(sel, Direction::Out, vec![Template::tunnel(l, r, 1)]);
//! p.mark = sa.mark;
//! x.add_policy(&p)?;
//! let info = x.get_sa(&sa.id())?;
//! println!("{} packets, {} bytes", info.current.packets, info.current.bytes);
//! # Ok(()) }
//! ```
//!
//! Key material travels in [`Key`] (zeroized on drop, `Debug` redacted); encoded
//! requests and received replies are held in zeroizing buffers, and keys in kernel
//! replies are wiped on receipt. Nothing here logs keys.
//!
//! Proven against a real kernel by `interop-tests/lab/run-guest.sh` (see its README).

mod addr_watch;
mod client;
mod error;
mod events;
pub mod route;
pub mod socket_policy;
mod sockopt;
mod types;
pub mod udp_buffer;
pub mod udp_encap;
mod wire;

pub use addr_watch::{AddrWatch, Changes};
pub use client::{Batch, Xfrm};
pub use error::{Error, Result};
pub use events::EventStream;
pub use types::*;

#[cfg(test)]
mod tests;
