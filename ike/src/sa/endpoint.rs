//! The endpoint: routes datagrams to IKE_SAs by SPI, runs the exchanges
//! (IKE_SA_INIT, IKE_AUTH with PSK and the first CHILD_SA, INFORMATIONAL),
//! retransmits, and reports kernel actions as [`Event`]s.
//!
//! Exchanges, in one place (DESIGN: "what happens when IKE_AUTH arrives"):
//! - initiator: [`Endpoint::initiate`] -> `on_init_response` -> `on_auth_response`
//! - responder: `on_init_request` -> `on_auth_request`
//! - both: `on_informational_request` / `on_informational_response`

use super::api::*;
use super::ident;
use super::proposal::{for_ike_auth, select, suite_name};
use crate::crypto::auth;
use crate::crypto::registry::Protocol as RegProto;
use crate::crypto::{
    ChildKeys, DhGroup, DhSecret, IkeSaKeys, Prf, Provider, SecretBytes, SkCrypto, Suite, kdf,
    sk::Reassembly,
};
use crate::wire::{
    AuthMethod, AuthPayload, Delete, ExchangeType, Flags, Header, Identification, KePayload,
    Message, Notify, NotifyType, Payload, ProtocolId, RawHeader, SaPayload,
};
use conf::conn::{AuthMethod as ConfAuth, Conn, ConnType, Fragmentation, Side};
use conf::values::{Host, Identity, IfId, MarkValue};
use rand_core::CryptoRngCore;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// The first payload of a kind: `find_payload!(payloads, Sa)` -> `Option<&SaPayload>`.
macro_rules! find_payload {
    ($payloads:expr, $kind:ident) => {
        $payloads.iter().find_map(|p| match p {
            Payload::$kind(x) => Some(x),
            _ => None,
        })
    };
}

/// strongSwan's retransmission defaults: timeout 4 s, base 1.8, 5 retries.
const RETRANSMIT_TIMEOUT: f64 = 4.0;
const RETRANSMIT_BASE: f64 = 1.8;
const RETRANSMIT_TRIES: u32 = 5;
/// A half-open responder IKE_SA is dropped after this long without IKE_AUTH.
const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
const NONCE_LEN: usize = 32;
/// NAT-T keepalive interval when behind a NAT (strongSwan's keep_alive default).
const KEEPALIVE: Duration = Duration::from_secs(20);
/// Largest IKE datagram before fragmenting (strongSwan's default fragment_size).
const FRAGMENT_SIZE: usize = 1280;
const IKE_PORT: u16 = 500;
const NATT_PORT: u16 = 4500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    InitDone,
    Established,
    /// Our DELETE of the IKE_SA is out.
    Deleting,
    Dead,
}

/// A request of ours that waits for its response.
#[derive(Debug)]
struct Pending {
    msg_id: u32,
    /// The datagram(s) of the request (several when fragmented, RFC 7383).
    packets: Vec<Vec<u8>>,
    tries: u32,
    next: Instant,
    kind: PendingKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PendingKind {
    Init,
    Auth,
    DeleteIke,
    /// DELETE of CHILD_SAs (our inbound SPIs).
    DeleteChild(Vec<u32>),
    /// CREATE_CHILD_SA for a new or rekeyed CHILD_SA, or an IKE_SA rekey (see `IkeSa::create`).
    Create,
    /// Empty INFORMATIONAL (dead peer detection).
    Liveness,
}

/// Requests waiting for the window (one outstanding request at a time).
#[derive(Debug, Clone)]
enum Queued {
    DeleteIke,
    DeleteChild(Vec<u32>),
    CreateChild {
        conn: Arc<Conn>,
        rekey_of: Option<u32>,
    },
    RekeyIke,
    Liveness,
}

/// An outstanding CREATE_CHILD_SA request of ours.
enum CreateReq {
    Child {
        conn: Arc<Conn>,
        spi_in: u32,
        dh: Option<DhSecret>,
        ni: Vec<u8>,
        ts_local: Vec<Selector>,
        ts_remote: Vec<Selector>,
        transport: bool,
        rekey_of: Option<u32>,
    },
    Ike {
        spi: [u8; 8],
        dh: DhSecret,
        ni: Vec<u8>,
    },
}

/// A peer authenticating with EAP (RFC 7296 §2.16), between IKE_AUTH rounds.
struct EapState {
    server: crate::eap::MschapV2Server,
    /// The peer's IDi and the first IKE_AUTH request's payloads (SA, TS, ... for the CHILD_SA).
    idi: Identification,
    first: Vec<Payload>,
    /// An `eap_identity` the EAP identity must match.
    expect: Option<Identity>,
    msk: Option<SecretBytes>,
}

/// EAP secrets from ipsec.secrets for the EAP server.
struct EapPasswords<'a> {
    secrets: &'a conf::Secrets,
    local: Identity,
}

impl crate::eap::Passwords for EapPasswords<'_> {
    fn password(&self, identity: &[u8]) -> Option<SecretBytes> {
        let text = String::from_utf8_lossy(identity);
        let id = conf::values::parse_identity(&text).ok()?;
        self.secrets
            .find_eap(&self.local, &id)
            .map(|s| SecretBytes::from_slice(s.expose()))
    }
}

/// What `install_child` needs.
struct NewChild<'a> {
    conn: &'a Conn,
    suite: Suite,
    spi_in: u32,
    spi_out: u32,
    mode: Mode,
    ts_local: Vec<Selector>,
    ts_remote: Vec<Selector>,
    ni: &'a [u8],
    nr: &'a [u8],
    shared: Option<&'a [u8]>,
    /// We initiated the exchange that creates the CHILD_SA (key order, RFC 7296 §2.17).
    we_initiated: bool,
}

#[derive(Debug, Clone)]
struct ChildSa {
    id: u32,
    conn: String,
    reqid: u32,
    mode: Mode,
    spi_in: u32,
    spi_out: u32,
    suite: Suite,
    ts_local: Vec<Selector>,
    ts_remote: Vec<Selector>,
    established: Instant,
    rekey_at: Option<Instant>,
    rekeying: bool,
}

/// The first CHILD_SA negotiated inside IKE_AUTH (initiator side, before the answer).
#[derive(Debug, Clone)]
struct ChildRequest {
    spi_in: u32,
    ts_local: Vec<Selector>,
    ts_remote: Vec<Selector>,
    transport: bool,
}

struct IkeSa {
    id: u32,
    conn: Arc<Conn>,
    initiator: bool,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
    phase: Phase,
    suite: Option<Suite>,
    dh: Option<DhSecret>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// Raw IKE_SA_INIT request and response (the signed octets' first part).
    init_req: Vec<u8>,
    init_resp: Vec<u8>,
    cookie: Option<Vec<u8>>,
    keys: Option<IkeSaKeys>,
    sk_out: Option<SkCrypto>,
    sk_in: Option<SkCrypto>,
    /// Message ID of our next request / of the peer's next request.
    next_out: u32,
    next_in: u32,
    pending: Option<Pending>,
    queue: VecDeque<Queued>,
    create: Option<CreateReq>,
    rekey_at: Option<Instant>,
    /// Conns to add as CHILD_SAs once this (initiating) IKE_SA is up.
    deferred: Vec<Arc<Conn>>,
    /// Our last response (msg id, packet), for retransmitted requests.
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    children: Vec<ChildSa>,
    child_req: Option<ChildRequest>,
    local_id: Identification,
    remote_id: Option<Identification>,
    nat_local: bool,
    nat_remote: bool,
    frag_supported: bool,
    /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427) and whether it sent a CERTREQ.
    peer_hashes: Option<Vec<pki::Hash>>,
    certreq_received: bool,
    /// Initiator: asking for a virtual IP (Some(is IPv6)).
    want_vip: Option<bool>,
    /// Virtual IPs: assigned to us by the peer (initiator) / leased to the peer (responder).
    vips_local: Vec<IpAddr>,
    vip_leases: Vec<(String, IpAddr)>,
    /// EAP authentication of the peer in progress (responder).
    eap: Option<Box<EapState>>,
    /// The packet that triggered the kernel ACQUIRE (auto=route): its addresses
    /// are proposed first in TSi/TSr (RFC 7296 §2.9).
    acquire: Option<(IpAddr, IpAddr)>,
    /// Next NAT-T keepalive (we are behind a NAT).
    keepalive_at: Option<Instant>,
    /// When the peer was last heard from (dead peer detection).
    last_in: Instant,
    /// RFC 7383 reassembly of the message being received (message ID, is-response).
    reassembly: Option<(u32, bool, Reassembly)>,
    created: Instant,
    established: Option<Instant>,
}

impl IkeSa {
    fn spi_pair(&self) -> ([u8; 8], [u8; 8]) {
        (self.spi_i, self.spi_r)
    }

    fn our_spi(&self) -> [u8; 8] {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    fn header(&self, exchange: ExchangeType, response: bool, msg_id: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange,
            flags: Flags::new(self.initiator, response),
            message_id: msg_id,
        }
    }

    fn encap(&self) -> bool {
        self.nat_local || self.nat_remote || self.conn.forceencaps
    }

    fn prf(&self) -> Option<Prf> {
        self.suite.and_then(|s| s.prf)
    }
}

impl std::fmt::Debug for IkeSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSa")
            .field("id", &self.id)
            .field("conn", &self.conn.name)
            .field("phase", &self.phase)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// One `rightsourceip=` pool: which identity had which address, which are in use.
#[derive(Debug, Default)]
struct Pool {
    leases: HashMap<String, IpAddr>,
    online: HashMap<IpAddr, String>,
}

/// Candidate addresses of a pool (network and broadcast of IPv4 prefixes excluded), bounded.
fn pool_addrs(p: &conf::values::TsAddr) -> Vec<IpAddr> {
    const MAX: u128 = 65_536;
    let (a, b) = match p {
        conf::values::TsAddr::Net(n) => {
            let (a, b) = crate::ts::prefix_range(n.addr, n.prefix);
            match (a, b) {
                (IpAddr::V4(x), IpAddr::V4(y)) if n.prefix < 31 => (
                    IpAddr::V4((u32::from(x) + 1).into()),
                    IpAddr::V4((u32::from(y) - 1).into()),
                ),
                (IpAddr::V6(x), y) if n.prefix < 128 => (IpAddr::V6((u128::from(x) + 1).into()), y),
                other => other,
            }
        }
        conf::values::TsAddr::Range(a, b) => (*a, *b),
        conf::values::TsAddr::Dynamic => return Vec::new(),
    };
    let to = |x: IpAddr| match x {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    };
    let (lo, hi) = (to(a), to(b));
    if hi < lo {
        return Vec::new();
    }
    let hi = hi.min(lo.saturating_add(MAX - 1));
    (lo..=hi)
        .map(|v| match a {
            IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(v.into()),
        })
        .collect()
}

/// The sans-IO IKEv2 endpoint.
pub struct Endpoint {
    config: Arc<conf::Config>,
    conns: Vec<Arc<Conn>>,
    local_addrs: Vec<IpAddr>,
    provider: Provider,
    rng: Box<dyn CryptoRngCore + Send>,
    spis: Box<dyn SpiAllocator + Send>,
    sas: HashMap<[u8; 8], IkeSa>,
    /// Responder half-open lookup: (remote, initiator SPI) -> our SPI.
    half_open: HashMap<(SocketAddr, [u8; 8]), [u8; 8]>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_ike_id: u32,
    next_child_id: u32,
    reqids: HashMap<String, u32>,
    /// Address pools (`rightsourceip=`), by pool.
    pools: HashMap<String, Pool>,
    /// Certificates and keys for public-key authentication.
    creds: Arc<crate::creds::Credentials>,
    /// Half-open IKE_SAs from which on COOKIEs are demanded, and the secret.
    cookie_threshold: usize,
    cookie_secret: [u8; 32],
    next_reqid: u32,
    next_unique: u32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("conns", &self.conns.len())
            .field("sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

fn addr_in_hosts(a: IpAddr, hosts: &[Host]) -> bool {
    hosts.iter().any(|h| match h {
        Host::Any(None) => true,
        Host::Any(Some(conf::values::AddrFamily::V4)) => a.is_ipv4(),
        Host::Any(Some(conf::values::AddrFamily::V6)) => a.is_ipv6(),
        Host::Addr(x) => *x == a,
        Host::Net(n) => n.contains(a),
        Host::Range(x, y) => *x <= a && a <= *y,
        Host::Name(_) => false,
    })
}

fn nat_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: &SocketAddr) -> Vec<u8> {
    auth::nat_detection_hash(spi_i, spi_r, addr.ip(), addr.port()).to_vec()
}

fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

/// The peer's RFC 7427 hash algorithms (SIGNATURE_HASH_ALGORITHMS), if announced.
fn peer_hashes(payloads: &[Payload]) -> Option<Vec<pki::Hash>> {
    find_notify(payloads, NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .and_then(|n| pki::auth::decode_hash_algorithms(&n.data).ok())
}

fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}

fn mark_of(m: Option<conf::values::Mark>, unique: &mut u32) -> Option<(u32, u32)> {
    m.map(|m| match m.value {
        MarkValue::Fixed(v) => (v, m.mask),
        MarkValue::Unique | MarkValue::UniqueDir => {
            *unique += 1;
            (*unique & m.mask, m.mask)
        }
    })
}

fn if_id_of(i: Option<IfId>, unique: &mut u32) -> Option<u32> {
    i.map(|i| match i {
        IfId::Fixed(v) => v,
        IfId::Unique | IfId::UniqueDir => {
            *unique += 1;
            *unique
        }
    })
}

impl Endpoint {
    pub fn new(
        config: Arc<conf::Config>,
        local_addrs: Vec<IpAddr>,
        provider: Provider,
        rng: Box<dyn CryptoRngCore + Send>,
        spis: Box<dyn SpiAllocator + Send>,
    ) -> Endpoint {
        let conns = config.conns.iter().cloned().map(Arc::new).collect();
        Endpoint {
            config,
            conns,
            local_addrs,
            provider,
            rng,
            spis,
            sas: HashMap::new(),
            half_open: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_ike_id: 1,
            next_child_id: 1,
            reqids: HashMap::new(),
            pools: HashMap::new(),
            creds: Arc::new(crate::creds::Credentials::default()),
            cookie_threshold: 10,
            cookie_secret: [0; 32],
            next_reqid: 1,
            next_unique: 0,
        }
    }

    /// Certificates, keys and CAs for public-key authentication (the daemon loads them).
    pub fn set_credentials(&mut self, creds: Arc<crate::creds::Credentials>) {
        self.creds = creds;
    }

    /// Our identity for a conn end: `leftid=`, else the subject of `leftcert=`, else the address.
    fn local_identification(&self, conn: &Conn, side: Side, addr: IpAddr) -> Identification {
        let (end, _) = conn.ends(side);
        if end.id.is_none() {
            if let Some(cert) = self.creds.end_cert(conn, side == Side::Left) {
                return Identification {
                    id_type: crate::wire::IdType::DER_ASN1_DN,
                    data: cert.subject_der.clone(),
                };
            }
        }
        ident::to_wire(&end.effective_id(), addr)
    }

    /// Our AUTH payload (and CERT payloads) for `octets`, with the conn's local authentication.
    fn make_auth(
        &mut self,
        sa: &IkeSa,
        conn: &Conn,
        octets: &[u8],
        peer_id: &Identity,
    ) -> Result<(AuthPayload, Vec<Payload>), String> {
        let side = conn.local_side(&self.local_addrs);
        let (local_end, _) = conn.ends(side);
        let prf = sa.prf().ok_or("no PRF")?;
        match &local_end.auth {
            ConfAuth::Psk => {
                let psk = self.psk_for(sa, peer_id).ok_or_else(|| {
                    format!(
                        "no PSK in ipsec.secrets for {} - {peer_id}",
                        ident::from_wire(&sa.local_id)
                            .map(|i| i.to_string())
                            .unwrap_or_default()
                    )
                })?;
                let a = auth::shared_key_auth(prf, psk.as_slice(), octets);
                Ok((
                    AuthPayload {
                        method: AuthMethod::SHARED_KEY_MIC,
                        data: a.as_slice().to_vec(),
                    },
                    Vec::new(),
                ))
            }
            ConfAuth::Pubkey { .. } => {
                let is_left = side == Side::Left;
                let cert = self.creds.end_cert(conn, is_left);
                let public = cert
                    .map(|c| &c.public_key)
                    .or_else(|| self.creds.end_sigkey(conn, is_left))
                    .ok_or_else(|| format!("conn '{}': no certificate (leftcert=) or key (leftsigkey=) to authenticate with", conn.name))?;
                let key = self.creds.key_for(public).ok_or_else(|| {
                    format!(
                        "conn '{}': no private key in ipsec.secrets for {}",
                        conn.name,
                        public.describe()
                    )
                })?;
                let (method, scheme) = pki::choose_scheme(public, sa.peer_hashes.as_deref(), false)
                    .map_err(|e| e.to_string())?;
                let data =
                    pki::sign_auth(key, method, scheme, octets).map_err(|e| e.to_string())?;
                let mut certs = Vec::new();
                let send = match local_end.sendcert {
                    conf::conn::SendCert::Always => true,
                    conf::conn::SendCert::IfAsked => sa.certreq_received,
                    conf::conn::SendCert::Never => false,
                };
                if let (Some(c), true) = (cert, send) {
                    certs.push(Payload::Cert(crate::wire::CertPayload {
                        encoding: crate::wire::CertEncoding::X509_SIGNATURE,
                        data: c.der().to_vec(),
                    }));
                }
                debug!(target: "ike", "signing AUTH with {scheme} (method {})", method.to_u8());
                Ok((
                    AuthPayload {
                        method: AuthMethod(method.to_u8()),
                        data,
                    },
                    certs,
                ))
            }
            other => Err(format!(
                "conn '{}': local authentication {other:?} is not implemented",
                conn.name
            )),
        }
    }

