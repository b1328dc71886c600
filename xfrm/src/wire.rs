//! Translation between this crate's types and netlink-packet-xfrm's message structs.
//!
//! Encoding writes straight into zeroizing buffers and wipes the key copies that
//! netlink-packet-xfrm's structs hold. Decoding never panics: netlink-packet-xfrm 0.5's
//! message parsers slice their input without checking its length first, so every fixed
//! part is length-checked here before they run, and the parse runs under
//! `catch_unwind` as a last line of defence.

use std::mem::size_of;
use std::net::IpAddr;

use netlink_packet_core::{Emitable, NlasIterator, Parseable, ParseableParametrized};
use netlink_packet_xfrm as nx;
use nx::{XfrmAttrs, XfrmMessage};
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;
use crate::types::*;

mod sa_back;
pub(crate) use sa_back::sa_whole;

pub(crate) const AF_INET: u16 = 2;
pub(crate) const AF_INET6: u16 = 10;
const IPSEC_PROTO_ANY: u8 = 255;
const UDP_ENCAP_ESPINUDP: u16 = 2;
const XFRM_STATE_ESN: u8 = 128;
const NAME_LEN: usize = 64;

/// What a request is, for mapping kernel errors to typed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    InstallSa,
    Other,
}

/// One encoded request body (without the netlink header).
pub(crate) struct Req {
    pub ty: u16,
    pub flags: u16,
    pub body: Zeroizing<Vec<u8>>,
    pub what: String,
    pub kind: Kind,
    /// (kernel name, role) of the algorithms, for ENOSYS.
    pub algs: Vec<(String, &'static str)>,
}

fn family(ip: &IpAddr) -> u16 {
    if ip.is_ipv4() { AF_INET } else { AF_INET6 }
}

fn addr(ip: &IpAddr) -> nx::Address {
    nx::Address::from_ip(ip)
}

fn ip_of(a: &nx::Address, family: u16) -> IpAddr {
    if family == AF_INET6 {
        IpAddr::V6(a.to_ipv6())
    } else {
        IpAddr::V4(a.to_ipv4())
    }
}

fn alg_name(name: &str) -> Result<[u8; NAME_LEN], Error> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= NAME_LEN || b.contains(&0) {
        return Err(Error::Invalid(format!(
            "algorithm name {name:?} must be 1..{} bytes without NUL",
            NAME_LEN - 1
        )));
    }
    let mut out = [0u8; NAME_LEN];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

fn name_str(n: &[u8; NAME_LEN]) -> String {
    let end = n.iter().position(|&c| c == 0).unwrap_or(NAME_LEN);
    String::from_utf8_lossy(&n[..end]).into_owned()
}

fn key_bits(k: &Key) -> Result<u32, Error> {
    u32::try_from(k.len())
        .ok()
        .and_then(|l| l.checked_mul(8))
        .ok_or_else(|| Error::Invalid("key too long".into()))
}

pub(crate) fn selector_to_nx(s: &Selector) -> nx::Selector {
    let mut out = nx::Selector {
        family: family(&s.src.addr),
        saddr: addr(&s.src.addr),
        daddr: addr(&s.dst.addr),
        prefixlen_s: s.src.len,
        prefixlen_d: s.dst.len,
        proto: s.proto,
        ifindex: s.ifindex,
        ..Default::default()
    };
    if let Some(p) = s.sport {
        out.sport = p;
        out.sport_mask = u16::MAX;
    }
    if let Some(p) = s.dport {
        out.dport = p;
        out.dport_mask = u16::MAX;
    }
    out
}

pub(crate) fn selector_from_nx(s: &nx::Selector, fallback_family: u16) -> Selector {
    let fam = if s.family == AF_INET || s.family == AF_INET6 {
        s.family
    } else {
        fallback_family
    };
    let max = if fam == AF_INET6 { 128 } else { 32 };
    Selector {
        src: Prefix::new(ip_of(&s.saddr, fam), s.prefixlen_s.min(max)),
        dst: Prefix::new(ip_of(&s.daddr, fam), s.prefixlen_d.min(max)),
        proto: s.proto,
        sport: (s.sport_mask != 0).then_some(s.sport),
        dport: (s.dport_mask != 0).then_some(s.dport),
        ifindex: s.ifindex,
    }
}

fn lifetime_to_nx(l: &Lifetime) -> nx::LifetimeConfig {
    let inf = u64::MAX;
    nx::LifetimeConfig {
        soft_byte_limit: l.soft.bytes.unwrap_or(inf),
        hard_byte_limit: l.hard.bytes.unwrap_or(inf),
        soft_packet_limit: l.soft.packets.unwrap_or(inf),
        hard_packet_limit: l.hard.packets.unwrap_or(inf),
        soft_add_expires_seconds: l.soft.add_seconds.unwrap_or(0),
        hard_add_expires_seconds: l.hard.add_seconds.unwrap_or(0),
        soft_use_expires_seconds: l.soft.use_seconds.unwrap_or(0),
        hard_use_expires_seconds: l.hard.use_seconds.unwrap_or(0),
    }
}

fn lifetime_from_nx(l: &nx::LifetimeConfig) -> Lifetime {
    let count = |v: u64| (v != u64::MAX).then_some(v);
    let secs = |v: u64| (v != 0).then_some(v);
    Lifetime {
        soft: Limits {
            bytes: count(l.soft_byte_limit),
            packets: count(l.soft_packet_limit),
            add_seconds: secs(l.soft_add_expires_seconds),
            use_seconds: secs(l.soft_use_expires_seconds),
        },
        hard: Limits {
            bytes: count(l.hard_byte_limit),
            packets: count(l.hard_packet_limit),
            add_seconds: secs(l.hard_add_expires_seconds),
            use_seconds: secs(l.hard_use_expires_seconds),
        },
    }
}

fn current_from_nx(c: &nx::Lifetime) -> Current {
    Current {
        bytes: c.bytes,
        packets: c.packets,
        add_time: c.add_time,
        use_time: c.use_time,
    }
}

fn mark_attr(m: &Option<Mark>, nlas: &mut Vec<XfrmAttrs>) {
    if let Some(m) = m {
        nlas.push(XfrmAttrs::Mark(nx::Mark {
            value: m.value,
            mask: m.mask,
        }));
    }
}

fn if_id_attr(i: &Option<u32>, nlas: &mut Vec<XfrmAttrs>) {
    if let Some(i) = i {
        nlas.push(XfrmAttrs::IfId(*i));
    }
}

fn emit<T: Emitable>(msg: &T) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(vec![0u8; msg.buffer_len()]);
    msg.emit(&mut buf);
    buf
}

