//! A road-warrior gateway as users write it: iked (left) with a server
//! certificate (a CA made here with openssl) and EAP-MSCHAPv2, a base conn
//! `ikev2-vpn` (right=%any, rightid=%any, eap_identity=%identity, a pool) and
//! one conn per user (also=ikev2-vpn, rightid, eap_identity, one fixed
//! rightsourceip). strongSwan's starter (right) connects as client_a, then
//! client_b, then `other` (no conn of its own): each must land in the conn
//! strongSwan would pick (an exact rightid beats %any) as iked's status
//! shows, get that conn's address (installed on the client), and a ping from
//! it must raise both inbound ESP counters.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{both, children, empty, guest, note_kernel, status};
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{Iked, Peer, Starter, StarterOpts, Tunnel};
use crate::probe::{PingSpec, Why, in_packets, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Side, Topology};
use crate::{Result, lab_err, make_dir, write_file};

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "rw-peruser",
        "iked gateway (certificate + EAP-MSCHAPv2, base conn + also= per-user conns): client_a, client_b, other each get their conn and address",
        rw_peruser,
    )]
}

/// A CA and a server certificate (serverAuth + IKE intermediate EKU, SAN
/// DNS:`name`, an RSA key of `bits`) made with openssl in `d`.
pub(super) fn make_pki(d: &Path, name: &str, bits: u32) -> Result<()> {
    make_dir(d)?;
    write_file(
        &d.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3ca\n[dn]\nO = iked lab\nCN = iked lab CA\n\
         [v3ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
    )?;
    write_file(
        &d.join("server.ext"),
        &format!(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,1.3.6.1.5.5.8.2.2\n\
             subjectAltName=DNS:{name}\nauthorityKeyIdentifier=keyid\n"
        ),
    )?;
    let p = |f: &str| d.join(f).display().to_string();
    let subj = format!("/O=iked lab/CN={name}");
    let rsa = format!("rsa:{bits}");
    let steps: [Vec<String>; 4] = [
        [
            "openssl",
            "req",
            "-x509",
            "-config",
            &p("ca.cnf"),
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "30",
        ]
        .map(String::from)
        .to_vec(),
        [
            "openssl",
            "req",
            "-newkey",
            &rsa,
            "-nodes",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
            "-subj",
            &subj,
        ]
        .map(String::from)
        .to_vec(),
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-out",
            &p("server.pem"),
            "-extfile",
            &p("server.ext"),
        ]
        .map(String::from)
        .to_vec(),
        [
            "openssl",
            "verify",
            "-CAfile",
            &p("ca.pem"),
            "-purpose",
            "sslserver",
            &p("server.pem"),
        ]
        .map(String::from)
        .to_vec(),
    ];
    for argv in steps {
        let v: Vec<&str> = argv.iter().map(String::as_str).collect();
        crate::cmd::run_ok(&v, Duration::from_secs(120))?;
    }
    Ok(())
}

pub(super) fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(d) = to.parent() {
        make_dir(d)?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| lab_err!("copy {} -> {}: {e}", from.display(), to.display()))
}

/// The files of a road-warrior gateway and its clients, from [`make_pki`]
/// for `moon.strongswan.org`.
pub(super) struct RwPki {
    /// The gateway's `ipsec.d` (`IKED_IPSEC_D`): the CA, `certs/server.pem`,
    /// `private/server.key`.
    pub gw: PathBuf,
    /// A folder with the CA alone, for a client's `/etc/ipsec.d/cacerts`.
    pub client_cas: PathBuf,
    /// The gateway's certificate, for a client that pins it.
    pub server_pem: PathBuf,
}

impl RwPki {
    /// Makes the PKI (a server key of `bits`) and the folders in `ctx`'s.
    pub(super) fn make(ctx: &Ctx, bits: u32) -> Result<RwPki> {
        let pki = ctx.dir.join("pki");
        make_pki(&pki, "moon.strongswan.org", bits)?;
        let gw = ctx.dir.join("gw.d");
        copy(&pki.join("ca.pem"), &gw.join("cacerts/lab-ca.pem"))?;
        copy(&pki.join("server.pem"), &gw.join("certs/server.pem"))?;
        copy(&pki.join("server.key"), &gw.join("private/server.key"))?;
        let client_cas = ctx.dir.join("client-cacerts");
        copy(&pki.join("ca.pem"), &client_cas.join("iked-lab-ca.pem"))?;
        Ok(RwPki {
            gw,
            client_cas,
            server_pem: pki.join("server.pem"),
        })
    }
}

