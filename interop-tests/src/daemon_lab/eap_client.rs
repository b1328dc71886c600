//! `iked-eap-client` (issue 16 item 3): iked as the road-warrior client of a
//! strongSwan gateway, as a laptop user configures it: `leftauth=eap-mschapv2`
//! with `eap_identity`, `rightauth=pubkey` (the gateway's RSA certificate,
//! checked against the CA in iked's `ipsec.d/cacerts`), `leftsourceip=%config`.
//! The gateway is seed 003's template on strongSwan's starter (`forceencaps`,
//! `fragmentation`, a fixed `rightsourceip`). iked must get the virtual IP,
//! put it on its interface with a table 220 route, and send traffic through
//! the tunnel (UDP-encapsulated ESP, the gateway's kernel counters); strongSwan
//! must log the EAP authentication of the identity iked sent and the address
//! it assigned. A second conn with a wrong password gets nothing installed.
//! `ipsec down` removes the address and the route.

use std::time::Duration;

use super::roadwarrior::RwPki;
use super::{both, empty, guest, log_has};
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{Iked, Peer, Starter, StarterOpts, Tunnel};
use crate::probe::{PingSpec, Why, in_packets, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Host, Side, Topology};
use crate::{Result, write_file};

/// The address the gateway gives the user (the client side's documentation
/// prefix, outside the gateway's subnet).
const VIP: &str = "198.51.100.200";
const USER: &str = "carol";
const PASSWORD: &str = "carol-eap-secret-0123456789";

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-eap-client",
        "iked as the EAP-MSCHAPv2 road warrior (leftsourceip=%config, rightauth=pubkey) of strongSwan's seed-003 gateway (forceencaps, fragmentation): virtual IP on iked's interface, table 220 route, traffic through the tunnel; a wrong password gets nothing; down removes address and route",
        eap_client,
    )]
}

/// The gateway's conns (strongSwan's starter, right).
fn gateway_conf(gw: &Host) -> String {
    IpsecConf::new()
        .conn(
            Conn::new("ikev2-vpn")
                .set("auto", "add")
                .set("keyexchange", "ikev2")
                .set("fragmentation", "yes")
                .set("forceencaps", "yes")
                .set("rekey", "no")
                .set("left", "%any")
                .set("leftid", "@moon.strongswan.org")
                .set("leftcert", "server.pem")
                .set("leftsendcert", "always")
                .set("leftsubnet", gw.net4)
                .set("right", "%any")
                .set("rightid", "%any")
                .set("rightauth", "eap-mschapv2")
                .set("rightsourceip", &format!("{VIP}/32"))
                .set("eap_identity", "%identity")
                .set("rightsendcert", "never"),
        )
        .render()
}

/// iked's conns: the user's, and the same with a wrong password.
fn client_conf(me: &Host, gw: &Host) -> String {
    let conn = |name: &str, user: &str| {
        Conn::new(name)
            .set("keyexchange", "ikev2")
            .set("left", me.outer4)
            .set("leftsourceip", "%config")
            .set("leftauth", "eap-mschapv2")
            .set("leftid", user)
            .set("eap_identity", user)
            .set("right", gw.outer4)
            .set("rightid", "@moon.strongswan.org")
            .set("rightauth", "pubkey")
            .set("rightsubnet", gw.net4)
            .set("fragmentation", "yes")
            .set("auto", "add")
    };
    IpsecConf::new()
        .conn(conn("home", USER))
        .conn(conn("wrong", "dave"))
        .render()
}

fn ip(topo: &Topology, h: &Host, args: &[&str]) -> String {
    topo.ip(h, args).unwrap_or_else(|e| e.to_string())
}

