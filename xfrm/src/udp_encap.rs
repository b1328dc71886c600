//! The socket side of ESP-in-UDP (RFC 3948): the kernel decapsulates ESP arriving on a
//! UDP port only if a socket bound to that port has `UDP_ENCAP_ESPINUDP` set. An IKE
//! daemon sets it on its port-4500 socket; non-ESP (IKE) datagrams still reach the socket.

use std::io;
use std::os::fd::AsRawFd;

const SOL_UDP: libc::c_int = 17;
const UDP_ENCAP: libc::c_int = 100;
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;

/// Turns on ESP-in-UDP decapsulation for packets arriving on this UDP socket's port.
pub fn enable_espinudp(sock: &impl AsRawFd) -> io::Result<()> {
    crate::sockopt::set_int(sock, SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn espinudp_on_a_udp_socket_and_refused_on_tcp() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_espinudp(&udp).unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(enable_espinudp(&tcp).is_err());
    }
}
