//! The environment of `leftupdown=` scripts: strongSwan's `PLUTO_*` variables
//! (as documented for its `_updown` script), built from a CHILD_SA, and the
//! firewall rules of `leftfirewall=yes` ([`firewall`]). Pure: the daemon runs
//! the script, or the rules, once per local/remote selector pair.

pub mod firewall;

use crate::sa::{ChildSaInstall, Mode, Selector};
use std::net::IpAddr;

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Up,
    Down,
}

/// What the environment needs beyond the CHILD_SA itself.
#[derive(Debug, Clone, Default)]
pub struct Extra<'a> {
    /// Outgoing interface of the local address (PLUTO_INTERFACE).
    pub interface: &'a str,
    pub my_id: &'a str,
    pub peer_id: &'a str,
    /// Virtual IPs (PLUTO_MY_SOURCEIP / PLUTO_PEER_SOURCEIP).
    pub my_sourceip: &'a [IpAddr],
    pub peer_sourceip: &'a [IpAddr],
    pub host_access: bool,
}

/// `PLUTO_MY_CLIENT` / `PLUTO_PEER_CLIENT`: a prefix, or a range `a-b`.
pub(crate) fn client(s: &Selector) -> String {
    match s.as_prefix() {
        Some((a, p)) => format!("{a}/{p}"),
        None => format!("{}-{}", s.start, s.end),
    }
}

fn mask(s: &Selector) -> String {
    match s.as_prefix() {
        Some((IpAddr::V4(_), p)) => {
            let m = if p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(p))
            };
            std::net::Ipv4Addr::from(m).to_string()
        }
        Some((IpAddr::V6(_), p)) => {
            let m = if p == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(p))
            };
            std::net::Ipv6Addr::from(m).to_string()
        }
        None => String::new(),
    }
}

/// "host" (the local selector is this host itself, or transport mode) or
/// "client" (a subnet behind us, or our virtual IP): the `PLUTO_VERB` suffix,
/// and which firewall rules `leftfirewall=yes` inserts.
pub(crate) fn is_host(c: &ChildSaInstall, local: &Selector) -> bool {
    local
        .as_prefix()
        .is_some_and(|(a, p)| a == c.local && p == if a.is_ipv4() { 32 } else { 128 })
        || c.mode == Mode::Transport
}

/// `PLUTO_MY_PORT` / `PLUTO_PEER_PORT`: the port of a one-port selector, else 0.
pub(crate) fn port(s: &Selector) -> u16 {
    if s.start_port == s.end_port {
        s.start_port
    } else {
        0
    }
}