    /// Verifies the peer's AUTH over `octets`: PSK, or a signature with a raw
    /// key, a configured certificate, or a chain from its CERT payloads to our CAs.
    #[allow(clippy::too_many_arguments)]
    fn check_auth(
        &self,
        sa: &IkeSa,
        conn: &Conn,
        id: &Identification,
        peer_id: &Identity,
        auth_p: &AuthPayload,
        payloads: &[Payload],
        octets: &[u8],
    ) -> Result<String, String> {
        let side = conn.local_side(&self.local_addrs);
        let (_, remote_end) = conn.ends(side);
        let prf = sa.prf().ok_or("no PRF")?;
        let wants_psk = matches!(remote_end.auth, ConfAuth::Psk);
        let wants_pk = matches!(remote_end.auth, ConfAuth::Pubkey { .. });
        let any = matches!(remote_end.auth, ConfAuth::Any);
        if auth_p.method == AuthMethod::SHARED_KEY_MIC {
            if !(wants_psk || any) {
                return Err(format!(
                    "peer '{peer_id}' used a pre-shared key, conn '{}' expects {:?}",
                    conn.name, remote_end.auth
                ));
            }
            let psk = self
                .psk_for(sa, peer_id)
                .ok_or_else(|| format!("no PSK in ipsec.secrets for '{peer_id}'"))?;
            return if auth::verify_shared_key_auth(prf, psk.as_slice(), octets, &auth_p.data) {
                Ok("pre-shared key".into())
            } else {
                Err(format!(
                    "authentication of '{peer_id}' with pre-shared key failed (PSK mismatch?)"
                ))
            };
        }
        if !(wants_pk || any) {
            return Err(format!(
                "peer '{peer_id}' used a signature (method {}), conn '{}' expects {:?}",
                auth_p.method, conn.name, remote_end.auth
            ));
        }
        let is_left = side != Side::Left;
        let pid = pki::Identity::from_wire(id.id_type.0, &id.data).map_err(|e| e.to_string())?;
        let (key, what) = if let Some(k) = self.creds.end_sigkey(conn, is_left) {
            (k.clone(), format!("raw {} key", k.describe()))
        } else {
            let received: Vec<pki::Certificate> = payloads
                .iter()
                .filter_map(|p| match p {
                    Payload::Cert(c) if c.encoding == crate::wire::CertEncoding::X509_SIGNATURE => {
                        pki::Certificate::from_der(&c.data).ok()
                    }
                    _ => None,
                })
                .collect();
            let end = match self.creds.end_cert(conn, is_left) {
                // rightcert= pins the peer's certificate.
                Some(pinned) => pinned.clone(),
                None => {
                    let end = received.first().ok_or_else(|| {
                        format!(
                            "peer '{peer_id}' sent no certificate and conn '{}' has no rightcert=",
                            conn.name
                        )
                    })?;
                    let policy = pki::Policy {
                        strict_crl: self.creds.crl_policy,
                        required_eku: None,
                    };
                    self.creds
                        .trust
                        .verify(
                            end,
                            received.get(1..).unwrap_or_default(),
                            (self.creds.clock)(),
                            &policy,
                        )
                        .map_err(|e| format!("certificate of '{peer_id}' rejected: {e}"))?;
                    end.clone()
                }
            };
            pid.check_cert_received(&end)
                .map_err(|e| format!("certificate of '{peer_id}' rejected: {e}"))?;
            let subject = end.subject.to_string();
            (end.public_key.clone(), format!("certificate \"{subject}\""))
        };
        pki::verify_auth(&key, auth_p.method.0, &auth_p.data, octets).map_err(|e| {
            format!("signature of '{peer_id}' does not verify with its {what}: {e}")
        })?;
        Ok(what)
    }

    /// How many half-open IKE_SAs before COOKIEs are demanded (strongSwan's default: 10).
    pub fn set_cookie_threshold(&mut self, n: usize) {
        self.cookie_threshold = n;
    }

    /// Cookie = version | SHA-256(Ni | IPi | SPIi | secret) (RFC 7296 §2.6).
    fn cookie(&mut self, ni: &[u8], remote: SocketAddr, spi_i: &[u8; 8]) -> Vec<u8> {
        use sha2::Digest as _;
        if self.cookie_secret == [0; 32] {
            self.rng.fill_bytes(&mut self.cookie_secret);
        }
        let ip = match remote.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let h = sha2::Sha256::new()
            .chain_update(ni)
            .chain_update(&ip)
            .chain_update(spi_i)
            .chain_update(self.cookie_secret)
            .finalize();
        let mut c = vec![0u8, 0, 0, 1];
        c.extend_from_slice(&h);
        c
    }

    /// New configuration (reload): existing SAs keep the conn they were made with.
    pub fn set_config(&mut self, config: Arc<conf::Config>) {
        self.conns = config.conns.iter().cloned().map(Arc::new).collect();
        self.config = config;
    }