/// Wipes key copies held by netlink-packet-xfrm attribute structs.
pub(crate) fn wipe_keys(nlas: &mut [XfrmAttrs]) {
    for a in nlas {
        match a {
            XfrmAttrs::EncryptionAlg(x)
            | XfrmAttrs::AuthenticationAlg(x)
            | XfrmAttrs::CompressionAlg(x) => x.alg_key.zeroize(),
            XfrmAttrs::EncryptionAlgAead(x) => x.alg_key.zeroize(),
            XfrmAttrs::AuthenticationAlgTrunc(x) => x.alg_key.zeroize(),
            _ => {}
        }
    }
}

fn wipe_message(m: &mut XfrmMessage) {
    match m {
        XfrmMessage::AddSa(x) | XfrmMessage::UpdateSa(x) => wipe_keys(&mut x.nlas),
        XfrmMessage::DeleteSa(x) | XfrmMessage::GetSa(x) => wipe_keys(&mut x.nlas),
        XfrmMessage::AllocSpi(x) => wipe_keys(&mut x.nlas),
        XfrmMessage::Acquire(x) => wipe_keys(&mut x.nlas),
        XfrmMessage::PolicyExpire(x) => wipe_keys(&mut x.nlas),
        XfrmMessage::AddPolicy(x) | XfrmMessage::UpdatePolicy(x) => wipe_keys(&mut x.nlas),
        _ => {}
    }
}

