//! Typed descriptions of SAs, policies and their parts. No IKE types here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::error::Error;

/// Secret key material. Zeroized on drop; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Zeroizing<Vec<u8>>);

impl Key {
    /// Takes ownership of the bytes (the caller's copy is the caller's business).
    pub fn new(bytes: Vec<u8>) -> Self {
        Key(Zeroizing::new(bytes))
    }
    /// Copies the bytes into a zeroizing buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Key(Zeroizing::new(bytes.to_vec()))
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty (e.g. the `ecb(cipher_null)` key).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<redacted, {} bytes>)", self.0.len())
    }
}

/// AEAD transforms (XFRMA_ALG_AEAD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AeadAlg {
    /// `rfc4106(gcm(aes))`: key = AES key + 4-byte salt.
    AesGcm,
    /// `rfc7539esp(chacha20,poly1305)`: key = 32-byte key + 4-byte salt.
    ChaCha20Poly1305,
    /// Any other kernel AEAD name.
    Named(String),
}

/// Encryption transforms (XFRMA_ALG_CRYPT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncrAlg {
    /// `cbc(aes)`.
    AesCbc,
    /// `ecb(cipher_null)`: no encryption (testing only).
    Null,
    /// Any other kernel cipher name.
    Named(String),
}

/// Integrity transforms (XFRMA_ALG_AUTH_TRUNC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntegAlg {
    /// `hmac(sha1)`.
    HmacSha1,
    /// `hmac(sha256)`.
    HmacSha256,
    /// `hmac(sha384)`.
    HmacSha384,
    /// `hmac(sha512)`.
    HmacSha512,
    /// Any other kernel hash name.
    Named(String),
}

impl AeadAlg {
    /// The transform of a kernel crypto API name (`Named` if none of ours).
    pub fn from_kernel_name(name: &str) -> Self {
        [AeadAlg::AesGcm, AeadAlg::ChaCha20Poly1305]
            .into_iter()
            .find(|a| a.kernel_name() == name)
            .unwrap_or_else(|| AeadAlg::Named(name.to_owned()))
    }
    /// The kernel crypto API name.
    pub fn kernel_name(&self) -> &str {
        match self {
            AeadAlg::AesGcm => "rfc4106(gcm(aes))",
            AeadAlg::ChaCha20Poly1305 => "rfc7539esp(chacha20,poly1305)",
            AeadAlg::Named(n) => n,
        }
    }
}

impl EncrAlg {
    /// The transform of a kernel crypto API name (`Named` if none of ours).
    pub fn from_kernel_name(name: &str) -> Self {
        [EncrAlg::AesCbc, EncrAlg::Null]
            .into_iter()
            .find(|a| a.kernel_name() == name)
            .unwrap_or_else(|| EncrAlg::Named(name.to_owned()))
    }
    /// The kernel crypto API name.
    pub fn kernel_name(&self) -> &str {
        match self {
            EncrAlg::AesCbc => "cbc(aes)",
            EncrAlg::Null => "ecb(cipher_null)",
            EncrAlg::Named(n) => n,
        }
    }
}

impl IntegAlg {
    /// The transform of a kernel crypto API name (`Named` if none of ours).
    pub fn from_kernel_name(name: &str) -> Self {
        [
            IntegAlg::HmacSha1,
            IntegAlg::HmacSha256,
            IntegAlg::HmacSha384,
            IntegAlg::HmacSha512,
        ]
        .into_iter()
        .find(|a| a.kernel_name() == name)
        .unwrap_or_else(|| IntegAlg::Named(name.to_owned()))
    }
    /// The kernel crypto API name.
    pub fn kernel_name(&self) -> &str {
        match self {
            IntegAlg::HmacSha1 => "hmac(sha1)",
            IntegAlg::HmacSha256 => "hmac(sha256)",
            IntegAlg::HmacSha384 => "hmac(sha384)",
            IntegAlg::HmacSha512 => "hmac(sha512)",
            IntegAlg::Named(n) => n,
        }
    }
    /// The truncation used by IPsec (RFC 2404, RFC 4868): 96/128/192/256 bits.
    pub fn default_trunc_bits(&self) -> u32 {
        match self {
            IntegAlg::HmacSha1 => 96,
            IntegAlg::HmacSha256 => 128,
            IntegAlg::HmacSha384 => 192,
            IntegAlg::HmacSha512 => 256,
            IntegAlg::Named(_) => 96,
        }
    }
}

