//! Typed conn sections: every charon `conn` keyword of ipsec.conf(5).

use crate::diag::{Diagnostic, Diags, Location, Severity};
use crate::proposal::{self, ProposalList, Protocol};
use crate::resolve::{Setting, Settings};
use crate::values::*;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auto {
    Ignore,
    Add,
    Route,
    Start,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnType {
    Tunnel,
    Transport,
    /// Transport mode with proxy (Mobile IPv6): `transport_proxy`.
    TransportProxy,
    Passthrough,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyExchange {
    /// `ike`: initiate IKEv2 (iked accepts IKEv2 only as responder).
    Ike,
    Ikev2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyingTries {
    Forever,
    Count(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpdAction {
    None,
    Clear,
    Hold,
    Restart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragmentation {
    Yes,
    Accept,
    Force,
    No,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendCert {
    Always,
    IfAsked,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubkeyKind {
    /// `pubkey`: whatever the certificate/key is.
    Any,
    Rsa,
    RsaPss,
    Ecdsa,
    Ed25519,
    Ed448,
}

/// One `-`-separated part of `rightauth=rsa-2048-sha256-ecdsa-256` (what
/// ipsec.conf(5) calls trustchain constraints): a key type, the minimum
/// strength of the key type before it, or an accepted hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubkeyConstraint {
    Kind(PubkeyKind),
    /// Minimum key strength in bits (RSA modulus, ECDSA curve size).
    MinBits(u32),
    Hash(SigHash),
}

/// A hash named in a pubkey constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// RFC 8420's "identity" (EdDSA).
    Identity,
}

fn parse_pubkey_constraint(t: &str) -> VResult<PubkeyConstraint> {
    use PubkeyConstraint::*;
    Ok(match t {
        "rsa" => Kind(PubkeyKind::Rsa),
        "rsa/pss" | "rsapss" => Kind(PubkeyKind::RsaPss),
        "ecdsa" => Kind(PubkeyKind::Ecdsa),
        "ed25519" => Kind(PubkeyKind::Ed25519),
        "ed448" => Kind(PubkeyKind::Ed448),
        "sha1" => Hash(SigHash::Sha1),
        "sha256" | "sha2_256" => Hash(SigHash::Sha256),
        "sha384" | "sha2_384" => Hash(SigHash::Sha384),
        "sha512" | "sha2_512" => Hash(SigHash::Sha512),
        "identity" => Hash(SigHash::Identity),
        n => match n.parse::<u32>() {
            Ok(b) if (1..=65536).contains(&b) => MinBits(b),
            _ => {
                return Err(format!(
                    "'{n}' is not a key type (rsa, rsa/pss, ecdsa, ed25519, ed448), a key strength in bits or a hash (sha1, sha256, sha384, sha512, identity)"
                ));
            }
        },
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EapMethod {
    /// `eap`: whatever the client proposes (EAP-Identity first).
    Any,
    Md5,
    Mschapv2,
    Tls,
    Ttls,
    Peap,
    Sim,
    Aka,
    AkaPrime,
    Gtc,
    /// Proxied to a RADIUS server.
    Radius,
    /// A numeric type, optionally with a vendor id.
    Other {
        ty: u32,
        vendor: Option<u32>,
    },
}

/// An authentication round (`leftauth=` / `leftauth2=` / `authby=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Pubkey {
        kind: PubkeyKind,
        /// Constraints such as `sha256`, `2048`, `ecdsa-384`, in order.
        constraints: Vec<PubkeyConstraint>,
    },
    Psk,
    Eap(EapMethod),
    /// `xauth` (IKEv1 only; kept so the error can say so).
    Xauth(String),
    /// `any`: accept whatever the peer uses (responder side).
    Any,
    /// `authby=never`: no authentication (only useful for shunts).
    Never,
}

impl AuthMethod {
    pub fn is_implemented(&self) -> bool {
        matches!(
            self,
            AuthMethod::Pubkey { .. }
                | AuthMethod::Psk
                | AuthMethod::Eap(EapMethod::Mschapv2)
                | AuthMethod::Eap(EapMethod::Any)
                | AuthMethod::Any
                | AuthMethod::Never
        )
    }
}

/// `leftrsasigkey=` / `leftsigkey=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigKey {
    /// `%cert`: take it from the certificate (the default).
    Cert,
    /// Raw key bytes from `0s` (base64) or `0x` (hex): RFC 3110 format for RSA.
    Raw(Vec<u8>),
    /// A file with a PEM/DER public key, relative to ipsec.d/certs.
    File(String),
}

/// `leftsourceip=` / `rightsourceip=` elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceIp {
    /// `%config` (any family), `%config4`, `%config6`, `%modeconfig`: request one.
    Config(Option<AddrFamily>),
    /// A fixed address (the end's own inner address).
    Addr(IpAddr),
    /// A pool to assign from (CIDR or range).
    Pool(TsAddr),
    /// A named pool (`%poolname`) served by an attribute provider.
    Named(String),
}

/// `leftdns=` elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsServer {
    Addr(IpAddr),
    Config(Option<AddrFamily>),
}

/// One end of a conn as written (`left*` or `right*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    pub hosts: Vec<Host>,
    pub subnets: Vec<Subnet>,
    pub protoport: ProtoPort,
    pub id: Option<Identity>,
    pub id2: Option<Identity>,
    pub auth: AuthMethod,
    pub auth2: Option<AuthMethod>,
    pub cert: Option<String>,
    pub cert2: Option<String>,
    pub ca: Option<String>,
    pub ca2: Option<String>,
    pub sendcert: SendCert,
    pub sigkey: Option<SigKey>,
    pub sourceip: Vec<SourceIp>,
    pub dns: Vec<DnsServer>,
    pub updown: Option<String>,
    pub firewall: bool,
    pub hostaccess: bool,
    pub allowany: bool,
    pub ikeport: Option<u16>,
    pub groups: Vec<String>,
    pub groups2: Vec<String>,
    pub certpolicy: Vec<String>,
}

impl Default for End {
    fn default() -> Self {
        End {
            hosts: vec![Host::Any(None)],
            subnets: Vec::new(),
            protoport: ProtoPort::ANY,
            id: None,
            id2: None,
            auth: AuthMethod::Pubkey {
                kind: PubkeyKind::Any,
                constraints: Vec::new(),
            },
            auth2: None,
            cert: None,
            cert2: None,
            ca: None,
            ca2: None,
            sendcert: SendCert::IfAsked,
            sigkey: None,
            sourceip: Vec::new(),
            dns: Vec::new(),
            updown: None,
            firewall: false,
            hostaccess: false,
            allowany: false,
            ikeport: None,
            groups: Vec::new(),
            groups2: Vec::new(),
            certpolicy: Vec::new(),
        }
    }
}

impl End {
    /// The concrete IP addresses among `left=`/`right=`.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.hosts.iter().filter_map(|h| match h {
            Host::Addr(a) => Some(*a),
            _ => None,
        })
    }

    pub fn is_any(&self) -> bool {
        self.hosts.iter().all(|h| matches!(h, Host::Any(_)))
    }

    /// The identity to use: `leftid=`, else the address (strongSwan's default
    /// when there is no certificate; with a certificate the daemon uses its subject).
    pub fn effective_id(&self) -> Identity {
        if let Some(id) = &self.id {
            return id.clone();
        }
        match self.addrs().next() {
            Some(a) => Identity::from_addr(a),
            None => Identity::Any,
        }
    }
}

