//! Seed 003's road-warrior gateway with two users connected at once (issue
//! 16): iked (left) with the seed's `ikev2-vpn` template (`forceencaps=yes`,
//! `fragmentation=yes`, `rekey=no`, `dpdaction=clear`, certificate +
//! `rightauth=eap-mschapv2`) and one `also=` conn per user with a fixed
//! `rightsourceip`; two strongSwan starters (right) in one namespace:
//! - `client_a` from the namespace's address, ports 500/4500, trusting the
//!   CA (it sends a CERTREQ);
//! - `client_b` from a second address and ports 5000/5001 (a second charon
//!   cannot share 500), with no CA at all, only the gateway's certificate
//!   pinned (`rightcert=`): like macOS and iOS it sends no CERTREQ, and the
//!   gateway must send its certificate anyway. The seed's
//!   `leftsendcert=always` is left out so that this rule, not the keyword,
//!   is what sends it. `client_b` also asks for `client_a`'s address.
//!
//! Both tunnels carry traffic at once, each over UDP encapsulation
//! (`forceencaps`, to each client's own NAT-T port). Then `client_b`
//! claims `client_a`'s identity with its own password: refused, and
//! `client_a`'s IKE_SA (uniqueids) is left alone. Then `client_b` is killed
//! (SIGKILL, no DELETE): iked's DPD clears it alone, within its window
//! (`dpddelay=3s` and strongswan.conf's retransmission timers shortened for
//! the test; the seed has 300 s), and `client_a` goes on.

use std::time::{Duration, Instant};

use super::roadwarrior::{RwPki, client_vip};
use super::{both, empty, guest, note_kernel, status};
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{Iked, Peer, Starter, StarterOpts, Tunnel};
use crate::probe::{PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Host, Side, Topology};
use crate::{Result, write_file};

/// `client_b`'s own address beside the namespace's.
const B_ADDR: &str = "192.0.2.12";
const A_VIP: &str = "203.0.113.100";
const B_VIP: &str = "203.0.113.101";
/// iked's strongswan.conf: liveness retransmitted after 1 s and 1.5 s,
/// given up 2.25 s after that.
const TIMERS: &str = "  retransmit_timeout = 1\n  retransmit_base = 1.5\n  retransmit_tries = 2\n";
/// dpddelay 3 s + 1 + 1.5 + 2.25 s of retransmissions, with room for the
/// guest's emulated CPU.
const DPD_WINDOW: Duration = Duration::from_secs(16);

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "rw-two-users",
        "issue 16: seed 003's gateway (forceencaps, also= per-user conns, dpdaction=clear) with two EAP users at once: each its own conn, address and NAT-T port; a client without CERTREQ still gets the certificate; an impersonation is refused without touching the victim's IKE_SA; DPD clears the killed user alone",
        two_users,
    )]
}

fn gateway_conf() -> String {
    let user = |name: &str, ip: &str| {
        Conn::new(&format!("ikev2-vpn-{name}"))
            .set("also", "ikev2-vpn")
            .set("rightid", name)
            .set("eap_identity", name)
            .set("rightsourceip", ip)
    };
    IpsecConf::new()
        .conn(
            Conn::new("ikev2-vpn")
                .set("auto", "add")
                .set("compress", "no")
                .set("type", "tunnel")
                .set("keyexchange", "ikev2")
                .set("fragmentation", "yes")
                .set("forceencaps", "yes")
                .set("dpdaction", "clear")
                .set("dpddelay", "3s")
                .set("rekey", "no")
                .set("left", "%any")
                .set("leftid", "@moon.strongswan.org")
                .set("leftcert", "server.pem")
                .set("leftsubnet", "198.51.100.0/24")
                .set("right", "%any")
                .set("rightauth", "eap-mschapv2")
                .set("rightsendcert", "never"),
        )
        .conn(user("client_a", &format!("{A_VIP}/32")))
        .conn(user("client_b", &format!("{B_VIP}/32")))
        .render()
}