/// The SA's cryptographic transform and keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Crypto {
    /// Combined-mode cipher.
    Aead {
        /// Algorithm.
        alg: AeadAlg,
        /// Key including salt.
        key: Key,
        /// ICV length in bits (64, 96 or 128 for GCM; 128 for ChaCha20-Poly1305).
        icv_bits: u32,
    },
    /// Cipher plus integrity.
    EncrInteg {
        /// Cipher.
        encr: EncrAlg,
        /// Cipher key.
        encr_key: Key,
        /// Integrity algorithm.
        integ: IntegAlg,
        /// Integrity key.
        integ_key: Key,
        /// Truncated ICV length in bits.
        trunc_bits: u32,
    },
    /// Integrity only, for AH. (ESP without encryption is `EncrInteg` with
    /// [`EncrAlg::Null`] and an empty key.)
    Integ {
        /// Integrity algorithm.
        integ: IntegAlg,
        /// Integrity key.
        integ_key: Key,
        /// Truncated ICV length in bits.
        trunc_bits: u32,
    },
}

/// IPsec protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// ESP (50).
    #[default]
    Esp,
    /// AH (51): use [`Crypto::Integ`].
    Ah,
    /// IPComp (108), as reported by the kernel (installing IPComp SAs is not supported).
    Comp,
    /// Any other protocol number the kernel reports.
    Other(u8),
}

impl Protocol {
    pub(crate) fn number(self) -> u8 {
        match self {
            Protocol::Esp => 50,
            Protocol::Ah => 51,
            Protocol::Comp => 108,
            Protocol::Other(n) => n,
        }
    }
    pub(crate) fn from_number(n: u8) -> Self {
        match n {
            50 => Protocol::Esp,
            51 => Protocol::Ah,
            108 => Protocol::Comp,
            n => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Esp => f.write_str("esp"),
            Protocol::Ah => f.write_str("ah"),
            Protocol::Comp => f.write_str("comp"),
            Protocol::Other(n) => write!(f, "proto {n}"),
        }
    }
}

/// SA / template mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Transport mode.
    Transport,
    /// Tunnel mode.
    #[default]
    Tunnel,
    /// BEET mode.
    Beet,
}

impl Mode {
    pub(crate) fn number(self) -> u8 {
        match self {
            Mode::Transport => 0,
            Mode::Tunnel => 1,
            Mode::Beet => 4,
        }
    }
    pub(crate) fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(Mode::Transport),
            1 => Some(Mode::Tunnel),
            4 => Some(Mode::Beet),
            _ => None,
        }
    }
}

/// A netfilter mark and mask (`mark` / `mark_in` / `mark_out` in ipsec.conf; VTI keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Value.
    pub value: u32,
    /// Mask.
    pub mask: u32,
}

impl Mark {
    /// `value/0xffffffff`.
    pub fn exact(value: u32) -> Self {
        Mark {
            value,
            mask: u32::MAX,
        }
    }
}

/// UDP encapsulation of ESP (RFC 3948, NAT traversal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    /// Source UDP port of the encapsulated packets (usually 4500).
    pub sport: u16,
    /// Destination UDP port.
    pub dport: u16,
}

/// One set of lifetime limits; `None` means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Limits {
    /// Bytes processed.
    pub bytes: Option<u64>,
    /// Packets processed.
    pub packets: Option<u64>,
    /// Seconds since installation.
    pub add_seconds: Option<u64>,
    /// Seconds since first use.
    pub use_seconds: Option<u64>,
}