/// Which end of a conn is this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// A fully resolved conn: `%default` and `also=` applied, every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Conn {
    pub name: String,
    pub location: Location,
    pub left: End,
    pub right: End,
    pub auto: Auto,
    pub conn_type: ConnType,
    pub keyexchange: KeyExchange,
    pub ike: ProposalList,
    pub esp: ProposalList,
    pub ikelifetime: Duration,
    pub lifetime: Duration,
    pub margintime: Duration,
    pub rekeyfuzz: u32,
    pub lifebytes: Option<u64>,
    pub lifepackets: Option<u64>,
    pub marginbytes: Option<u64>,
    pub marginpackets: Option<u64>,
    pub rekey: bool,
    pub reauth: bool,
    pub keyingtries: KeyingTries,
    pub dpdaction: DpdAction,
    pub dpddelay: Duration,
    pub dpdtimeout: Duration,
    pub closeaction: DpdAction,
    pub inactivity: Option<Duration>,
    pub forceencaps: bool,
    pub fragmentation: Fragmentation,
    pub mobike: bool,
    pub compress: bool,
    pub mark_in: Option<Mark>,
    pub mark_out: Option<Mark>,
    pub if_id_in: Option<IfId>,
    pub if_id_out: Option<IfId>,
    pub reqid: Option<u32>,
    pub replay_window: Option<u32>,
    pub installpolicy: bool,
    pub aggressive: bool,
    pub eap_identity: Option<Identity>,
    pub aaa_identity: Option<Identity>,
    pub xauth_identity: Option<Identity>,
    pub priority: Option<u32>,
    pub tfc: Option<u32>,
    pub hw_offload: bool,
}

impl Conn {
    fn new(name: &str, location: Location) -> Self {
        Conn {
            name: name.to_owned(),
            location,
            left: End::default(),
            right: End::default(),
            auto: Auto::Ignore,
            conn_type: ConnType::Tunnel,
            keyexchange: KeyExchange::Ike,
            ike: ProposalList::default_for(Protocol::Ike),
            esp: ProposalList::default_for(Protocol::Esp),
            ikelifetime: Duration::from_secs(3 * 3600),
            lifetime: Duration::from_secs(3600),
            margintime: Duration::from_secs(9 * 60),
            rekeyfuzz: 100,
            lifebytes: None,
            lifepackets: None,
            marginbytes: None,
            marginpackets: None,
            rekey: true,
            reauth: true,
            keyingtries: KeyingTries::Count(3),
            dpdaction: DpdAction::None,
            dpddelay: Duration::from_secs(30),
            dpdtimeout: Duration::from_secs(150),
            closeaction: DpdAction::None,
            inactivity: None,
            forceencaps: false,
            fragmentation: Fragmentation::Yes,
            mobike: true,
            compress: false,
            mark_in: None,
            mark_out: None,
            if_id_in: None,
            if_id_out: None,
            reqid: None,
            replay_window: None,
            installpolicy: true,
            aggressive: false,
            eap_identity: None,
            aaa_identity: None,
            xauth_identity: None,
            priority: None,
            tfc: None,
            hw_offload: false,
        }
    }

    /// strongSwan's rule: left is local if one of its addresses is ours; else
    /// right, if one of its addresses is ours (the conn is used swapped);
    /// else left (e.g. `left=%any` or names not resolved yet).
    pub fn local_side(&self, local_addrs: &[IpAddr]) -> Side {
        let ours = |e: &End| e.hosts.iter().any(|h| host_is_local(h, local_addrs));
        if ours(&self.left) {
            Side::Left
        } else if ours(&self.right) {
            Side::Right
        } else {
            Side::Left
        }
    }

    /// (local, remote) ends for a side.
    pub fn ends(&self, local: Side) -> (&End, &End) {
        match local {
            Side::Left => (&self.left, &self.right),
            Side::Right => (&self.right, &self.left),
        }
    }

    pub fn is_shunt(&self) -> bool {
        matches!(self.conn_type, ConnType::Passthrough | ConnType::Drop)
    }

