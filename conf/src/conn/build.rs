//! A conn section's settings become a typed [`Conn`]: every keyword
//! applied with file:line diagnostics, then the whole checked.

use super::parse::*;
use super::*;
use crate::diag::{Diagnostic, Diags, Location, Severity};
use crate::proposal::{self, ProposalList, Protocol};
use crate::resolve::{Setting, Settings};

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
                    cx.warn(s, format!("accepted but not implemented yet: {v} (implemented: pubkey, psk, eap-mschapv2, eap-md5)"));
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
    // leftfirewall=yes is what the default updown does; a script replaces it.
    for (side, end) in [("left", &c.left), ("right", &c.right)] {
        if end.firewall && end.updown.is_some() {
            at(
                cx,
                &format!("{side}firewall"),
                Severity::Warning,
                format!(
                    "{side}firewall=yes has no effect with {side}updown=: the script runs instead of the firewall rules (strongSwan does not allow both); insert the rules in the script"
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
            parse_sigkey("dns:0sAwEAAQ==").unwrap(),
            SigKey::Dns(vec![3, 1, 0, 1])
        );
        assert_eq!(parse_sigkey("SSH:0x0001").unwrap(), SigKey::Ssh(vec![0, 1]));
        assert!(parse_sigkey("dns:AwEAAQ==").is_err());
        assert!(parse_sigkey("%none").is_err());
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