/// A client conn: `user` from `left`, asking for `sourceip`.
fn client(name: &str, left: &str, user: &str, sourceip: &str, gw: &Host) -> Conn {
    Conn::new(name)
        .set("keyexchange", "ikev2")
        .set("left", left)
        .set("leftsourceip", sourceip)
        .set("leftauth", "eap-mschapv2")
        .set("leftid", user)
        .set("eap_identity", user)
        .set("right", gw.outer4)
        .set("rightid", "@moon.strongswan.org")
        .set("rightauth", "pubkey")
        .set("rightsubnet", "198.51.100.0/24")
        .set("fragmentation", "yes")
        .set("auto", "add")
}

fn two_users(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let pki = RwPki::make(ctx, 2048)?;
    let (pw_a, pw_b) = ("rw-a-secret-0123456789", "rw-b-secret-0123456789");
    let gsecrets =
        format!(": RSA server.key\nclient_a : EAP \"{pw_a}\"\nclient_b : EAP \"{pw_b}\"\n");
    let a_conf = IpsecConf::new()
        .conn(client("a", rh.outer4, "client_a", "%config", lh))
        .render();
    let pinned = pki.server_pem.display().to_string();
    let b_conf = IpsecConf::new()
        .conn(client("b", B_ADDR, "client_b", A_VIP, lh).set("rightcert", &pinned))
        .conn(client("fake", B_ADDR, "client_a", "%config", lh).set("rightcert", &pinned))
        .render();
    // client_b knows its own password, not client_a's
    let b_secrets = format!("client_b : EAP \"{pw_b}\"\nclient_a : EAP \"{pw_b}\"\n");
    topo.ip(rh, &["addr", "add", &format!("{B_ADDR}/24"), "dev", rh.dev])?;
    let t = Tunnel::gcm();
    let (ld, rd) = (ctx.peer_dir(Side::Left), ctx.peer_dir(Side::Right));
    let bd = ctx.dir.join("right-b");
    let gw_d = pki.gw.display().to_string();
    let a_opts = StarterOpts {
        conn: Some("a"),
        cacerts: Some(&pki.client_cas),
        ipsec_d: None,
        road_warrior: true,
        charon_extra: "",
    };
    // an empty CA folder over /etc/ipsec.d/cacerts: nothing to ask for
    let no_cas = ctx.dir.join("no-cacerts");
    write_file(&no_cas.join(".keep"), "")?;
    let b_opts = StarterOpts {
        conn: Some("b"),
        cacerts: Some(&no_cas),
        ipsec_d: None,
        road_warrior: true,
        charon_extra: "  port = 5000\n  port_nat_t = 5001\n",
    };
    let (mut i, (mut a, mut b)) = both(
        || {
            Iked::start_full(
                &topo,
                Side::Left,
                &gateway_conf(),
                &gsecrets,
                &[("IKED_IPSEC_D", &gw_d)],
                TIMERS,
                &ld,
            )
        },
        || {
            both(
                || {
                    let s = format!("client_a : EAP \"{pw_a}\"\n");
                    Starter::start_opts(&topo, Side::Right, &t, &a_conf, &s, &rd, &a_opts)
                },
                || Starter::start_opts(&topo, Side::Right, &t, &b_conf, &b_secrets, &bd, &b_opts),
            )
        },
    )?;
    let mut why = Why::default();
    let mut summary = Vec::new();
    for (who, s, sc) in [("client_a", &a, "a"), ("client_b", &b, "b")] {
        let up = s.ipsec(&["up", sc]).unwrap_or_else(|e| e.to_string());
        why.check(up.contains("established successfully"), || {
            format!("{who}: strongSwan ipsec up failed")
        });
    }
    let vips: Vec<Option<String>> = [(&a, "a"), (&b, "b")]
        .into_iter()
        .map(|(s, sc)| {
            let st = s.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
            why.note(&format!("client {sc}: ipsec statusall"), &st);
            client_vip(&st, sc)
        })
        .collect();
    why.check(vips[0].as_deref() == Some(A_VIP), || {
        format!("client_a got {:?}, not its {A_VIP}", vips[0])
    });
    why.check(vips[1].as_deref() == Some(B_VIP), || {
        format!(
            "client_b asked for client_a's {A_VIP} and got {:?}, not its own {B_VIP}",
            vips[1]
        )
    });
    let certreq = |s: &Starter| {
        let log = std::fs::read_to_string(s.log()).unwrap_or_default();
        let req = log
            .lines()
            .find(|l| l.contains("generating IKE_AUTH request 1"))
            .map(|l| l.contains("CERTREQ"));
        (req, log.contains("received end entity cert"))
    };
    let (a_req, a_cert) = certreq(&a);
    let (b_req, b_cert) = certreq(&b);
    why.check(a_req == Some(true) && a_cert, || {
        format!("client_a: CERTREQ sent {a_req:?}, certificate received {a_cert}")
    });
    why.check(b_req == Some(false), || {
        format!("client_b (no CA) should send no CERTREQ: {b_req:?}")
    });
    why.check(b_cert, || {
        "client_b sent no CERTREQ and got no certificate from the gateway".into()
    });
    summary.push("CERTREQ: a yes, b none; both got the certificate".to_owned());
    let first_a = match status(&mut why, &mut i, Side::Left) {
        Some(rep) => {
            for (user, addr, vip) in [("client_a", rh.outer4, A_VIP), ("client_b", B_ADDR, B_VIP)] {
                let conn = format!("ikev2-vpn-{user}");
                let sa = rep
                    .ike_sas
                    .iter()
                    .find(|sa| sa.state == "ESTABLISHED" && sa.remote.ip().to_string() == addr);
                why.check(
                    sa.is_some_and(|sa| {
                        sa.conn == conn
                            && sa.remote_eap_id.as_deref() == Some(user)
                            && sa.remote_vips.iter().any(|v| v.to_string() == vip)
                            && sa.nat_fake
                    }),
                    || {
                        format!(
                            "iked: the IKE_SA from {addr} is not {conn} for {user} with {vip} and a faked NAT: {sa:?}"
                        )
                    },
                );
            }
            rep.ike_sas
                .iter()
                .find(|sa| sa.remote_eap_id.as_deref() == Some("client_a"))
                .map(|sa| sa.ike_id)
        }
        None => None,
    };
    let (sas, _) = kernel(&topo, lh).unwrap_or_default();
    for (who, addr, port) in [("client_a", rh.outer4, 4500), ("client_b", B_ADDR, 5001)] {
        why.check(
            sas.iter()
                .any(|s| s.dst == addr && s.encap == Some((4500, port))),
            || format!("iked's kernel has no UDP-encapsulated SA to {who} at {addr}:{port}"),
        );
    }
    summary.push(crossed(&mut why, &topo, "both at once", &[A_VIP, B_VIP]));
    // client_b claims client_a's identity with its own password
    let up = b.ipsec(&["up", "fake"]).unwrap_or_else(|e| e.to_string());
    why.note("client_b: ipsec up fake (as client_a)", &up);
    why.check(!up.contains("established successfully"), || {
        "client_b was let in as client_a".into()
    });
    let still_a = |why: &mut Why, i: &mut Iked, when: &str| {
        let rep = status(why, i, Side::Left);
        let now_a = rep.as_ref().and_then(|r| {
            r.ike_sas
                .iter()
                .find(|sa| {
                    sa.remote_eap_id.as_deref() == Some("client_a") && sa.state == "ESTABLISHED"
                })
                .map(|sa| sa.ike_id)
        });
        why.check(now_a.is_some() && now_a == first_a, || {
            format!("{when}: client_a's IKE_SA {first_a:?} is now {now_a:?}")
        });
    };
    still_a(&mut why, &mut i, "after the impersonation");
    let leases = i.ipsec(&["leases"]).unwrap_or_default();
    why.note("iked: ipsec leases", &leases);
    summary.push("impersonation of client_a refused".to_owned());
    b.kill_hard();
    let killed = Instant::now();
    let cleared = crate::cmd::poll(DPD_WINDOW + Duration::from_secs(10), || {
        let r = i.report().ok()?;
        let (sas, _) = kernel(&topo, lh).ok()?;
        let b_gone = !r
            .ike_sas
            .iter()
            .any(|sa| sa.remote.ip().to_string() == B_ADDR)
            && !sas.iter().any(|s| s.dst == B_ADDR || s.src == B_ADDR);
        b_gone.then(|| killed.elapsed())
    });
    match cleared {
        Some(t) => why.check(t <= DPD_WINDOW, || {
            format!(
                "client_b cleared after {:.1} s, not within {DPD_WINDOW:?}",
                t.as_secs_f64()
            )
        }),
        None => why.check(false, || "iked kept the killed client_b's SAs".into()),
    }
    still_a(&mut why, &mut i, "after client_b's DPD");
    let leases = i.ipsec(&["leases"]).unwrap_or_default();
    why.note("iked: ipsec leases after DPD", &leases);
    let lease = |v: &str, state: &str| {
        leases
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{v}   {state}")))
    };
    why.check(lease(A_VIP, "online") && lease(B_VIP, "offline"), || {
        format!("after DPD, {A_VIP} should be online and {B_VIP} offline: {leases}")
    });
    summary.push(format!(
        "client_b killed, cleared alone in {}",
        cleared.map_or("-".into(), |t| format!("{:.1} s", t.as_secs_f64()))
    ));
    summary.push(crossed(&mut why, &topo, "client_a after", &[A_VIP]));
    note_kernel(&mut why, &topo);
    let _ = a.ipsec(&["down", "a"]);
    empty(
        &mut why,
        &topo,
        lh,
        "on iked's side after client_a's down",
        Duration::from_secs(5),
    );
    i.stop();
    a.stop();
    b.stop();
    why.done(&ctx.dir, summary.join("; "))
}