fn eap_client(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let pki = RwPki::make(ctx, 3072)?;
    // iked's ipsec.d: the CA only
    let client_d = ctx.dir.join("client.d");
    let ca = std::fs::read_to_string(pki.client_cas.join("iked-lab-ca.pem"))
        .map_err(|e| crate::lab_err!("CA: {e}"))?;
    write_file(&client_d.join("cacerts/lab-ca.pem"), &ca)?;
    let client_secrets =
        format!("{USER} : EAP \"{PASSWORD}\"\ndave : EAP \"not-daves-password\"\n");
    let gw_secrets = format!(
        ": RSA server.key\n{USER} : EAP \"{PASSWORD}\"\ndave : EAP \"daves-real-password-0123\"\n"
    );
    let t = Tunnel::gcm();
    let (ld, rd) = (ctx.peer_dir(Side::Left), ctx.peer_dir(Side::Right));
    let client_d_s = client_d.display().to_string();
    let opts = StarterOpts {
        conn: Some("ikev2-vpn"),
        cacerts: None,
        ipsec_d: Some(&pki.gw),
        road_warrior: true,
        charon_extra: "",
    };
    let (mut i, mut gw) = both(
        || {
            Iked::start_full(
                &topo,
                Side::Left,
                &client_conf(lh, rh),
                &client_secrets,
                &[("IKED_IPSEC_D", &client_d_s)],
                "",
                &ld,
            )
        },
        || {
            Starter::start_opts(
                &topo,
                Side::Right,
                &t,
                &gateway_conf(rh),
                &gw_secrets,
                &rd,
                &opts,
            )
        },
    )?;
    let mut why = Why::default();
    // the wrong password first: nothing may be installed
    let wrong = i.ipsec(&["up", "wrong"]).unwrap_or_else(|e| e.to_string());
    why.note("ipsec up wrong", &wrong);
    let (sas, pols) = kernel(&topo, lh)?;
    why.check(sas.is_empty() && pols.is_empty(), || {
        format!("a wrong password left SAs {sas:?} / policies {pols:?} on iked")
    });
    let swan = || std::fs::read_to_string(gw.log()).unwrap_or_default();
    let log = swan();
    why.check(
        log.contains("received EAP identity 'dave'")
            && log.contains("EAP-MS-CHAPv2 verification failed"),
        || "strongSwan logged no failed EAP-MS-CHAPv2 verification for dave".into(),
    );
    why.check(!log.contains("to peer 'dave'"), || {
        "strongSwan assigned dave a virtual IP".into()
    });
    let up = i.ipsec(&["up", "home"]).unwrap_or_else(|e| e.to_string());
    why.note("ipsec up home", &up);
    let st = i.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
    why.note("iked: ipsec statusall", &st);
    why.check(
        st.contains("ESTABLISHED") && st.contains("INSTALLED"),
        || format!("iked: home not up: {}", up.lines().last().unwrap_or("")),
    );
    let addrs = ip(&topo, lh, &["-4", "addr", "show", "dev", lh.dev]);
    why.note("client addresses", &addrs);
    why.check(addrs.contains(&format!("inet {VIP}/32")), || {
        format!("no {VIP}/32 on iked's {}: {addrs}", lh.dev)
    });
    let t220 = ip(&topo, lh, &["-4", "route", "show", "table", "220"]);
    why.note("client table 220", &t220);
    why.check(
        t220.lines()
            .any(|l| l.starts_with(rh.net4) && l.contains(&format!("src {VIP}"))),
        || {
            format!(
                "iked: no route to {} with src {VIP} in table 220: {t220}",
                rh.net4
            )
        },
    );
    let log = swan();
    why.check(
        log.contains(&format!("authentication of '{USER}' with EAP successful")),
        || format!("strongSwan logged no 'authentication of '{USER}' with EAP successful'"),
    );
    why.check(
        log.contains(&format!("assigning virtual IP {VIP} to peer '{USER}'")),
        || format!("strongSwan logged no 'assigning virtual IP {VIP} to peer '{USER}''"),
    );
    let fragmented = log
        .lines()
        .any(|l| l.contains("generating IKE_AUTH response") && l.contains("EF("));
    let (isas, _) = kernel(&topo, lh)?;
    let encap = isas.iter().all(|s| s.encap.is_some()) && !isas.is_empty();
    why.check(encap, || {
        format!("forceencaps: iked's SAs are not UDP-encapsulated: {isas:?}")
    });
    // no -I: the virtual IP is the source (table 220)
    let before = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    let p = why.ok("ping", ping(&topo, lh, "", rh.inner4, PingSpec::n(3)));
    let after = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!(
            "ping {} without a source: {}",
            rh.inner4,
            p.as_ref().map(|p| p.ratio()).unwrap_or_default()
        )
    });
    why.check(after >= before + 3, || {
        format!("the gateway's inbound ESP counter did not grow by 3 ({before} -> {after})")
    });
    why.check(
        log_has(&i.log(), "installing new virtual IP", false),
        || "no 'installing new virtual IP' line in iked's log".into(),
    );
    why.ok("ipsec down", i.ipsec(&["down", "home"]));
    let wait = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on iked after down", wait);
    empty(
        &mut why,
        &topo,
        rh,
        "on the gateway after down (DELETE)",
        wait,
    );
    let addrs = ip(&topo, lh, &["-4", "addr", "show", "dev", lh.dev]);
    why.check(!addrs.contains(&format!("inet {VIP}/32")), || {
        format!("{VIP} still on iked's {} after down", lh.dev)
    });
    gw.stop();
    why.ok("SIGTERM", i.sigterm(Duration::from_secs(10)));
    why.done(
        &ctx.dir,
        format!(
            "iked authenticated the gateway's RSA certificate and itself as '{USER}' with EAP-MSCHAPv2 (wrong password for dave refused, nothing installed); got {VIP} on {} with a table 220 route; 3/3 pings without -I through UDP-encapsulated ESP (gateway in +{}); IKE_AUTH fragmented by the gateway: {fragmented}; down removed address and route",
            lh.dev,
            after.saturating_sub(before)
        ),
    )
}
