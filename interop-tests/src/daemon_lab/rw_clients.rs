//! The road-warrior gateway against the clients people carry (issue 16),
//! each emulated by strongSwan's starter: iked (left) with seed 003's
//! gateway configuration (RSA-4096 server certificate with SAN and
//! serverAuth, `rightauth=eap-mschapv2`, a pool, `fragmentation=yes`,
//! `dpdaction=clear`), its `ike=`/`esp=` widened to what Windows and iOS
//! propose. Each client gets an address from the pool and its traffic
//! crosses (both inbound ESP counters); the IKE_AUTH answer with the
//! 4096-bit certificate arrives in fragments.
//! - `rw-windows`: Windows' proposals (aes256-sha1-modp1024, ESP aes256-sha1)
//!   and no RFC 7427 (`signature_authentication = no`): iked must sign with
//!   AUTH method 1 (RSA PKCS#1 v1.5 with SHA-1).
//! - `rw-android`: accepts only RSA PKCS#1 v1.5 with SHA-256 from the
//!   gateway (`rightauth=rsa-sha256`; Android has crashed on RSASSA-PSS); a
//!   second user with a wrong password is refused and nothing is installed.
//! - `rw-ios`: PFS on CHILD_SA rekeys (`esp=aes256-sha256-modp2048`; the
//!   client rekeys once, by `stroke rekey`, so that no second rekey races the
//!   counters read around the pings), then its address moves (MOBIKE, Wi-Fi
//!   to LTE) and traffic goes on through the same IKE_SA.

use std::time::Duration;

use super::roadwarrior::{RwPki, client_vip};
use super::{both, children, empty, guest, note_kernel, status};
use crate::Result;
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{Iked, Peer, Starter, StarterOpts, Tunnel};
use crate::probe::{PingSpec, Why, in_packets, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Side, Topology};

/// One native client, as strongSwan emulates it.
struct Client {
    conn: &'static str,
    user: &'static str,
    ike: &'static str,
    esp: &'static str,
    /// strongswan.conf lines of the client's `charon` section.
    charon_extra: &'static str,
    /// What the client demands of the gateway's AUTH.
    rightauth: &'static str,
    /// The client's log line (after "authentication of 'moon.strongswan.org' with ").
    auth_seen: &'static str,
    /// The client sends no SIGNATURE_HASH_ALGORITHMS.
    no_rfc7427: bool,
    /// Also try a user with a wrong password.
    wrong_password: bool,
    /// Rekey the CHILD_SA with PFS, then move the client's address.
    pfs_and_move: bool,
}

const WINDOWS: Client = Client {
    conn: "win",
    user: "winuser",
    ike: "aes256-sha1-modp1024!",
    esp: "aes256-sha1!",
    charon_extra: "  signature_authentication = no\n",
    rightauth: "pubkey",
    auth_seen: "RSA signature successful",
    no_rfc7427: true,
    wrong_password: false,
    pfs_and_move: false,
};

const ANDROID: Client = Client {
    conn: "android",
    user: "anduser",
    ike: "aes256-sha256-modp2048!",
    esp: "aes256-sha256!",
    charon_extra: "",
    rightauth: "rsa-sha256",
    auth_seen: "RSA_EMSA_PKCS1_SHA2_256 successful",
    no_rfc7427: false,
    wrong_password: true,
    pfs_and_move: false,
};

const IOS: Client = Client {
    conn: "ios",
    user: "iosuser",
    ike: "aes256-sha256-modp2048!",
    esp: "aes256-sha256-modp2048!",
    charon_extra: "",
    rightauth: "pubkey",
    auth_seen: "successful",
    no_rfc7427: false,
    wrong_password: false,
    pfs_and_move: true,
};

/// The iOS client's address after its move.
const MOVED: &str = "192.0.2.12";
const POOL_PREFIX: &str = "203.0.113.";

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "rw-windows",
            "issue 16: a Windows-like client (no SIGNATURE_HASH_ALGORITHMS, aes256-sha1-modp1024, EAP-MSCHAPv2) verifies iked's RSA-4096 AUTH method 1",
            |c| rw_client(c, &WINDOWS),
        ),
        guest(
            "rw-android",
            "issue 16: an Android-like client that accepts only RSA PKCS#1 v1.5 SHA-256 from the gateway gets it; a user with a wrong password is refused with nothing installed",
            |c| rw_client(c, &ANDROID),
        ),
        guest(
            "rw-ios",
            "issue 16: an iOS-like client rekeys its CHILD_SA with PFS (modp2048), then moves to a new address (MOBIKE); traffic goes on through the same IKE_SA",
            |c| rw_client(c, &IOS),
        ),
    ]
}