    /// One line for `iked --check-config`.
    pub fn summary(&self) -> String {
        let hosts = |e: &End| {
            e.hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let nets = |e: &End| {
            if e.subnets.is_empty() {
                "(host)".to_owned()
            } else {
                e.subnets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        let mut s = format!(
            "{}: {}[{}] {} ... {}[{}] {}, type={}, auto={}, ike={} esp={}",
            self.name,
            hosts(&self.left),
            self.left.effective_id(),
            nets(&self.left),
            hosts(&self.right),
            self.right.effective_id(),
            nets(&self.right),
            format!("{:?}", self.conn_type).to_lowercase(),
            format!("{:?}", self.auto).to_lowercase(),
            self.ike,
            self.esp,
        );
        if let Some(m) = self.mark_in {
            s.push_str(&format!(" mark_in={m}"));
        }
        if let Some(m) = self.mark_out {
            s.push_str(&format!(" mark_out={m}"));
        }
        s
    }
}

fn host_is_local(h: &Host, local: &[IpAddr]) -> bool {
    match h {
        Host::Addr(a) => local.contains(a),
        _ => false,
    }
}

/// Keywords of a conn section that are not per-end.
pub const CONN_KEYWORDS: &[&str] = &[
    "also",
    "auto",
    "type",
    "keyexchange",
    "ike",
    "esp",
    "ah",
    "ikelifetime",
    "lifetime",
    "keylife",
    "margintime",
    "rekeymargin",
    "rekeyfuzz",
    "lifebytes",
    "lifepackets",
    "marginbytes",
    "marginpackets",
    "rekey",
    "reauth",
    "keyingtries",
    "dpdaction",
    "dpddelay",
    "dpdtimeout",
    "closeaction",
    "inactivity",
    "forceencaps",
    "fragmentation",
    "mobike",
    "compress",
    "mark",
    "mark_in",
    "mark_out",
    "if_id_in",
    "if_id_out",
    "reqid",
    "replay_window",
    "installpolicy",
    "aggressive",
    "eap_identity",
    "aaa_identity",
    "xauth_identity",
    "authby",
    "auth",
    "eap",
    "pfs",
    "pfsgroup",
    "ikedscp",
    "mediation",
    "mediated_by",
    "me_peerid",
    "modeconfig",
    "xauth",
    "tfc",
    "priority",
    "hw_offload",
    "sha256_96",
    "connaddrfamily",
    "esn",
];

/// Per-end keywords (after the `left`/`right` prefix; "" is `left=` itself).
pub const END_KEYWORDS: &[&str] = &[
    "",
    "subnet",
    "subnetwithin",
    "protoport",
    "id",
    "id2",
    "auth",
    "auth2",
    "cert",
    "cert2",
    "ca",
    "ca2",
    "sendcert",
    "rsasigkey",
    "sigkey",
    "sourceip",
    "dns",
    "updown",
    "firewall",
    "hostaccess",
    "allowany",
    "ikeport",
    "groups",
    "groups2",
    "certpolicy",
    "nexthop",
];

struct Ctx<'a> {
    conn: &'a str,
    diags: &'a mut Diags,
}

impl Ctx<'_> {
    fn push(&mut self, sev: Severity, s: &Setting, loc: &Location, msg: String) {
        let mut d = Diagnostic::error(loc.clone(), Some(&s.entry.key), msg);
        d.severity = sev;
        d.via = s.via.clone();
        d.conn = Some(self.conn.to_owned());
        self.diags.list.push(d);
    }
    fn err(&mut self, s: &Setting, msg: impl Into<String>) {
        self.push(Severity::Error, s, &s.entry.value_loc, msg.into());
    }
    fn warn(&mut self, s: &Setting, msg: impl Into<String>) {
        self.push(Severity::Warning, s, &s.entry.value_loc, msg.into());
    }
    fn key_err(&mut self, s: &Setting, msg: impl Into<String>) {
        self.push(Severity::Error, s, &s.entry.key_loc, msg.into());
    }
    fn key_warn(&mut self, s: &Setting, msg: impl Into<String>) {
        self.push(Severity::Warning, s, &s.entry.key_loc, msg.into());
    }
    fn val<T>(&mut self, s: &Setting, r: VResult<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(s, e);
                None
            }
        }
    }
}

fn choice<T: Copy>(v: &str, options: &[(&str, T)]) -> VResult<T> {
    let l = v.to_ascii_lowercase();
    options
        .iter()
        .find(|(k, _)| *k == l)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
            format!("'{v}' is not one of: {}", names.join(", "))
        })
}

/// `leftca=%same` / `rightca=%same`: the other end's CA.
fn resolve_same_ca(cx: &mut Ctx<'_>, c: &mut Conn, settings: &Settings) {
    let same = |e: &End| e.ca.as_deref() == Some("%same");
    for (key, own_is_left) in [("leftca", true), ("rightca", false)] {
        let (own, other) = if own_is_left {
            (&c.left, &c.right)
        } else {
            (&c.right, &c.left)
        };
        if !same(own) {
            continue;
        }
        let resolved = other.ca.clone().filter(|_| !same(other));
        if resolved.is_none() {
            if let Some(s) = settings.get(key) {
                let other_key = if own_is_left { "rightca" } else { "leftca" };
                cx.err(s, format!("%same needs a {other_key}= distinguished name"));
            }
        }
        if own_is_left {
            c.left.ca = resolved;
        } else {
            c.right.ca = resolved;
        }
    }
}

