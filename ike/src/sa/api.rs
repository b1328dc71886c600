//! The protocol core's border with the daemon: what goes in (datagrams,
//! timers, commands) and what comes out (datagrams, kernel actions, state).
//! No I/O here: time, randomness and SPI allocation are injected.

use crate::crypto::{Encr, Integ, SecretBytes};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A datagram to send. `data` excludes the 4-octet non-ESP marker: the daemon
/// adds it when `local.port()` / `remote.port()` is the NAT-T port (4500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub data: Vec<u8>,
}

/// The kernel could not hand out an SPI (XFRM_MSG_ALLOCSPI failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to allocate SPI: {0}")]
pub struct SpiError(pub String);

/// Kernel SPI allocation (XFRM_MSG_ALLOCSPI in the daemon, a counter in tests).
pub trait SpiAllocator {
    /// A fresh inbound ESP SPI for SAs from `remote` to `local`.
    fn alloc_spi(&mut self, local: IpAddr, remote: IpAddr) -> Result<u32, SpiError>;
}

/// The kernel's routing table, asked when a conn's local address is
/// unspecified (`left=%any`, `%defaultroute`): the source address the kernel
/// would use towards `remote` (RTM_GETROUTE in the daemon).
pub trait RouteLookup {
    fn source_for(&self, remote: IpAddr) -> Option<IpAddr>;
}

/// No routing table (tests, benchmarks): the conn's own addresses decide.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRoutes;

impl RouteLookup for NoRoutes {
    fn source_for(&self, _remote: IpAddr) -> Option<IpAddr> {
        None
    }
}

/// The kernel refused a CHILD_SA (what the daemon reports to
/// [`Endpoint::child_installed`](super::Endpoint::child_installed)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KernelError(pub String);

/// Why a command to start an IKE_SA or CHILD_SA was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitiateError {
    #[error("no conn named '{0}'")]
    NoSuchConn(String),
    #[error("conn '{0}' is a {1} shunt, nothing to negotiate")]
    Shunt(String, &'static str),
    #[error("conn '{0}' has no concrete peer address to initiate to")]
    NoPeerAddress(String),
    #[error("conn '{0}': no local address of the peer's family")]
    NoLocalAddress(String),
    #[error("conn '{0}': no supported key exchange group in ike=")]
    NoGroup(String),
    #[error("conn '{conn}': {why}")]
    Build { conn: String, why: String },
}

/// Why a rekey asked for by a command (VICI `rekey`) was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekeyError {
    #[error("no IKE_SA with unique id {0}")]
    NoSuchIke(u32),
    #[error("no CHILD_SA with unique id {0}")]
    NoSuchChild(u32),
    #[error("its IKE_SA is not established")]
    NotEstablished,
    #[error("a rekey of it is already under way")]
    InProgress,
}

/// The core's tunables (strongswan.conf `charon.*`), strongSwan's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoreSettings {
    /// `retransmit_timeout` (4 s), `retransmit_base` (1.8), `retransmit_tries`
    /// (5), `retransmit_limit` (no limit): strongSwan's schedule, one rule
    /// ([`conf::swconf::Retransmit::wait`]), the first wait capped too.
    pub retransmit: conf::swconf::Retransmit,
    /// `half_open_timeout` (30 s): a responder IKE_SA without IKE_AUTH is dropped.
    pub half_open_timeout: Duration,
    /// `keep_alive` (20 s): NAT-T keepalive interval when behind a NAT.
    pub keep_alive: Duration,
    /// `fragment_size` (1280): largest IP datagram of an IKE message before
    /// RFC 7383 fragments (IP and UDP headers and the non-ESP marker
    /// included, as strongSwan counts it); 0: 576 for IPv4, 1280 for IPv6.
    pub fragment_size: usize,
    /// `cookie_threshold` (30): half-open IKE_SAs from which on COOKIEs are demanded.
    pub cookie_threshold: usize,
    /// `cookie_threshold_ip` (3): half-open IKE_SAs of one source address from
    /// which on that address must send COOKIEs.
    pub cookie_threshold_ip: usize,
    /// `block_threshold` (5): half-open IKE_SAs of one source address from
    /// which on its IKE_SA_INITs are dropped.
    pub block_threshold: usize,
    /// `init_limit_half_open` (0 = no limit): half-open IKE_SAs in all from
    /// which on IKE_SA_INITs are dropped.
    pub init_limit_half_open: usize,
    /// `init_limit_job_load` (0 = no limit): responder key exchanges waiting
    /// for a worker (`Endpoint::offload_key_exchanges`) from which on
    /// IKE_SA_INITs are dropped.
    pub init_limit_job_load: usize,
    /// How long a CHILD_SA rekey responder waits for the initiator's DELETE of
    /// the old CHILD_SA before it starts sending on the new one.
    pub rekey_outbound_wait: Duration,
    /// `signature_authentication` (yes): RFC 7427. With `no`, no
    /// SIGNATURE_HASH_ALGORITHMS is sent and AUTH uses the classic methods
    /// (1 for RSA, 9-11 for ECDSA), as a peer without RFC 7427 does.
    pub signature_authentication: bool,
    /// CHILD_SAs one IKE_SA may carry (256); a peer asking for more gets
    /// NO_ADDITIONAL_SAS.
    pub max_child_sas: usize,
    /// Kernel selector pairs (each an IN, OUT and FWD policy) one CHILD_SA
    /// may need after narrowing (128); more is TS_UNACCEPTABLE.
    pub max_selector_pairs: usize,
    /// The shortest time between a peer's IKE_SA rekeys (2 s); an earlier
    /// one gets TEMPORARY_FAILURE (the peer retries later, RFC 7296 §2.25).
    pub min_ike_rekey_interval: Duration,
    /// `prefer_previous_dh_group` (yes): an IKE_SA rekey uses the old
    /// IKE_SA's group; `no`: the first group of `ike=`.
    pub prefer_previous_dh_group: bool,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            retransmit: conf::swconf::Retransmit::default(),
            half_open_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(20),
            fragment_size: 1280,
            cookie_threshold: 30,
            cookie_threshold_ip: 3,
            block_threshold: 5,
            init_limit_half_open: 0,
            init_limit_job_load: 0,
            rekey_outbound_wait: Duration::from_secs(10),
            signature_authentication: true,
            max_child_sas: 256,
            max_selector_pairs: 128,
            min_ike_rekey_interval: Duration::from_secs(2),
            prefer_previous_dh_group: true,
        }
    }
}