fn check_sa(sa: &Sa) -> Result<(), Error> {
    if sa.src.is_ipv4() != sa.dst.is_ipv4() {
        return Err(Error::Invalid(format!(
            "SA mixes address families: {} -> {}",
            sa.src, sa.dst
        )));
    }
    if let Some(s) = &sa.selector {
        s.check()?;
    }
    match (sa.protocol, &sa.crypto) {
        (Protocol::Esp, Crypto::Aead { .. } | Crypto::EncrInteg { .. }) => {}
        (Protocol::Ah, Crypto::Integ { .. }) => {}
        (Protocol::Esp, Crypto::Integ { .. }) => {
            return Err(Error::Invalid(
                "ESP needs encryption (EncrAlg::Null for none); integrity-only is AH".into(),
            ));
        }
        (Protocol::Ah, _) => {
            return Err(Error::Invalid(
                "AH takes integrity only (Crypto::Integ)".into(),
            ));
        }
        (p, _) => {
            return Err(Error::Invalid(format!(
                "installing {p} SAs is not supported"
            )));
        }
    }
    if sa.encap.is_some() && sa.protocol != Protocol::Esp {
        return Err(Error::Invalid("UDP encapsulation is for ESP only".into()));
    }
    Ok(())
}

pub(crate) fn sa_request(sa: &Sa, update: bool) -> Result<Req, Error> {
    check_sa(sa)?;
    let fam = family(&sa.dst);
    let mut info = nx::UserSaInfo {
        selector: match &sa.selector {
            Some(s) => selector_to_nx(s),
            // XFRM_STATE_AF_UNSPEC with an AF_UNSPEC selector: a tunnel SA that
            // carries either inner family (IPv4 in IPv6 and the other way round)
            None if sa.flags.0 & SaFlags::AF_UNSPEC.0 != 0 => nx::Selector::default(),
            None => nx::Selector {
                family: fam,
                ..Default::default()
            },
        },
        saddr: addr(&sa.src),
        lifetime_cfg: lifetime_to_nx(&sa.lifetime),
        reqid: sa.reqid,
        family: fam,
        mode: sa.mode.number(),
        // with the ESN replay attribute the kernel wants the legacy field zero for ESN
        replay_window: if sa.esn {
            0
        } else {
            sa.replay_window.min(32) as u8
        },
        flags: sa.flags.0,
        ..Default::default()
    };
    info.id.daddr = addr(&sa.dst);
    info.id.spi = sa.spi;
    info.id.proto = sa.protocol.number();
    let mut nlas = Vec::new();
    let mut algs = Vec::new();
    match &sa.crypto {
        Crypto::Aead { alg, key, icv_bits } => {
            let name = alg.kernel_name();
            algs.push((name.to_string(), "aead"));
            nlas.push(XfrmAttrs::EncryptionAlgAead(nx::AlgAead {
                alg_name: alg_name(name)?,
                alg_key_len: key_bits(key)?,
                alg_icv_len: *icv_bits,
                alg_key: key.expose().to_vec(),
            }));
        }
        Crypto::Integ {
            integ,
            integ_key,
            trunc_bits,
        } => {
            algs.push((integ.kernel_name().to_string(), "integrity"));
            nlas.push(XfrmAttrs::AuthenticationAlgTrunc(nx::AlgAuth {
                alg_name: alg_name(integ.kernel_name())?,
                alg_key_len: key_bits(integ_key)?,
                alg_trunc_len: *trunc_bits,
                alg_key: integ_key.expose().to_vec(),
            }));
        }
        Crypto::EncrInteg {
            encr,
            encr_key,
            integ,
            integ_key,
            trunc_bits,
        } => {
            algs.push((encr.kernel_name().to_string(), "encryption"));
            algs.push((integ.kernel_name().to_string(), "integrity"));
            nlas.push(XfrmAttrs::EncryptionAlg(nx::Alg {
                alg_name: alg_name(encr.kernel_name())?,
                alg_key_len: key_bits(encr_key)?,
                alg_key: encr_key.expose().to_vec(),
            }));
            nlas.push(XfrmAttrs::AuthenticationAlgTrunc(nx::AlgAuth {
                alg_name: alg_name(integ.kernel_name())?,
                alg_key_len: key_bits(integ_key)?,
                alg_trunc_len: *trunc_bits,
                alg_key: integ_key.expose().to_vec(),
            }));
        }
    }
    if sa.esn || sa.replay_window > 32 {
        if sa.esn {
            info.flags |= XFRM_STATE_ESN;
        }
        let words = sa.replay_window.div_ceil(32).max(1);
        if words as usize * 4 > nx::XFRMA_REPLAY_ESN_MAX {
            return Err(Error::Invalid(format!(
                "replay window {} too large",
                sa.replay_window
            )));
        }
        let r = sa.replay_state.clone().unwrap_or_default();
        let mut bmp = r.bitmap;
        bmp.resize(words as usize, 0);
        nlas.push(XfrmAttrs::ReplayStateEsn(nx::ReplayEsn {
            bmp_len: words,
            oseq: r.oseq,
            seq: r.seq,
            oseq_hi: r.oseq_hi,
            seq_hi: r.seq_hi,
            replay_window: sa.replay_window,
            bmp,
        }));
    } else if let Some(r) = &sa.replay_state {
        nlas.push(XfrmAttrs::ReplayState(nx::Replay {
            oseq: r.oseq,
            seq: r.seq,
            bitmap: r.bitmap.first().copied().unwrap_or(0),
        }));
    }
    if let Some(e) = &sa.encap {
        nlas.push(XfrmAttrs::EncapsulationTemplate(nx::EncapTmpl {
            encap_type: UDP_ENCAP_ESPINUDP,
            encap_sport: e.sport,
            encap_dport: e.dport,
            encap_oa: nx::Address::default(),
        }));
    }
    mark_attr(&sa.mark, &mut nlas);
    if_id_attr(&sa.if_id, &mut nlas);
    if sa.extra_flags != 0 {
        nlas.push(XfrmAttrs::ExtraFlags(sa.extra_flags));
    }
    let mut msg = nx::state::ModifyMessage {
        user_sa_info: info,
        nlas,
    };
    let body = emit(&msg);
    wipe_keys(&mut msg.nlas);
    let what = format!("{} src {}", sa.id(), sa.src);
    Ok(Req {
        ty: if update {
            nx::XFRM_MSG_UPDSA
        } else {
            nx::XFRM_MSG_NEWSA
        },
        flags: 0,
        body,
        what,
        kind: Kind::InstallSa,
        algs,
    })
}