fn parse_auth(v: &str) -> VResult<AuthMethod> {
    let l = v.to_ascii_lowercase();
    let mut parts = l.split('-');
    let head = parts.next().unwrap_or("");
    let rest: Vec<String> = parts.map(str::to_owned).collect();
    let is_pubkey = matches!(
        head,
        "pubkey" | "rsa" | "rsa/pss" | "rsapss" | "ecdsa" | "ed25519" | "ed448"
    );
    let constraints = if is_pubkey {
        rest.iter()
            .map(|t| parse_pubkey_constraint(t))
            .collect::<VResult<Vec<_>>>()
            .map_err(|e| format!("'{v}': {e}"))?
    } else {
        Vec::new()
    };
    let pubkey = |kind| AuthMethod::Pubkey {
        kind,
        constraints: constraints.clone(),
    };
    Ok(match head {
        "pubkey" => pubkey(PubkeyKind::Any),
        "rsa" => pubkey(PubkeyKind::Rsa),
        "rsa/pss" | "rsapss" => pubkey(PubkeyKind::RsaPss),
        "ecdsa" => pubkey(PubkeyKind::Ecdsa),
        "ed25519" => pubkey(PubkeyKind::Ed25519),
        "ed448" => pubkey(PubkeyKind::Ed448),
        "psk" | "secret" => {
            if !rest.is_empty() {
                return Err(format!("'{v}': psk takes no options"));
            }
            AuthMethod::Psk
        }
        "any" => AuthMethod::Any,
        "never" => AuthMethod::Never,
        "xauth" => AuthMethod::Xauth(rest.join("-")),
        "eap" => {
            let m = match rest.first().map(String::as_str) {
                None => EapMethod::Any,
                Some("md5") => EapMethod::Md5,
                Some("mschapv2") => EapMethod::Mschapv2,
                Some("tls") => EapMethod::Tls,
                Some("ttls") => EapMethod::Ttls,
                Some("peap") => EapMethod::Peap,
                Some("sim") => EapMethod::Sim,
                Some("aka") => EapMethod::Aka,
                Some("akaprime") | Some("aka'") => EapMethod::AkaPrime,
                Some("gtc") => EapMethod::Gtc,
                Some("radius") => EapMethod::Radius,
                Some(n) => match n.parse::<u32>() {
                    Ok(ty) => EapMethod::Other {
                        ty,
                        vendor: rest.get(1).and_then(|x| x.parse().ok()),
                    },
                    Err(_) => {
                        return Err(format!(
                            "unknown EAP method 'eap-{n}' (known: eap, eap-md5, eap-mschapv2, eap-tls, eap-ttls, eap-peap, eap-sim, eap-aka, eap-gtc, eap-radius, eap-NUMBER)"
                        ));
                    }
                },
            };
            AuthMethod::Eap(m)
        }
        _ => {
            return Err(format!(
                "unknown authentication method '{v}' (expected pubkey, rsa, ecdsa, ed25519, psk, eap[-TYPE], any)"
            ));
        }
    })
}

fn parse_sigkey(v: &str) -> VResult<SigKey> {
    use base64::Engine as _;
    if v == "%cert" {
        return Ok(SigKey::Cert);
    }
    if let Some(b) = v.strip_prefix("0s") {
        let b: String = b.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(SigKey::Raw)
            .map_err(|e| format!("0s key is not valid base64: {e}"));
    }
    if let Some(h) = v.strip_prefix("0x") {
        return hex::decode(h)
            .map(SigKey::Raw)
            .map_err(|_| "0x key is not valid hex".to_string());
    }
    if v.starts_with('%') {
        return Err(format!(
            "'{v}': expected %cert, 0s<base64>, 0x<hex> or a file name"
        ));
    }
    Ok(SigKey::File(v.to_owned()))
}

fn parse_sourceip(v: &str) -> VResult<Vec<SourceIp>> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim) {
        let s = match item {
            "%config" | "%cfg" | "%modeconfig" | "%modecfg" => SourceIp::Config(None),
            "%config4" => SourceIp::Config(Some(AddrFamily::V4)),
            "%config6" => SourceIp::Config(Some(AddrFamily::V6)),
            "" => return Err(format!("empty element in '{v}'")),
            x if x.starts_with('%') => SourceIp::Named(x[1..].to_owned()),
            x => {
                if let Ok(a) = x.parse::<IpAddr>() {
                    SourceIp::Addr(a)
                } else {
                    let (nets, _) = parse_subnets(x)?;
                    match nets.first() {
                        Some(n) if nets.len() == 1 && n.protoport.is_none() => {
                            SourceIp::Pool(n.addr)
                        }
                        _ => {
                            return Err(format!(
                                "'{x}' is not an address, pool (CIDR or range) or %config"
                            ));
                        }
                    }
                }
            }
        };
        out.push(s);
    }
    Ok(out)
}

fn parse_dns(v: &str) -> VResult<Vec<DnsServer>> {
    v.split(',')
        .map(str::trim)
        .map(|x| match x {
            "%config" => Ok(DnsServer::Config(None)),
            "%config4" => Ok(DnsServer::Config(Some(AddrFamily::V4))),
            "%config6" => Ok(DnsServer::Config(Some(AddrFamily::V6))),
            _ => x
                .parse()
                .map(DnsServer::Addr)
                .map_err(|_| format!("'{x}' is not an IP address or %config4/%config6")),
        })
        .collect()
}

fn opt_time(v: &str) -> VResult<Option<Duration>> {
    let d = parse_time(v)?;
    Ok(if d.is_zero() { None } else { Some(d) })
}

fn opt_u64(v: &str) -> VResult<Option<u64>> {
    let n = parse_u64(v)?;
    Ok(if n == 0 { None } else { Some(n) })
}

/// Where `%default`/built-in, so messages can say "not implemented yet".
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("ah", "AH is not supported (ESP only)"),
    ("mediation", "IKEv2 mediation is not implemented"),
    ("mediated_by", "IKEv2 mediation is not implemented"),
    ("me_peerid", "IKEv2 mediation is not implemented"),
    (
        "tfc",
        "traffic flow confidentiality padding is not implemented yet",
    ),
    (
        "ikedscp",
        "DSCP marking of IKE packets is not implemented yet",
    ),
    ("hw_offload", "hardware offload is not implemented yet"),
    ("sha256_96", "truncated SHA-256 (96 bit) is not implemented"),
    ("xauth_identity", "XAUTH is IKEv1 only"),
    ("modeconfig", "modeconfig push/pull is IKEv1 only"),
    ("xauth", "XAUTH is IKEv1 only"),
];