fn rw_peruser(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let pki = RwPki::make(ctx, 2048)?;
    let base = Conn::new("ikev2-vpn")
        .set("auto", "add")
        .set("compress", "no")
        .set("type", "tunnel")
        .set("keyexchange", "ikev2")
        .set("fragmentation", "yes")
        .set("dpdaction", "clear")
        .set("dpddelay", "300s")
        .set("left", "%any")
        .set("leftid", "@moon.strongswan.org")
        .set("leftcert", "server.pem")
        .set("leftsendcert", "always")
        .set("leftsubnet", "198.51.100.0/24")
        .set("right", "%any")
        .set("rightid", "%any")
        .set("rightauth", "eap-mschapv2")
        .set("rightsourceip", "203.0.113.128/25")
        .set("rightdns", "198.51.100.53")
        .set("rightsendcert", "never")
        .set("eap_identity", "%identity");
    let user = |name: &str, ip: &str| {
        Conn::new(name)
            .set("also", "ikev2-vpn")
            .set("rightid", name)
            .set("eap_identity", name)
            .set("rightsourceip", ip)
    };
    let gconf = IpsecConf::new()
        .conn(base)
        .conn(user("client_a", "203.0.113.100/32"))
        .conn(user("client_b", "203.0.113.101/32"))
        .render();
    let users = [
        (
            "client_a",
            "ca",
            "rw-a-secret-0123456789",
            Some("203.0.113.100"),
        ),
        (
            "client_b",
            "cb",
            "rw-b-secret-0123456789",
            Some("203.0.113.101"),
        ),
        ("other", "co", "rw-o-secret-0123456789", None),
    ];
    let eap: String = users
        .iter()
        .map(|(u, _, pw, _)| format!("{u} : EAP \"{pw}\"\n"))
        .collect();
    let gsecrets = format!(": RSA server.key\n{eap}");
    let mut cconf = IpsecConf::new().conn(
        Conn::new("%default")
            .set("keyexchange", "ikev2")
            .set("left", rh.outer4)
            .set("leftsourceip", "%config")
            .set("leftauth", "eap-mschapv2")
            .set("right", lh.outer4)
            .set("rightid", "@moon.strongswan.org")
            .set("rightauth", "pubkey")
            .set("rightsubnet", "198.51.100.0/24")
            .set("auto", "add"),
    );
    for (u, sc, _, _) in &users {
        cconf = cconf.conn(Conn::new(sc).set("leftid", u).set("eap_identity", u));
    }
    let cconf = cconf.render();
    let gw_s = pki.gw.display().to_string();
    let (ld, rd) = (ctx.peer_dir(Side::Left), ctx.peer_dir(Side::Right));
    let t = Tunnel::gcm();
    let opts = StarterOpts {
        conn: Some("co"),
        cacerts: Some(&pki.client_cas),
        ipsec_d: None,
        road_warrior: true,
        charon_extra: "",
    };
    let (mut i, mut s) = both(
        || {
            Iked::start_with_env(
                &topo,
                Side::Left,
                &gconf,
                &gsecrets,
                &[("IKED_IPSEC_D", &gw_s)],
                &ld,
            )
        },
        || Starter::start_opts(&topo, Side::Right, &t, &cconf, &eap, &rd, &opts),
    )?;
    let mut why = Why::default();
    let mut summary = Vec::new();
    for (u, sc, _, want) in users {
        let up = s.ipsec(&["up", sc]).unwrap_or_else(|e| e.to_string());
        why.check(up.contains("established successfully"), || {
            format!("{u}: strongSwan ipsec up failed")
        });
        std::thread::sleep(Duration::from_millis(500));
        let wconn = if want.is_some() { u } else { "ikev2-vpn" };
        let mut conn = String::from("none");
        if let Some(rep) = status(&mut why, &mut i, Side::Left) {
            let sa = rep.ike_sas.iter().find(|sa| sa.state == "ESTABLISHED");
            conn = sa
                .map(|sa| sa.conn.clone())
                .unwrap_or_else(|| "none".into());
            why.check(conn == wconn, || {
                format!("{u}: iked chose conn '{conn}', not '{wconn}'")
            });
            why.check(
                sa.and_then(|sa| sa.remote_eap_id.as_deref()) == Some(u),
                || format!("{u}: iked's IKE_SA does not name {u} as its EAP identity"),
            );
            why.check(
                children(&rep, wconn).iter().any(|c| c.mode == "TUNNEL"),
                || format!("{u}: no INSTALLED CHILD_SA under conn {wconn} in iked's status"),
            );
        }
        let st = s.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
        why.note(&format!("{u}: strongSwan ipsec statusall"), &st);
        let vip = client_vip(&st, sc);
        match (want, &vip) {
            (Some(w), v) => why.check(v.as_deref() == Some(w), || {
                format!("{u}: got virtual IP {v:?}, not its own {w}")
            }),
            (None, v) => {
                let last = v
                    .as_deref()
                    .and_then(|a| a.strip_prefix("203.0.113."))
                    .and_then(|o| o.parse::<u8>().ok());
                why.check(last.is_some_and(|o| o >= 128), || {
                    format!("{u}: virtual IP {v:?} not from the pool 203.0.113.128/25")
                });
                // iked's `ipsec leases` names the lease, online, under the user
                let v = v.as_deref().unwrap_or("none");
                let leases = i
                    .ipsec(&["leases", "203.0.113.128/25", v])
                    .unwrap_or_else(|e| e.to_string());
                why.note(&format!("{u}: iked ipsec leases"), &leases);
                why.check(
                    leases.starts_with("Leases in pool '203.0.113.128/25', usage: ")
                        && leases
                            .lines()
                            .any(|l| l.trim_start().starts_with(&format!("{v}   online"))),
                    || format!("{u}: ipsec leases does not show {v} online: {leases}"),
                );
            }
        }
        let src = vip
            .clone()
            .unwrap_or_else(|| want.unwrap_or("203.0.113.129").to_owned());
        let addrs = topo.ip(rh, &["-4", "addr"]).unwrap_or_default();
        why.check(addrs.contains(&format!("inet {src}/32")), || {
            format!("{u}: {src} not installed on the client")
        });
        let (bl, br) = (
            in_packets(&topo, lh, lh.outer4).unwrap_or(0),
            in_packets(&topo, rh, rh.outer4).unwrap_or(0),
        );
        let p = why.ok(
            "ping",
            ping(&topo, rh, &src, "198.51.100.1", PingSpec::n(3)),
        );
        let (al, ar) = (
            in_packets(&topo, lh, lh.outer4).unwrap_or(0),
            in_packets(&topo, rh, rh.outer4).unwrap_or(0),
        );
        why.check(p.is_some_and(|p| p.all()), || {
            format!("{u}: ping from {src} to 198.51.100.1 failed")
        });
        why.check(al >= bl + 3 && ar >= br + 3, || {
            format!(
                "{u}: inbound ESP counters did not grow by 3 (left {bl}->{al}, right {br}->{ar})"
            )
        });
        note_kernel(&mut why, &topo);
        summary.push(format!(
            "{u} -> conn {conn} vip {} in +{}/+{}",
            vip.as_deref().unwrap_or("none"),
            al.saturating_sub(bl),
            ar.saturating_sub(br)
        ));
        let _ = s.ipsec(&["down", sc]);
        empty(
            &mut why,
            &topo,
            lh,
            &format!("on iked's side after {u}'s down"),
            Duration::from_secs(5),
        );
    }
    i.stop();
    s.stop();
    why.done(&ctx.dir, summary.join("; "))
}

/// The virtual IP of the client's CHILD_SA `sc` in its `ipsec statusall`:
/// `sc{1}:   203.0.113.129/32 === 198.51.100.0/24`.
pub(super) fn client_vip(statusall: &str, sc: &str) -> Option<String> {
    statusall
        .lines()
        .filter(|l| l.contains(&format!("{sc}{{")) && l.contains("/32 === 198.51.100.0/24"))
        .find_map(|l| {
            l.split_whitespace()
                .rev()
                .nth(2)
                .and_then(|a| a.strip_suffix("/32"))
        })
        .map(str::to_owned)
}