fn gateway_conf() -> String {
    IpsecConf::new()
        .conn(
            Conn::new("ikev2-vpn")
                .set("auto", "add")
                .set("keyexchange", "ikev2")
                .set("fragmentation", "yes")
                .set("dpdaction", "clear")
                .set("dpddelay", "300s")
                .set("left", "%any")
                .set("leftid", "@moon.strongswan.org")
                .set("leftcert", "server.pem")
                .set("leftsubnet", "198.51.100.0/24")
                .set("right", "%any")
                .set("rightid", "%any")
                .set("rightauth", "eap-mschapv2")
                .set("rightsourceip", "203.0.113.128/25")
                .set("rightsendcert", "never")
                .set("eap_identity", "%identity")
                .set("ike", "aes256-sha1-modp1024,aes256-sha256-modp2048!")
                // iOS proposes PFS on rekeys, the others do not: both allowed
                .set("esp", "aes256-sha1,aes256-sha256-modp2048,aes256-sha256!"),
        )
        .render()
}

fn client_conf(topo: &Topology, c: &Client) -> String {
    let (lh, rh) = (&topo.left, &topo.right);
    let conn = |name: &str, user: &str| {
        let mut k = Conn::new(name)
            .set("keyexchange", "ikev2")
            .set("left", rh.outer4)
            .set("leftsourceip", "%config")
            .set("leftauth", "eap-mschapv2")
            .set("leftid", user)
            .set("eap_identity", user)
            .set("right", lh.outer4)
            .set("rightid", "@moon.strongswan.org")
            .set("rightauth", c.rightauth)
            .set("rightsubnet", "198.51.100.0/24")
            .set("fragmentation", "yes")
            .set("ike", c.ike)
            .set("esp", c.esp)
            .set("auto", "add");
        if c.pfs_and_move {
            k = k.set("mobike", "yes");
        }
        k
    };
    let mut conf = IpsecConf::new().conn(conn(c.conn, c.user));
    if c.wrong_password {
        conf = conf.conn(conn("bad", "baduser"));
    }
    conf.render()
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

fn rw_client(ctx: &Ctx, c: &Client) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let pki = RwPki::make(ctx, 4096)?;
    let password = format!("rw-{}-secret-0123456789", c.conn);
    let gsecrets = format!(
        ": RSA server.key\n{} : EAP \"{password}\"\nbaduser : EAP \"the-right-one-0123456789\"\n",
        c.user
    );
    let csecrets = format!(
        "{} : EAP \"{password}\"\nbaduser : EAP \"a-wrong-one-0123456789\"\n",
        c.user
    );
    let (gconf, cconf) = (gateway_conf(), client_conf(&topo, c));
    let gw_s = pki.gw.display().to_string();
    let (ld, rd) = (ctx.peer_dir(Side::Left), ctx.peer_dir(Side::Right));
    let t = Tunnel::gcm();
    let opts = StarterOpts {
        conn: Some(c.conn),
        cacerts: Some(&pki.client_cas),
        ipsec_d: None,
        road_warrior: true,
        charon_extra: c.charon_extra,
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
        || Starter::start_opts(&topo, Side::Right, &t, &cconf, &csecrets, &rd, &opts),
    )?;
    let mut why = Why::default();
    let mut summary = Vec::new();
    if c.wrong_password {
        let up = s.ipsec(&["up", "bad"]).unwrap_or_else(|e| e.to_string());
        why.note("client: ipsec up bad (wrong password)", &up);
        why.check(!up.contains("established successfully"), || {
            "a wrong EAP password was accepted".into()
        });
        let (sas, pols) = kernel(&topo, lh).unwrap_or_default();
        why.check(sas.is_empty() && pols.is_empty(), || {
            format!(
                "iked installed {} SAs / {} policies for a refused user",
                sas.len(),
                pols.len()
            )
        });
        let leases = i.ipsec(&["leases"]).unwrap_or_default();
        why.check(!leases.contains("baduser"), || {
            format!("the refused user holds a lease: {leases}")
        });
        summary.push("baduser (wrong password) refused, nothing installed".to_owned());
    }
    let up = s.ipsec(&["up", c.conn]).unwrap_or_else(|e| e.to_string());
    why.check(up.contains("established successfully"), || {
        "strongSwan ipsec up failed".into()
    });
    std::thread::sleep(Duration::from_millis(500));
    let slog = std::fs::read_to_string(s.log()).unwrap_or_default();
    let first = |needle: &str| {
        lines_with(&slog, needle)
            .first()
            .copied()
            .unwrap_or("")
            .to_owned()
    };
    let req = first("generating IKE_SA_INIT request 0");
    why.check(!req.is_empty(), || {
        "no IKE_SA_INIT in the client's log".into()
    });
    if c.no_rfc7427 {
        why.check(!req.contains("HASH_ALG"), || {
            "the client sent SIGNATURE_HASH_ALGORITHMS".into()
        });
    }
    let auth = first("authentication of 'moon.strongswan.org' with");
    let auth = auth.split("] ").last().unwrap_or("").to_owned();
    why.check(auth.contains(c.auth_seen), || {
        format!("the client did not see '{}': '{auth}'", c.auth_seen)
    });
    let frags = lines_with(&slog, "received fragment #").len();
    why.check(frags >= 2, || {
        format!("the IKE_AUTH answer with the 4096-bit certificate came in {frags} fragments, not several")
    });
    let prop = first("selected proposal: IKE:");
    let prop = prop
        .split("selected proposal: ")
        .last()
        .unwrap_or("?")
        .to_owned();
    if let Some(rep) = status(&mut why, &mut i, Side::Left) {
        let sa = rep.ike_sas.iter().find(|sa| sa.state == "ESTABLISHED");
        why.check(
            sa.is_some_and(|sa| {
                sa.conn == "ikev2-vpn" && sa.remote_eap_id.as_deref() == Some(c.user)
            }),
            || {
                format!(
                    "iked: no ESTABLISHED ikev2-vpn IKE_SA for EAP identity {}",
                    c.user
                )
            },
        );
        why.check(!children(&rep, "ikev2-vpn").is_empty(), || {
            "iked: no INSTALLED CHILD_SA".into()
        });
    }
    let st = s.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
    why.note("client: ipsec statusall (strongSwan)", &st);
    let vip = client_vip(&st, c.conn);
    let from_pool = vip
        .as_deref()
        .and_then(|a| a.strip_prefix(POOL_PREFIX))
        .and_then(|o| o.parse::<u8>().ok())
        .is_some_and(|o| o >= 128);
    why.check(from_pool, || {
        format!("virtual IP {vip:?} not from the pool")
    });
    let src = vip.clone().unwrap_or_else(|| "203.0.113.129".into());
    let crossed = |why: &mut Why, topo: &Topology, when: &str, gw_at: &str, cl_at: &str| {
        let (bl, br) = (
            in_packets(topo, lh, gw_at).unwrap_or(0),
            in_packets(topo, rh, cl_at).unwrap_or(0),
        );
        let p = why.ok("ping", ping(topo, rh, &src, "198.51.100.1", PingSpec::n(3)));
        let (al, ar) = (
            in_packets(topo, lh, gw_at).unwrap_or(0),
            in_packets(topo, rh, cl_at).unwrap_or(0),
        );
        why.check(p.is_some_and(|p| p.all()), || {
            format!("{when}: ping from {src} to 198.51.100.1 failed")
        });
        why.check(al >= bl + 3 && ar >= br + 3, || {
            format!("{when}: inbound ESP counters did not grow by 3 (gateway {bl}->{al}, client {br}->{ar})")
        });
        format!(
            "{when}: in +{}/+{}",
            al.saturating_sub(bl),
            ar.saturating_sub(br)
        )
    };
    summary.push(crossed(&mut why, &topo, "first SA", lh.outer4, rh.outer4));
    if c.pfs_and_move {
        summary.push(pfs_and_move(&mut why, &topo, &i, &s));
        summary.push(crossed(&mut why, &topo, "after the move", lh.outer4, MOVED));
    }
    note_kernel(&mut why, &topo);
    let _ = s.ipsec(&["down", c.conn]);
    empty(
        &mut why,
        &topo,
        lh,
        "on iked's side after the client's down",
        Duration::from_secs(5),
    );
    i.stop();
    s.stop();
    why.done(
        &ctx.dir,
        format!(
            "client: '{auth}'; {prop}; IKE_AUTH answer in {frags} fragments; vip {}; {}",
            vip.as_deref().unwrap_or("none"),
            summary.join("; ")
        ),
    )
}

