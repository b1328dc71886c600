//! The daemon's view of the protocol core: the sans-IO endpoint's methods as a
//! trait, so the I/O loop can also be driven by a scripted core in tests.

use crate::sa::{Event, IkeStatus, InitiateError, KernelError, Transmit};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// What the daemon needs from the protocol core.
pub trait Core {
    fn set_config(&mut self, config: Arc<conf::Config>);
    fn set_local_addrs(&mut self, addrs: Vec<IpAddr>);
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]);
    fn initiate(&mut self, now: Instant, conn: &str) -> Result<u32, InitiateError>;
    /// A kernel ACQUIRE for `conn`'s trap policy (packet from `src` to `dst`).
    fn acquire(
        &mut self,
        now: Instant,
        conn: &str,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<u32, InitiateError>;
    fn terminate(&mut self, now: Instant, conn: &str) -> usize;
    /// The kernel's verdict on an `Event::InstallChild` (a responder's answer waits for it).
    fn child_installed(&mut self, _now: Instant, _child_id: u32, _r: Result<(), KernelError>) {}
    /// The reqid the core gives a conn's CHILD_SAs (for trap policies).
    /// The kernel saw a new NAT mapping of the peer of CHILD_SA `child_id`.
    fn peer_moved(&mut self, _child_id: u32, _remote: SocketAddr) -> bool {
        false
    }
    fn reqid(&mut self, _conn: &str) -> Option<u32> {
        None
    }
    fn shutdown(&mut self, now: Instant);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Event>;
    fn status(&self, now: Instant) -> Vec<IkeStatus>;
}

/// Where certificates and keys live: `$IKED_IPSEC_D`, else strongSwan's `/etc/ipsec.d`.
pub fn ipsec_d() -> std::path::PathBuf {
    std::env::var_os("IKED_IPSEC_D")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/etc/ipsec.d"))
}

/// Certificates and keys for a configuration (re-read on every reload).
fn credentials(config: &conf::Config) -> Arc<crate::creds::Credentials> {
    Arc::new(crate::creds::Credentials::load(config, &ipsec_d()))
}

impl Core for crate::sa::Endpoint {
    fn set_config(&mut self, config: Arc<conf::Config>) {
        self.set_credentials(credentials(&config));
        crate::sa::Endpoint::set_config(self, config)
    }
    fn set_local_addrs(&mut self, addrs: Vec<IpAddr>) {
        crate::sa::Endpoint::set_local_addrs(self, addrs)
    }
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        crate::sa::Endpoint::handle_datagram(self, now, local, remote, data)
    }
    fn initiate(&mut self, now: Instant, conn: &str) -> Result<u32, InitiateError> {
        crate::sa::Endpoint::initiate(self, now, conn)
    }
    fn acquire(
        &mut self,
        now: Instant,
        conn: &str,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<u32, InitiateError> {
        crate::sa::Endpoint::acquire(self, now, conn, src, dst)
    }
    fn terminate(&mut self, now: Instant, conn: &str) -> usize {
        crate::sa::Endpoint::terminate(self, now, conn)
    }
    fn child_installed(&mut self, now: Instant, child_id: u32, r: Result<(), KernelError>) {
        crate::sa::Endpoint::child_installed(self, now, child_id, r)
    }
    fn peer_moved(&mut self, child_id: u32, remote: SocketAddr) -> bool {
        crate::sa::Endpoint::peer_moved(self, child_id, remote)
    }
    fn reqid(&mut self, conn: &str) -> Option<u32> {
        crate::sa::Endpoint::reqid(self, conn)
    }
    fn shutdown(&mut self, now: Instant) {
        crate::sa::Endpoint::shutdown(self, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        crate::sa::Endpoint::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        crate::sa::Endpoint::poll_transmit(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::sa::Endpoint::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        crate::sa::Endpoint::poll_event(self)
    }
    fn status(&self, now: Instant) -> Vec<IkeStatus> {
        crate::sa::Endpoint::status(self, now)
    }
}

/// The real core: the protocol endpoint with the default crypto provider, the
/// OS random generator and kernel SPIs.
pub fn endpoint(
    config: Arc<conf::Config>,
    addrs: Vec<IpAddr>,
    spis: super::kernel::KernelSpis,
) -> crate::sa::Endpoint {
    let creds = credentials(&config);
    let mut ep = crate::sa::Endpoint::new(
        config,
        addrs,
        crate::crypto::Provider::default(),
        Box::new(rand_core::OsRng),
        Box::new(spis),
    );
    ep.set_credentials(creds);
    ep.set_routes(Box::new(super::net::KernelRoutes));
    ep
}