/// Tunnel or transport mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tunnel,
    Transport,
}

/// A traffic selector as installed in the kernel: address range, protocol, port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    pub start: IpAddr,
    pub end: IpAddr,
    /// 0 = any.
    pub protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
}

impl Selector {
    /// The range as a prefix, when it is one (kernel selectors are prefixes).
    pub fn as_prefix(&self) -> Option<(IpAddr, u8)> {
        crate::ts::range_to_prefix(self.start, self.end)
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_prefix() {
            Some((a, p)) => write!(f, "{a}/{p}")?,
            None => write!(f, "{}..{}", self.start, self.end)?,
        }
        if self.protocol != 0 || self.start_port != 0 || self.end_port != 65535 {
            write!(f, "[{}", self.protocol)?;
            if self.start_port == self.end_port {
                write!(f, "/{}", self.start_port)?;
            } else if !(self.start_port == 0 && self.end_port == 65535) {
                write!(f, "/{}-{}", self.start_port, self.end_port)?;
            }
            write!(f, "]")?;
        }
        Ok(())
    }
}

/// ESP keys of one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// Encryption key; for AEAD it ends with the 4-octet salt (as the kernel wants it).
    pub encr: SecretBytes,
    /// Integrity key (empty for AEAD).
    pub integ: SecretBytes,
}

impl std::fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EspKeys(<redacted {}+{} octets>)",
            self.encr.len(),
            self.integ.len()
        )
    }
}

/// Everything the kernel needs for one CHILD_SA (both directions + policies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaInstall {
    /// The conn's name from ipsec.conf.
    pub conn: String,
    /// IKE_SA unique id (`name[N]` in status) and CHILD_SA unique id (`name{N}`).
    pub ike_id: u32,
    pub child_id: u32,
    pub reqid: u32,
    pub mode: Mode,
    /// Outer addresses (IKE endpoints).
    pub local: IpAddr,
    pub remote: IpAddr,
    /// UDP encapsulation ports (local, remote) when NAT-T is in use.
    pub encap: Option<(u16, u16)>,
    /// SPIs: inbound (allocated by us), outbound (the peer's).
    pub spi_in: u32,
    pub spi_out: u32,
    pub encr: Encr,
    pub integ: Option<Integ>,
    pub esn: bool,
    pub keys_in: EspKeys,
    pub keys_out: EspKeys,
    pub ts_local: Vec<Selector>,
    pub ts_remote: Vec<Selector>,
    /// (value, mask).
    pub mark_in: Option<(u32, u32)>,
    pub mark_out: Option<(u32, u32)>,
    pub if_id_in: Option<u32>,
    pub if_id_out: Option<u32>,
    /// Kernel lifetimes: soft = rekey time, hard = expiry.
    pub soft_lifetime: Duration,
    pub hard_lifetime: Duration,
    pub replay_window: u32,
    pub install_policy: bool,
    /// The conn's updown script, if any (run by the daemon).
    pub updown: Option<String>,
    /// Virtual IPs: ours (assigned by the peer) and the peer's (leased by
    /// us), for PLUTO_MY_SOURCEIP / PLUTO_PEER_SOURCEIP.
    pub my_sourceips: Vec<IpAddr>,
    pub peer_sourceips: Vec<IpAddr>,
    /// `lefthostaccess=yes` (PLUTO_HOST_ACCESS).
    pub host_access: bool,
    /// `leftfirewall=yes` without `leftupdown=`: the daemon inserts the
    /// firewall rules of strongSwan's default updown ([`crate::updown::firewall`]).
    pub firewall: bool,
    /// The CHILD_SA this one rekeys (its child id): the tunnel goes on, so
    /// the updown script and firewall rules are not run again.
    pub replaces: Option<u32>,
    /// Install the inbound SA (and policies) now, the outbound SA only on a
    /// later [`Event::InstallOutbound`]: as the responder of a CHILD_SA rekey
    /// the initiator may not have its new inbound SA yet (RFC 7296 §2.8).
    pub defer_outbound: bool,
}