    pub fn set_local_addrs(&mut self, addrs: Vec<IpAddr>) {
        self.local_addrs = addrs;
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .filter_map(|sa| {
                let retrans = sa.pending.as_ref().map(|p| p.next);
                let half = (sa.phase == Phase::InitDone).then(|| sa.created + HALF_OPEN_TIMEOUT);
                let rekeys = if sa.phase == Phase::Established {
                    sa.children
                        .iter()
                        .filter(|c| !c.rekeying)
                        .filter_map(|c| c.rekey_at)
                        .chain(sa.rekey_at)
                        .min()
                } else {
                    None
                };
                let keepalive = if sa.phase == Phase::Established
                    && sa.nat_local
                    && sa.local.port() == NATT_PORT
                {
                    Some(sa.keepalive_at.unwrap_or(sa.last_in))
                } else {
                    None
                };
                let dpd = if sa.pending.is_none() {
                    dpd_due(sa)
                } else {
                    None
                };
                [retrans, half, rekeys, dpd, keepalive]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    fn new_spi(&mut self) -> [u8; 8] {
        loop {
            let mut s = [0u8; 8];
            self.rng.fill_bytes(&mut s);
            if s != [0; 8] && !self.sas.contains_key(&s) {
                return s;
            }
        }
    }

    fn reqid_for(&mut self, conn: &Conn) -> u32 {
        if let Some(r) = conn.reqid {
            return r;
        }
        if let Some(r) = self.reqids.get(&conn.name) {
            return *r;
        }
        let r = self.next_reqid;
        self.next_reqid += 1;
        self.reqids.insert(conn.name.clone(), r);
        r
    }

    fn local_addr_for(&self, conn: &Conn, side: Side, remote: IpAddr) -> Option<IpAddr> {
        let (local, _) = conn.ends(side);
        local
            .addrs()
            .find(|a| a.is_ipv4() == remote.is_ipv4() && self.local_addrs.contains(a))
            .or_else(|| local.addrs().find(|a| a.is_ipv4() == remote.is_ipv4()))
            .or_else(|| {
                self.local_addrs
                    .iter()
                    .copied()
                    .find(|a| a.is_ipv4() == remote.is_ipv4() && addr_in_hosts(*a, &local.hosts))
            })
    }

    // ------------------------------------------------------------------
    // Commands

    /// A kernel ACQUIRE for a trap policy of `conn` (auto=route): initiates
    /// the conn, proposing the triggering packet's addresses first.
    pub fn acquire(
        &mut self,
        now: Instant,
        conn_name: &str,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<u32, String> {
        let id = self.initiate(now, conn_name)?;
        if let Some(sa) = self
            .sas
            .values_mut()
            .find(|sa| sa.id == id && sa.phase == Phase::InitSent)
        {
            sa.acquire = Some((src, dst));
        }
        Ok(id)
    }

    /// Starts an IKE_SA (with its first CHILD_SA) for a configured conn.
    pub fn initiate(&mut self, now: Instant, conn_name: &str) -> Result<u32, String> {
        let conn = self
            .conns
            .iter()
            .find(|c| c.name == conn_name)
            .cloned()
            .ok_or_else(|| format!("no conn named '{conn_name}'"))?;
        if conn.is_shunt() {
            return Err(format!(
                "conn '{conn_name}' is a {:?} shunt, nothing to negotiate",
                conn.conn_type
            ));
        }
        let side = conn.local_side(&self.local_addrs);
        let (_, remote_end) = conn.ends(side);
        let remote_ip = remote_end.addrs().next().ok_or_else(|| {
            format!("conn '{conn_name}' has no concrete peer address to initiate to")
        })?;
        let local_ip = self
            .local_addr_for(&conn, side, remote_ip)
            .ok_or_else(|| format!("conn '{conn_name}': no local address of the peer's family"))?;
        // Two conns to the same peer share one IKE_SA, as strongSwan does.
        let existing = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.initiator || sa.phase == Phase::Established)
            .find(|(_, sa)| {
                sa.remote.ip() == remote_ip
                    && sa.local.ip() == local_ip
                    && matches!(
                        sa.phase,
                        Phase::Established | Phase::InitSent | Phase::AuthSent
                    )
            })
            .map(|(k, _)| *k);
        if let Some(k) = existing {
            if let Some(mut sa) = self.sas.remove(&k) {
                let id = sa.id;
                if sa.children.iter().any(|c| c.conn == conn.name)
                    || sa.deferred.iter().any(|c| c.name == conn.name)
                    || (sa.conn.name == conn.name && sa.phase != Phase::Established)
                {
                    self.sas.insert(k, sa);
                    return Ok(id);
                }
                info!(target: "ike", "adding CHILD_SA {} to IKE_SA {}[{}]", conn.name, sa.conn.name, id);
                if sa.phase == Phase::Established {
                    self.queue_request(
                        now,
                        &mut sa,
                        Queued::CreateChild {
                            conn: conn.clone(),
                            rekey_of: None,
                        },
                    );
                } else {
                    sa.deferred.push(conn.clone());
                }
                self.sas.insert(k, sa);
                return Ok(id);
            }
        }
        let group = conn
            .ike
            .effective()
            .iter()
            .find_map(|p| p.dh.first().and_then(|t| self.provider.group(t.id)))
            .ok_or_else(|| {
                format!("conn '{conn_name}': no supported key exchange group in ike=")
            })?;
        let spi_i = self.new_spi();
        let id = self.next_ike_id;
        self.next_ike_id += 1;
        let local_id = self.local_identification(&conn, side, local_ip);
        let mut sa = IkeSa {
            id,
            conn: conn.clone(),
            initiator: true,
            spi_i,
            spi_r: [0; 8],
            local: SocketAddr::new(local_ip, IKE_PORT),
            remote: SocketAddr::new(remote_ip, IKE_PORT),
            phase: Phase::InitSent,
            suite: None,
            dh: None,
            ni: self.random_bytes(NONCE_LEN),
            nr: Vec::new(),
            init_req: Vec::new(),
            init_resp: Vec::new(),
            cookie: None,
            keys: None,
            sk_out: None,
            sk_in: None,
            next_out: 0,
            next_in: 0,
            pending: None,
            queue: VecDeque::new(),
            last_response: None,
            children: Vec::new(),
            child_req: None,
            create: None,
            rekey_at: None,
            deferred: Vec::new(),
            local_id,
            remote_id: None,
            nat_local: false,
            nat_remote: false,
            frag_supported: false,
            reassembly: None,
            last_in: now,
            keepalive_at: None,
            acquire: None,
            eap: None,
            vips_local: Vec::new(),
            want_vip: None,
            peer_hashes: None,
            certreq_received: false,
            vip_leases: Vec::new(),
            created: now,
            established: None,
        };
        info!(target: "ike", "initiating IKE_SA {}[{}] to {}", conn.name, id, sa.remote.ip());
        self.send_init(now, &mut sa, group)?;
        self.sas.insert(spi_i, sa);
        Ok(id)
    }

    fn send_init(&mut self, now: Instant, sa: &mut IkeSa, group: DhGroup) -> Result<(), String> {
        let dh = group.generate(&mut *self.rng).map_err(|e| e.to_string())?;
        let offer = self
            .provider
            .offer(&sa.conn.ike.effective(), &[])
            .map_err(|e| {
                format!(
                    "ike= proposal not supported: {}",
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
        let mut payloads = Vec::new();
        if let Some(c) = &sa.cookie {
            payloads.push(notify(NotifyType::COOKIE, c.clone()));
        }
        payloads.push(Payload::Sa(offer));
        payloads.push(Payload::Ke(KePayload {
            group: group.iana_id(),
            data: dh.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(sa.ni.clone()));
        payloads.extend(self.nat_notifies(sa));
        if sa.conn.fragmentation != Fragmentation::No {
            payloads.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        // RFC 7427 hash algorithms, as strongSwan advertises: SHA2-256/384/512.
        payloads.push(notify(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            vec![0, 2, 0, 3, 0, 4],
        ));
        let mut msg = Message::new(sa.header(ExchangeType::IKE_SA_INIT, false, 0));
        msg.payloads = payloads;
        let packet = msg.encode().map_err(|e| e.to_string())?;
        sa.dh = Some(dh);
        sa.init_req = packet.clone();
        sa.next_out = 1;
        self.send_request(now, sa, 0, vec![packet], PendingKind::Init);
        Ok(())
    }

    fn nat_notifies(&mut self, sa: &IkeSa) -> Vec<Payload> {
        let src = if sa.conn.forceencaps {
            // A made-up source hash makes the peer believe we are behind a NAT,
            // so both sides use UDP encapsulation (strongSwan's forceencaps).
            self.random_bytes(20)
        } else {
            nat_hash(&sa.spi_i, &sa.spi_r, &sa.local)
        };
        vec![
            notify(NotifyType::NAT_DETECTION_SOURCE_IP, src),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(&sa.spi_i, &sa.spi_r, &sa.remote),
            ),
        ]
    }

    /// The daemon could not install a CHILD_SA in the kernel: forget it and
    /// tell the peer (INFORMATIONAL DELETE), so both sides agree it is gone.
    pub fn child_failed(&mut self, now: Instant, child_id: u32) {
        let Some(key) = self
            .sas
            .iter()
            .find(|(_, sa)| sa.children.iter().any(|c| c.id == child_id))
            .map(|(k, _)| *k)
        else {
            return;
        };
        let Some(mut sa) = self.sas.remove(&key) else {
            return;
        };
        if let Some(pos) = sa.children.iter().position(|c| c.id == child_id) {
            let c = sa.children.remove(pos);
            warn!(target: "chd", "CHILD_SA {}{{{}}} could not be installed: deleting it on the peer too", c.conn, c.id);
            self.queue_request(now, &mut sa, Queued::DeleteChild(vec![c.spi_in]));
        }
        self.sas.insert(key, sa);
    }

    /// The reqid a conn's CHILD_SAs use (`reqid=`, else the one assigned on first use).
    /// The kernel saw ESP of CHILD_SA `child_id` arrive from `remote`, a new
    /// NAT mapping of the peer (XFRM_MSG_MAPPING). The owning IKE_SA follows it
    /// (keepalives, DPD and requests go to the new port) and a
    /// [`Event::PeerMoved`] asks the daemon to move every CHILD_SA's UDP
    /// encapsulation. Only the port may change (no MOBIKE): a new address, a
    /// non-NAT-T IKE_SA or an unknown child returns false and changes nothing.
    pub fn peer_moved(&mut self, child_id: u32, remote: SocketAddr) -> bool {
        let Some(key) = self
            .sas
            .iter()
            .find(|(_, sa)| sa.children.iter().any(|c| c.id == child_id))
            .map(|(k, _)| *k)
        else {
            return false;
        };
        let Some(mut sa) = self.sas.remove(&key) else {
            return false;
        };
        let ok = sa.local.port() == NATT_PORT && sa.remote.ip() == remote.ip();
        if ok && sa.remote != remote {
            self.move_peer(&mut sa, remote);
        }
        self.sas.insert(key, sa);
        ok
    }

    /// The peer (behind a NAT) is now at `remote` (same address, new port).
    fn move_peer(&mut self, sa: &mut IkeSa, remote: SocketAddr) {
        info!(target: "ike", "{}[{}]: NAT mapping of the peer changed, {} -> {remote}", sa.conn.name, sa.id, sa.remote);
        sa.remote = remote;
        if !sa.children.is_empty() {
            self.events.push_back(Event::PeerMoved {
                conn: sa.conn.name.clone(),
                ike_id: sa.id,
                remote,
                child_ids: sa.children.iter().map(|c| c.id).collect(),
            });
        }
    }

    pub fn reqid(&mut self, conn_name: &str) -> Option<u32> {
        let conn = self.conns.iter().find(|c| c.name == conn_name).cloned()?;
        Some(self.reqid_for(&conn))
    }

    /// Deletes every IKE_SA of a conn (INFORMATIONAL with DELETE). Returns how many.
    pub fn terminate(&mut self, now: Instant, conn_name: &str) -> usize {
        let keys: Vec<[u8; 8]> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.conn.name == conn_name && sa.phase != Phase::Dead)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            self.delete_ike(now, k, "deleted by command");
        }
        keys.len()
    }

    /// Deletes every IKE_SA (DELETE sent once, no waiting) and reports every CHILD_SA gone.
    pub fn shutdown(&mut self, now: Instant) {
        let keys: Vec<[u8; 8]> = self.sas.keys().copied().collect();
        for k in &keys {
            self.delete_ike(now, k, "shutting down");
        }
        let keys: Vec<[u8; 8]> = self.sas.keys().copied().collect();
        for k in keys {
            if let Some(mut sa) = self.sas.remove(&k) {
                self.kill(&mut sa, "shutting down");
            }
        }
    }

    fn delete_ike(&mut self, now: Instant, key: &[u8; 8], why: &str) {
        let Some(mut sa) = self.sas.remove(key) else {
            return;
        };
        if sa.phase == Phase::Established {
            info!(target: "ike", "deleting IKE_SA {}[{}] between {}...{} ({why})", sa.conn.name, sa.id, sa.local.ip(), sa.remote.ip());
            self.report_children_gone(&mut sa);
            sa.phase = Phase::Deleting;
            sa.pending = None;
            sa.queue.clear();
            self.queue_request(now, &mut sa, Queued::DeleteIke);
            self.sas.insert(*key, sa);
        } else {
            self.kill(&mut sa, why);
        }
    }

    /// Reports all CHILD_SAs of an IKE_SA as gone (kernel state removed).
    fn report_children_gone(&mut self, sa: &mut IkeSa) {
        for c in sa.children.drain(..) {
            info!(target: "chd", "CHILD_SA {}{{{}}} closed, SPIs {:08x}_i {:08x}_o", c.conn, c.id, c.spi_in, c.spi_out);
            self.events.push_back(Event::DeleteChild {
                conn: c.conn,
                child_id: c.id,
                reqid: c.reqid,
                local: sa.local.ip(),
                remote: sa.remote.ip(),
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
        }
    }

    /// Drops an IKE_SA locally, reporting its children and itself gone.
    fn kill(&mut self, sa: &mut IkeSa, reason: &str) {
        self.report_children_gone(sa);
        for (pool, ip) in sa.vip_leases.drain(..) {
            if let Some(p) = self.pools.get_mut(&pool) {
                p.online.remove(&ip);
                info!(target: "cfg", "virtual IP {ip} of pool {pool} released");
            }
        }
        if sa.phase != Phase::Dead {
            sa.phase = Phase::Dead;
            self.events.push_back(Event::IkeDown {
                conn: sa.conn.name.clone(),
                ike_id: sa.id,
                reason: reason.to_owned(),
            });
        }
        self.half_open.retain(|_, v| *v != sa.our_spi());
    }

    // ------------------------------------------------------------------
    // Sending

    fn send_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        msg_id: u32,
        packets: Vec<Vec<u8>>,
        kind: PendingKind,
    ) {
        for data in &packets {
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                data: data.clone(),
            });
        }
        sa.pending = Some(Pending {
            msg_id,
            packets,
            tries: 0,
            next: now + Duration::from_secs_f64(RETRANSMIT_TIMEOUT),
            kind,
        });
    }

    fn send_response(&mut self, sa: &mut IkeSa, msg_id: u32, packets: Vec<Vec<u8>>) {
        for data in &packets {
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                data: data.clone(),
            });
        }
        sa.last_response = Some((msg_id, packets));
    }

    /// Builds an encrypted message of this SA: one datagram, or RFC 7383
    /// fragments when both sides support them and it exceeds the fragment size.
    fn protect(
        &mut self,
        sa: &IkeSa,
        exchange: ExchangeType,
        response: bool,
        msg_id: u32,
        inner: &[Payload],
    ) -> Option<Vec<Vec<u8>>> {
        let sk = sa.sk_out.as_ref()?;
        let header = sa.header(exchange, response, msg_id);
        let whole = match sk.protect(&header, &[], inner, &mut *self.rng) {
            Ok(p) => p,
            Err(e) => {
                warn!(target: "enc", "could not protect {exchange} message: {e}");
                return None;
            }
        };
        let may_fragment = sa.frag_supported && sa.conn.fragmentation != Fragmentation::No;
        if !may_fragment || whole.len() <= FRAGMENT_SIZE {
            return Some(vec![whole]);
        }
        match sk.protect_fragments(&header, inner, FRAGMENT_SIZE, &mut *self.rng) {
            Ok(f) => {
                debug!(target: "enc", "{exchange} message of {} octets sent in {} fragments", whole.len(), f.len());
                Some(f)
            }
            Err(e) => {
                warn!(target: "enc", "could not fragment {exchange} message: {e}");
                Some(vec![whole])
            }
        }
    }

    /// Protects and sends a response (and keeps it for retransmitted requests).
    fn reply(&mut self, sa: &mut IkeSa, exchange: ExchangeType, msg_id: u32, inner: Vec<Payload>) {
        if let Some(p) = self.protect(sa, exchange, true, msg_id, &inner) {
            self.send_response(sa, msg_id, p);
        }
    }

    /// Queues a request; sends it now if nothing is outstanding (window size 1).
    fn queue_request(&mut self, now: Instant, sa: &mut IkeSa, q: Queued) {
        sa.queue.push_back(q);
        self.send_queued(now, sa);
    }

    fn send_queued(&mut self, now: Instant, sa: &mut IkeSa) {
        while sa.pending.is_none() {
            let Some(q) = sa.queue.pop_front() else {
                return;
            };
            let msg_id = sa.next_out;
            let (exchange, inner, kind) = match q {
                Queued::DeleteIke => (
                    ExchangeType::INFORMATIONAL,
                    vec![Payload::Delete(Delete {
                        protocol_id: ProtocolId::IKE,
                        spi_size: 0,
                        spis: Vec::new(),
                    })],
                    PendingKind::DeleteIke,
                ),
                Queued::DeleteChild(spis) => (
                    ExchangeType::INFORMATIONAL,
                    vec![Payload::Delete(Delete {
                        protocol_id: ProtocolId::ESP,
                        spi_size: 4,
                        spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
                    })],
                    PendingKind::DeleteChild(spis),
                ),
                Queued::CreateChild { conn, rekey_of } => {
                    match self.build_create_child(sa, conn, rekey_of) {
                        Some(p) => (ExchangeType::CREATE_CHILD_SA, p, PendingKind::Create),
                        None => continue,
                    }
                }
                Queued::Liveness => (
                    ExchangeType::INFORMATIONAL,
                    Vec::new(),
                    PendingKind::Liveness,
                ),
                Queued::RekeyIke => match self.build_rekey_ike(sa) {
                    Some(p) => (ExchangeType::CREATE_CHILD_SA, p, PendingKind::Create),
                    None => continue,
                },
            };
            let Some(packet) = self.protect(sa, exchange, false, msg_id, &inner) else {
                sa.create = None;
                return;
            };
            sa.next_out += 1;
            self.send_request(now, sa, msg_id, packet, kind);
        }
    }

    /// Adds CHILD_SAs for conns that waited for this IKE_SA.
    fn run_deferred(&mut self, now: Instant, sa: &mut IkeSa) {
        for conn in std::mem::take(&mut sa.deferred) {
            self.queue_request(
                now,
                sa,
                Queued::CreateChild {
                    conn,
                    rekey_of: None,
                },
            );
        }
    }

    // ------------------------------------------------------------------
    // CREATE_CHILD_SA (RFC 7296 §1.3): new CHILD_SAs, CHILD_SA and IKE_SA rekeying

    fn build_create_child(
        &mut self,
        sa: &mut IkeSa,
        conn: Arc<Conn>,
        rekey_of: Option<u32>,
    ) -> Option<Vec<Payload>> {
        let side = conn.local_side(&self.local_addrs);
        let (local_end, remote_end) = conn.ends(side);
        let old = rekey_of.and_then(|id| sa.children.iter().find(|c| c.id == id).cloned());
        if rekey_of.is_some() && old.is_none() {
            return None;
        }
        let (ts_local, ts_remote, transport) = match &old {
            Some(o) => (
                o.ts_local.clone(),
                o.ts_remote.clone(),
                o.mode == Mode::Transport,
            ),
            None => (
                crate::ts::configured(&local_end.subnets, &local_end.protoport, sa.local.ip()),
                crate::ts::configured(&remote_end.subnets, &remote_end.protoport, sa.remote.ip()),
                conn.conn_type == ConnType::Transport,
            ),
        };
        let spi_in = match self.spis.alloc_spi(sa.local.ip(), sa.remote.ip()) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "knl", "unable to allocate SPI: {e}");
                return None;
            }
        };
        let esp = conn.esp.effective();
        let offer = match self.provider.offer(&esp, &spi_in.to_be_bytes()) {
            Ok(o) => o,
            Err(e) => {
                warn!(target: "cfg", "esp= not supported: {}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
                return None;
            }
        };
        let group = esp
            .first()
            .and_then(|p| p.dh.first())
            .and_then(|t| self.provider.group(t.id));
        let dh = match group.map(|g| g.generate(&mut *self.rng)) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                warn!(target: "enc", "key generation failed: {e}");
                return None;
            }
            None => None,
        };
        let ni = self.random_bytes(NONCE_LEN);
        let mut p = Vec::new();
        if let Some(o) = &old {
            p.push(Payload::Notify(Notify {
                protocol_id: ProtocolId::ESP,
                spi: o.spi_in.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: Vec::new(),
            }));
        }
        if transport {
            p.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        p.push(Payload::Sa(offer));
        p.push(Payload::Nonce(ni.clone()));
        if let Some(d) = &dh {
            p.push(Payload::Ke(KePayload {
                group: d.group().iana_id(),
                data: d.public_value().to_vec(),
            }));
        }
        p.push(Payload::TsI(
            ts_local.iter().map(crate::ts::to_wire).collect(),
        ));
        p.push(Payload::TsR(
            ts_remote.iter().map(crate::ts::to_wire).collect(),
        ));
        match &old {
            Some(o) => info!(target: "chd", "rekeying CHILD_SA {}{{{}}}", o.conn, o.id),
            None => {
                info!(target: "chd", "establishing CHILD_SA {} on IKE_SA {}[{}]", conn.name, sa.conn.name, sa.id)
            }
        }
        sa.create = Some(CreateReq::Child {
            conn,
            spi_in,
            dh,
            ni,
            ts_local,
            ts_remote,
            transport,
            rekey_of,
        });
        Some(p)
    }

    fn build_rekey_ike(&mut self, sa: &mut IkeSa) -> Option<Vec<Payload>> {
        let group = sa.suite.and_then(|s| s.dh)?;
        let spi = self.new_spi();
        let offer = self.provider.offer(&sa.conn.ike.effective(), &spi).ok()?;
        let dh = group.generate(&mut *self.rng).ok()?;
        let ni = self.random_bytes(NONCE_LEN);
        let p = vec![
            Payload::Sa(offer),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KePayload {
                group: group.iana_id(),
                data: dh.public_value().to_vec(),
            }),
        ];
        info!(target: "ike", "rekeying IKE_SA {}[{}]", sa.conn.name, sa.id);
        sa.create = Some(CreateReq::Ike { spi, dh, ni });
        Some(p)
    }

