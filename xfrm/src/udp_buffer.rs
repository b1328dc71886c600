//! The receive buffer of an IKE daemon's UDP sockets. Not XFRM, but a socket
//! option the daemon needs from C, and this crate is where the workspace's
//! `unsafe` lives: a burst of IKE_SA_INITs waits in the kernel while the
//! daemon's loop computes, and the default buffer (`net.core.rmem_default`,
//! 208 KB: some 200 small datagrams) overflows under a few hundred peers.

use crate::sockopt::set_int;
use std::io;
use std::os::fd::AsRawFd;

/// The socket's receive buffer as the kernel accounts it (twice what was
/// asked for: the kernel adds its bookkeeping).
pub fn receive_buffer(sock: &impl AsRawFd) -> io::Result<usize> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` comes from a live socket borrowed for the duration of the call;
    // `optval` points to a c_int on our stack and `optlen` to its size, both
    // outliving the call; the kernel writes at most `optlen` bytes and updates it.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut val as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(usize::try_from(val).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises the socket's receive buffer to `bytes`: beyond
/// `net.core.rmem_max` with CAP_NET_ADMIN (SO_RCVBUFFORCE), else up to it.
/// Returns the buffer the kernel then accounts (see [`receive_buffer`]).
pub fn raise_receive_buffer(sock: &impl AsRawFd, bytes: usize) -> io::Result<usize> {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    if set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_err() {
        set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
    }
    receive_buffer(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_buffer_is_never_smaller() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = receive_buffer(&udp).unwrap();
        assert!(before > 0);
        let after = raise_receive_buffer(&udp, 4 << 20).unwrap();
        assert!(after >= before, "{after} < {before}");
        // as root (CAP_NET_ADMIN) the kernel grants it all, doubled
        if is_root() {
            assert_eq!(after, 8 << 20);
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no arguments and cannot fail.
        #[allow(unsafe_code)]
        let uid = unsafe { libc::geteuid() };
        uid == 0
    }
}