/// Soft limits (an EXPIRE soft event, the cue to rekey) and hard limits (the SA is deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Soft.
    pub soft: Limits,
    /// Hard.
    pub hard: Limits,
}

/// What the kernel has counted for an SA or policy (`xfrm_lifetime_cur`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Current {
    /// Bytes processed.
    pub bytes: u64,
    /// Packets processed.
    pub packets: u64,
    /// Installation time (seconds since the epoch).
    pub add_time: u64,
    /// First use (seconds since the epoch), 0 if never used.
    pub use_time: u64,
}

/// Kernel per-SA error statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SaStats {
    /// Packets dropped as outside the replay window.
    pub replay_window: u32,
    /// Packets dropped as replays.
    pub replay: u32,
    /// Packets failing integrity checks.
    pub integrity_failed: u32,
}

/// An address prefix, e.g. `198.51.100.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// A prefix; checked when used.
    pub fn new(addr: IpAddr, len: u8) -> Self {
        Prefix { addr, len }
    }
    /// A host prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        Prefix {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
    /// `0.0.0.0/0` or `::/0`.
    pub fn any(v6: bool) -> Self {
        if v6 {
            Prefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            Prefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        }
    }
    pub(crate) fn check(&self) -> Result<(), Error> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.len > max {
            return Err(Error::Invalid(format!(
                "prefix length {} > {max}",
                self.len
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Invalid(format!("bad prefix {s:?}"));
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let p = match l {
            Some(l) => Prefix::new(addr, l.parse().map_err(|_| bad())?),
            None => Prefix::host(addr),
        };
        p.check()?;
        Ok(p)
    }
}

/// A traffic selector: which packets a policy (or SA) applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Source prefix.
    pub src: Prefix,
    /// Destination prefix.
    pub dst: Prefix,
    /// IP protocol, 0 = any.
    pub proto: u8,
    /// Source port (for ICMP: the type), `None` = any.
    pub sport: Option<u16>,
    /// Destination port (for ICMP: the code), `None` = any.
    pub dport: Option<u16>,
    /// Interface index, 0 = any.
    pub ifindex: i32,
}

impl Selector {
    /// Any protocol, any port between two prefixes (same family).
    pub fn new(src: Prefix, dst: Prefix) -> Self {
        Selector {
            src,
            dst,
            proto: 0,
            sport: None,
            dport: None,
            ifindex: 0,
        }
    }
    /// Everything of one family.
    pub fn any(v6: bool) -> Self {
        Selector::new(Prefix::any(v6), Prefix::any(v6))
    }
    pub(crate) fn check(&self) -> Result<(), Error> {
        self.src.check()?;
        self.dst.check()?;
        if self.src.addr.is_ipv4() != self.dst.addr.is_ipv4() {
            return Err(Error::Invalid(format!(
                "selector mixes address families: {} -> {}",
                self.src, self.dst
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)?;
        if self.proto != 0 {
            write!(f, " proto {}", self.proto)?;
        }
        if let Some(p) = self.sport {
            write!(f, " sport {p}")?;
        }
        if let Some(p) = self.dport {
            write!(f, " dport {p}")?;
        }
        Ok(())
    }
}

/// SA flags (`XFRM_STATE_*`), combinable with `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SaFlags(pub u8);

impl SaFlags {
    /// No flags.
    pub const NONE: SaFlags = SaFlags(0);
    /// XFRM_STATE_NOECN.
    pub const NOECN: SaFlags = SaFlags(1);
    /// XFRM_STATE_DECAP_DSCP.
    pub const DECAP_DSCP: SaFlags = SaFlags(2);
    /// XFRM_STATE_NOPMTUDISC.
    pub const NOPMTUDISC: SaFlags = SaFlags(4);
    /// XFRM_STATE_WILDRECV.
    pub const WILDRECV: SaFlags = SaFlags(8);
    /// XFRM_STATE_ICMP.
    pub const ICMP: SaFlags = SaFlags(16);
    /// XFRM_STATE_AF_UNSPEC.
    pub const AF_UNSPEC: SaFlags = SaFlags(32);
    /// XFRM_STATE_ALIGN4.
    pub const ALIGN4: SaFlags = SaFlags(64);
}

impl std::ops::BitOr for SaFlags {
    type Output = SaFlags;
    fn bitor(self, rhs: SaFlags) -> SaFlags {
        SaFlags(self.0 | rhs.0)
    }
}

/// A security association to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sa {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// SPI (host byte order).
    pub spi: u32,
    /// Protocol.
    pub protocol: Protocol,
    /// Mode.
    pub mode: Mode,
    /// Request ID linking the SA to policy templates.
    pub reqid: u32,
    /// Transforms and keys.
    pub crypto: Crypto,
    /// Anti-replay window in packets (0 = none, e.g. outbound).
    pub replay_window: u32,
    /// Extended sequence numbers.
    pub esn: bool,
    /// UDP encapsulation.
    pub encap: Option<UdpEncap>,
    /// Mark the SA matches.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
    /// Lifetimes.
    pub lifetime: Lifetime,
    /// Flags.
    pub flags: SaFlags,
    /// `XFRM_SA_XFLAG_*` extra flags (0 = none).
    pub extra_flags: u32,
    /// SA selector; `None` = all traffic of the SA's family (usual in tunnel mode).
    pub selector: Option<Selector>,
    /// Sequence numbers and replay bitmap to start from (`None`: fresh).
    /// An SA re-added elsewhere (an address change) carries its old one,
    /// or its peer would take the restarted numbers for replays.
    pub replay_state: Option<ReplayState>,
}

/// An SA's sequence-number state (`XFRMA_REPLAY_VAL`, or the ESN one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayState {
    /// Last outbound sequence number (low 32 bits).
    pub oseq: u32,
    /// Highest inbound sequence number seen (low 32 bits).
    pub seq: u32,
    /// High 32 bits of both (ESN).
    pub oseq_hi: u32,
    pub seq_hi: u32,
    /// Replay bitmap words.
    pub bitmap: Vec<u32>,
}

impl Sa {
    /// An ESP SA with defaults: no replay window, no ESN, no encapsulation, no mark or
    /// interface, no lifetime limits, no flags.
    pub fn new(src: IpAddr, dst: IpAddr, spi: u32, mode: Mode, reqid: u32, crypto: Crypto) -> Self {
        Sa {
            src,
            dst,
            spi,
            protocol: Protocol::Esp,
            mode,
            reqid,
            crypto,
            replay_window: 0,
            esn: false,
            encap: None,
            mark: None,
            if_id: None,
            lifetime: Lifetime::default(),
            flags: SaFlags::NONE,
            extra_flags: 0,
            selector: None,
            replay_state: None,
        }
    }
    /// The identity of this SA.
    pub fn id(&self) -> SaId {
        SaId {
            dst: self.dst,
            spi: self.spi,
            protocol: self.protocol,
            mark: self.mark,
        }
    }
}

/// What identifies an SA in the kernel: destination, SPI, protocol (and mark).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SaId {
    /// Destination address.
    pub dst: IpAddr,
    /// SPI (host byte order).
    pub spi: u32,
    /// Protocol.
    pub protocol: Protocol,
    /// Mark (an SA installed with a mark is found only with it).
    pub mark: Option<Mark>,
}

impl fmt::Display for SaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SA {} spi 0x{:08x} dst {}",
            self.protocol, self.spi, self.dst
        )?;
        if let Some(m) = self.mark {
            write!(f, " mark 0x{:x}/0x{:x}", m.value, m.mask)?;
        }
        Ok(())
    }
}