/// iOS: waits for the CHILD_SA rekey (with a key exchange), then moves the
/// client to [`MOVED`] and waits for iked's kernel to follow.
fn pfs_and_move(why: &mut Why, topo: &Topology, i: &Iked, s: &Starter) -> String {
    let (lh, rh) = (&topo.left, &topo.right);
    // One rekey, asked for: a lifetime short enough to rekey during the test
    // rekeys again every few seconds, and a rekey between the counter reads
    // around a ping (the old SA's packets leave the sum with its DELETE) made
    // this scenario fail under load.
    why.ok("stroke rekey", s.stroke(&["rekey", "ios{*}"]));
    let rekeyed = crate::cmd::poll(Duration::from_secs(40), || {
        let log = std::fs::read_to_string(s.log()).ok()?;
        let esp = lines_with(&log, "selected proposal: ESP:");
        (esp.len() >= 2).then(|| esp.last().copied().unwrap_or("").to_owned())
    });
    match &rekeyed {
        Some(p) => why.check(p.contains("MODP_2048"), || {
            format!("the CHILD_SA rekey used no key exchange: {p}")
        }),
        None => why.check(false, || {
            "the client did not rekey its CHILD_SA within 40 s of `stroke rekey`".into()
        }),
    }
    // the old CHILD_SA goes with the rekey's DELETE: move only then, so
    // that the counters after the move are the new SA's alone
    let settled = crate::cmd::poll(Duration::from_secs(15), || {
        let (sas, _) = kernel(topo, rh).ok()?;
        (sas.len() == 2).then_some(())
    });
    why.check(settled.is_some(), || {
        "the client's old CHILD_SA was not deleted within 15 s of the rekey".into()
    });
    let log = std::fs::read_to_string(i.log()).unwrap_or_default();
    let ikes = log.matches("established between").count();
    let key = format!("net.ipv4.conf.{}.promote_secondaries=1", rh.dev);
    why.ok(
        "promote_secondaries",
        topo.exec(rh, &["sysctl", "-qw", &key], Duration::from_secs(10))
            .and_then(|o| o.ok()),
    );
    why.ok(
        "new address",
        topo.ip(rh, &["addr", "add", &format!("{MOVED}/24"), "dev", rh.dev]),
    );
    why.ok(
        "old address gone",
        topo.ip(
            rh,
            &["addr", "del", &format!("{}/24", rh.outer4), "dev", rh.dev],
        ),
    );
    let moved = crate::cmd::poll(Duration::from_secs(40), || {
        let (sas, _) = kernel(topo, lh).ok()?;
        let to = sas.iter().any(|x| x.src == lh.outer4 && x.dst == MOVED);
        let old = sas.iter().any(|x| x.dst == rh.outer4);
        (to && !old).then_some(())
    });
    why.check(moved.is_some(), || {
        format!("iked's kernel did not follow the client to {MOVED} within 40 s")
    });
    let log = std::fs::read_to_string(i.log()).unwrap_or_default();
    why.check(log.matches("established between").count() == ikes, || {
        "a new IKE_SA was made instead of moving the old one".into()
    });
    why.check(log.contains("UPDATE_SA_ADDRESSES"), || {
        "iked's log has no UPDATE_SA_ADDRESSES line".into()
    });
    format!(
        "CHILD_SA rekeyed with {}; client moved {} -> {MOVED}",
        if rekeyed.as_deref().is_some_and(|p| p.contains("MODP_2048")) {
            "MODP_2048"
        } else {
            "no key exchange"
        },
        rh.outer4
    )
}
