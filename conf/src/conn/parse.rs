//! Values of conn keywords that need more than `values.rs`: authentication
//! methods, keys, source IPs, DNS servers, the keywords iked refuses.

use super::*;
use std::time::Duration;

pub(super) fn parse_pubkey_constraint(t: &str) -> VResult<PubkeyConstraint> {
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

pub(super) fn choice<T: Copy>(v: &str, options: &[(&str, T)]) -> VResult<T> {
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

pub(super) fn parse_auth(v: &str) -> VResult<AuthMethod> {
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

pub(super) fn parse_sigkey(v: &str) -> VResult<SigKey> {
    if v == "%cert" {
        return Ok(SigKey::Cert);
    }
    // strongSwan's prefixes for a raw key's format: `dns:` RFC 3110,
    // `ssh:` the SSH public key blob (RFC 4253 6.6); case does not matter.
    let prefix = v.get(..4).map(str::to_ascii_lowercase);
    match prefix.as_deref() {
        Some("dns:") => {
            return key_blob(&v[4..])
                .unwrap_or_else(|| Err("dns: must be followed by 0s<base64> or 0x<hex>".into()))
                .map(SigKey::Dns);
        }
        Some("ssh:") => {
            return key_blob(&v[4..])
                .unwrap_or_else(|| Err("ssh: must be followed by 0s<base64> or 0x<hex>".into()))
                .map(SigKey::Ssh);
        }
        _ => {}
    }
    if let Some(b) = key_blob(v) {
        return b.map(SigKey::Raw);
    }
    if v.starts_with('%') {
        return Err(format!(
            "'{v}': expected %cert, 0s<base64>, 0x<hex> (optionally after dns: or ssh:) or a file name"
        ));
    }
    Ok(SigKey::File(v.to_owned()))
}

/// `0s<base64>` / `0x<hex>`; `None`: neither prefix.
fn key_blob(v: &str) -> Option<VResult<Vec<u8>>> {
    use base64::Engine as _;
    if let Some(b) = v.strip_prefix("0s") {
        let b: String = b.chars().filter(|c| !c.is_whitespace()).collect();
        return Some(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("0s key is not valid base64: {e}")),
        );
    }
    v.strip_prefix("0x").map(|h| {
        let h: String = h.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(h).map_err(|_| "0x key is not valid hex".to_string())
    })
}

pub(super) fn parse_sourceip(v: &str) -> VResult<Vec<SourceIp>> {
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

pub(super) fn parse_dns(v: &str) -> VResult<Vec<DnsServer>> {
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

pub(super) fn opt_time(v: &str) -> VResult<Option<Duration>> {
    let d = parse_time(v)?;
    Ok(if d.is_zero() { None } else { Some(d) })
}

pub(super) fn opt_u64(v: &str) -> VResult<Option<u64>> {
    let n = parse_u64(v)?;
    Ok(if n == 0 { None } else { Some(n) })
}

/// Where `%default`/built-in, so messages can say "not implemented yet".
pub(super) const NOT_IMPLEMENTED: &[(&str, &str)] = &[
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

pub(super) const OBSOLETE: &[(&str, &str)] = &[
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