/// An SA as the kernel reports it (keys are never returned: they are wiped on receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaInfo {
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// Protocol.
    pub protocol: Protocol,
    /// Mode (`None` if the kernel reported a mode this crate does not know).
    pub mode: Option<Mode>,
    /// Request ID.
    pub reqid: u32,
    /// Replay window (from the ESN replay state when present).
    pub replay_window: u32,
    /// Sequence numbers and bitmap, when the kernel reported them.
    pub replay_state: Option<ReplayState>,
    /// Flags.
    pub flags: SaFlags,
    /// Configured lifetimes.
    pub lifetime: Lifetime,
    /// Counters: bytes, packets, add/use time.
    pub current: Current,
    /// Error statistics.
    pub stats: SaStats,
    /// Selector.
    pub selector: Selector,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
    /// UDP encapsulation.
    pub encap: Option<UdpEncap>,
    /// AEAD name and ICV bits.
    pub aead: Option<(String, u32)>,
    /// Cipher name.
    pub encryption: Option<String>,
    /// Integrity name and truncation bits.
    pub integrity: Option<(String, u32)>,
}

/// Policy direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Inbound.
    In,
    /// Outbound.
    Out,
    /// Forwarded.
    Fwd,
}

impl Direction {
    pub(crate) fn number(self) -> u8 {
        match self {
            Direction::In => 0,
            Direction::Out => 1,
            Direction::Fwd => 2,
        }
    }
    pub(crate) fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(Direction::In),
            1 => Some(Direction::Out),
            2 => Some(Direction::Fwd),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Fwd => "fwd",
        })
    }
}

