//! Real IKE daemons as lab peers.
//!
//! Every peer is a process started in its side's namespace, with its own
//! folder (configuration, log), its own control socket and its own PID; it is
//! ended by that PID when stopped or dropped. A scenario describes the tunnel
//! once ([`Tunnel`]); each peer kind renders it into its own configuration
//! language.

mod iked;
mod libreswan;
mod starter;
mod strongswan;

pub use iked::Iked;
pub use libreswan::Libreswan;
pub use starter::{Starter, StarterOpts};
pub use strongswan::StrongSwan;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Result;
use crate::topology::{Family, Plumbing, Side, Topology};

/// The tunnel a scenario wants, independent of who implements it.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// Outer and inner family.
    pub family: Family,
    /// IKE proposal, strongSwan syntax (e.g. `aes128gcm16-prfsha256-x25519`).
    pub ike: String,
    /// ESP proposal, strongSwan syntax (e.g. `aes128gcm16-x25519`).
    pub esp: String,
    /// The left side's PSK.
    pub psk_left: String,
    /// The right side's PSK (differs from the left's only in negative tests).
    pub psk_right: String,
    /// Policy-based, VTI (mark) or XFRM interface (if_id).
    pub plumbing: Plumbing,
    /// strongSwan's userspace ESP (kernel-libipsec + TUN): runs on a host
    /// kernel without ESP; the kernel then holds no SAs.
    pub libipsec: bool,
}

/// The PSK all positive scenarios use (test data, nothing secret).
pub const LAB_PSK: &str = "lab-psk-0123456789abcdef";
/// IKE_SA name in every rendered configuration.
pub const CONN: &str = "gw";
/// Bound on a daemon's start (generous: a cold start in the QEMU guest,
/// under software emulation and with binaries read over 9p, takes seconds).
pub const START_BOUND: std::time::Duration = std::time::Duration::from_secs(60);
/// CHILD_SA name in swanctl configurations.
pub const CHILD: &str = "net";

impl Tunnel {
    /// Policy-based IPv4, AES-GCM-128 for IKE and ESP.
    pub fn gcm() -> Tunnel {
        Tunnel {
            family: Family::V4,
            ike: "aes128gcm16-prfsha256-x25519".into(),
            esp: "aes128gcm16-x25519".into(),
            psk_left: LAB_PSK.into(),
            psk_right: LAB_PSK.into(),
            plumbing: Plumbing::None,
            libipsec: false,
        }
    }

    /// The PSK of `side`.
    pub fn psk(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.psk_left,
            Side::Right => &self.psk_right,
        }
    }

    /// A strongSwan `ipsec.conf` for this tunnel. The same file serves both
    /// sides (left = 192.0.2.1): strongSwan, like iked, finds which end is
    /// local.
    pub fn ipsec_conf(&self, topo: &Topology) -> String {
        let (l, r, f) = (&topo.left, &topo.right, self.family);
        let mut extra = String::new();
        match self.plumbing {
            Plumbing::None => {}
            Plumbing::Vti(mark) => extra.push_str(&format!("  mark={mark}\n")),
            Plumbing::Xfrmi(id) => extra.push_str(&format!("  if_id_in={id}\n  if_id_out={id}\n")),
        }
        format!(
            "# ipsec.conf written by the iked interop lab (strongSwan syntax)\n\
             config setup\n  charondebug=\"ike 1, knl 1, cfg 0\"\n\n\
             conn {CONN}\n  keyexchange=ikev2\n  authby=psk\n\
             \x20 left={}\n  leftid=@{}\n  leftsubnet={}\n\
             \x20 right={}\n  rightid=@{}\n  rightsubnet={}\n\
             \x20 ike={}!\n  esp={}!\n  rekey=no\n{extra}  auto=add\n",
            l.outer(f),
            l.id,
            l.net(f),
            r.outer(f),
            r.id,
            r.net(f),
            self.ike,
            self.esp,
        )
    }

    /// The matching `ipsec.secrets` for `side`.
    pub fn ipsec_secrets(&self, side: Side) -> String {
        format!(
            "# ipsec.secrets written by the iked interop lab\n\
             @left.example.org @right.example.org : PSK \"{}\"\n",
            self.psk(side)
        )
    }
}