const OBSOLETE: &[(&str, &str)] = &[
    (
        "pfs",
        "obsolete: PFS is enabled by adding a DH group to esp=",
    ),
    ("pfsgroup", "obsolete: add the DH group to esp= instead"),
    ("auth", "obsolete: only ESP is supported"),
    ("eap", "obsolete: use rightauth=eap-TYPE"),
    (
        "connaddrfamily",
        "obsolete: address families are derived from the addresses",
    ),
    ("esn", "obsolete: add esn/noesn to esp= instead"),
];

/// Builds a typed conn from resolved settings. Problems go to `diags`.
pub fn build_conn(name: &str, location: Location, settings: &Settings, diags: &mut Diags) -> Conn {
    let mut c = Conn::new(name, location);
    let mut cx = Ctx { conn: name, diags };
    let mut authby: Option<(AuthMethod, AuthMethod)> = None;
    let mut left_auth_set = false;
    let mut right_auth_set = false;
    let mut mark_both: Option<Mark> = None;
    let mut esp_given = false;
    for (key, s) in settings {
        let v = s.entry.value.as_str();
        if let Some((side, suffix)) = split_end(key) {
            let end = match side {
                Side::Left => &mut c.left,
                Side::Right => &mut c.right,
            };
            if suffix == "auth" {
                match side {
                    Side::Left => left_auth_set = true,
                    Side::Right => right_auth_set = true,
                }
            }
            apply_end(&mut cx, end, suffix, s, v);
            continue;
        }
        match key.as_str() {
            "auto" => {
                if let Some(a) = cx.val(s, choice(v, &[("ignore", Auto::Ignore), ("add", Auto::Add), ("route", Auto::Route), ("start", Auto::Start)])) {
                    c.auto = a;
                }
            }
            "type" => {
                let r = choice(
                    v,
                    &[
                        ("tunnel", ConnType::Tunnel),
                        ("transport", ConnType::Transport),
                        ("transport_proxy", ConnType::TransportProxy),
                        ("passthrough", ConnType::Passthrough),
                        ("pass", ConnType::Passthrough),
                        ("drop", ConnType::Drop),
                        ("reject", ConnType::Drop),
                    ],
                );
                if let Some(t) = cx.val(s, r) {
                    if v.eq_ignore_ascii_case("reject") {
                        cx.warn(s, "type=reject is handled as drop (no ICMP is sent)");
                    }
                    c.conn_type = t;
                }
            }
            "keyexchange" => match v.to_ascii_lowercase().as_str() {
                "ike" => c.keyexchange = KeyExchange::Ike,
                "ikev2" => c.keyexchange = KeyExchange::Ikev2,
                "ikev1" => cx.err(s, "IKEv1 is not supported by iked: use keyexchange=ikev2 (and an IKEv2-capable peer)"),
                _ => cx.err(s, format!("'{v}' is not one of: ikev2, ike (ikev1 is not supported)")),
            },
            "ike" | "esp" => {
                let proto = if key == "ike" { Protocol::Ike } else { Protocol::Esp };
                match proposal::parse_list(proto, v) {
                    Ok((list, warns)) => {
                        for w in warns {
                            cx.warn(s, w);
                        }
                        if proto == Protocol::Ike {
                            c.ike = list;
                        } else {
                            esp_given = true;
                            c.esp = list;
                        }
                    }
                    Err(e) => {
                        let mut loc = s.entry.value_loc.clone();
                        loc.col = loc.col.saturating_add(u32::try_from(e.offset).unwrap_or(0));
                        cx.push(Severity::Error, s, &loc, e.message);
                    }
                }
            }
            "ikelifetime" => {
                if let Some(d) = cx.val(s, parse_time(v)) {
                    c.ikelifetime = d;
                }
            }
            "lifetime" | "keylife" => {
                if let Some(d) = cx.val(s, parse_time(v)) {
                    c.lifetime = d;
                }
            }
            "margintime" | "rekeymargin" => {
                if let Some(d) = cx.val(s, parse_time(v)) {
                    c.margintime = d;
                }
            }
            "rekeyfuzz" => {
                if let Some(d) = cx.val(s, parse_percent(v)) {
                    c.rekeyfuzz = d;
                }
            }
            "lifebytes" => c.lifebytes = cx.val(s, opt_u64(v)).flatten(),
            "lifepackets" => c.lifepackets = cx.val(s, opt_u64(v)).flatten(),
            "marginbytes" => c.marginbytes = cx.val(s, opt_u64(v)).flatten(),
            "marginpackets" => c.marginpackets = cx.val(s, opt_u64(v)).flatten(),
            "rekey" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.rekey = b;
                }
            }
            "reauth" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.reauth = b;
                }
            }
            "keyingtries" => {
                if v == "%forever" || v == "0" {
                    c.keyingtries = KeyingTries::Forever;
                } else if let Some(n) = cx.val(s, v.parse::<u32>().map_err(|_| format!("'{v}' is not a number or %forever"))) {
                    c.keyingtries = KeyingTries::Count(n);
                }
            }
            "dpdaction" | "closeaction" => {
                let r = choice(
                    v,
                    &[
                        ("none", DpdAction::None),
                        ("clear", DpdAction::Clear),
                        ("hold", DpdAction::Hold),
                        ("restart", DpdAction::Restart),
                        ("trap", DpdAction::Hold),
                        ("start", DpdAction::Restart),
                    ],
                );
                if let Some(a) = cx.val(s, r) {
                    if key == "dpdaction" {
                        c.dpdaction = a;
                    } else {
                        c.closeaction = a;
                    }
                }
            }
            "dpddelay" => {
                if let Some(d) = cx.val(s, parse_time(v)) {
                    c.dpddelay = d;
                }
            }
            "dpdtimeout" => {
                if let Some(d) = cx.val(s, parse_time(v)) {
                    c.dpdtimeout = d;
                    cx.warn(s, "dpdtimeout only applies to IKEv1; IKEv2 uses the retransmission settings");
                }
            }
            "inactivity" => c.inactivity = cx.val(s, opt_time(v)).flatten(),
            "forceencaps" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.forceencaps = b;
                }
            }
            "fragmentation" => {
                let r = choice(v, &[("yes", Fragmentation::Yes), ("accept", Fragmentation::Accept), ("force", Fragmentation::Force), ("no", Fragmentation::No)]);
                if let Some(f) = cx.val(s, r) {
                    c.fragmentation = f;
                }
            }
            "mobike" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.mobike = b;
                }
            }
            "compress" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.compress = b;
                    if b {
                        cx.warn(s, "IPComp (compress=yes) is not implemented yet: SAs are negotiated without compression");
                    }
                }
            }
            "mark" => mark_both = cx.val(s, parse_mark(v)),
            "mark_in" => c.mark_in = cx.val(s, parse_mark(v)),
            "mark_out" => c.mark_out = cx.val(s, parse_mark(v)),
            "if_id_in" => c.if_id_in = cx.val(s, parse_if_id(v)),
            "if_id_out" => c.if_id_out = cx.val(s, parse_if_id(v)),
            "reqid" => {
                match v.parse::<u32>() {
                    Ok(0) | Err(_) => cx.err(s, format!("'{v}' is not a reqid (1 .. 4294967295)")),
                    Ok(n) => c.reqid = Some(n),
                }
            }
            "replay_window" => {
                if let Some(n) = cx.val(s, v.parse::<i64>().map_err(|_| format!("'{v}' is not a number"))) {
                    c.replay_window = if n < 0 { None } else { u32::try_from(n).ok() };
                }
            }
            "installpolicy" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.installpolicy = b;
                }
            }
            "aggressive" => {
                if let Some(b) = cx.val(s, parse_bool(v)) {
                    c.aggressive = b;
                    if b {
                        cx.warn(s, "aggressive mode is IKEv1 only; ignored for IKEv2");
                    }
                }
            }
            "eap_identity" => c.eap_identity = cx.val(s, parse_identity(v)),
            "aaa_identity" => c.aaa_identity = cx.val(s, parse_identity(v)),
            "authby" => {
                let l = v.to_ascii_lowercase();
                let r = match l.as_str() {
                    "secret" | "psk" => Ok((AuthMethod::Psk, AuthMethod::Psk)),
                    "rsasig" | "rsa" => Ok(pk2(PubkeyKind::Rsa)),
                    "ecdsasig" | "ecdsa" => Ok(pk2(PubkeyKind::Ecdsa)),
                    "pubkey" => Ok(pk2(PubkeyKind::Any)),
                    "never" => Ok((AuthMethod::Never, AuthMethod::Never)),
                    "xauthpsk" | "xauthrsasig" => Err(format!("authby={l} is IKEv1 (XAUTH) only; IKEv1 is not supported by iked")),
                    _ => Err(format!("'{v}' is not one of: pubkey, rsasig, ecdsasig, psk, secret, never")),
                };
                authby = cx.val(s, r);
            }
            "priority" => c.priority = cx.val(s, v.parse::<u32>().map_err(|_| format!("'{v}' is not a number"))),
            "xauth_identity" => {
                c.xauth_identity = cx.val(s, parse_identity(v));
                cx.key_warn(s, "XAUTH is IKEv1 only; ignored");
            }
            "also" => {}
            k => {
                if let Some((_, why)) = NOT_IMPLEMENTED.iter().find(|(n, _)| *n == k) {
                    cx.key_warn(s, format!("accepted but not implemented yet: {why}"));
                } else if let Some((_, why)) = OBSOLETE.iter().find(|(n, _)| *n == k) {
                    cx.key_warn(s, format!("ignored, {why}"));
                } else {
                    let cands = CONN_KEYWORDS.iter().copied().chain(END_KEYWORDS.iter().flat_map(|e| [*e]).filter(|e| !e.is_empty()));
                    let mut hint = crate::util::did_you_mean(k, cands);
                    if hint.is_empty() {
                        let lefts: Vec<String> = END_KEYWORDS.iter().map(|e| format!("left{e}")).collect();
                        hint = crate::util::did_you_mean(k, lefts.iter().map(String::as_str));
                    }
                    cx.key_err(s, format!("unknown keyword '{k}' in conn section{hint}"));
                }
            }
        }
    }
    if let Some((l, r)) = authby {
        if !left_auth_set {
            c.left.auth = l;
        }
        if !right_auth_set {
            c.right.auth = r;
        }
    }
    resolve_same_ca(&mut cx, &mut c, settings);
    if let Some(m) = mark_both {
        c.mark_in.get_or_insert(m);
        c.mark_out.get_or_insert(m);
    }
    if !esp_given {
        c.esp = ProposalList::default_for(Protocol::Esp);
    }
    check_conn(&mut c, settings, &mut cx);
    c
}