    /// The peer's answer to our CREATE_CHILD_SA.
    fn on_create_response(&mut self, now: Instant, sa: &mut IkeSa, payloads: Vec<Payload>) {
        let Some(req) = sa.create.take() else { return };
        let nr = find_payload!(payloads, Nonce).cloned();
        let sa_p = find_payload!(payloads, Sa).cloned();
        let ke = find_payload!(payloads, Ke).cloned();
        let retry_later = |sa: &mut IkeSa, rekey_of: Option<u32>| {
            if let Some(c) = rekey_of.and_then(|id| sa.children.iter_mut().find(|c| c.id == id)) {
                c.rekeying = false;
                c.rekey_at = Some(now + Duration::from_secs(30));
            }
        };
        match req {
            CreateReq::Child {
                conn,
                spi_in,
                dh,
                ni,
                ts_local,
                ts_remote,
                transport,
                rekey_of,
            } => {
                if let Some(e) = first_error(&payloads) {
                    warn!(target: "chd", "CREATE_CHILD_SA for {} failed: peer answered {e}", conn.name);
                    retry_later(sa, rekey_of);
                    return;
                }
                let (Some(nr), Some(sa_p)) = (nr, sa_p) else {
                    warn!(target: "chd", "CREATE_CHILD_SA response lacks SA or Nonce");
                    retry_later(sa, rekey_of);
                    return;
                };
                let tsi = find_payload!(payloads, TsI)
                    .map(|t| crate::ts::from_wire(t))
                    .unwrap_or_default();
                let tsr = find_payload!(payloads, TsR)
                    .map(|t| crate::ts::from_wire(t))
                    .unwrap_or_default();
                let picked = match sa_p.proposals.as_slice() {
                    [one] => select(
                        &self.provider,
                        &conn.esp.effective(),
                        std::slice::from_ref(one),
                        RegProto::Esp,
                    ),
                    _ => None,
                };
                let Some((chosen, suite)) = picked else {
                    warn!(target: "chd", "peer chose an ESP proposal we did not offer");
                    retry_later(sa, rekey_of);
                    return;
                };
                let shared = match (&dh, &ke, suite.dh) {
                    (Some(d), Some(k), Some(g)) if d.group() == g && k.group == g.iana_id() => {
                        match d.compute_shared(&k.data) {
                            Ok(s) => Some(s),
                            Err(e) => {
                                warn!(target: "chd", "invalid KE in CREATE_CHILD_SA response: {e}");
                                retry_later(sa, rekey_of);
                                return;
                            }
                        }
                    }
                    (_, _, None) => None,
                    _ => {
                        warn!(target: "chd", "CREATE_CHILD_SA response: key exchange does not match the chosen proposal");
                        retry_later(sa, rekey_of);
                        return;
                    }
                };
                let Some(spi_out) = chosen
                    .spi
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                else {
                    return;
                };
                if tsi.is_empty()
                    || tsr.is_empty()
                    || !tsi.iter().all(|t| crate::ts::is_subset(t, &ts_local))
                    || !tsr.iter().all(|t| crate::ts::is_subset(t, &ts_remote))
                {
                    warn!(target: "chd", "peer's traffic selectors are not within ours: no CHILD_SA");
                    retry_later(sa, rekey_of);
                    return;
                }
                let got_transport =
                    find_notify(&payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
                if transport && !got_transport {
                    warn!(target: "chd", "peer refused transport mode");
                    retry_later(sa, rekey_of);
                    return;
                }
                let mode = if got_transport {
                    Mode::Transport
                } else {
                    Mode::Tunnel
                };
                let new_id = self.install_child(
                    sa,
                    NewChild {
                        conn: &conn,
                        suite,
                        spi_in,
                        spi_out,
                        mode,
                        ts_local: tsi,
                        ts_remote: tsr,
                        ni: &ni,
                        nr: &nr,
                        shared: shared.as_ref().map(SecretBytes::as_slice),
                        we_initiated: true,
                    },
                    now,
                );
                if let Some(old_id) = rekey_of {
                    match sa
                        .children
                        .iter()
                        .find(|c| c.id == old_id)
                        .map(|c| c.spi_in)
                    {
                        Some(old_spi) => {
                            self.queue_request(now, sa, Queued::DeleteChild(vec![old_spi]))
                        }
                        None => {
                            // The peer rekeyed (and deleted) it first: ours is redundant.
                            if let Some(spi) = new_id
                                .and_then(|id| sa.children.iter().find(|c| c.id == id))
                                .map(|c| c.spi_in)
                            {
                                info!(target: "chd", "CHILD_SA rekey collision: deleting our redundant CHILD_SA");
                                self.queue_request(now, sa, Queued::DeleteChild(vec![spi]));
                            }
                        }
                    }
                }
            }
            CreateReq::Ike { spi, dh, ni } => {
                if let Some(e) = first_error(&payloads) {
                    warn!(target: "ike", "IKE_SA rekey of {}[{}] failed: peer answered {e}", sa.conn.name, sa.id);
                    sa.rekey_at = Some(now + Duration::from_secs(30));
                    return;
                }
                let (Some(nr), Some(sa_p), Some(ke)) = (nr, sa_p, ke) else {
                    return;
                };
                let picked = match sa_p.proposals.as_slice() {
                    [one] => select(
                        &self.provider,
                        &sa.conn.ike.effective(),
                        std::slice::from_ref(one),
                        RegProto::Ike,
                    ),
                    _ => None,
                };
                let Some((chosen, suite)) = picked else {
                    return;
                };
                let Ok(spi_r) = <[u8; 8]>::try_from(chosen.spi.as_slice()) else {
                    return;
                };
                if suite.dh != Some(dh.group()) || ke.group != dh.group().iana_id() {
                    warn!(target: "ike", "IKE_SA rekey: key exchange group mismatch");
                    return;
                }
                let Ok(shared) = dh.compute_shared(&ke.data) else {
                    return;
                };
                self.finish_ike_rekey(now, sa, suite, spi, spi_r, true, &ni, &nr, &shared);
            }
        }
    }

    /// Moves an IKE_SA's children to its rekeyed successor and retires it.
    #[allow(clippy::too_many_arguments)]
    fn finish_ike_rekey(
        &mut self,
        now: Instant,
        old: &mut IkeSa,
        suite: Suite,
        spi_i: [u8; 8],
        spi_r: [u8; 8],
        we_initiated: bool,
        ni: &[u8],
        nr: &[u8],
        shared: &SecretBytes,
    ) -> bool {
        let (Some(old_prf), Some(old_keys)) = (old.prf(), old.keys.as_ref()) else {
            return false;
        };
        let (Some(prf), Some(lens)) = (suite.prf, suite.ike_key_lengths()) else {
            return false;
        };
        let seed =
            kdf::skeyseed_rekey(old_prf, old_keys.sk_d.as_slice(), shared.as_slice(), ni, nr);
        let Ok(keys) = IkeSaKeys::derive(prf, seed.as_slice(), ni, nr, &spi_i, &spi_r, lens) else {
            return false;
        };
        let Ok((sk_out, sk_in)) = SkCrypto::pair(suite.encr, suite.integ, &keys, we_initiated)
        else {
            return false;
        };
        let id = self.next_ike_id;
        self.next_ike_id += 1;
        let new = IkeSa {
            id,
            conn: old.conn.clone(),
            initiator: we_initiated,
            spi_i,
            spi_r,
            local: old.local,
            remote: old.remote,
            phase: Phase::Established,
            suite: Some(suite),
            dh: None,
            ni: ni.to_vec(),
            nr: nr.to_vec(),
            init_req: Vec::new(),
            init_resp: Vec::new(),
            cookie: None,
            keys: Some(keys),
            sk_out: Some(sk_out),
            sk_in: Some(sk_in),
            next_out: 0,
            next_in: 0,
            pending: None,
            queue: VecDeque::new(),
            last_response: None,
            children: std::mem::take(&mut old.children),
            child_req: None,
            create: None,
            rekey_at: old.conn.rekey.then(|| {
                now + self.rekey_delay(
                    old.conn.ikelifetime,
                    old.conn.margintime,
                    old.conn.rekeyfuzz,
                )
            }),
            deferred: Vec::new(),
            local_id: old.local_id.clone(),
            remote_id: old.remote_id.clone(),
            nat_local: old.nat_local,
            nat_remote: old.nat_remote,
            frag_supported: old.frag_supported,
            reassembly: None,
            last_in: now,
            keepalive_at: None,
            acquire: None,
            eap: None,
            vips_local: Vec::new(),
            want_vip: None,
            peer_hashes: None,
            certreq_received: false,
            vip_leases: Vec::new(),
            created: now,
            established: Some(now),
        };
        info!(target: "ike", "IKE_SA {}[{}] rekeyed as {}[{}] ({})", old.conn.name, old.id, new.conn.name, id, suite_name(&suite));
        let key = new.our_spi();
        self.sas.insert(key, new);
        self.events.push_back(Event::IkeUp {
            conn: old.conn.name.clone(),
            ike_id: id,
        });
        old.rekey_at = None;
        if we_initiated {
            self.queue_request(now, old, Queued::DeleteIke);
            old.phase = Phase::Deleting;
        }
        true
    }

    /// The peer's CREATE_CHILD_SA request.
    fn on_create_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        msg_id: u32,
        payloads: Vec<Payload>,
    ) {
        let answer = |ep: &mut Endpoint, sa: &mut IkeSa, inner: Vec<Payload>| {
            ep.reply(sa, ExchangeType::CREATE_CHILD_SA, msg_id, inner)
        };
        let fail = |ep: &mut Endpoint, sa: &mut IkeSa, t: NotifyType, data: Vec<u8>| {
            ep.reply(
                sa,
                ExchangeType::CREATE_CHILD_SA,
                msg_id,
                vec![notify(t, data)],
            )
        };
        if sa.phase != Phase::Established {
            fail(self, sa, NotifyType::TEMPORARY_FAILURE, Vec::new());
            return;
        }
        let sa_p = find_payload!(payloads, Sa).cloned();
        let ni = find_payload!(payloads, Nonce).cloned();
        let ke = find_payload!(payloads, Ke).cloned();
        let (Some(sa_p), Some(ni)) = (sa_p, ni) else {
            fail(self, sa, NotifyType::INVALID_SYNTAX, Vec::new());
            return;
        };
        let nr = self.random_bytes(NONCE_LEN);
        // IKE_SA rekey.
        if sa_p
            .proposals
            .first()
            .is_some_and(|p| p.protocol_id == ProtocolId::IKE)
        {
            let Some((mut chosen, suite)) = select(
                &self.provider,
                &sa.conn.ike.effective(),
                &sa_p.proposals,
                RegProto::Ike,
            ) else {
                fail(self, sa, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
                return;
            };
            let (Some(group), Some(ke)) = (suite.dh, ke) else {
                fail(self, sa, NotifyType::INVALID_SYNTAX, Vec::new());
                return;
            };
            if ke.group != group.iana_id() {
                fail(
                    self,
                    sa,
                    NotifyType::INVALID_KE_PAYLOAD,
                    group.iana_id().to_be_bytes().to_vec(),
                );
                return;
            }
            let Ok(spi_i) = <[u8; 8]>::try_from(chosen.spi.as_slice()) else {
                fail(self, sa, NotifyType::INVALID_SYNTAX, Vec::new());
                return;
            };
            let Ok(dh) = group.generate(&mut *self.rng) else {
                return;
            };
            let Ok(shared) = dh.compute_shared(&ke.data) else {
                fail(self, sa, NotifyType::INVALID_SYNTAX, Vec::new());
                return;
            };
            let spi_r = self.new_spi();
            chosen.spi = spi_r.to_vec();
            let inner = vec![
                Payload::Sa(SaPayload {
                    proposals: vec![chosen],
                }),
                Payload::Nonce(nr.clone()),
                Payload::Ke(KePayload {
                    group: group.iana_id(),
                    data: dh.public_value().to_vec(),
                }),
            ];
            // Answer on the old SA, then switch.
            answer(self, sa, inner);
            self.finish_ike_rekey(now, sa, suite, spi_i, spi_r, false, &ni, &nr, &shared);
            return;
        }
        // CHILD_SA: rekey of an existing one, or a new one.
        let rekey = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => n
                .spi
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            _ => None,
        });
        let tsi = find_payload!(payloads, TsI)
            .map(|t| crate::ts::from_wire(t))
            .unwrap_or_default();
        let tsr = find_payload!(payloads, TsR)
            .map(|t| crate::ts::from_wire(t))
            .unwrap_or_default();
        let old = rekey.and_then(|spi| sa.children.iter().find(|c| c.spi_out == spi).cloned());
        if rekey.is_some() && old.is_none() {
            info!(target: "chd", "peer wants to rekey a CHILD_SA we do not have: CHILD_SA_NOT_FOUND");
            fail(self, sa, NotifyType::CHILD_SA_NOT_FOUND, Vec::new());
            return;
        }
        // Candidate conns: the rekeyed child's conn, else any conn to this peer whose selectors fit.
        let peer_id = sa.remote_id.as_ref().and_then(ident::from_wire);
        let candidates: Vec<Arc<Conn>> = match &old {
            Some(o) => self
                .conns
                .iter()
                .filter(|c| c.name == o.conn)
                .cloned()
                .chain(std::iter::once(sa.conn.clone()))
                .take(1)
                .collect(),
            None => std::iter::once(sa.conn.clone())
                .chain(self.conns.iter().cloned())
                .filter(|c| !c.is_shunt())
                .filter(|c| {
                    let side = c.local_side(&self.local_addrs);
                    let (l, r) = c.ends(side);
                    addr_in_hosts(sa.local.ip(), &l.hosts)
                        && addr_in_hosts(sa.remote.ip(), &r.hosts)
                        && peer_id.as_ref().is_some_and(|p| {
                            conf::secrets::id_matches(
                                &r.id.clone().unwrap_or_else(|| r.effective_id()),
                                p,
                            )
                        })
                })
                .collect(),
        };
        let mut last_err = NotifyType::TS_UNACCEPTABLE;
        for conn in candidates {
            let side = conn.local_side(&self.local_addrs);
            let (local_end, remote_end) = conn.ends(side);
            let conf_remote =
                crate::ts::configured(&remote_end.subnets, &remote_end.protoport, sa.remote.ip());
            let conf_local =
                crate::ts::configured(&local_end.subnets, &local_end.protoport, sa.local.ip());
            let ts_remote = crate::ts::narrow(&tsi, &conf_remote);
            let ts_local = crate::ts::narrow(&tsr, &conf_local);
            if ts_remote.is_empty() || ts_local.is_empty() {
                continue;
            }
            let Some((mut chosen, suite)) = select(
                &self.provider,
                &conn.esp.effective(),
                &sa_p.proposals,
                RegProto::Esp,
            ) else {
                last_err = NotifyType::NO_PROPOSAL_CHOSEN;
                continue;
            };
            let shared = match suite.dh {
                None => None,
                Some(g) => match &ke {
                    Some(k) if k.group == g.iana_id() => {
                        let Ok(dh) = g.generate(&mut *self.rng) else {
                            return;
                        };
                        let Ok(sh) = dh.compute_shared(&k.data) else {
                            fail(self, sa, NotifyType::INVALID_SYNTAX, Vec::new());
                            return;
                        };
                        Some((dh, sh))
                    }
                    _ => {
                        info!(target: "chd", "CREATE_CHILD_SA: peer's KE is not group {}: INVALID_KE_PAYLOAD", g.iana_id());
                        fail(
                            self,
                            sa,
                            NotifyType::INVALID_KE_PAYLOAD,
                            g.iana_id().to_be_bytes().to_vec(),
                        );
                        return;
                    }
                },
            };
            let Some(spi_out) = chosen
                .spi
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            else {
                fail(self, sa, NotifyType::INVALID_SYNTAX, Vec::new());
                return;
            };
            let wants_transport = find_notify(&payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
            let transport = wants_transport && conn.conn_type == ConnType::Transport;
            let spi_in = match self.spis.alloc_spi(sa.local.ip(), sa.remote.ip()) {
                Ok(s) => s,
                Err(e) => {
                    warn!(target: "knl", "unable to allocate SPI: {e}");
                    fail(self, sa, NotifyType::TEMPORARY_FAILURE, Vec::new());
                    return;
                }
            };
            chosen.spi = spi_in.to_be_bytes().to_vec();
            if let Some(o) = &old {
                if let Some(c) = sa.children.iter_mut().find(|c| c.id == o.id) {
                    // The peer rekeys it: we will not (and it will delete the old one).
                    c.rekey_at = None;
                }
            }
            let mode = if transport {
                Mode::Transport
            } else {
                Mode::Tunnel
            };
            self.install_child(
                sa,
                NewChild {
                    conn: &conn,
                    suite,
                    spi_in,
                    spi_out,
                    mode,
                    ts_local: ts_local.clone(),
                    ts_remote: ts_remote.clone(),
                    ni: &ni,
                    nr: &nr,
                    shared: shared.as_ref().map(|(_, s)| s.as_slice()),
                    we_initiated: false,
                },
                now,
            );
            let mut inner = Vec::new();
            if transport {
                inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
            }
            inner.push(Payload::Sa(SaPayload {
                proposals: vec![chosen],
            }));
            inner.push(Payload::Nonce(nr.clone()));
            if let Some((dh, _)) = &shared {
                inner.push(Payload::Ke(KePayload {
                    group: dh.group().iana_id(),
                    data: dh.public_value().to_vec(),
                }));
            }
            inner.push(Payload::TsI(
                ts_remote.iter().map(crate::ts::to_wire).collect(),
            ));
            inner.push(Payload::TsR(
                ts_local.iter().map(crate::ts::to_wire).collect(),
            ));
            answer(self, sa, inner);
            return;
        }
        info!(target: "chd", "CREATE_CHILD_SA from {}: no conn accepts it ({last_err})", sa.remote.ip());
        fail(self, sa, last_err, Vec::new());
    }

    // ------------------------------------------------------------------
    // Timers

    pub fn handle_timeout(&mut self, now: Instant) {
        let keys: Vec<[u8; 8]> = self.sas.keys().copied().collect();
        for k in keys {
            let Some(mut sa) = self.sas.remove(&k) else {
                continue;
            };
            if sa.phase == Phase::InitDone && now >= sa.created + HALF_OPEN_TIMEOUT {
                info!(target: "ike", "half-open IKE_SA {}[{}] from {} timed out waiting for IKE_AUTH", sa.conn.name, sa.id, sa.remote.ip());
                self.kill(&mut sa, "half-open timeout");
                continue;
            }
            if sa.phase == Phase::Established {
                if sa.nat_local && sa.local.port() == NATT_PORT {
                    match sa.keepalive_at {
                        Some(t) if now >= t => {
                            debug!(target: "net", "sending keep-alive to {}", sa.remote);
                            self.transmits.push_back(Transmit {
                                local: sa.local,
                                remote: sa.remote,
                                data: vec![0xff],
                            });
                            sa.keepalive_at = Some(now + KEEPALIVE);
                        }
                        None => sa.keepalive_at = Some(now + KEEPALIVE),
                        _ => {}
                    }
                }
                if let Some(t) = dpd_due(&sa) {
                    if now >= t && sa.pending.is_none() && sa.queue.is_empty() {
                        debug!(target: "ike", "sending DPD to {}", sa.remote.ip());
                        sa.last_in = now;
                        self.queue_request(now, &mut sa, Queued::Liveness);
                    }
                }
                if sa.rekey_at.is_some_and(|t| now >= t) {
                    sa.rekey_at = None;
                    self.queue_request(now, &mut sa, Queued::RekeyIke);
                }
                let due: Vec<u32> = sa
                    .children
                    .iter_mut()
                    .filter(|c| !c.rekeying && c.rekey_at.is_some_and(|t| now >= t))
                    .map(|c| {
                        c.rekeying = true;
                        c.rekey_at = None;
                        c.id
                    })
                    .collect();
                for id in due {
                    let conn = sa
                        .children
                        .iter()
                        .find(|c| c.id == id)
                        .and_then(|c| self.conns.iter().find(|x| x.name == c.conn).cloned())
                        .unwrap_or_else(|| sa.conn.clone());
                    self.queue_request(
                        now,
                        &mut sa,
                        Queued::CreateChild {
                            conn,
                            rekey_of: Some(id),
                        },
                    );
                }
            }
            let mut give_up = false;
            if let Some(p) = sa.pending.as_mut() {
                if now >= p.next {
                    if p.tries >= RETRANSMIT_TRIES {
                        give_up = true;
                    } else {
                        p.tries += 1;
                        let wait = RETRANSMIT_TIMEOUT
                            * RETRANSMIT_BASE.powi(i32::try_from(p.tries).unwrap_or(i32::MAX));
                        p.next = now + Duration::from_secs_f64(wait);
                        info!(target: "ike", "retransmit {} of request with message ID {} ({}[{}])", p.tries, p.msg_id, sa.conn.name, sa.id);
                        for data in &p.packets {
                            self.transmits.push_back(Transmit {
                                local: sa.local,
                                remote: sa.remote,
                                data: data.clone(),
                            });
                        }
                    }
                }
            }
            if give_up {
                warn!(target: "ike", "giving up after {} retransmits: peer {} does not answer ({}[{}])", RETRANSMIT_TRIES, sa.remote.ip(), sa.conn.name, sa.id);
                let was_up = sa.established.is_some();
                self.kill(&mut sa, "peer not responding");
                if was_up && sa.conn.dpdaction == conf::conn::DpdAction::Restart {
                    self.restart(now, &sa);
                }
                continue;
            }
            self.sas.insert(k, sa);
        }
        self.sas.retain(|_, sa| sa.phase != Phase::Dead);
    }