/// The `PLUTO_*` environment for one local/remote selector pair.
pub fn env(
    verb: Verb,
    c: &ChildSaInstall,
    local: &Selector,
    remote: &Selector,
    x: &Extra<'_>,
) -> Vec<(String, String)> {
    let host = is_host(c, local);
    let v6 = local.start.is_ipv6();
    let verb = format!(
        "{}-{}{}",
        match verb {
            Verb::Up => "up",
            Verb::Down => "down",
        },
        if host { "host" } else { "client" },
        if v6 { "-v6" } else { "" }
    );
    let mut e: Vec<(String, String)> = vec![
        ("PLUTO_VERSION".into(), "1.1".into()),
        ("PLUTO_VERB".into(), verb),
        ("PLUTO_CONNECTION".into(), c.conn.clone()),
        ("PLUTO_INTERFACE".into(), x.interface.into()),
        ("PLUTO_REQID".into(), c.reqid.to_string()),
        ("PLUTO_PROTO".into(), "esp".into()),
        ("PLUTO_UNIQUEID".into(), c.ike_id.to_string()),
        ("PLUTO_ME".into(), c.local.to_string()),
        ("PLUTO_MY_ID".into(), x.my_id.into()),
        ("PLUTO_MY_CLIENT".into(), client(local)),
        ("PLUTO_MY_CLIENT_NET".into(), local.start.to_string()),
        ("PLUTO_MY_CLIENT_MASK".into(), mask(local)),
        ("PLUTO_MY_PORT".into(), port(local).to_string()),
        ("PLUTO_MY_PROTOCOL".into(), local.protocol.to_string()),
        ("PLUTO_PEER".into(), c.remote.to_string()),
        ("PLUTO_PEER_ID".into(), x.peer_id.into()),
        ("PLUTO_PEER_CLIENT".into(), client(remote)),
        ("PLUTO_PEER_CLIENT_NET".into(), remote.start.to_string()),
        ("PLUTO_PEER_CLIENT_MASK".into(), mask(remote)),
        ("PLUTO_PEER_PORT".into(), port(remote).to_string()),
        ("PLUTO_PEER_PROTOCOL".into(), remote.protocol.to_string()),
    ];
    if let Some(ip) = x.my_sourceip.first() {
        e.push(("PLUTO_MY_SOURCEIP".into(), ip.to_string()));
    }
    for (i, ip) in x.my_sourceip.iter().enumerate() {
        let fam = if ip.is_ipv4() { 4 } else { 6 };
        e.push((format!("PLUTO_MY_SOURCEIP{fam}_{}", i + 1), ip.to_string()));
    }
    if let Some(ip) = x.peer_sourceip.first() {
        e.push(("PLUTO_PEER_SOURCEIP".into(), ip.to_string()));
    }
    for (i, ip) in x.peer_sourceip.iter().enumerate() {
        let fam = if ip.is_ipv4() { 4 } else { 6 };
        e.push((
            format!("PLUTO_PEER_SOURCEIP{fam}_{}", i + 1),
            ip.to_string(),
        ));
    }
    if x.host_access {
        e.push(("PLUTO_HOST_ACCESS".into(), "1".into()));
    }
    if let Some((v, m)) = c.mark_in {
        e.push(("PLUTO_MARK_IN".into(), format!("{v:#010x}/{m:#010x}")));
    }
    if let Some((v, m)) = c.mark_out {
        e.push(("PLUTO_MARK_OUT".into(), format!("{v:#010x}/{m:#010x}")));
    }
    if let Some(i) = c.if_id_in {
        e.push(("PLUTO_IF_ID_IN".into(), i.to_string()));
    }
    if let Some(i) = c.if_id_out {
        e.push(("PLUTO_IF_ID_OUT".into(), i.to_string()));
    }
    if let Some((_, remote_port)) = c.encap {
        e.push(("PLUTO_UDP_ENC".into(), remote_port.to_string()));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Encr, SecretBytes};
    use crate::sa::EspKeys;
    use std::time::Duration;

    fn sel(a: &str, b: &str) -> Selector {
        Selector {
            start: a.parse().unwrap(),
            end: b.parse().unwrap(),
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }
    }

    fn install() -> ChildSaInstall {
        let k = || EspKeys {
            encr: SecretBytes::new(vec![0; 20]),
            integ: SecretBytes::new(Vec::new()),
        };
        ChildSaInstall {
            conn: "vti".into(),
            ike_id: 3,
            child_id: 7,
            reqid: 2,
            mode: Mode::Tunnel,
            local: "192.0.2.1".parse().unwrap(),
            remote: "192.0.2.2".parse().unwrap(),
            encap: Some((4500, 4500)),
            spi_in: 1,
            spi_out: 2,
            encr: Encr::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            integ: None,
            esn: false,
            keys_in: k(),
            keys_out: k(),
            ts_local: vec![sel("0.0.0.0", "255.255.255.255")],
            ts_remote: vec![sel("0.0.0.0", "255.255.255.255")],
            mark_in: Some((6, 0xffff_ffff)),
            mark_out: Some((6, 0xffff_ffff)),
            if_id_in: None,
            if_id_out: None,
            soft_lifetime: Duration::from_secs(3000),
            hard_lifetime: Duration::from_secs(3600),
            replay_window: 32,
            install_policy: true,
            updown: Some("/etc/ipsec.d/vti-updown".into()),
            my_sourceips: Vec::new(),
            peer_sourceips: Vec::new(),
            host_access: false,
            firewall: false,
            replaces: None,
            defer_outbound: false,
        }
    }

    #[test]
    fn vti_environment() {
        let c = install();
        let x = Extra {
            interface: "eth0",
            my_id: "moon",
            peer_id: "sun",
            ..Extra::default()
        };
        let e = env(Verb::Up, &c, &c.ts_local[0], &c.ts_remote[0], &x);
        let get = |k: &str| e.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PLUTO_VERB"), Some("up-client"));
        assert_eq!(get("PLUTO_CONNECTION"), Some("vti"));
        assert_eq!(get("PLUTO_MY_CLIENT"), Some("0.0.0.0/0"));
        assert_eq!(get("PLUTO_MY_CLIENT_MASK"), Some("0.0.0.0"));
        assert_eq!(get("PLUTO_MARK_IN"), Some("0x00000006/0xffffffff"));
        assert_eq!(get("PLUTO_UDP_ENC"), Some("4500"));
        assert_eq!(get("PLUTO_REQID"), Some("2"));
        assert_eq!(get("PLUTO_UNIQUEID"), Some("3"));
        assert_eq!(get("PLUTO_PEER"), Some("192.0.2.2"));
        assert!(get("PLUTO_IF_ID_IN").is_none());
    }

    #[test]
    fn host_and_v6_verbs() {
        let mut c = install();
        c.mode = Mode::Transport;
        let me = sel("192.0.2.1", "192.0.2.1");
        let e = env(
            Verb::Down,
            &c,
            &me,
            &sel("192.0.2.2", "192.0.2.2"),
            &Extra::default(),
        );
        assert!(e.contains(&("PLUTO_VERB".into(), "down-host".into())));
        c.mode = Mode::Tunnel;
        let e = env(
            Verb::Up,
            &c,
            &sel("2001:db8:1::", "2001:db8:1::ffff"),
            &sel("2001:db8:2::", "2001:db8:2::ffff"),
            &Extra::default(),
        );
        assert!(e.contains(&("PLUTO_VERB".into(), "up-client-v6".into())));
        assert!(e.contains(&("PLUTO_MY_CLIENT".into(), "2001:db8:1::/112".into())));
    }
}