/// What every peer offers a scenario.
pub trait Peer: std::fmt::Debug + Send {
    /// A label for reports, e.g. `strongSwan 5.9.8 (swanctl)`.
    fn label(&self) -> String;
    /// Which side it runs on.
    fn side(&self) -> Side;
    /// Its PID (the process the lab ends).
    fn pid(&self) -> u32;
    /// Its folder: configuration and logs.
    fn dir(&self) -> &Path;
    /// Initiates the tunnel and waits (bounded) for the CHILD_SA.
    fn initiate(&mut self, timeout: Duration) -> Result<String>;
    /// The peer's own status output (`swanctl --list-sas`, `ipsec status`, ...).
    fn status(&mut self) -> Result<String>;
    /// The command [`Peer::status`] runs, for reports.
    fn status_command(&self) -> &'static str;
    /// Fails unless the peer's own status shows the IKE_SA established and
    /// the CHILD_SA installed; returns that status.
    fn check_established(&mut self) -> Result<String>;
    /// Inbound packets of the CHILD_SA as the peer itself counts them, if it
    /// reports them.
    fn reported_in_packets(&mut self) -> Result<Option<u64>>;
    /// Ends the daemon by PID.
    fn stop(&mut self);
    /// The daemon's main log file.
    fn log(&self) -> PathBuf;
    /// This peer as iked (for iked's own controls), if it is iked.
    fn as_iked(&mut self) -> Option<&mut Iked> {
        None
    }
}

/// Which implementation runs on a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// strongSwan charon-systemd, configured over vici by swanctl.
    Swanctl,
    /// strongSwan started by `ipsec start` from a literal ipsec.conf.
    Starter,
    /// libreswan pluto (extracted).
    Libreswan,
    /// iked.
    Iked,
}

/// Starts a peer of `kind` on `side`, configured for `tunnel`, in `dir`.
pub fn start(
    kind: PeerKind,
    topo: &Topology,
    side: Side,
    tunnel: &Tunnel,
    dir: &Path,
) -> Result<Box<dyn Peer + Send>> {
    Ok(match kind {
        PeerKind::Swanctl => Box::new(StrongSwan::start(topo, side, tunnel, dir)?),
        PeerKind::Starter => {
            let conf = tunnel.ipsec_conf(topo);
            let secrets = tunnel.ipsec_secrets(side);
            Box::new(Starter::start(topo, side, tunnel, &conf, &secrets, dir)?)
        }
        PeerKind::Libreswan => Box::new(Libreswan::start(topo, side, tunnel, dir)?),
        PeerKind::Iked => {
            let conf = tunnel.ipsec_conf(topo);
            let secrets = tunnel.ipsec_secrets(side);
            Box::new(Iked::start(topo, side, &conf, &secrets, dir)?)
        }
    })
}

/// The inbound packet counter of a `swanctl --list-sas` CHILD_SA line
/// `in  c1f2...,    252 bytes,     3 packets, ...`.
pub(crate) fn swanctl_in_packets(list_sas: &str) -> Option<u64> {
    list_sas.lines().find_map(|l| {
        let l = l.trim_start();
        let rest = l.strip_prefix("in ")?;
        let mut parts = rest.split(',');
        parts.next()?;
        parts.next()?;
        let pk = parts.next()?.trim();
        pk.strip_suffix(" packets")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swanctl_counters_parse() {
        let s = "gw: #1, ESTABLISHED, IKEv2, 1a2b_i* 3c4d_r\n  net: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_GCM_16-128\n    installed 1s ago\n    in  c1f2a3b4,    252 bytes,     3 packets,     0s ago\n    out c5d6e7f8,    252 bytes,     3 packets,     0s ago\n";
        assert_eq!(swanctl_in_packets(s), Some(3));
        assert_eq!(
            swanctl_in_packets("in  c1f2a3b4,      0 bytes,     0 packets\n"),
            Some(0)
        );
        assert_eq!(swanctl_in_packets("no sas"), None);
    }
}
