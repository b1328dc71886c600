//! Typed conn sections: every charon `conn` keyword of ipsec.conf(5).

use crate::diag::Location;
use crate::proposal::{ProposalList, Protocol};
use crate::values::*;
use std::net::IpAddr;
use std::time::Duration;

mod build;
mod parse;

pub use build::{CONN_KEYWORDS, END_KEYWORDS, build_conn};

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
                | AuthMethod::Eap(EapMethod::Md5)
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
    /// Raw key bytes from `0s` (base64) or `0x` (hex) without a format
    /// prefix: DER (SubjectPublicKeyInfo or PKCS#1), else RFC 3110 for RSA.
    Raw(Vec<u8>),
    /// `dns:0s...`: an RSA key in RFC 3110 (DNSKEY) form.
    Dns(Vec<u8>),
    /// `ssh:0s...`: an SSH public key blob (RFC 4253 6.6, RFC 5656, RFC 8709).
    Ssh(Vec<u8>),
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