pub(crate) fn sa_id_request(id: &SaId, get: bool) -> Req {
    let mut sid = nx::UserSaId {
        daddr: addr(&id.dst),
        spi: id.spi,
        family: family(&id.dst),
        proto: id.protocol.number(),
    };
    let mut nlas = Vec::new();
    mark_attr(&id.mark, &mut nlas);
    let msg = nx::state::DelGetMessage {
        user_sa_id: std::mem::take(&mut sid),
        nlas,
    };
    Req {
        ty: if get {
            nx::XFRM_MSG_GETSA
        } else {
            nx::XFRM_MSG_DELSA
        },
        flags: 0,
        body: emit(&msg),
        what: id.to_string(),
        kind: Kind::Other,
        algs: Vec::new(),
    }
}

pub(crate) fn flush_sa_request(protocol: Option<Protocol>) -> Req {
    let msg = nx::state::FlushMessage {
        protocol: protocol.map(Protocol::number).unwrap_or(IPSEC_PROTO_ANY),
    };
    Req {
        ty: nx::XFRM_MSG_FLUSHSA,
        flags: 0,
        body: emit(&msg),
        what: "SA flush".into(),
        kind: Kind::Other,
        algs: Vec::new(),
    }
}

pub(crate) fn alloc_spi_request(r: &SpiRequest) -> Result<Req, Error> {
    if r.src.is_ipv4() != r.dst.is_ipv4() {
        return Err(Error::Invalid("SPI request mixes address families".into()));
    }
    if r.min > r.max {
        return Err(Error::Invalid(format!(
            "SPI range 0x{:x}..0x{:x} is empty",
            r.min, r.max
        )));
    }
    let fam = family(&r.dst);
    let mut info = nx::UserSaInfo {
        saddr: addr(&r.src),
        reqid: r.reqid,
        family: fam,
        mode: r.mode.number(),
        ..Default::default()
    };
    info.selector.family = fam;
    info.id.daddr = addr(&r.dst);
    info.id.proto = r.protocol.number();
    let mut nlas = Vec::new();
    mark_attr(&r.mark, &mut nlas);
    if_id_attr(&r.if_id, &mut nlas);
    let msg = nx::state::AllocSpiMessage {
        spi_info: nx::UserSpiInfo {
            info,
            min: r.min,
            max: r.max,
        },
        nlas,
    };
    Ok(Req {
        ty: nx::XFRM_MSG_ALLOCSPI,
        flags: 0,
        body: emit(&msg),
        what: format!(
            "SPI allocation {} {} -> {} range 0x{:x}..=0x{:x}",
            r.protocol, r.src, r.dst, r.min, r.max
        ),
        kind: Kind::InstallSa,
        algs: Vec::new(),
    })
}