/// Policy action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// Allow (apply the templates).
    #[default]
    Allow,
    /// Block (drop).
    Block,
}

/// A policy template: which SA must protect matching packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    /// Tunnel source (required in tunnel mode).
    pub src: Option<IpAddr>,
    /// Tunnel destination (required in tunnel mode).
    pub dst: Option<IpAddr>,
    /// Protocol.
    pub protocol: Protocol,
    /// SPI, 0 = any.
    pub spi: u32,
    /// Mode.
    pub mode: Mode,
    /// Request ID, 0 = any.
    pub reqid: u32,
    /// Optional (`level use`): packets pass even without an SA.
    pub optional: bool,
}

impl Template {
    /// An ESP tunnel template between two gateways.
    pub fn tunnel(src: IpAddr, dst: IpAddr, reqid: u32) -> Self {
        Template {
            src: Some(src),
            dst: Some(dst),
            protocol: Protocol::Esp,
            spi: 0,
            mode: Mode::Tunnel,
            reqid,
            optional: false,
        }
    }
    /// An ESP transport template.
    pub fn transport(reqid: u32) -> Self {
        Template {
            src: None,
            dst: None,
            protocol: Protocol::Esp,
            spi: 0,
            mode: Mode::Transport,
            reqid,
            optional: false,
        }
    }
}

/// A policy to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Traffic selector.
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Action.
    pub action: Action,
    /// Priority (lower wins).
    pub priority: u32,
    /// Index; 0 lets the kernel choose.
    pub index: u32,
    /// Templates (empty with `Allow` = bypass).
    pub templates: Vec<Template>,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
    /// Lifetimes (a POLEXPIRE event when reached).
    pub lifetime: Lifetime,
}

impl Policy {
    /// An allow policy with the given templates, priority 0, kernel-chosen index.
    pub fn new(selector: Selector, dir: Direction, templates: Vec<Template>) -> Self {
        Policy {
            selector,
            dir,
            action: Action::Allow,
            priority: 0,
            index: 0,
            templates,
            mark: None,
            if_id: None,
            lifetime: Lifetime::default(),
        }
    }
    /// The identity of this policy (by selector, direction, mark and if_id).
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            dir: self.dir,
            index: 0,
            mark: self.mark,
            if_id: self.if_id,
        }
    }
}

/// What identifies a policy: selector + direction (+ mark, if_id), or its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// Selector (ignored by the kernel when `index` is set).
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Index; when non-zero the kernel looks the policy up by index.
    pub index: u32,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
}

