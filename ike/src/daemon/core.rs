//! The daemon's view of the protocol core: the sans-IO endpoint's methods as a
//! trait, so the I/O loop can also be driven by a scripted core in tests.

use crate::sa::{
    Event, IkeStatus, InitiateError, KernelError, KeyJob, KeyJobDone, RekeyError, Transmit,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the daemon needs from the protocol core.
pub trait Core {
    fn set_config(&mut self, config: Arc<conf::Config>);
    fn set_local_addrs(&mut self, now: Instant, addrs: Vec<IpAddr>);
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
    /// Deletes one IKE_SA by its unique id; false if there is none.
    fn terminate_ike(&mut self, now: Instant, ike_id: u32) -> bool;
    /// Deletes one CHILD_SA by its unique id (its IKE_SA stays); false if
    /// there is none, or its IKE_SA is not established.
    fn terminate_child(&mut self, now: Instant, child_id: u32) -> bool;
    /// Rekeys one IKE_SA by its unique id now (VICI `rekey`).
    fn rekey_ike(&mut self, now: Instant, ike_id: u32) -> Result<(), RekeyError>;
    /// Rekeys one CHILD_SA by its unique id now (VICI `rekey`).
    fn rekey_child(&mut self, now: Instant, child_id: u32) -> Result<(), RekeyError>;
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
    /// Hand responder key exchanges to worker threads (`poll_key_job`).
    fn offload_key_exchanges(&mut self, _on: bool) {}
    fn poll_key_job(&mut self) -> Option<KeyJob> {
        None
    }
    fn key_job_done(&mut self, _done: KeyJobDone) {}
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Event>;
    fn status(&self, now: Instant) -> Vec<IkeStatus>;
    /// IKE_SAs (not dead) and how many of them are established, without
    /// building every status.
    fn sa_counts(&self) -> (usize, usize) {
        let sas = self.status(Instant::now());
        let up = sas
            .iter()
            .filter(|s| s.state == crate::sa::IkeState::Established)
            .count();
        (sas.len(), up)
    }
    /// One IKE_SA's status (without listing every other one).
    fn status_of(&self, now: Instant, ike_id: u32) -> Option<IkeStatus> {
        self.status(now).into_iter().find(|s| s.ike_id == ike_id)
    }
    /// What was dropped, refused or failed so far.
    fn counters(&self) -> crate::sa::Counters {
        crate::sa::Counters::default()
    }
    /// IKE_SAs not yet authenticated.
    fn half_open(&self) -> usize {
        0
    }
    /// Virtual IPs of an IKE_SA: (assigned to us, leased to the peer).
    fn virtual_ips(&self, _ike_id: u32) -> (Vec<IpAddr>, Vec<IpAddr>) {
        (Vec::new(), Vec::new())
    }
    /// DNS servers the peer assigned an IKE_SA of ours.
    fn dns_servers(&self, _ike_id: u32) -> Vec<IpAddr> {
        Vec::new()
    }
    /// A virtual-IP pool (`rightsourceip=` text and range): (size, online, offline).
    fn pool_stats(&self, _pool: &str, _range: &conf::values::TsAddr) -> (usize, usize, usize) {
        (0, 0, 0)
    }
    /// A pool's leases: (address, identity, online), by address.
    fn pool_leases(&self, _pool: &str) -> Vec<(IpAddr, String, bool)> {
        Vec::new()
    }
    /// The public halves of the private keys the core holds (`has_privkey`).
    fn key_publics(&self) -> Vec<pki::PublicKey> {
        Vec::new()
    }
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
        self.set_settings(core_settings(&config.strongswan.charon));
        crate::sa::Endpoint::set_config(self, config)
    }
    fn set_local_addrs(&mut self, now: Instant, addrs: Vec<IpAddr>) {
        crate::sa::Endpoint::set_local_addrs(self, now, addrs)
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
    fn terminate_ike(&mut self, now: Instant, ike_id: u32) -> bool {
        crate::sa::Endpoint::terminate_ike(self, now, ike_id)
    }
    fn terminate_child(&mut self, now: Instant, child_id: u32) -> bool {
        crate::sa::Endpoint::terminate_child(self, now, child_id)
    }
    fn rekey_ike(&mut self, now: Instant, ike_id: u32) -> Result<(), RekeyError> {
        crate::sa::Endpoint::rekey_ike(self, now, ike_id)
    }
    fn rekey_child(&mut self, now: Instant, child_id: u32) -> Result<(), RekeyError> {
        crate::sa::Endpoint::rekey_child(self, now, child_id)
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
    fn offload_key_exchanges(&mut self, on: bool) {
        crate::sa::Endpoint::offload_key_exchanges(self, on)
    }
    fn poll_key_job(&mut self) -> Option<KeyJob> {
        crate::sa::Endpoint::poll_key_job(self)
    }
    fn key_job_done(&mut self, done: KeyJobDone) {
        crate::sa::Endpoint::key_job_done(self, done)
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
    fn counters(&self) -> crate::sa::Counters {
        crate::sa::Endpoint::counters(self)
    }
    fn half_open(&self) -> usize {
        crate::sa::Endpoint::half_open(self)
    }
    fn pool_stats(&self, pool: &str, range: &conf::values::TsAddr) -> (usize, usize, usize) {
        crate::sa::Endpoint::pool_stats(self, pool, range)
    }
    fn virtual_ips(&self, ike_id: u32) -> (Vec<IpAddr>, Vec<IpAddr>) {
        crate::sa::Endpoint::virtual_ips(self, ike_id)
    }
    fn dns_servers(&self, ike_id: u32) -> Vec<IpAddr> {
        crate::sa::Endpoint::dns_servers(self, ike_id)
    }
    fn pool_leases(&self, pool: &str) -> Vec<(IpAddr, String, bool)> {
        crate::sa::Endpoint::pool_leases(self, pool)
    }
    fn key_publics(&self) -> Vec<pki::PublicKey> {
        let c = crate::sa::Endpoint::credentials(self);
        c.keys.iter().map(|k| k.public_key().clone()).collect()
    }
    fn status_of(&self, now: Instant, ike_id: u32) -> Option<IkeStatus> {
        crate::sa::Endpoint::status_of(self, now, ike_id)
    }
    fn sa_counts(&self) -> (usize, usize) {
        crate::sa::Endpoint::sa_counts(self)
    }
    fn status(&self, now: Instant) -> Vec<IkeStatus> {
        crate::sa::Endpoint::status(self, now)
    }
}

/// The real core: the protocol endpoint with the default crypto provider, the
/// OS random generator (read ahead: `os_random`) and kernel SPIs.
pub fn endpoint(
    config: Arc<conf::Config>,
    addrs: Vec<IpAddr>,
    spis: super::kernel::KernelSpis,
) -> crate::sa::Endpoint {
    let creds = credentials(&config);
    let config_settings = config.strongswan.charon.clone();
    let mut ep = crate::sa::Endpoint::new(
        config,
        addrs,
        crate::crypto::Provider::default(),
        Box::new(super::os_random::OsRandom::new()),
        Box::new(spis),
    );
    ep.set_credentials(creds);
    ep.set_routes(Box::new(super::net::KernelRoutes));
    ep.set_settings(core_settings(&config_settings));
    ep
}

/// The protocol core's tunables from strongswan.conf's `charon` section
/// (the rest of `charon.*` stays typed in `conf::swconf::CharonSettings` and
/// reaches the core inside its `conf::Config`).
pub fn core_settings(c: &conf::swconf::CharonSettings) -> crate::sa::CoreSettings {
    let d = crate::sa::CoreSettings::default();
    crate::sa::CoreSettings {
        retransmit: c.retransmit,
        half_open_timeout: c.half_open_timeout,
        // strongSwan: keep_alive = 0 sends none; the core has no "off", so
        // the interval becomes longer than any IKE_SA lives.
        keep_alive: if c.keep_alive.is_zero() {
            NEVER
        } else {
            c.keep_alive
        },
        // 0: strongSwan's per-address-family default, which the core applies
        fragment_size: usize::from(c.fragment_size),
        cookie_threshold: usize::try_from(c.cookie_threshold).unwrap_or(usize::MAX),
        cookie_threshold_ip: usize::try_from(c.cookie_threshold_ip).unwrap_or(usize::MAX),
        block_threshold: usize::try_from(c.block_threshold).unwrap_or(usize::MAX),
        init_limit_half_open: usize::try_from(c.init_limit_half_open).unwrap_or(usize::MAX),
        init_limit_job_load: usize::try_from(c.init_limit_job_load).unwrap_or(usize::MAX),
        signature_authentication: c.signature_authentication,
        prefer_previous_dh_group: c.prefer_previous_dh_group,
        ..d
    }
}

/// A timer interval that never comes (about 136 years).
const NEVER: Duration = Duration::from_secs(u32::MAX as u64);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> conf::swconf::CharonSettings {
        let src = conf::MemSource::default().with("/s", text);
        let (s, d) = conf::swconf::load_from(&src, std::path::Path::new("/s"));
        assert!(d.is_empty(), "{d:?}");
        s.charon
    }

    #[test]
    fn strongswan_defaults_are_the_cores_defaults() {
        let c = core_settings(&settings(""));
        assert_eq!(c, crate::sa::CoreSettings::default());
    }

    #[test]
    fn strongswan_conf_reaches_the_core() {
        let c = core_settings(&settings(
            "charon {\n  retransmit_timeout = 1.5\n  retransmit_base = 1\n  retransmit_tries = 2\n  retransmit_limit = 20\n  half_open_timeout = 10\n  keep_alive = 0\n  fragment_size = 1400\n  cookie_threshold = 3\n}\n",
        ));
        assert_eq!(c.retransmit.wait(1), Duration::from_millis(1500));
        assert_eq!((c.retransmit.base, c.retransmit.tries), (1.0, 2));
        assert_eq!(c.retransmit.limit, Some(Duration::from_secs(20)));
        assert_eq!(c.half_open_timeout, Duration::from_secs(10));
        assert_eq!(c.keep_alive, NEVER, "keep_alive = 0 turns keepalives off");
        assert_eq!((c.fragment_size, c.cookie_threshold), (1400, 3));
        let z = core_settings(&settings("charon {\n  fragment_size = 0\n}\n"));
        assert_eq!(z.fragment_size, 0, "0: the core's per-family default");
    }
}