fn template_to_nx(t: &Template, pol_family: u16) -> Result<nx::UserTemplate, Error> {
    let mut out = nx::UserTemplate {
        reqid: t.reqid,
        mode: t.mode.number(),
        optional: u8::from(t.optional),
        family: pol_family,
        ..Default::default()
    };
    out.id.proto = t.protocol.number();
    out.id.spi = t.spi;
    match (t.src, t.dst) {
        (Some(s), Some(d)) => {
            if s.is_ipv4() != d.is_ipv4() {
                return Err(Error::Invalid("template mixes address families".into()));
            }
            out.saddr = addr(&s);
            out.id.daddr = addr(&d);
            out.family = family(&d);
        }
        (None, None) => {
            if t.mode == Mode::Tunnel {
                return Err(Error::Invalid(
                    "tunnel-mode template needs src and dst".into(),
                ));
            }
        }
        _ => {
            return Err(Error::Invalid(
                "template needs both src and dst, or neither".into(),
            ));
        }
    }
    Ok(out)
}

fn template_from_nx(t: &nx::UserTemplate) -> (Template, u32) {
    let zero = t.id.daddr.addr == [0u8; 16] && t.saddr.addr == [0u8; 16];
    let tpl = Template {
        src: (!zero).then(|| ip_of(&t.saddr, t.family)),
        dst: (!zero).then(|| ip_of(&t.id.daddr, t.family)),
        protocol: Protocol::from_number(t.id.proto),
        spi: t.id.spi,
        mode: Mode::from_number(t.mode).unwrap_or_default(),
        reqid: t.reqid,
        optional: t.optional != 0,
    };
    (tpl, t.id.proto as u32)
}

pub(crate) fn policy_request(p: &Policy, update: bool) -> Result<Req, Error> {
    p.selector.check()?;
    let fam = family(&p.selector.src.addr);
    let info = nx::UserPolicyInfo {
        selector: selector_to_nx(&p.selector),
        lifetime_cfg: lifetime_to_nx(&p.lifetime),
        priority: p.priority,
        index: p.index,
        direction: p.dir.number(),
        action: match p.action {
            Action::Allow => 0,
            Action::Block => 1,
        },
        ..Default::default()
    };
    let mut nlas = Vec::new();
    if !p.templates.is_empty() {
        let t = p
            .templates
            .iter()
            .map(|t| template_to_nx(t, fam))
            .collect::<Result<Vec<_>, _>>()?;
        nlas.push(XfrmAttrs::Template(t));
    }
    mark_attr(&p.mark, &mut nlas);
    if_id_attr(&p.if_id, &mut nlas);
    let msg = nx::policy::ModifyMessage {
        user_policy_info: info,
        nlas,
    };
    Ok(Req {
        ty: if update {
            nx::XFRM_MSG_UPDPOLICY
        } else {
            nx::XFRM_MSG_NEWPOLICY
        },
        flags: 0,
        body: emit(&msg),
        what: p.id().to_string(),
        kind: Kind::Other,
        algs: Vec::new(),
    })
}