impl PolicyId {
    /// By index (as reported by ACQUIRE or a get).
    pub fn by_index(index: u32, dir: Direction) -> Self {
        PolicyId {
            selector: Selector::any(false),
            dir,
            index,
            mark: None,
            if_id: None,
        }
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index != 0 {
            write!(f, "policy index {} dir {}", self.index, self.dir)?;
        } else {
            write!(f, "policy {} dir {}", self.selector, self.dir)?;
        }
        if let Some(m) = self.mark {
            write!(f, " mark 0x{:x}/0x{:x}", m.value, m.mask)?;
        }
        if let Some(i) = self.if_id {
            write!(f, " if_id {i}")?;
        }
        Ok(())
    }
}

/// A policy as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The policy (with the index the kernel gave it).
    pub policy: Policy,
    /// Counters.
    pub current: Current,
}

/// A request for a fresh SPI (XFRM_MSG_ALLOCSPI): creates a larval SA that a later
/// [`crate::Xfrm::update_sa`] (not `add_sa`) completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpiRequest {
    /// Peer (source of the inbound SA).
    pub src: IpAddr,
    /// Local address (destination of the inbound SA).
    pub dst: IpAddr,
    /// Protocol.
    pub protocol: Protocol,
    /// Mode.
    pub mode: Mode,
    /// Request ID.
    pub reqid: u32,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
    /// Lowest acceptable SPI (the kernel never hands out 0..=255).
    pub min: u32,
    /// Highest acceptable SPI.
    pub max: u32,
}

impl SpiRequest {
    /// ESP tunnel, any SPI in `0xc0000000..=0xcfffffff`.
    pub fn new(src: IpAddr, dst: IpAddr, reqid: u32) -> Self {
        SpiRequest {
            src,
            dst,
            protocol: Protocol::Esp,
            mode: Mode::Tunnel,
            reqid,
            mark: None,
            if_id: None,
            min: 0xc000_0000,
            max: 0xcfff_ffff,
        }
    }
}

/// Kernel events from the XFRM multicast groups.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A packet matched a policy whose template has no SA: negotiate one.
    Acquire(Acquire),
    /// An SA reached a soft (rekey) or hard (deleted) limit.
    Expire(Expire),
    /// A policy reached a lifetime limit.
    PolicyExpire(PolicyExpire),
    /// The peer's NAT mapping (address/port) of a UDP-encapsulated SA changed.
    Mapping(Mapping),
}

/// XFRM_MSG_ACQUIRE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquire {
    /// Destination of the wanted SA (template destination).
    pub dst: IpAddr,
    /// Source of the wanted SA.
    pub src: IpAddr,
    /// Protocol of the wanted SA.
    pub protocol: Protocol,
    /// The packet's selector (addresses of the triggering packet).
    pub selector: Selector,
    /// The triggering policy's index.
    pub policy_index: u32,
    /// The triggering policy's direction.
    pub policy_dir: Option<Direction>,
    /// The triggering policy's selector.
    pub policy_selector: Selector,
    /// Kernel sequence number of this acquire.
    pub seq: u32,
    /// The matching template(s) (XFRMA_TMPL).
    pub templates: Vec<(Template, u32)>,
    /// Mark of the policy.
    pub mark: Option<Mark>,
    /// XFRM interface ID of the policy.
    pub if_id: Option<u32>,
}

/// XFRM_MSG_EXPIRE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expire {
    /// The SA.
    pub id: SaId,
    /// Its source address.
    pub src: IpAddr,
    /// Its request ID.
    pub reqid: u32,
    /// Hard (the SA is gone) or soft (rekey now).
    pub hard: bool,
    /// Counters at expiry.
    pub current: Current,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
}

/// XFRM_MSG_POLEXPIRE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyExpire {
    /// Policy index.
    pub index: u32,
    /// Direction.
    pub dir: Option<Direction>,
    /// Selector.
    pub selector: Selector,
    /// Hard or soft.
    pub hard: bool,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
}

/// XFRM_MSG_MAPPING.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Destination of the SA.
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// Protocol.
    pub protocol: Protocol,
    /// Request ID.
    pub reqid: u32,
    /// Old peer address.
    pub old_src: IpAddr,
    /// Old peer port.
    pub old_sport: u16,
    /// New peer address.
    pub new_src: IpAddr,
    /// New peer port.
    pub new_sport: u16,
}