/// Pings 198.51.100.1 from each virtual IP; each client's inbound SA on
/// the gateway and the gateway's SA into the client namespace must count
/// the pings.
fn crossed(why: &mut Why, topo: &Topology, when: &str, vips: &[&str]) -> String {
    let (lh, rh) = (&topo.left, &topo.right);
    let count = |h: &Host, pick: &dyn Fn(&crate::check::XfrmSa) -> bool| {
        kernel(topo, h)
            .map(|(sas, _)| sas.iter().filter(|s| pick(s)).map(|s| s.packets).sum())
            .unwrap_or(0u64)
    };
    let mut out = Vec::new();
    for vip in vips {
        let from = if *vip == A_VIP { rh.outer4 } else { B_ADDR };
        let on_gw = |s: &crate::check::XfrmSa| s.src == from && s.dst == lh.outer4;
        let on_cl = |s: &crate::check::XfrmSa| s.src == lh.outer4 && s.dst == from;
        let (g0, c0) = (count(lh, &on_gw), count(rh, &on_cl));
        let p = why.ok("ping", ping(topo, rh, vip, "198.51.100.1", PingSpec::n(3)));
        let (g1, c1) = (count(lh, &on_gw), count(rh, &on_cl));
        why.check(p.is_some_and(|p| p.all()), || {
            format!("{when}: ping from {vip} to 198.51.100.1 failed")
        });
        why.check(g1 >= g0 + 3 && c1 >= c0 + 3, || {
            format!("{when}: {vip}'s ESP counters did not grow by 3 (gateway in {g0}->{g1}, client in {c0}->{c1})")
        });
        out.push(format!(
            "{vip} +{}/+{}",
            g1.saturating_sub(g0),
            c1.saturating_sub(c0)
        ));
    }
    format!("{when}: {}", out.join(", "))
}