pub(crate) fn policy_id_request(id: &PolicyId, get: bool) -> Result<Req, Error> {
    id.selector.check()?;
    let mut nlas = Vec::new();
    mark_attr(&id.mark, &mut nlas);
    if_id_attr(&id.if_id, &mut nlas);
    let msg = nx::policy::DelGetMessage {
        user_policy_id: nx::UserPolicyId {
            selector: selector_to_nx(&id.selector),
            index: id.index,
            direction: id.dir.number(),
        },
        nlas,
    };
    Ok(Req {
        ty: if get {
            nx::XFRM_MSG_GETPOLICY
        } else {
            nx::XFRM_MSG_DELPOLICY
        },
        flags: 0,
        body: emit(&msg),
        what: id.to_string(),
        kind: Kind::Other,
        algs: Vec::new(),
    })
}

pub(crate) fn flush_policy_request() -> Req {
    Req {
        ty: nx::XFRM_MSG_FLUSHPOLICY,
        flags: 0,
        body: Zeroizing::new(Vec::new()),
        what: "policy flush".into(),
        kind: Kind::Other,
        algs: Vec::new(),
    }
}

pub(crate) fn dump_request(sa: bool) -> Req {
    Req {
        ty: if sa {
            nx::XFRM_MSG_GETSA
        } else {
            nx::XFRM_MSG_GETPOLICY
        },
        flags: netlink_packet_core::NLM_F_DUMP,
        body: Zeroizing::new(Vec::new()),
        what: if sa { "SA dump" } else { "policy dump" }.into(),
        kind: Kind::Other,
        algs: Vec::new(),
    }
}

/// Minimum body length of the fixed part of each message type we decode.
fn min_len(ty: u16) -> Option<usize> {
    Some(match ty {
        nx::XFRM_MSG_NEWSA | nx::XFRM_MSG_UPDSA => size_of::<nx::UserSaInfoBuffer>(),
        nx::XFRM_MSG_DELSA | nx::XFRM_MSG_GETSA => size_of::<nx::UserSaIdBuffer>(),
        nx::XFRM_MSG_NEWPOLICY | nx::XFRM_MSG_UPDPOLICY => size_of::<nx::UserPolicyInfoBuffer>(),
        nx::XFRM_MSG_DELPOLICY | nx::XFRM_MSG_GETPOLICY => size_of::<nx::UserPolicyIdBuffer>(),
        nx::XFRM_MSG_ACQUIRE => size_of::<nx::UserAcquireBuffer>(),
        nx::XFRM_MSG_EXPIRE => size_of::<nx::UserExpireBuffer>(),
        nx::XFRM_MSG_POLEXPIRE => size_of::<nx::UserPolicyExpireBuffer>(),
        nx::XFRM_MSG_MAPPING => size_of::<nx::UserMappingBuffer>(),
        _ => return None,
    })
}

/// Decodes one XFRM message body of a type this crate understands; `Ok(None)` for others.
/// Never panics, whatever the bytes.
pub(crate) fn decode(ty: u16, body: &[u8]) -> Result<Option<XfrmMessage>, Error> {
    let Some(min) = min_len(ty) else {
        return Ok(None);
    };
    if body.len() < min {
        return Err(Error::Malformed(format!(
            "XFRM message type {ty}: {} bytes, fixed part needs {min}",
            body.len()
        )));
    }
    let res = std::panic::catch_unwind(|| XfrmMessage::parse_with_param(body, ty));
    match res {
        Ok(Ok(m)) => Ok(Some(m)),
        Ok(Err(e)) => Err(Error::Malformed(format!("XFRM message type {ty}: {e}"))),
        Err(_) => Err(Error::Malformed(format!(
            "XFRM message type {ty}: decoder panicked"
        ))),
    }
}

/// The attributes after a message's fixed part, for message types whose
/// netlink-packet-xfrm struct drops them (EXPIRE). Undecodable attributes are skipped.
fn trailing_attrs(body: &[u8], fixed: usize) -> Vec<XfrmAttrs> {
    let Some(rest) = body.get(fixed..) else {
        return Vec::new();
    };
    std::panic::catch_unwind(|| {
        let mut v = Vec::new();
        for nla in NlasIterator::new(rest) {
            let Ok(nla) = nla else { break };
            if let Ok(a) = XfrmAttrs::parse(&nla) {
                v.push(a);
            }
        }
        wipe_keys(&mut v);
        v
    })
    .unwrap_or_default()
}