    // ------------------------------------------------------------------
    // Receiving

    /// A datagram from the network (without the non-ESP marker).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        let raw = match RawHeader::peek(data) {
            Ok(r) => r,
            Err(e) => {
                info!(target: "net", "dropped {}-octet datagram from {remote}: {e}", data.len());
                return;
            }
        };
        if raw.major_version != 2 {
            info!(target: "net", "dropped IKEv{} message from {remote}: only IKEv2 is supported", raw.major_version);
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                info!(target: "net", "dropped malformed message from {remote}: {e}");
                return;
            }
        };
        let h = msg.header;
        let response = h.flags.response();
        if h.exchange == ExchangeType::IKE_SA_INIT
            && !response
            && h.message_id == 0
            && h.spi_r == [0; 8]
        {
            self.on_init_request(now, local, remote, data, msg);
            self.sas.retain(|_, sa| sa.phase != Phase::Dead);
            return;
        }
        // Our SPI is the initiator's SPI if the peer says we are the initiator.
        let ours = if h.flags.initiator() {
            h.spi_r
        } else {
            h.spi_i
        };
        let Some(mut sa) = self.sas.remove(&ours) else {
            info!(target: "net", "dropped {} {} from {remote}: no IKE_SA with SPI {}", h.exchange, if response { "response" } else { "request" }, hex::encode(ours));
            return;
        };
        if sa.remote.ip() != remote.ip() {
            info!(target: "net", "dropped message for {}[{}] from unexpected address {remote}", sa.conn.name, sa.id);
            self.sas.insert(ours, sa);
            return;
        }
        // Port floating (NAT-T): follow the peer to 4500.
        if local.port() == NATT_PORT && sa.local.port() != NATT_PORT {
            sa.local = local;
            sa.remote = remote;
        } else if sa.remote != remote && sa.local.port() == NATT_PORT {
            self.move_peer(&mut sa, remote);
        }
        if response {
            self.on_response(now, &mut sa, data, msg);
        } else {
            self.on_request(now, &mut sa, data, msg);
        }
        let spi = sa.our_spi();
        if sa.phase != Phase::Dead {
            self.sas.insert(spi, sa);
        } else {
            self.half_open.retain(|_, v| *v != spi);
        }
    }

    fn on_response(&mut self, now: Instant, sa: &mut IkeSa, data: &[u8], msg: Message) {
        let Some(p) = sa.pending.as_ref() else {
            debug!(target: "ike", "ignoring unexpected response (message ID {})", msg.header.message_id);
            return;
        };
        if p.msg_id != msg.header.message_id {
            debug!(target: "ike", "ignoring response with message ID {}, expected {}", msg.header.message_id, p.msg_id);
            return;
        }
        let kind = p.kind.clone();
        match kind {
            PendingKind::Init => {
                if msg.header.exchange != ExchangeType::IKE_SA_INIT {
                    return;
                }
                self.on_init_response(now, sa, data, msg);
            }
            _ => {
                let chain = match open_message(sa, data, &msg) {
                    Ok(Some(c)) => c,
                    Ok(None) => return,
                    Err(e) => {
                        info!(target: "enc", "dropped response of {}[{}]: {e}", sa.conn.name, sa.id);
                        return;
                    }
                };
                sa.pending = None;
                sa.last_in = now;
                match kind {
                    PendingKind::Auth => self.on_auth_response(now, sa, chain.payloads),
                    PendingKind::DeleteIke => {
                        info!(target: "ike", "IKE_SA {}[{}] deleted", sa.conn.name, sa.id);
                        self.kill(sa, "deleted");
                    }
                    PendingKind::DeleteChild(spis) => {
                        let (gone, keep): (Vec<ChildSa>, Vec<ChildSa>) = sa
                            .children
                            .drain(..)
                            .partition(|c| spis.contains(&c.spi_in));
                        sa.children = keep;
                        for c in gone {
                            info!(target: "chd", "CHILD_SA {}{{{}}} deleted", c.conn, c.id);
                            self.events.push_back(Event::DeleteChild {
                                conn: c.conn,
                                child_id: c.id,
                                reqid: c.reqid,
                                local: sa.local.ip(),
                                remote: sa.remote.ip(),
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                            });
                        }
                    }
                    PendingKind::Create => self.on_create_response(now, sa, chain.payloads),
                    PendingKind::Liveness => {
                        debug!(target: "ike", "peer {} is alive", sa.remote.ip())
                    }
                    PendingKind::Init => {}
                }
                self.send_queued(now, sa);
            }
        }
    }

    fn on_request(&mut self, now: Instant, sa: &mut IkeSa, data: &[u8], msg: Message) {
        let id = msg.header.message_id;
        if let Some((last_id, packets)) = &sa.last_response {
            let first_fragment = match msg.payloads.last() {
                Some(Payload::Skf(f)) => f.number == 1,
                _ => true,
            };
            if *last_id == id && first_fragment {
                debug!(target: "net", "retransmitted request {id} of {}[{}]: answering from cache", sa.conn.name, sa.id);
                for data in packets {
                    self.transmits.push_back(Transmit {
                        local: sa.local,
                        remote: sa.remote,
                        data: data.clone(),
                    });
                }
                return;
            }
        }
        if id != sa.next_in {
            info!(target: "ike", "dropped request with message ID {id} (expected {}) for {}[{}]", sa.next_in, sa.conn.name, sa.id);
            return;
        }
        let chain = match open_message(sa, data, &msg) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                info!(target: "enc", "dropped request of {}[{}]: {e}", sa.conn.name, sa.id);
                return;
            }
        };
        sa.next_in += 1;
        sa.last_in = now;
        if let Some(t) = chain.unsupported_critical.or(msg.unsupported_critical) {
            info!(target: "ike", "request carries unsupported critical payload {t}: answering UNSUPPORTED_CRITICAL_PAYLOAD");
            let inner = [notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0])];
            if let Some(p) = self.protect(sa, msg.header.exchange, true, id, &inner) {
                self.send_response(sa, id, p);
            }
            return;
        }
        match msg.header.exchange {
            ExchangeType::IKE_AUTH if sa.phase == Phase::InitDone => {
                self.on_auth_request(now, sa, id, chain.payloads)
            }
            ExchangeType::INFORMATIONAL => {
                self.on_informational_request(now, sa, id, chain.payloads)
            }
            ExchangeType::CREATE_CHILD_SA => self.on_create_request(now, sa, id, chain.payloads),
            other => info!(target: "ike", "ignoring {other} request in state {:?}", sa.phase),
        }
    }

    // ------------------------------------------------------------------
    // IKE_SA_INIT

    fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        msg: Message,
    ) {
        let spi_i = msg.header.spi_i;
        // A retransmitted IKE_SA_INIT: answer from the cache.
        if let Some(ours) = self.half_open.get(&(remote, spi_i)).copied() {
            if let Some(sa) = self.sas.get(&ours) {
                if sa.init_req == data {
                    debug!(target: "net", "retransmitted IKE_SA_INIT from {remote}: answering from cache");
                    self.transmits.push_back(Transmit {
                        local: sa.local,
                        remote: sa.remote,
                        data: sa.init_resp.clone(),
                    });
                }
            }
            return;
        }
        let reply_plain = |ep: &mut Endpoint, payloads: Vec<Payload>| {
            let mut m = Message::new(Header {
                spi_i,
                spi_r: [0; 8],
                minor_version: 0,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::new(false, true),
                message_id: 0,
            });
            m.payloads = payloads;
            if let Ok(p) = m.encode() {
                ep.transmits.push_back(Transmit {
                    local,
                    remote,
                    data: p,
                });
            }
        };
        if let Some(t) = msg.unsupported_critical {
            info!(target: "ike", "IKE_SA_INIT from {remote} carries unsupported critical payload {t}");
            reply_plain(
                self,
                vec![notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0])],
            );
            return;
        }
        let sa_p = find_payload!(msg.payloads, Sa);
        let ke = find_payload!(msg.payloads, Ke);
        let nonce = find_payload!(msg.payloads, Nonce);
        let (Some(sa_p), Some(ke), Some(nonce)) = (sa_p, ke, nonce) else {
            info!(target: "ike", "IKE_SA_INIT from {remote} lacks SA, KE or Nonce: answering INVALID_SYNTAX");
            reply_plain(self, vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())]);
            return;
        };
        // Under load, demand a COOKIE before spending a key exchange (RFC 7296 §2.6).
        let half_open = self
            .sas
            .values()
            .filter(|x| x.phase == Phase::InitDone)
            .count();
        if half_open >= self.cookie_threshold {
            let expect = self.cookie(nonce, remote, &spi_i);
            let got = msg.payloads.first().and_then(|p| match p {
                Payload::Notify(n) if n.notify_type == NotifyType::COOKIE => Some(n.data.clone()),
                _ => None,
            });
            if got.as_deref() != Some(expect.as_slice()) {
                debug!(target: "ike", "{half_open} half-open IKE_SAs: asking {remote} for a COOKIE");
                reply_plain(self, vec![notify(NotifyType::COOKIE, expect)]);
                return;
            }
        }
        // The conns this request may be for: local and remote addresses match.
        let candidates: Vec<Arc<Conn>> = self
            .conns
            .iter()
            .filter(|c| !c.is_shunt() && c.auto != conf::conn::Auto::Ignore)
            .filter(|c| {
                [Side::Left, Side::Right].into_iter().any(|side| {
                    let (l, r) = c.ends(side);
                    addr_in_hosts(local.ip(), &l.hosts) && addr_in_hosts(remote.ip(), &r.hosts)
                })
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            info!(target: "cfg", "no conn matches {}...{}: answering NO_PROPOSAL_CHOSEN", local.ip(), remote.ip());
            reply_plain(
                self,
                vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())],
            );
            return;
        }
        let mut chosen = None;
        for c in &candidates {
            if let Some(p) = select(
                &self.provider,
                &c.ike.effective(),
                &sa_p.proposals,
                RegProto::Ike,
            ) {
                chosen = Some((c.clone(), p));
                break;
            }
        }
        let Some((conn, (proposal, suite))) = chosen else {
            info!(target: "ike", "no acceptable IKE proposal from {remote} (offered: {}): answering NO_PROPOSAL_CHOSEN", describe_offer(&sa_p.proposals));
            reply_plain(
                self,
                vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())],
            );
            return;
        };
        let Some(group) = suite.dh else { return };
        if ke.group != group.iana_id() {
            info!(target: "ike", "peer {remote} used key exchange group {}, we want {}: answering INVALID_KE_PAYLOAD", ke.group, group.iana_id());
            reply_plain(
                self,
                vec![notify(
                    NotifyType::INVALID_KE_PAYLOAD,
                    group.iana_id().to_be_bytes().to_vec(),
                )],
            );
            return;
        }
        let dh = match group.generate(&mut *self.rng) {
            Ok(d) => d,
            Err(e) => {
                warn!(target: "enc", "key generation failed: {e}");
                return;
            }
        };
        let shared = match dh.compute_shared(&ke.data) {
            Ok(s) => s,
            Err(e) => {
                info!(target: "ike", "invalid KE value from {remote}: {e}: answering INVALID_SYNTAX");
                reply_plain(self, vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())]);
                return;
            }
        };
        let side = conn.local_side(&self.local_addrs);

        let spi_r = self.new_spi();
        let id = self.next_ike_id;
        self.next_ike_id += 1;
        let mut sa = IkeSa {
            id,
            conn: conn.clone(),
            initiator: false,
            spi_i,
            spi_r,
            local,
            remote,
            phase: Phase::InitDone,
            suite: Some(suite),
            dh: None,
            ni: nonce.clone(),
            nr: self.random_bytes(NONCE_LEN),
            init_req: data.to_vec(),
            init_resp: Vec::new(),
            cookie: None,
            keys: None,
            sk_out: None,
            sk_in: None,
            next_out: 0,
            next_in: 1,
            pending: None,
            queue: VecDeque::new(),
            last_response: None,
            children: Vec::new(),
            child_req: None,
            create: None,
            rekey_at: None,
            deferred: Vec::new(),
            local_id: self.local_identification(&conn, side, local.ip()),
            remote_id: None,
            nat_local: false,
            nat_remote: false,
            frag_supported: find_notify(&msg.payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some(),
            reassembly: None,
            last_in: now,
            keepalive_at: None,
            acquire: None,
            eap: None,
            vips_local: Vec::new(),
            want_vip: None,
            peer_hashes: None,
            certreq_received: false,
            vip_leases: Vec::new(),
            created: now,
            established: None,
        };
        self.detect_nat(&mut sa, &msg.payloads);
        sa.peer_hashes = peer_hashes(&msg.payloads);
        let mut payloads = vec![
            Payload::Sa(SaPayload {
                proposals: vec![proposal],
            }),
            Payload::Ke(KePayload {
                group: group.iana_id(),
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(sa.nr.clone()),
        ];
        payloads.extend(self.nat_notifies(&sa));
        if conn.fragmentation != Fragmentation::No {
            payloads.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        payloads.push(notify(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            vec![0, 2, 0, 3, 0, 4],
        ));
        // Ask for the peer's certificate when the conn authenticates it by public key.
        let (_, re) = conn.ends(conn.local_side(&self.local_addrs));
        if matches!(re.auth, ConfAuth::Pubkey { .. }) && !self.creds.trust.anchors.is_empty() {
            payloads.push(Payload::CertReq(crate::wire::CertPayload {
                encoding: crate::wire::CertEncoding::X509_SIGNATURE,
                data: pki::certreq::certreq_data(&self.creds.trust),
            }));
        }
        let mut m = Message::new(sa.header(ExchangeType::IKE_SA_INIT, true, 0));
        m.payloads = payloads;
        let Ok(packet) = m.encode() else { return };
        if let Err(e) = self.derive_ike_keys(&mut sa, &shared) {
            warn!(target: "enc", "key derivation failed: {e}");
            return;
        }
        sa.init_resp = packet.clone();
        info!(target: "ike", "{} is initiating an IKE_SA for {}[{}] ({})", remote.ip(), conn.name, id, suite_name(&suite));
        self.transmits.push_back(Transmit {
            local,
            remote,
            data: packet,
        });
        self.half_open.insert((remote, spi_i), spi_r);
        self.sas.insert(spi_r, sa);
    }

    fn detect_nat(&mut self, sa: &mut IkeSa, payloads: &[Payload]) {
        let src = find_notify(payloads, NotifyType::NAT_DETECTION_SOURCE_IP);
        let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        if let (Some(src), Some(dst)) = (src, dst) {
            // For IKE_SA_INIT requests the responder SPI in the hash is zero.
            let spi_r = if sa.initiator { sa.spi_r } else { [0; 8] };
            sa.nat_local = dst.data != nat_hash(&sa.spi_i, &spi_r, &sa.local);
            sa.nat_remote = src.data != nat_hash(&sa.spi_i, &spi_r, &sa.remote);
            if sa.nat_local || sa.nat_remote {
                info!(target: "ike", "NAT detected: local {}, remote {}{}", if sa.nat_local { "behind NAT" } else { "not behind NAT" }, if sa.nat_remote { "behind NAT" } else { "not behind NAT" }, if sa.conn.forceencaps { " (forceencaps)" } else { "" });
            }
        }
    }

    fn derive_ike_keys(&mut self, sa: &mut IkeSa, shared: &SecretBytes) -> Result<(), String> {
        let suite = sa.suite.ok_or("no suite")?;
        let prf = suite.prf.ok_or("no PRF")?;
        let lens = suite.ike_key_lengths().ok_or("no key lengths")?;
        let seed = kdf::skeyseed(prf, &sa.ni, &sa.nr, shared.as_slice());
        let keys = IkeSaKeys::derive(
            prf,
            seed.as_slice(),
            &sa.ni,
            &sa.nr,
            &sa.spi_i,
            &sa.spi_r,
            lens,
        )
        .map_err(|e| e.to_string())?;
        let (out, inn) = SkCrypto::pair(suite.encr, suite.integ, &keys, sa.initiator)
            .map_err(|e| e.to_string())?;
        sa.sk_out = Some(out);
        sa.sk_in = Some(inn);
        sa.keys = Some(keys);
        Ok(())
    }

    fn on_init_response(&mut self, now: Instant, sa: &mut IkeSa, data: &[u8], msg: Message) {
        let payloads = &msg.payloads;
        if let Some(c) = find_notify(payloads, NotifyType::COOKIE) {
            info!(target: "ike", "received COOKIE from {}, retrying", sa.remote.ip());
            sa.cookie = Some(c.data.clone());
            let group = sa.dh.as_ref().map(DhSecret::group);
            sa.pending = None;
            if let Some(g) = group {
                if let Err(e) = self.send_init(now, sa, g) {
                    warn!(target: "ike", "{e}");
                    self.kill(sa, "IKE_SA_INIT failed");
                }
            }
            return;
        }
        if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = n.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            let ok = wanted.and_then(|w| self.provider.group(w)).filter(|g| {
                sa.conn
                    .ike
                    .effective()
                    .iter()
                    .any(|p| p.dh.iter().any(|t| t.id == g.iana_id()))
            });
            let tried = sa.dh.as_ref().map(DhSecret::group);
            match ok {
                Some(g) if Some(g) != tried => {
                    info!(target: "ike", "peer {} wants key exchange group {} (INVALID_KE_PAYLOAD), retrying", sa.remote.ip(), g.iana_id());
                    sa.pending = None;
                    if let Err(e) = self.send_init(now, sa, g) {
                        warn!(target: "ike", "{e}");
                        self.kill(sa, "IKE_SA_INIT failed");
                    }
                }
                _ => {
                    warn!(target: "ike", "peer {} wants key exchange group {:?}, which conn '{}' does not allow", sa.remote.ip(), wanted, sa.conn.name);
                    self.kill(sa, "INVALID_KE_PAYLOAD with an unacceptable group");
                }
            }
            return;
        }
        if let Some(e) = first_error(payloads) {
            warn!(target: "ike", "IKE_SA_INIT for {}[{}] failed: peer {} answered {e}", sa.conn.name, sa.id, sa.remote.ip());
            sa.pending = None;
            self.kill(sa, &format!("peer answered {e}"));
            return;
        }
        let sa_p = find_payload!(payloads, Sa);
        let ke = find_payload!(payloads, Ke);
        let nonce = find_payload!(payloads, Nonce);
        let (Some(sa_p), Some(ke), Some(nonce)) = (sa_p, ke, nonce) else {
            info!(target: "ike", "IKE_SA_INIT response from {} lacks SA, KE or Nonce: ignored", sa.remote.ip());
            return;
        };
        // The responder must pick exactly one of our proposals.
        let picked = match sa_p.proposals.as_slice() {
            [one] => select(
                &self.provider,
                &sa.conn.ike.effective(),
                std::slice::from_ref(one),
                RegProto::Ike,
            ),
            _ => None,
        };
        let Some((_, suite)) = picked else {
            warn!(target: "ike", "peer {} chose a proposal we did not offer", sa.remote.ip());
            sa.pending = None;
            self.kill(sa, "invalid proposal chosen by peer");
            return;
        };
        let Some(dh) = sa.dh.as_ref() else { return };
        if suite.dh != Some(dh.group()) || ke.group != dh.group().iana_id() {
            warn!(target: "ike", "peer {} answered with key exchange group {}, not {}", sa.remote.ip(), ke.group, dh.group().iana_id());
            sa.pending = None;
            self.kill(sa, "key exchange group mismatch");
            return;
        }
        let shared = match dh.compute_shared(&ke.data) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "ike", "invalid KE value from {}: {e}", sa.remote.ip());
                sa.pending = None;
                self.kill(sa, "invalid key exchange value");
                return;
            }
        };
        sa.pending = None;
        sa.spi_r = msg.header.spi_r;
        sa.nr = nonce.clone();
        sa.init_resp = data.to_vec();
        sa.suite = Some(suite);
        sa.frag_supported =
            find_notify(payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        self.detect_nat(sa, payloads);
        sa.peer_hashes = peer_hashes(payloads);
        sa.certreq_received = payloads.iter().any(|p| matches!(p, Payload::CertReq(_)));
        if let Err(e) = self.derive_ike_keys(sa, &shared) {
            warn!(target: "enc", "key derivation failed: {e}");
            self.kill(sa, "key derivation failed");
            return;
        }
        sa.dh = None;
        if sa.encap() {
            sa.local.set_port(NATT_PORT);
            sa.remote.set_port(NATT_PORT);
        }
        // The SA is now known by its initiator SPI in the table (already the key).
        self.send_auth(now, sa);
    }

    // ------------------------------------------------------------------
    // IKE_AUTH

    fn psk_for(&self, sa: &IkeSa, remote_id: &Identity) -> Option<SecretBytes> {
        let local = ident::from_wire(&sa.local_id)?;
        self.config
            .secrets
            .find_psk(&local, remote_id)
            .map(|s| SecretBytes::from_slice(s.expose()))
    }

    fn send_auth(&mut self, now: Instant, sa: &mut IkeSa) {
        let conn = sa.conn.clone();
        let side = conn.local_side(&self.local_addrs);
        let (local_end, remote_end) = conn.ends(side);
        let remote_conf_id = remote_end
            .id
            .clone()
            .unwrap_or_else(|| remote_end.effective_id());
        let (Some(prf), Some(keys)) = (sa.prf(), sa.keys.as_ref()) else {
            return;
        };
        let octets = auth::signed_octets(
            prf,
            &sa.init_req,
            &sa.nr,
            keys.sk_pi.as_slice(),
            &sa.local_id.body(),
        );
        let (auth_payload, cert_payloads) =
            match self.make_auth(sa, &conn, &octets, &remote_conf_id) {
                Ok(a) => a,
                Err(e) => {
                    warn!(target: "cfg", "{e}");
                    self.kill(sa, "cannot authenticate");
                    return;
                }
            };
        // The first CHILD_SA.
        let spi_in = match self.spis.alloc_spi(sa.local.ip(), sa.remote.ip()) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "knl", "unable to allocate SPI: {e}");
                self.kill(sa, "SPI allocation failed");
                return;
            }
        };
        let esp = for_ike_auth(&conn.esp.effective());
        let offer = match self.provider.offer(&esp, &spi_in.to_be_bytes()) {
            Ok(o) => o,
            Err(e) => {
                warn!(target: "cfg", "esp= proposal not supported: {}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
                self.kill(sa, "unsupported esp proposal");
                return;
            }
        };
        let mut ts_local =
            crate::ts::configured(&local_end.subnets, &local_end.protoport, sa.local.ip());
        let mut ts_remote =
            crate::ts::configured(&remote_end.subnets, &remote_end.protoport, sa.remote.ip());
        // Asking for a virtual IP: propose any address as TSi, the peer narrows it.
        let want_vip = local_end.sourceip.iter().find_map(|s| match s {
            conf::conn::SourceIp::Config(f) => Some(*f),
            _ => None,
        });
        if let Some(fam) = want_vip {
            let v6 = match fam {
                Some(conf::values::AddrFamily::V6) => true,
                Some(conf::values::AddrFamily::V4) => false,
                None => {
                    sa.remote.ip().is_ipv6() && ts_remote.first().is_none_or(|t| t.start.is_ipv6())
                }
            };
            if local_end.subnets.is_empty() {
                let any = if v6 {
                    ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
                } else {
                    ("0.0.0.0", "255.255.255.255")
                };
                if let (Ok(a), Ok(b)) = (any.0.parse(), any.1.parse()) {
                    ts_local = vec![Selector {
                        start: a,
                        end: b,
                        protocol: local_end.protoport.proto,
                        start_port: local_end.protoport.port_from,
                        end_port: local_end.protoport.port_to,
                    }];
                }
            }
            sa.want_vip = Some(v6);
        }
        if let Some((src, dst)) = sa.acquire {
            let host = |a: IpAddr, like: &[Selector]| Selector {
                start: a,
                end: a,
                protocol: like.first().map_or(0, |s| s.protocol),
                start_port: 0,
                end_port: 65535,
            };
            // Only if the packet is within what the conn protects.
            let (hs, hd) = (host(src, &ts_local), host(dst, &ts_remote));
            if crate::ts::is_subset(&hs, &ts_local) && crate::ts::is_subset(&hd, &ts_remote) {
                ts_local.insert(0, hs);
                ts_remote.insert(0, hd);
            }
        }
        let transport = conn.conn_type == ConnType::Transport;
        let mut inner = vec![Payload::IdI(sa.local_id.clone())];
        inner.extend(cert_payloads);
        if matches!(remote_end.auth, ConfAuth::Pubkey { .. })
            && !self.creds.trust.anchors.is_empty()
        {
            inner.push(Payload::CertReq(crate::wire::CertPayload {
                encoding: crate::wire::CertEncoding::X509_SIGNATURE,
                data: pki::certreq::certreq_data(&self.creds.trust),
            }));
        }
        if let Some(id) = &remote_end.id {
            if !id.has_wildcard() {
                inner.push(Payload::IdR(ident::to_wire(id, sa.remote.ip())));
            }
        }
        inner.push(Payload::Auth(auth_payload));
        if transport {
            inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        if let Some(v6) = sa.want_vip {
            use crate::wire::{CfgAttribute as A, CfgType, ConfigPayload};
            let attributes = if v6 {
                vec![A::InternalIp6Address(None), A::InternalIp6Dns(None)]
            } else {
                vec![A::InternalIp4Address(None), A::InternalIp4Dns(None)]
            };
            inner.push(Payload::Cp(ConfigPayload {
                cfg_type: CfgType::REQUEST,
                attributes,
            }));
        }
        inner.push(Payload::Sa(offer));
        inner.push(Payload::TsI(
            ts_local.iter().map(crate::ts::to_wire).collect(),
        ));
        inner.push(Payload::TsR(
            ts_remote.iter().map(crate::ts::to_wire).collect(),
        ));
        let Some(packet) = self.protect(sa, ExchangeType::IKE_AUTH, false, 1, &inner) else {
            self.kill(sa, "could not build IKE_AUTH");
            return;
        };
        sa.child_req = Some(ChildRequest {
            spi_in,
            ts_local,
            ts_remote,
            transport,
        });
        sa.phase = Phase::AuthSent;
        sa.next_out = 2;
        info!(target: "ike", "authenticating {}[{}] with pre-shared key as {}", conn.name, sa.id, ident::from_wire(&sa.local_id).map(|i| i.to_string()).unwrap_or_default());
        self.send_request(now, sa, 1, packet, PendingKind::Auth);
    }

    fn on_auth_response(&mut self, now: Instant, sa: &mut IkeSa, payloads: Vec<Payload>) {
        if let Some(e) = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED => {
                Some(n.notify_type)
            }
            _ => None,
        }) {
            warn!(target: "ike", "received {e} from {}: authentication of {}[{}] failed (check the PSK or certificates and the IDs on both sides)", sa.remote.ip(), sa.conn.name, sa.id);
            self.release_child_req(sa);
            self.kill(sa, "AUTHENTICATION_FAILED");
            return;
        }
        let idr = find_payload!(payloads, IdR).cloned();
        let auth = find_payload!(payloads, Auth).cloned();
        let (Some(idr), Some(auth)) = (idr, auth) else {
            let e = first_error(&payloads)
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no IDr/AUTH".into());
            warn!(target: "ike", "IKE_AUTH of {}[{}] failed: {e}", sa.conn.name, sa.id);
            self.release_child_req(sa);
            self.kill(sa, &e);
            return;
        };
        let conn = sa.conn.clone();
        let side = conn.local_side(&self.local_addrs);
        let (_, remote_end) = conn.ends(side);
        let Some(peer_id) = ident::from_wire(&idr) else {
            warn!(target: "ike", "peer {} sent an ID of type {} we cannot read", sa.remote.ip(), idr.id_type);
            self.kill(sa, "unreadable peer ID");
            return;
        };
        let want = remote_end
            .id
            .clone()
            .unwrap_or_else(|| remote_end.effective_id());
        if !conf::secrets::id_matches(&want, &peer_id) {
            warn!(target: "ike", "peer identity '{peer_id}' does not match rightid '{want}' of conn '{}'", conn.name);
            self.kill(sa, "peer ID mismatch");
            return;
        }
        let (Some(prf), Some(keys)) = (sa.prf(), sa.keys.as_ref()) else {
            return;
        };
        let octets = auth::signed_octets(
            prf,
            &sa.init_resp,
            &sa.ni,
            keys.sk_pr.as_slice(),
            &idr.body(),
        );
        match self.check_auth(sa, &conn, &idr, &peer_id, &auth, &payloads, &octets) {
            Ok(how) => info!(target: "ike", "authentication of '{peer_id}' with {how} successful"),
            Err(e) => {
                warn!(target: "ike", "{e}");
                self.release_child_req(sa);
                self.kill(sa, &format!("peer AUTH invalid: {e}"));
                return;
            }
        }
        sa.remote_id = Some(idr);
        for p in &payloads {
            if let Payload::Cp(c) = p {
                for a in &c.attributes {
                    let ip = match a {
                        crate::wire::CfgAttribute::InternalIp4Address(Some(x)) => {
                            Some(IpAddr::V4(*x))
                        }
                        crate::wire::CfgAttribute::InternalIp6Address(Some((x, _))) => {
                            Some(IpAddr::V6(*x))
                        }
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        info!(target: "ike", "installing new virtual IP {ip}");
                        sa.vips_local.push(ip);
                    }
                }
            }
        }
        if sa.want_vip.is_some() && sa.vips_local.is_empty() {
            warn!(target: "ike", "asked for a virtual IP, but the peer assigned none");
        }
        sa.phase = Phase::Established;
        sa.established = Some(now);
        sa.rekey_at = conn
            .rekey
            .then(|| now + self.rekey_delay(conn.ikelifetime, conn.margintime, conn.rekeyfuzz));
        info!(target: "ike", "IKE_SA {}[{}] established between {}[{}]...{}[{}]", conn.name, sa.id, sa.local.ip(), ident::from_wire(&sa.local_id).map(|i| i.to_string()).unwrap_or_default(), sa.remote.ip(), peer_id);
        self.events.push_back(Event::IkeUp {
            conn: conn.name.clone(),
            ike_id: sa.id,
        });
        self.run_deferred(now, sa);
        // The CHILD_SA.
        let Some(req) = sa.child_req.take() else {
            return;
        };
        if let Some(e) = first_error(&payloads) {
            warn!(target: "chd", "CHILD_SA of {} not established: peer answered {e}", conn.name);
            return;
        }
        let sa_p = find_payload!(payloads, Sa);
        let tsi = find_payload!(payloads, TsI).map(|t| crate::ts::from_wire(t));
        let tsr = find_payload!(payloads, TsR).map(|t| crate::ts::from_wire(t));
        let (Some(sa_p), Some(tsi), Some(tsr)) = (sa_p, tsi, tsr) else {
            warn!(target: "chd", "IKE_AUTH response lacks SA/TSi/TSr: no CHILD_SA");
            return;
        };
        let esp = for_ike_auth(&conn.esp.effective());
        let picked = match sa_p.proposals.as_slice() {
            [one] => select(
                &self.provider,
                &esp,
                std::slice::from_ref(one),
                RegProto::Esp,
            ),
            _ => None,
        };
        let Some((chosen, suite)) = picked else {
            warn!(target: "chd", "peer chose an ESP proposal we did not offer: no CHILD_SA");
            return;
        };
        let Some(spi_out) = chosen
            .spi
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return;
        };
        if !tsi.iter().all(|t| crate::ts::is_subset(t, &req.ts_local))
            || !tsr.iter().all(|t| crate::ts::is_subset(t, &req.ts_remote))
            || tsi.is_empty()
            || tsr.is_empty()
        {
            warn!(target: "chd", "peer's traffic selectors are not within ours: no CHILD_SA");
            return;
        }
        let transport = find_notify(&payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
        if req.transport && !transport {
            warn!(target: "chd", "peer refused transport mode: no CHILD_SA");
            return;
        }
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
        self.install_child(
            sa,
            NewChild {
                conn: &conn,
                suite,
                spi_in: req.spi_in,
                spi_out,
                mode,
                ts_local: tsi,
                ts_remote: tsr,
                ni: &ni,
                nr: &nr,
                shared: None,
                we_initiated: true,
            },
            now,
        );
    }

    fn release_child_req(&mut self, sa: &mut IkeSa) {
        sa.child_req = None;
    }

    /// Derives the keys of a new CHILD_SA, records it, and asks the daemon to install it.
    /// Returns the CHILD_SA's unique id.
    fn install_child(&mut self, sa: &mut IkeSa, c: NewChild<'_>, now: Instant) -> Option<u32> {
        let (Some(prf), Some(keys)) = (sa.prf(), sa.keys.as_ref()) else {
            return None;
        };
        let suite = c.suite;
        let conn = c.conn;
        let integ_len = suite.integ.map_or(0, |i| i.key_len());
        let ck = match ChildKeys::derive(
            prf,
            keys.sk_d.as_slice(),
            c.shared,
            c.ni,
            c.nr,
            suite.encr.key_len(),
            integ_len,
        ) {
            Ok(k) => k,
            Err(e) => {
                warn!(target: "enc", "CHILD_SA key derivation failed: {e}");
                return None;
            }
        };
        // Keys for data from the exchange's initiator come first (RFC 7296 §2.17).
        let (enc_out, int_out, enc_in, int_in) = if c.we_initiated {
            (ck.encr_i, ck.integ_i, ck.encr_r, ck.integ_r)
        } else {
            (ck.encr_r, ck.integ_r, ck.encr_i, ck.integ_i)
        };
        let reqid = self.reqid_for(conn);
        let child_id = self.next_child_id;
        self.next_child_id += 1;
        let encap = sa.encap().then(|| (sa.local.port(), sa.remote.port()));
        let side = conn.local_side(&self.local_addrs);
        let (local_end, _) = conn.ends(side);
        let soft = conn.lifetime.saturating_sub(conn.margintime);
        let install = ChildSaInstall {
            conn: conn.name.clone(),
            ike_id: sa.id,
            child_id,
            reqid,
            mode: c.mode,
            local: sa.local.ip(),
            remote: sa.remote.ip(),
            encap,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            encr: suite.encr,
            integ: suite.integ,
            esn: suite.esn,
            keys_in: EspKeys {
                encr: enc_in,
                integ: int_in,
            },
            keys_out: EspKeys {
                encr: enc_out,
                integ: int_out,
            },
            ts_local: c.ts_local.clone(),
            ts_remote: c.ts_remote.clone(),
            mark_in: mark_of(conn.mark_in, &mut self.next_unique),
            mark_out: mark_of(conn.mark_out, &mut self.next_unique),
            if_id_in: if_id_of(conn.if_id_in, &mut self.next_unique),
            if_id_out: if_id_of(conn.if_id_out, &mut self.next_unique),
            // The core rekeys on its own timer; the kernel's soft limit is a backstop.
            soft_lifetime: if conn.rekey {
                soft + (conn.lifetime - soft) / 2
            } else {
                conn.lifetime
            },
            hard_lifetime: conn.lifetime,
            replay_window: conn.replay_window.unwrap_or(32),
            install_policy: conn.installpolicy,
            updown: local_end.updown.clone(),
        };
        let show = |v: &[Selector]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        info!(target: "chd", "CHILD_SA {}{{{}}} established with SPIs {:08x}_i {:08x}_o and TS {} === {}", conn.name, child_id, c.spi_in, c.spi_out, show(&c.ts_local), show(&c.ts_remote));
        let rekey_at = conn
            .rekey
            .then(|| now + self.rekey_delay(conn.lifetime, conn.margintime, conn.rekeyfuzz));
        sa.children.push(ChildSa {
            id: child_id,
            conn: conn.name.clone(),
            reqid,
            mode: c.mode,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            suite,
            ts_local: c.ts_local,
            ts_remote: c.ts_remote,
            established: now,
            rekey_at,
            rekeying: false,
        });
        self.events
            .push_back(Event::InstallChild(Box::new(install)));
        Some(child_id)
    }

    /// lifetime - margin - random(0 .. margin * fuzz%), as strongSwan schedules rekeys.
    fn rekey_delay(&mut self, lifetime: Duration, margin: Duration, fuzz: u32) -> Duration {
        let span = margin.as_millis() as u64 * u64::from(fuzz) / 100;
        let r = if span == 0 {
            0
        } else {
            self.rng.next_u64() % span
        };
        lifetime
            .saturating_sub(margin)
            .saturating_sub(Duration::from_millis(r))
            .max(Duration::from_secs(1))
    }

    fn on_auth_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        msg_id: u32,
        payloads: Vec<Payload>,
    ) {
        let respond = |ep: &mut Endpoint, sa: &mut IkeSa, inner: Vec<Payload>| {
            ep.reply(sa, ExchangeType::IKE_AUTH, msg_id, inner)
        };
        if sa.eap.is_some() {
            self.on_eap_round(now, sa, msg_id, payloads);
            return;
        }
        let idi = find_payload!(payloads, IdI).cloned();
        let idr_req = find_payload!(payloads, IdR).cloned();
        let auth = find_payload!(payloads, Auth).cloned();
        let Some(idi) = idi else {
            info!(target: "ike", "IKE_AUTH from {} has no IDi", sa.remote.ip());
            respond(
                self,
                sa,
                vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())],
            );
            self.kill(sa, "invalid IKE_AUTH");
            return;
        };
        let wants_eap = auth.is_none();
        let Some(peer_id) = ident::from_wire(&idi) else {
            respond(
                self,
                sa,
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.kill(sa, "unreadable peer ID");
            return;
        };
        // Pick the conn: addresses matched at IKE_SA_INIT; now the identities decide.
        let local_ip = sa.local.ip();
        let remote_ip = sa.remote.ip();
        let wanted_local = idr_req.as_ref().and_then(ident::from_wire);
        let first = sa.conn.clone();
        let conn = std::iter::once(&first)
            .chain(self.conns.iter())
            .filter(|c| !c.is_shunt() && c.auto != conf::conn::Auto::Ignore)
            .find(|c| {
                let side = c.local_side(&self.local_addrs);
                let (l, r) = c.ends(side);
                let addrs_ok =
                    addr_in_hosts(local_ip, &l.hosts) && addr_in_hosts(remote_ip, &r.hosts);
                let peer_ok = conf::secrets::id_matches(
                    &r.id.clone().unwrap_or_else(|| r.effective_id()),
                    &peer_id,
                );
                let local_ok = wanted_local.as_ref().is_none_or(|w| {
                    let mine = ident::from_wire(&self.local_identification(c, side, local_ip));
                    mine.as_ref() == Some(w)
                });
                let eap_conn = matches!(r.auth, ConfAuth::Eap(_));
                addrs_ok && peer_ok && local_ok && eap_conn == wants_eap
            })
            .cloned();
        let Some(conn) = conn else {
            warn!(target: "cfg", "no conn for peer identity '{peer_id}' from {remote_ip}: AUTHENTICATION_FAILED");
            respond(
                self,
                sa,
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.kill(sa, "no matching conn");
            return;
        };
        let side = conn.local_side(&self.local_addrs);

        sa.conn = conn.clone();
        sa.local_id = self.local_identification(&conn, side, local_ip);
        let Some(auth) = auth else {
            self.start_eap(sa, msg_id, &conn, idi, peer_id, payloads);
            return;
        };
        if payloads.iter().any(|p| matches!(p, Payload::CertReq(_))) {
            sa.certreq_received = true;
        }
        let (Some(prf), Some(keys)) = (sa.prf(), sa.keys.as_ref()) else {
            return;
        };
        let octets_i = auth::signed_octets(
            prf,
            &sa.init_req,
            &sa.nr,
            keys.sk_pi.as_slice(),
            &idi.body(),
        );
        match self.check_auth(sa, &conn, &idi, &peer_id, &auth, &payloads, &octets_i) {
            Ok(how) => info!(target: "ike", "authentication of '{peer_id}' with {how} successful"),
            Err(e) => {
                warn!(target: "ike", "{e}: answering AUTHENTICATION_FAILED");
                respond(
                    self,
                    sa,
                    vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
                );
                self.kill(sa, &format!("AUTHENTICATION_FAILED: {e}"));
                return;
            }
        }
        let Some(keys) = sa.keys.as_ref() else { return };
        let octets_r = auth::signed_octets(
            prf,
            &sa.init_resp,
            &sa.ni,
            keys.sk_pr.as_slice(),
            &sa.local_id.body(),
        );
        let (our_auth, our_certs) = match self.make_auth(sa, &conn, &octets_r, &peer_id) {
            Ok(a) => a,
            Err(e) => {
                warn!(target: "cfg", "{e}: answering AUTHENTICATION_FAILED");
                respond(
                    self,
                    sa,
                    vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
                );
                self.kill(sa, "cannot authenticate");
                return;
            }
        };
        sa.remote_id = Some(idi);
        self.enforce_unique(
            now,
            sa,
            find_notify(&payloads, NotifyType::INITIAL_CONTACT).is_some(),
        );
        sa.phase = Phase::Established;
        sa.established = Some(now);
        sa.rekey_at = conn
            .rekey
            .then(|| now + self.rekey_delay(conn.ikelifetime, conn.margintime, conn.rekeyfuzz));
        self.half_open.retain(|_, v| *v != sa.spi_r);
        info!(target: "ike", "IKE_SA {}[{}] established between {}[{}]...{}[{}]", conn.name, sa.id, local_ip, ident::from_wire(&sa.local_id).map(|i| i.to_string()).unwrap_or_default(), remote_ip, peer_id);
        self.events.push_back(Event::IkeUp {
            conn: conn.name.clone(),
            ike_id: sa.id,
        });
        let mut inner = vec![Payload::IdR(sa.local_id.clone())];
        inner.extend(our_certs);
        inner.push(Payload::Auth(our_auth));
        inner.extend(self.responder_child(now, sa, &conn, &payloads));
        respond(self, sa, inner);
    }

    /// IKE_AUTH without AUTH from the peer: we authenticate ourselves and start EAP.
    fn start_eap(
        &mut self,
        sa: &mut IkeSa,
        msg_id: u32,
        conn: &Arc<Conn>,
        idi: Identification,
        peer_id: Identity,
        payloads: Vec<Payload>,
    ) {
        let respond = |ep: &mut Endpoint, sa: &mut IkeSa, inner: Vec<Payload>| {
            ep.reply(sa, ExchangeType::IKE_AUTH, msg_id, inner)
        };
        let side = conn.local_side(&self.local_addrs);
        let (_, remote_end) = conn.ends(side);
        if !matches!(
            remote_end.auth,
            ConfAuth::Eap(conf::conn::EapMethod::Mschapv2)
                | ConfAuth::Eap(conf::conn::EapMethod::Any)
        ) {
            warn!(target: "ike", "conn '{}' wants {:?} from '{peer_id}'; only EAP-MSCHAPv2 is implemented: AUTHENTICATION_FAILED", conn.name, remote_end.auth);
            respond(
                self,
                sa,
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.kill(sa, "EAP method not implemented");
            return;
        }
        // Our own AUTH: the gateway's credential (PSK or certificate).
        if payloads.iter().any(|p| matches!(p, Payload::CertReq(_))) {
            sa.certreq_received = true;
        }
        let (Some(prf), Some(keys)) = (sa.prf(), sa.keys.as_ref()) else {
            return;
        };
        let octets_r = auth::signed_octets(
            prf,
            &sa.init_resp,
            &sa.ni,
            keys.sk_pr.as_slice(),
            &sa.local_id.body(),
        );
        let (our_auth, our_certs) = match self.make_auth(sa, conn, &octets_r, &peer_id) {
            Ok(a) => a,
            Err(e) => {
                warn!(target: "cfg", "{e}: answering AUTHENTICATION_FAILED");
                respond(
                    self,
                    sa,
                    vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
                );
                self.kill(sa, "cannot authenticate");
                return;
            }
        };
        // eap_identity set: ask the client for its EAP identity (and check it); else use IDi.
        let (first_identity, expect) = match &conn.eap_identity {
            None => (Some(idi.data.clone()), None),
            Some(Identity::Any) => (None, None),
            Some(Identity::Fqdn(f)) if f == "%identity" => (None, None),
            Some(other) => (None, Some(other.clone())),
        };
        let mut challenge = [0u8; 16];
        self.rng.fill_bytes(&mut challenge);
        let first_id = (self.rng.next_u32() & 0xff) as u8;
        let name = ident::from_wire(&sa.local_id)
            .map(|i| i.to_string())
            .unwrap_or_default();
        let (server, packet) =
            crate::eap::MschapV2Server::start(first_identity, challenge, first_id, name.as_bytes());
        info!(target: "ike", "authenticating '{peer_id}' with EAP-MSCHAPv2 ({}[{}])", conn.name, sa.id);
        sa.remote_id = Some(idi.clone());
        sa.eap = Some(Box::new(EapState {
            server,
            idi,
            first: payloads,
            expect,
            msk: None,
        }));
        let mut inner = vec![Payload::IdR(sa.local_id.clone())];
        inner.extend(our_certs);
        inner.extend([
            Payload::Auth(our_auth),
            Payload::Eap(crate::wire::EapMessage {
                code: packet.code,
                identifier: packet.identifier,
                data: packet.data,
            }),
        ]);
        respond(self, sa, inner);
    }

    /// A further IKE_AUTH round of an EAP authentication: an EAP response, or the final AUTH.
    fn on_eap_round(&mut self, now: Instant, sa: &mut IkeSa, msg_id: u32, payloads: Vec<Payload>) {
        let respond = |ep: &mut Endpoint, sa: &mut IkeSa, inner: Vec<Payload>| {
            ep.reply(sa, ExchangeType::IKE_AUTH, msg_id, inner)
        };
        let Some(mut st) = sa.eap.take() else { return };
        let eap = find_payload!(payloads, Eap).cloned();
        let auth = find_payload!(payloads, Auth).cloned();
        let who = ident::from_wire(&st.idi)
            .map(|i| i.to_string())
            .unwrap_or_default();
        if let Some(e) = eap {
            let local = ident::from_wire(&sa.local_id).unwrap_or(Identity::Any);
            let pw = EapPasswords {
                secrets: &self.config.secrets,
                local,
            };
            let step = st.server.handle(
                &crate::eap::Packet {
                    code: e.code,
                    identifier: e.identifier,
                    data: e.data,
                },
                &pw,
            );
            let to_wire = |p: crate::eap::Packet| {
                Payload::Eap(crate::wire::EapMessage {
                    code: p.code,
                    identifier: p.identifier,
                    data: p.data,
                })
            };
            match step {
                crate::eap::Step::Send(p) => {
                    respond(self, sa, vec![to_wire(p)]);
                    sa.eap = Some(st);
                }
                crate::eap::Step::Success {
                    packet,
                    msk,
                    identity,
                } => {
                    let eap_id = String::from_utf8_lossy(&identity).into_owned();
                    if let Some(want) = &st.expect {
                        let got = conf::values::parse_identity(&eap_id).unwrap_or(Identity::Any);
                        if !conf::secrets::id_matches(want, &got) {
                            warn!(target: "ike", "EAP identity '{eap_id}' of '{who}' does not match eap_identity={want}: EAP-Failure");
                            respond(
                                self,
                                sa,
                                vec![to_wire(crate::eap::Packet {
                                    code: crate::eap::CODE_FAILURE,
                                    identifier: packet.identifier,
                                    data: Vec::new(),
                                })],
                            );
                            self.kill(sa, "EAP identity mismatch");
                            return;
                        }
                    }
                    info!(target: "ike", "EAP-MSCHAPv2 authentication of '{eap_id}' ({who}) successful");
                    st.msk = Some(msk);
                    respond(self, sa, vec![to_wire(packet)]);
                    sa.eap = Some(st);
                }
                crate::eap::Step::Failure { packet, why } => {
                    warn!(target: "ike", "EAP authentication of '{who}' failed: {why}");
                    respond(self, sa, vec![to_wire(packet)]);
                    self.kill(sa, "EAP authentication failed");
                }
            }
            return;
        }
        let (Some(auth), Some(msk)) = (auth, st.msk.as_ref()) else {
            info!(target: "ike", "IKE_AUTH round of '{who}' has neither EAP nor AUTH after EAP success");
            respond(
                self,
                sa,
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.kill(sa, "AUTHENTICATION_FAILED");
            return;
        };
        let (Some(prf), Some(keys)) = (sa.prf(), sa.keys.as_ref()) else {
            return;
        };
        // Both final AUTH payloads are MACed with the MSK (RFC 7296 §2.16).
        let octets_i = auth::signed_octets(
            prf,
            &sa.init_req,
            &sa.nr,
            keys.sk_pi.as_slice(),
            &st.idi.body(),
        );
        if !auth::verify_shared_key_auth(prf, msk.as_slice(), &octets_i, &auth.data) {
            warn!(target: "ike", "AUTH of '{who}' after EAP does not verify with the MSK: AUTHENTICATION_FAILED");
            respond(
                self,
                sa,
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.kill(sa, "AUTHENTICATION_FAILED");
            return;
        }
        let octets_r = auth::signed_octets(
            prf,
            &sa.init_resp,
            &sa.ni,
            keys.sk_pr.as_slice(),
            &sa.local_id.body(),
        );
        let our_auth = auth::shared_key_auth(prf, msk.as_slice(), &octets_r);
        let conn = sa.conn.clone();
        self.enforce_unique(
            now,
            sa,
            find_notify(&st.first, NotifyType::INITIAL_CONTACT).is_some(),
        );
        sa.phase = Phase::Established;
        sa.established = Some(now);
        sa.rekey_at = conn
            .rekey
            .then(|| now + self.rekey_delay(conn.ikelifetime, conn.margintime, conn.rekeyfuzz));
        self.half_open.retain(|_, v| *v != sa.spi_r);
        info!(target: "ike", "IKE_SA {}[{}] established between {}[{}]...{}[{}]", conn.name, sa.id, sa.local.ip(), ident::from_wire(&sa.local_id).map(|i| i.to_string()).unwrap_or_default(), sa.remote.ip(), who);
        self.events.push_back(Event::IkeUp {
            conn: conn.name.clone(),
            ike_id: sa.id,
        });
        let mut inner = vec![Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: our_auth.as_slice().to_vec(),
        })];
        inner.extend(self.responder_child(now, sa, &conn, &st.first));
        respond(self, sa, inner);
    }

    /// Responder: answers a CP(CFG_REQUEST) from `rightsourceip=` (pools or a
    /// static address) and `rightdns=`; returns the CP reply and the addresses.
    fn assign_vips(
        &mut self,
        sa: &mut IkeSa,
        conn: &Conn,
        payloads: &[Payload],
    ) -> (Option<Payload>, Vec<IpAddr>) {
        use crate::wire::{CfgAttribute as A, CfgType, ConfigPayload};
        let Some(req) = payloads.iter().find_map(|p| match p {
            Payload::Cp(c) if c.cfg_type == CfgType::REQUEST => Some(c),
            _ => None,
        }) else {
            return (None, Vec::new());
        };
        let side = conn.local_side(&self.local_addrs);
        let (_, remote_end) = conn.ends(side);
        let want4 = req
            .attributes
            .iter()
            .any(|a| matches!(a, A::InternalIp4Address(_)));
        let want6 = req
            .attributes
            .iter()
            .any(|a| matches!(a, A::InternalIp6Address(_)));
        let who = sa
            .remote_id
            .as_ref()
            .and_then(ident::from_wire)
            .map(|i| i.to_string())
            .unwrap_or_default();
        let mut vips = Vec::new();
        for src in &remote_end.sourceip {
            let (key, cands) = match src {
                conf::conn::SourceIp::Pool(p) => (p.to_string(), pool_addrs(p)),
                conf::conn::SourceIp::Addr(a) => (a.to_string(), vec![*a]),
                conf::conn::SourceIp::Named(n) => {
                    warn!(target: "cfg", "named pool %{n} needs an attribute provider, which iked does not have yet");
                    continue;
                }
                conf::conn::SourceIp::Config(_) => continue,
            };
            let Some(first) = cands.first() else { continue };
            let v4 = first.is_ipv4();
            if (v4 && !want4) || (!v4 && !want6) || vips.iter().any(|x: &IpAddr| x.is_ipv4() == v4)
            {
                continue;
            }
            let pool = self.pools.entry(key.clone()).or_default();
            let previous = pool
                .leases
                .get(&who)
                .copied()
                .filter(|a| !pool.online.contains_key(a));
            let leased: std::collections::HashSet<IpAddr> = pool.leases.values().copied().collect();
            let pick = previous
                .or_else(|| {
                    cands
                        .iter()
                        .copied()
                        .find(|a| !pool.online.contains_key(a) && !leased.contains(a))
                })
                .or_else(|| cands.iter().copied().find(|a| !pool.online.contains_key(a)));
            match pick {
                Some(a) => {
                    pool.leases.retain(|_, v| *v != a);
                    pool.leases.insert(who.clone(), a);
                    pool.online.insert(a, who.clone());
                    sa.vip_leases.push((key.clone(), a));
                    info!(target: "cfg", "assigning virtual IP {a} to peer '{who}' (pool {key})");
                    vips.push(a);
                }
                None => warn!(target: "cfg", "pool {key} is exhausted: no virtual IP for '{who}'"),
            }
        }
        if vips.is_empty() {
            warn!(target: "cfg", "peer '{who}' asked for a virtual IP, but conn '{}' has none to give", conn.name);
            return (None, Vec::new());
        }
        let mut attrs = Vec::new();
        for a in &vips {
            match a {
                IpAddr::V4(x) => attrs.push(A::InternalIp4Address(Some(*x))),
                IpAddr::V6(x) => attrs.push(A::InternalIp6Address(Some((*x, 128)))),
            }
        }
        for d in &remote_end.dns {
            if let conf::conn::DnsServer::Addr(a) = d {
                match a {
                    IpAddr::V4(x) => attrs.push(A::InternalIp4Dns(Some(*x))),
                    IpAddr::V6(x) => attrs.push(A::InternalIp6Dns(Some(*x))),
                }
            }
        }
        (
            Some(Payload::Cp(ConfigPayload {
                cfg_type: CfgType::REPLY,
                attributes: attrs,
            })),
            vips,
        )
    }

    /// Virtual IPs of an IKE_SA: (assigned to us, leased to the peer).
    pub fn virtual_ips(&self, ike_id: u32) -> (Vec<IpAddr>, Vec<IpAddr>) {
        self.sas
            .values()
            .find(|sa| sa.id == ike_id && sa.phase != Phase::Dead)
            .map(|sa| {
                (
                    sa.vips_local.clone(),
                    sa.vip_leases.iter().map(|(_, a)| *a).collect(),
                )
            })
            .unwrap_or_default()
    }

    /// The first CHILD_SA as responder: the payloads to answer with.
    fn responder_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        conn: &Conn,
        payloads: &[Payload],
    ) -> Vec<Payload> {
        let sa_p = find_payload!(payloads, Sa);
        let tsi = find_payload!(payloads, TsI).map(|t| crate::ts::from_wire(t));
        let tsr = find_payload!(payloads, TsR).map(|t| crate::ts::from_wire(t));
        let (Some(sa_p), Some(tsi), Some(tsr)) = (sa_p, tsi, tsr) else {
            info!(target: "chd", "IKE_AUTH without SA/TSi/TSr: IKE_SA only");
            return Vec::new();
        };
        let side = conn.local_side(&self.local_addrs);
        let (local_end, remote_end) = conn.ends(side);
        let esp = for_ike_auth(&conn.esp.effective());
        let theirs: Vec<crate::wire::Proposal> = sa_p
            .proposals
            .iter()
            .map(super::proposal::strip_dh)
            .collect();
        let Some((mut chosen, suite)) = select(&self.provider, &esp, &theirs, RegProto::Esp) else {
            warn!(target: "chd", "no acceptable ESP proposal for conn '{}' (offered: {}): NO_PROPOSAL_CHOSEN", conn.name, describe_offer(&sa_p.proposals));
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())];
        };
        let Some(spi_out) = chosen
            .spi
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())];
        };
        let (cp_reply, vips) = self.assign_vips(sa, conn, payloads);
        let conf_remote = if !vips.is_empty() && remote_end.subnets.is_empty() {
            vips.iter()
                .map(|a| Selector {
                    start: *a,
                    end: *a,
                    protocol: remote_end.protoport.proto,
                    start_port: remote_end.protoport.port_from,
                    end_port: remote_end.protoport.port_to,
                })
                .collect()
        } else {
            crate::ts::configured(&remote_end.subnets, &remote_end.protoport, sa.remote.ip())
        };
        let conf_local =
            crate::ts::configured(&local_end.subnets, &local_end.protoport, sa.local.ip());
        let ts_remote = crate::ts::narrow(&tsi, &conf_remote);
        let ts_local = crate::ts::narrow(&tsr, &conf_local);
        if ts_remote.is_empty() || ts_local.is_empty() {
            let show = |v: &[Selector]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            warn!(target: "chd", "traffic selectors {} === {} unacceptable for conn '{}' ({} === {}): TS_UNACCEPTABLE", show(&tsr), show(&tsi), conn.name, show(&conf_local), show(&conf_remote));
            return vec![notify(NotifyType::TS_UNACCEPTABLE, Vec::new())];
        }
        let wants_transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
        let transport = wants_transport && conn.conn_type == ConnType::Transport;
        if conn.conn_type == ConnType::Transport && !wants_transport {
            warn!(target: "chd", "conn '{}' is type=transport but the peer wants tunnel mode: NO_PROPOSAL_CHOSEN", conn.name);
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())];
        }
        let spi_in = match self.spis.alloc_spi(sa.local.ip(), sa.remote.ip()) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "knl", "unable to allocate SPI: {e}");
                return vec![notify(NotifyType::TEMPORARY_FAILURE, Vec::new())];
            }
        };
        chosen.spi = spi_in.to_be_bytes().to_vec();
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
        self.install_child(
            sa,
            NewChild {
                conn,
                suite,
                spi_in,
                spi_out,
                mode,
                ts_local: ts_local.clone(),
                ts_remote: ts_remote.clone(),
                ni: &ni,
                nr: &nr,
                shared: None,
                we_initiated: false,
            },
            now,
        );
        let mut out: Vec<Payload> = cp_reply.into_iter().collect();
        if transport {
            out.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        out.push(Payload::Sa(SaPayload {
            proposals: vec![chosen],
        }));
        out.push(Payload::TsI(
            ts_remote.iter().map(crate::ts::to_wire).collect(),
        ));
        out.push(Payload::TsR(
            ts_local.iter().map(crate::ts::to_wire).collect(),
        ));
        out
    }

    // ------------------------------------------------------------------
    // INFORMATIONAL

    /// `uniqueids` (config setup): a new IKE_SA of the same peer identity
    /// replaces the old ones (yes/replace; with `no` only on INITIAL_CONTACT).
    fn enforce_unique(&mut self, now: Instant, sa: &IkeSa, initial_contact: bool) {
        use conf::setup::UniqueIds;
        let replace = match self.config.setup.uniqueids {
            UniqueIds::Yes | UniqueIds::Replace => true,
            UniqueIds::No => initial_contact,
            UniqueIds::Never | UniqueIds::Keep => false,
        };
        if !replace {
            return;
        }
        let old: Vec<[u8; 8]> = self
            .sas
            .iter()
            .filter(|(_, o)| {
                o.id != sa.id
                    && o.phase == Phase::Established
                    && o.remote_id == sa.remote_id
                    && o.local_id == sa.local_id
                    && o.conn.name == sa.conn.name
            })
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            if let Some(o) = self.sas.get(&k) {
                info!(target: "ike", "deleting duplicate IKE_SA {}[{}] of the same peer (uniqueids)", o.conn.name, o.id);
            }
            self.delete_ike(now, &k, "replaced by a new IKE_SA (uniqueids)");
        }
    }

    /// dpdaction/closeaction=restart: initiate the SA's conns again.
    fn restart(&mut self, now: Instant, sa: &IkeSa) {
        let mut names = vec![sa.conn.name.clone()];
        for c in &sa.children {
            if !names.contains(&c.conn) {
                names.push(c.conn.clone());
            }
        }
        for n in names {
            info!(target: "ike", "restarting conn '{n}'");
            if let Err(e) = self.initiate(now, &n) {
                warn!(target: "ike", "restart of '{n}' failed: {e}");
            }
        }
    }

    fn on_informational_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        msg_id: u32,
        payloads: Vec<Payload>,
    ) {
        let mut inner = Vec::new();
        let mut delete_ike = false;
        for p in &payloads {
            if let Payload::Delete(d) = p {
                if d.protocol_id == ProtocolId::IKE {
                    delete_ike = true;
                } else if d.protocol_id == ProtocolId::ESP {
                    let mut ours = Vec::new();
                    for spi in &d.spis {
                        let Some(s) = spi
                            .get(..4)
                            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                        else {
                            continue;
                        };
                        if let Some(pos) = sa.children.iter().position(|c| c.spi_out == s) {
                            let c = sa.children.remove(pos);
                            info!(target: "chd", "received DELETE for CHILD_SA {}{{{}}} with SPI {:08x}", c.conn, c.id, s);
                            ours.push(c.spi_in.to_be_bytes().to_vec());
                            self.events.push_back(Event::DeleteChild {
                                conn: c.conn,
                                child_id: c.id,
                                reqid: c.reqid,
                                local: sa.local.ip(),
                                remote: sa.remote.ip(),
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                            });
                        }
                    }
                    if !ours.is_empty() {
                        inner.push(Payload::Delete(Delete {
                            protocol_id: ProtocolId::ESP,
                            spi_size: 4,
                            spis: ours,
                        }));
                    }
                }
            }
        }
        if delete_ike {
            info!(target: "ike", "received DELETE for IKE_SA {}[{}]", sa.conn.name, sa.id);
            inner.clear();
        } else if payloads.is_empty() {
            debug!(target: "ike", "liveness check from {} answered", sa.remote.ip());
        }
        if let Some(p) = self.protect(sa, ExchangeType::INFORMATIONAL, true, msg_id, &inner) {
            self.send_response(sa, msg_id, p);
        }
        if delete_ike {
            self.kill(sa, "deleted by peer");
            if sa.conn.closeaction == conf::conn::DpdAction::Restart {
                self.restart(now, sa);
            }
        }
    }

    // ------------------------------------------------------------------
    // Status

    pub fn status(&self, now: Instant) -> Vec<IkeStatus> {
        let mut v: Vec<IkeStatus> = self
            .sas
            .values()
            .filter(|sa| sa.phase != Phase::Dead)
            .map(|sa| IkeStatus {
                conn: sa.conn.name.clone(),
                ike_id: sa.id,
                state: match sa.phase {
                    Phase::Established => IkeState::Established,
                    Phase::Deleting | Phase::Dead => IkeState::Deleting,
                    _ => IkeState::Connecting,
                },
                initiator: sa.initiator,
                local: sa.local,
                remote: sa.remote,
                local_id: ident::from_wire(&sa.local_id)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                remote_id: sa
                    .remote_id
                    .as_ref()
                    .and_then(ident::from_wire)
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "%any".into()),
                spi_i: sa.spi_pair().0,
                spi_r: sa.spi_pair().1,
                proposal: sa.suite.map(|s| suite_name(&s)).unwrap_or_default(),
                established_secs_ago: sa
                    .established
                    .map(|t| now.saturating_duration_since(t).as_secs()),
                rekey_in_secs: sa
                    .rekey_at
                    .filter(|_| sa.phase == Phase::Established)
                    .map(|t| t.saturating_duration_since(now).as_secs()),
                children: sa
                    .children
                    .iter()
                    .map(|c| ChildStatus {
                        conn: c.conn.clone(),
                        child_id: c.id,
                        reqid: c.reqid,
                        mode: c.mode,
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                        encap: sa.encap(),
                        proposal: suite_name(&c.suite),
                        ts_local: c.ts_local.clone(),
                        ts_remote: c.ts_remote.clone(),
                        established_secs_ago: now
                            .saturating_duration_since(c.established)
                            .as_secs(),
                        rekey_in_secs: c
                            .rekey_at
                            .filter(|_| !c.rekeying)
                            .map(|t| t.saturating_duration_since(now).as_secs()),
                        rekeying: c.rekeying,
                    })
                    .collect(),
            })
            .collect();
        v.sort_by_key(|s| s.ike_id);
        v
    }
}

