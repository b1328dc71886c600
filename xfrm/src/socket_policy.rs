//! Per-socket IPsec bypass (`IP_XFRM_POLICY` / `IPV6_XFRM_POLICY`): an IKE
//! daemon's own sockets must never be captured by the policies it installs.
//! A CHILD_SA whose selectors cover the IKE endpoints (host-to-host transport
//! mode without a protocol/port, `0.0.0.0/0` without a mark) would otherwise
//! carry IKE itself inside ESP: when that SA expires, the rekey or DELETE
//! that would replace it travels through it, and the two daemons deadlock.
//! An "allow" socket policy in each direction takes precedence over the
//! SPD for this socket's traffic, as strongSwan sets on its sockets.

use std::io;
use std::os::fd::AsRawFd;

const SOL_IP: libc::c_int = 0;
const SOL_IPV6: libc::c_int = 41;
const IP_XFRM_POLICY: libc::c_int = 17;
const IPV6_XFRM_POLICY: libc::c_int = 35;
const XFRM_POLICY_IN: u8 = 0;
const XFRM_POLICY_OUT: u8 = 1;
const XFRM_POLICY_ALLOW: u8 = 0;
const XFRM_INF: u64 = u64::MAX;

/// `struct xfrm_userpolicy_info` (linux/xfrm.h): selector (56 bytes),
/// lifetime_cfg (8 x u64), lifetime_cur (4 x u64), priority, index, dir,
/// action, flags, share; 168 bytes with the trailing alignment padding.
const POLICY_INFO_LEN: usize = 168;
const SEL_FAMILY: usize = 40;
const LFT: usize = 56;
const DIR: usize = 160;
const ACTION: usize = 161;

/// The bytes of an "allow everything in direction `dir`" socket policy.
fn allow_policy(family: u16, dir: u8) -> [u8; POLICY_INFO_LEN] {
    let mut p = [0u8; POLICY_INFO_LEN];
    p[SEL_FAMILY..SEL_FAMILY + 2].copy_from_slice(&family.to_ne_bytes());
    // Lifetime limits: byte and packet limits, soft then hard, infinite.
    for i in 0..4 {
        let at = LFT + 8 * i;
        p[at..at + 8].copy_from_slice(&XFRM_INF.to_ne_bytes());
    }
    p[DIR] = dir;
    p[ACTION] = XFRM_POLICY_ALLOW;
    p
}

/// Exempts the socket's traffic from every IPsec policy, both directions.
/// Needs CAP_NET_ADMIN and the kernel's XFRM netlink key manager.
pub fn bypass(sock: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    let (level, name, family) = if ipv6 {
        (SOL_IPV6, IPV6_XFRM_POLICY, libc::AF_INET6 as u16)
    } else {
        (SOL_IP, IP_XFRM_POLICY, libc::AF_INET as u16)
    };
    for dir in [XFRM_POLICY_IN, XFRM_POLICY_OUT] {
        let p = allow_policy(family, dir);
        // SAFETY: the fd comes from a live socket borrowed for the duration of
        // the call; `optval` points to `p`, a stack array that outlives the
        // call, and `optlen` is exactly its length; the kernel only reads it.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                p.as_ptr().cast::<libc::c_void>(),
                POLICY_INFO_LEN as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_bytes_are_laid_out_as_the_kernel_reads_them() {
        let p = allow_policy(libc::AF_INET as u16, XFRM_POLICY_OUT);
        assert_eq!(u16::from_ne_bytes([p[40], p[41]]), libc::AF_INET as u16);
        assert_eq!(&p[56..88], &[0xff; 32][..]);
        assert_eq!(&p[88..152], &[0u8; 64][..]);
        assert_eq!((p[160], p[161], p[162], p[163]), (1, 0, 0, 0));
    }

    /// As root with XFRM netlink (this host and the lab guest): the kernel
    /// accepts the policy on UDP sockets of both families.
    #[test]
    fn the_kernel_accepts_the_bypass_on_udp_sockets() {
        if !nix_is_root() {
            eprintln!("skipped: needs root (CAP_NET_ADMIN)");
            return;
        }
        let v4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        bypass(&v4, false).unwrap();
        if let Ok(v6) = std::net::UdpSocket::bind("[::1]:0") {
            bypass(&v6, true).unwrap();
        }
        // The wrong family's option is refused: the kernel did read what we sent.
        assert!(bypass(&v4, true).is_err());
    }

    fn nix_is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
            })
            .unwrap_or(false)
    }
}