/// Decodes a multicast message into an event (`Ok(None)` for non-event types).
pub(crate) fn decode_event(ty: u16, body: &[u8]) -> Result<Option<Event>, Error> {
    let Some(m) = decode(ty, body)? else {
        return Ok(None);
    };
    let mut ev = event(m);
    if let Some(Event::Expire(e)) = &mut ev {
        let a = scan_attrs(&trailing_attrs(body, size_of::<nx::UserExpireBuffer>()));
        e.id.mark = a.mark;
        e.if_id = a.if_id;
    }
    Ok(ev)
}

struct Attrs {
    mark: Option<Mark>,
    if_id: Option<u32>,
    encap: Option<UdpEncap>,
    aead: Option<(String, u32)>,
    encryption: Option<String>,
    integrity: Option<(String, u32)>,
    replay_esn_window: Option<u32>,
    replay_state: Option<ReplayState>,
    templates: Vec<(Template, u32)>,
}

fn scan_attrs(nlas: &[XfrmAttrs]) -> Attrs {
    let mut a = Attrs {
        mark: None,
        if_id: None,
        encap: None,
        aead: None,
        encryption: None,
        integrity: None,
        replay_esn_window: None,
        replay_state: None,
        templates: Vec::new(),
    };
    for n in nlas {
        match n {
            XfrmAttrs::Mark(m) => {
                a.mark = Some(Mark {
                    value: m.value,
                    mask: m.mask,
                })
            }
            XfrmAttrs::IfId(i) => a.if_id = Some(*i),
            XfrmAttrs::EncapsulationTemplate(e) => {
                a.encap = Some(UdpEncap {
                    sport: e.encap_sport,
                    dport: e.encap_dport,
                })
            }
            XfrmAttrs::EncryptionAlgAead(x) => {
                a.aead = Some((name_str(&x.alg_name), x.alg_icv_len))
            }
            XfrmAttrs::EncryptionAlg(x) => a.encryption = Some(name_str(&x.alg_name)),
            XfrmAttrs::AuthenticationAlgTrunc(x) => {
                a.integrity = Some((name_str(&x.alg_name), x.alg_trunc_len))
            }
            XfrmAttrs::AuthenticationAlg(x) if a.integrity.is_none() => {
                a.integrity = Some((name_str(&x.alg_name), 96))
            }
            XfrmAttrs::ReplayStateEsn(r) => {
                a.replay_esn_window = Some(r.replay_window);
                a.replay_state = Some(ReplayState {
                    oseq: r.oseq,
                    seq: r.seq,
                    oseq_hi: r.oseq_hi,
                    seq_hi: r.seq_hi,
                    bitmap: r.bmp.clone(),
                });
            }
            XfrmAttrs::ReplayState(r) if a.replay_state.is_none() => {
                a.replay_state = Some(ReplayState {
                    oseq: r.oseq,
                    seq: r.seq,
                    bitmap: vec![r.bitmap],
                    ..Default::default()
                })
            }
            XfrmAttrs::Template(ts) => a.templates = ts.iter().map(template_from_nx).collect(),
            _ => {}
        }
    }
    a
}

pub(crate) fn sa_info(mut m: XfrmMessage) -> Result<SaInfo, Error> {
    wipe_message(&mut m);
    let (XfrmMessage::AddSa(x) | XfrmMessage::UpdateSa(x)) = m else {
        return Err(Error::Malformed("expected an SA (XFRM_MSG_NEWSA)".into()));
    };
    let i = &x.user_sa_info;
    let a = scan_attrs(&x.nlas);
    Ok(SaInfo {
        src: ip_of(&i.saddr, i.family),
        dst: ip_of(&i.id.daddr, i.family),
        spi: i.id.spi,
        protocol: Protocol::from_number(i.id.proto),
        mode: Mode::from_number(i.mode),
        reqid: i.reqid,
        replay_window: a.replay_esn_window.unwrap_or(u32::from(i.replay_window)),
        replay_state: a.replay_state.clone(),
        flags: SaFlags(i.flags),
        lifetime: lifetime_from_nx(&i.lifetime_cfg),
        current: current_from_nx(&i.lifetime_cur),
        stats: SaStats {
            replay_window: i.stats.replay_window,
            replay: i.stats.replay,
            integrity_failed: i.stats.integrity_failed,
        },
        selector: selector_from_nx(&i.selector, i.family),
        mark: a.mark,
        if_id: a.if_id,
        encap: a.encap,
        aead: a.aead,
        encryption: a.encryption,
        integrity: a.integrity,
    })
}