/// Decrypts an SK message, or adds an SKF fragment (RFC 7383): `Ok(None)` while
/// fragments are missing.
fn open_message(
    sa: &mut IkeSa,
    data: &[u8],
    msg: &Message,
) -> Result<Option<crate::wire::Chain>, String> {
    let sk = sa.sk_in.as_ref().ok_or("no keys yet")?;
    match msg.payloads.last() {
        Some(Payload::Skf(_)) => {
            let key = (msg.header.message_id, msg.header.flags.response());
            let fresh = !matches!(&sa.reassembly, Some((id, r, _)) if (*id, *r) == key);
            if fresh {
                sa.reassembly = Some((key.0, key.1, Reassembly::new()));
            }
            let Some((_, _, buf)) = sa.reassembly.as_mut() else {
                return Ok(None);
            };
            match buf.add(sk, data, msg) {
                Ok(Some(chain)) => {
                    sa.reassembly = None;
                    Ok(Some(chain))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        }
        _ => sk.unprotect(data, msg).map(Some).map_err(|e| e.to_string()),
    }
}

/// When dead peer detection is due (dpdaction != none and dpddelay > 0).
fn dpd_due(sa: &IkeSa) -> Option<Instant> {
    (sa.conn.dpdaction != conf::conn::DpdAction::None
        && !sa.conn.dpddelay.is_zero()
        && sa.phase == Phase::Established)
        .then(|| sa.last_in + sa.conn.dpddelay)
}

fn describe_offer(p: &[crate::wire::Proposal]) -> String {
    p.iter()
        .map(|p| {
            p.transforms
                .iter()
                .map(|t| format!("{}:{}", t.transform_type, t.id))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::pool_addrs;
    use conf::values::{TsAddr, parse_net};

    #[test]
    fn pools_exclude_network_and_broadcast_and_never_overflow() {
        let p = |s: &str| TsAddr::Net(parse_net(s).unwrap().0);
        let v = pool_addrs(&p("10.3.0.0/28"));
        assert_eq!(v.len(), 14);
        assert_eq!(v[0].to_string(), "10.3.0.1");
        assert_eq!(v[13].to_string(), "10.3.0.14");
        assert_eq!(pool_addrs(&p("10.3.0.7/32")).len(), 1);
        assert_eq!(pool_addrs(&p("255.255.255.252/30")).len(), 2);
        // Top of the IPv6 space, and a huge pool: bounded, no overflow.
        assert_eq!(
            pool_addrs(&p("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120")).len(),
            255
        );
        assert_eq!(pool_addrs(&p("2001:db8::/64")).len(), 65_536);
        let r = TsAddr::Range("192.0.2.10".parse().unwrap(), "192.0.2.12".parse().unwrap());
        assert_eq!(pool_addrs(&r).len(), 3);
    }
}