fn pk2(kind: PubkeyKind) -> (AuthMethod, AuthMethod) {
    let a = AuthMethod::Pubkey {
        kind,
        constraints: Vec::new(),
    };
    (a.clone(), a)
}

fn split_end(key: &str) -> Option<(Side, &str)> {
    if let Some(s) = key.strip_prefix("left") {
        Some((Side::Left, s))
    } else {
        key.strip_prefix("right").map(|s| (Side::Right, s))
    }
}

fn apply_end(cx: &mut Ctx<'_>, end: &mut End, suffix: &str, s: &Setting, v: &str) {
    match suffix {
        "" => {
            if let Some(h) = cx.val(s, parse_hosts(v)) {
                end.hosts = h;
            }
        }
        "subnet" => match parse_subnets(v) {
            Ok((nets, warns)) => {
                for w in warns {
                    cx.warn(s, w);
                }
                end.subnets = nets;
            }
            Err(e) => cx.err(s, e),
        },
        "protoport" => {
            if let Some(p) = cx.val(s, parse_protoport(v)) {
                end.protoport = p;
            }
        }
        "id" => end.id = cx.val(s, parse_identity(v)),
        "id2" => end.id2 = cx.val(s, parse_identity(v)),
        "auth" => {
            if let Some(a) = cx.val(s, parse_auth(v)) {
                if let AuthMethod::Xauth(_) = a {
                    cx.err(s, "XAUTH is IKEv1 only (IKEv1 is not supported by iked); for IKEv2 use eap-TYPE");
                } else if !a.is_implemented() {
                    cx.warn(s, format!("accepted but not implemented yet: {v} (implemented: pubkey, psk, eap-mschapv2)"));
                }
                end.auth = a;
            }
        }
        "auth2" => {
            if let Some(a) = cx.val(s, parse_auth(v)) {
                if let AuthMethod::Xauth(_) = a {
                    cx.warn(
                        s,
                        "XAUTH is IKEv1 only; second authentication round ignored",
                    );
                } else {
                    cx.warn(s, "accepted but not implemented yet: a second authentication round (RFC 4739)");
                    end.auth2 = Some(a);
                }
            }
        }
        "cert" => end.cert = Some(v.to_owned()),
        "cert2" => end.cert2 = Some(v.to_owned()),
        "ca" => {
            // `%same`: the other end's CA, resolved once the conn is read.
            end.ca = if v == "%same" {
                Some(v.to_owned())
            } else {
                cx.val(s, normalize_dn(v))
            }
        }
        "ca2" => end.ca2 = Some(v.to_owned()),
        "sendcert" => {
            let r = choice(
                v,
                &[
                    ("always", SendCert::Always),
                    ("yes", SendCert::Always),
                    ("ifasked", SendCert::IfAsked),
                    ("never", SendCert::Never),
                    ("no", SendCert::Never),
                ],
            );
            if let Some(x) = cx.val(s, r) {
                end.sendcert = x;
            }
        }
        "rsasigkey" | "sigkey" => end.sigkey = cx.val(s, parse_sigkey(v)),
        "sourceip" => {
            if let Some(x) = cx.val(s, parse_sourceip(v)) {
                end.sourceip = x;
            }
        }
        "dns" => {
            if let Some(x) = cx.val(s, parse_dns(v)) {
                end.dns = x;
            }
        }
        "updown" => end.updown = Some(v.to_owned()),
        "firewall" => {
            if let Some(b) = cx.val(s, parse_bool(v)) {
                end.firewall = b;
            }
        }
        "hostaccess" => {
            if let Some(b) = cx.val(s, parse_bool(v)) {
                end.hostaccess = b;
            }
        }
        "allowany" => {
            if let Some(b) = cx.val(s, parse_bool(v)) {
                end.allowany = b;
            }
        }
        "ikeport" => match v.parse::<u16>() {
            Ok(p) if p > 0 => end.ikeport = Some(p),
            _ => cx.err(s, format!("'{v}' is not a UDP port")),
        },
        // Group membership comes from attribute certificates or EAP-RADIUS
        // Class attributes, neither of which iked has: a conn that demands
        // groups would admit nobody, and one that ignored them would admit
        // everybody. Refused at load.
        "groups" | "groups2" => cx.key_err(
            s,
            "group membership (attribute certificates, EAP-RADIUS Class) is not supported by iked: remove it, or select peers by rightid=/rightca= instead",
        ),
        "certpolicy" => {
            end.certpolicy = v
                .split([',', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        }
        "nexthop" => cx.key_warn(s, "ignored, obsolete (pluto): routing is the kernel's job"),
        "subnetwithin" => cx.key_err(
            s,
            "leftsubnetwithin is obsolete: list the subnets in leftsubnet= instead",
        ),
        other => {
            let k = &s.entry.key;
            let prefix = &k[..k.len() - other.len()];
            let cands: Vec<String> = END_KEYWORDS
                .iter()
                .map(|e| format!("{prefix}{e}"))
                .collect();
            let hint = crate::util::did_you_mean(k, cands.iter().map(String::as_str));
            cx.key_err(s, format!("unknown keyword '{k}' in conn section{hint}"));
        }
    }
}

/// Cross-keyword checks on a built conn.
fn check_conn(c: &mut Conn, settings: &Settings, cx: &mut Ctx<'_>) {
    let any_setting = |k: &str| settings.get(k);
    let at = |cx: &mut Ctx<'_>, key: &str, sev: Severity, msg: String| {
        if let Some(s) = any_setting(key) {
            let loc = s.entry.value_loc.clone();
            cx.push(sev, s, &loc, msg);
        } else {
            let mut d = Diagnostic::error(
                Location::new(&c.location.file, c.location.line, 1),
                Some(key),
                msg,
            );
            d.severity = sev;
            d.conn = Some(cx.conn.to_owned());
            cx.diags.list.push(d);
        }
    };
    // A PSK-authenticated gateway for EAP clients hands every client that
    // starts IKE_AUTH an AUTH keyed with the PSK: an offline guessing oracle.
    for (psk_side, eap_side, psk_end, eap_end) in [
        ("left", "right", &c.left, &c.right),
        ("right", "left", &c.right, &c.left),
    ] {
        if psk_end.auth == AuthMethod::Psk && matches!(eap_end.auth, AuthMethod::Eap(_)) {
            at(
                cx,
                &format!("{psk_side}auth"),
                Severity::Warning,
                format!(
                    "{psk_side}auth=psk with {eap_side}auth=eap-*: every client that starts IKE_AUTH receives an AUTH keyed with the PSK and can guess the PSK offline; authenticate this side with a certificate ({psk_side}auth=pubkey, {psk_side}cert=)"
                ),
            );
        }
    }
    // rightca=/rightcertpolicy= can only be met by a certificate.
    for (side, end) in [("left", &c.left), ("right", &c.right)] {
        let demands = end.ca.is_some() || !end.certpolicy.is_empty();
        if demands && matches!(end.auth, AuthMethod::Psk | AuthMethod::Eap(_)) {
            let key = if end.ca.is_some() { "ca" } else { "certpolicy" };
            at(
                cx,
                &format!("{side}{key}"),
                Severity::Warning,
                format!(
                    "{side}{key}= demands a certificate, but {side}auth is not pubkey: no peer can meet it"
                ),
            );
        }
    }
    // Transport mode: no subnets beyond the host itself.
    if c.conn_type == ConnType::Transport {
        for (side, end) in [("left", &c.left), ("right", &c.right)] {
            for sn in &end.subnets {
                if let TsAddr::Net(n) = sn.addr {
                    let is_host =
                        n.prefix == max_prefix(n.addr) && end.addrs().any(|a| a == n.addr);
                    if !is_host {
                        at(
                            cx,
                            &format!("{side}subnet"),
                            Severity::Warning,
                            format!(
                                "type=transport protects only the hosts themselves; {side}subnet={n} is used as a traffic selector on the host addresses"
                            ),
                        );
                        break;
                    }
                }
            }
        }
    }
    let shunt = matches!(c.conn_type, ConnType::Passthrough | ConnType::Drop);
    // A shunt (type=passthrough/drop) is only policies: its selectors come from
    // the subnets, or from concrete host addresses.
    if shunt {
        for (side, e) in [("left", &c.left), ("right", &c.right)] {
            if e.subnets.is_empty() && e.is_any() {
                at(
                    cx,
                    "type",
                    Severity::Error,
                    format!(
                        "a type={} conn needs {side}subnet= (or a concrete {side}=) for its policies",
                        if c.conn_type == ConnType::Drop {
                            "drop"
                        } else {
                            "passthrough"
                        }
                    ),
                );
            }
        }
    }
    // A conn that initiates needs a concrete remote address.
    if !shunt && matches!(c.auto, Auto::Start | Auto::Route) && c.left.is_any() && c.right.is_any()
    {
        at(
            cx,
            "auto",
            Severity::Error,
            "auto=start/route needs a concrete peer address: both left and right are %any".into(),
        );
    }
    // Marks: masks must make sense.
    for (k, m) in [("mark_in", c.mark_in), ("mark_out", c.mark_out)] {
        if let Some(m) = m {
            if m.mask == 0 {
                let key = if any_setting(k).is_some() { k } else { "mark" };
                at(
                    cx,
                    key,
                    Severity::Warning,
                    "mark mask is 0: the mark matches every packet".into(),
                );
            }
        }
    }
    // IPv4 / IPv6 mix in one subnet list is fine (strongSwan 5+), but not with a transport conn of one family.
    if c.dpddelay.is_zero() && c.dpdaction != DpdAction::None {
        at(
            cx,
            "dpddelay",
            Severity::Warning,
            "dpddelay=0 disables DPD; dpdaction has no effect".into(),
        );
    }
    if c.margintime >= c.lifetime && c.rekey {
        at(
            cx,
            "margintime",
            Severity::Warning,
            format!(
                "margintime ({}s) is not below lifetime ({}s): CHILD_SAs rekey immediately",
                c.margintime.as_secs(),
                c.lifetime.as_secs()
            ),
        );
    }
    if c.margintime >= c.ikelifetime && c.rekey {
        at(
            cx,
            "ikelifetime",
            Severity::Warning,
            format!(
                "margintime ({}s) is not below ikelifetime ({}s): IKE_SAs rekey immediately",
                c.margintime.as_secs(),
                c.ikelifetime.as_secs()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_methods() {
        assert_eq!(parse_auth("psk").unwrap(), AuthMethod::Psk);
        assert_eq!(
            parse_auth("eap-mschapv2").unwrap(),
            AuthMethod::Eap(EapMethod::Mschapv2)
        );
        assert!(matches!(
            parse_auth("rsa-sha256").unwrap(),
            AuthMethod::Pubkey {
                kind: PubkeyKind::Rsa,
                ..
            }
        ));
        assert!(parse_auth("eap-foo").is_err());
        assert!(parse_auth("cert").is_err());
    }

    #[test]
    fn sigkeys() {
        assert_eq!(parse_sigkey("%cert").unwrap(), SigKey::Cert);
        assert_eq!(
            parse_sigkey("0sAwEAAQ==").unwrap(),
            SigKey::Raw(vec![3, 1, 0, 1])
        );
        assert!(parse_sigkey("0s!!").is_err());
        assert_eq!(
            parse_sigkey("peer.pub").unwrap(),
            SigKey::File("peer.pub".into())
        );
    }

    #[test]
    fn local_side_detection() {
        let mut c = Conn::new("x", Location::file_only(std::path::Path::new("t")));
        c.left.hosts = vec![Host::Addr("192.0.2.1".parse().unwrap())];
        c.right.hosts = vec![Host::Addr("192.0.2.2".parse().unwrap())];
        assert_eq!(c.local_side(&["192.0.2.1".parse().unwrap()]), Side::Left);
        assert_eq!(c.local_side(&["192.0.2.2".parse().unwrap()]), Side::Right);
        assert_eq!(c.local_side(&[]), Side::Left);
        let (l, r) = c.ends(Side::Right);
        assert_eq!(l.addrs().next(), Some("192.0.2.2".parse().unwrap()));
        assert_eq!(r.addrs().next(), Some("192.0.2.1".parse().unwrap()));
        c.left.hosts = vec![Host::Any(None)];
        assert_eq!(c.local_side(&["192.0.2.2".parse().unwrap()]), Side::Right);
    }
}