/// What the daemon must do, or may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Install SAs and policies for a new CHILD_SA; the daemon answers with
    /// [`Endpoint::child_installed`](super::Endpoint::child_installed) (a
    /// responder's answer waits for it).
    InstallChild(Box<ChildSaInstall>),
    /// Install the outbound SA held back by `defer_outbound` (the rekey
    /// initiator deleted the old CHILD_SA, or the wait is over).
    InstallOutbound { conn: String, child_id: u32 },
    /// An SPI allocated for a negotiation that will not use it: remove its
    /// larval SA from the kernel (each negotiation releases only its own).
    ReleaseSpi { local: IpAddr, spi: u32 },
    /// Remove a CHILD_SA's SAs and policies (peer DELETE, local down, IKE_SA gone).
    DeleteChild {
        conn: String,
        child_id: u32,
        reqid: u32,
        local: IpAddr,
        remote: IpAddr,
        spi_in: u32,
        spi_out: u32,
    },
    /// The peer's NAT mapping changed (IKE or ESP arrived from a new port on
    /// 4500): the IKE_SA now talks to `remote`; the CHILD_SAs' UDP
    /// encapsulation must follow (outbound destination port, inbound source port).
    PeerMoved {
        conn: String,
        ike_id: u32,
        remote: std::net::SocketAddr,
        child_ids: Vec<u32>,
    },
    /// A MOBIKE peer moved (UPDATE_SA_ADDRESSES): move these CHILD_SAs' SAs
    /// and policy templates to `local` / `remote`, UDP-encapsulated iff `encap`.
    PeerMigrated {
        conn: String,
        ike_id: u32,
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
        encap: bool,
        child_ids: Vec<u32>,
    },
    /// An IKE_SA was established.
    IkeUp { conn: String, ike_id: u32 },
    /// An IKE_SA is gone (deleted, failed, or timed out); `reason` says why.
    IkeDown {
        conn: String,
        ike_id: u32,
        reason: String,
    },
}

/// IKE_SA states as `ipsec status` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeState {
    Connecting,
    Established,
    Deleting,
}

impl IkeState {
    pub fn as_str(self) -> &'static str {
        match self {
            IkeState::Connecting => "CONNECTING",
            IkeState::Established => "ESTABLISHED",
            IkeState::Deleting => "DELETING",
        }
    }
}

/// One CHILD_SA for status output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildStatus {
    pub conn: String,
    pub child_id: u32,
    pub reqid: u32,
    pub mode: Mode,
    pub spi_in: u32,
    pub spi_out: u32,
    pub encap: bool,
    /// e.g. "AES_GCM_16_256" / "AES_CBC_256/HMAC_SHA2_256_128".
    pub proposal: String,
    pub ts_local: Vec<Selector>,
    pub ts_remote: Vec<Selector>,
    pub established_secs_ago: u64,
    /// Seconds until this CHILD_SA is rekeyed (None: no rekey scheduled).
    pub rekey_in_secs: Option<u64>,
    /// A rekey of this CHILD_SA is under way.
    pub rekeying: bool,
}

/// One IKE_SA for status output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeStatus {
    pub conn: String,
    pub ike_id: u32,
    pub state: IkeState,
    pub initiator: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: String,
    pub remote_id: String,
    /// The identity EAP authenticated, when the peer used EAP
    /// (strongSwan's "Remote EAP identity").
    pub remote_eap_id: Option<String>,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    /// e.g. "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384".
    pub proposal: String,
    pub established_secs_ago: Option<u64>,
    /// Seconds until this IKE_SA is rekeyed (None: no rekey scheduled).
    pub rekey_in_secs: Option<u64>,
    /// NAT detection (RFC 7296 §2.23): this host / the peer is behind a NAT,
    /// and whether we fake one (`forceencaps=yes`).
    pub nat_local: bool,
    pub nat_remote: bool,
    pub nat_fake: bool,
    pub children: Vec<ChildStatus>,
}