pub(crate) fn policy_info(m: XfrmMessage) -> Result<PolicyInfo, Error> {
    let (XfrmMessage::AddPolicy(x) | XfrmMessage::UpdatePolicy(x)) = m else {
        return Err(Error::Malformed(
            "expected a policy (XFRM_MSG_NEWPOLICY)".into(),
        ));
    };
    let i = &x.user_policy_info;
    let a = scan_attrs(&x.nlas);
    let dir = Direction::from_number(i.direction)
        .ok_or_else(|| Error::Malformed(format!("policy direction {} unknown", i.direction)))?;
    Ok(PolicyInfo {
        policy: Policy {
            selector: selector_from_nx(&i.selector, AF_INET),
            dir,
            action: if i.action == 1 {
                Action::Block
            } else {
                Action::Allow
            },
            priority: i.priority,
            index: i.index,
            templates: a.templates.into_iter().map(|(t, _)| t).collect(),
            mark: a.mark,
            if_id: a.if_id,
            lifetime: lifetime_from_nx(&i.lifetime_cfg),
        },
        current: current_from_nx(&i.lifetime_cur),
    })
}

pub(crate) fn event(mut m: XfrmMessage) -> Option<Event> {
    wipe_message(&mut m);
    match m {
        XfrmMessage::Acquire(x) => {
            let q = &x.acquire;
            let a = scan_attrs(&x.nlas);
            let fam = if q.policy.selector.family != 0 {
                q.policy.selector.family
            } else {
                q.selector.family
            };
            Some(Event::Acquire(Acquire {
                dst: ip_of(&q.id.daddr, fam),
                src: ip_of(&q.saddr, fam),
                protocol: Protocol::from_number(q.id.proto),
                selector: selector_from_nx(&q.selector, fam),
                policy_index: q.policy.index,
                policy_dir: Direction::from_number(q.policy.direction),
                policy_selector: selector_from_nx(&q.policy.selector, fam),
                seq: q.seq,
                templates: a.templates,
                mark: a.mark,
                if_id: a.if_id,
            }))
        }
        XfrmMessage::Expire(x) => {
            let s = &x.expire.state;
            Some(Event::Expire(Expire {
                id: SaId {
                    dst: ip_of(&s.id.daddr, s.family),
                    spi: s.id.spi,
                    protocol: Protocol::from_number(s.id.proto),
                    mark: None,
                },
                src: ip_of(&s.saddr, s.family),
                reqid: s.reqid,
                hard: x.expire.hard != 0,
                current: current_from_nx(&s.lifetime_cur),
                if_id: None,
            }))
        }
        XfrmMessage::PolicyExpire(x) => {
            let p = &x.expire.pol;
            let a = scan_attrs(&x.nlas);
            Some(Event::PolicyExpire(PolicyExpire {
                index: p.index,
                dir: Direction::from_number(p.direction),
                selector: selector_from_nx(&p.selector, AF_INET),
                hard: x.expire.hard != 0,
                mark: a.mark,
                if_id: a.if_id,
            }))
        }
        XfrmMessage::Mapping(x) => {
            let m = &x.map;
            let fam = m.id.family;
            Some(Event::Mapping(Mapping {
                dst: ip_of(&m.id.daddr, fam),
                spi: m.id.spi,
                protocol: Protocol::from_number(m.id.proto),
                reqid: m.reqid,
                old_src: ip_of(&m.old_saddr, fam),
                old_sport: m.old_sport,
                new_src: ip_of(&m.new_saddr, fam),
                new_sport: m.new_sport,
            }))
        }
        _ => None,
    }
}
