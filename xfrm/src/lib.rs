//! Typed Linux XFRM netlink API: SAs, policies, SPI allocation, kernel events.
//!
//! Built on `netlink-packet-xfrm` (message structs) and `netlink-sys` (the socket).
//! It knows no IKE types, owns nothing and decides nothing: the daemon says what to
//! install. All sockets are opened in the caller's network namespace.
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
//! x.add_sa(&sa)?;
//! let sel = Selector::new("198.51.100.0/24".parse()?, "203.0.113.0/24".parse()?);
//! x.add_policy(&Policy::new(sel, Direction::Out, vec![Template::tunnel(l, r, 1)]))?;
//! let info = x.get_sa(&sa.id())?;
//! println!("{} packets", info.current.packets);
//! # Ok(()) }
//! ```
//!
//! Key material travels in [`Key`] (zeroized on drop, `Debug` redacted); encoded
//! requests and received replies are held in zeroizing buffers, and keys in kernel
//! replies are wiped on receipt. Nothing here logs keys.

mod client;
mod error;
mod events;
mod types;
pub mod udp_encap;
mod wire;

pub use client::{Batch, Xfrm};
pub use error::{Error, Result};
pub use events::EventStream;
pub use types::*;

#[cfg(test)]
mod tests;
