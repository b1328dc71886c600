//! iked <-> iked net-to-net tunnels (one ipsec.conf for both sides) and iked
//! <-> strongSwan in both roles, each ended by iked's own `down`.

use std::time::Duration;

use super::{empty, guest, ike_established, log_has, note_kernel, packets_in, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{CONN, Peer, PeerKind, Tunnel};
use crate::probe::{PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario, tunnel_then};
use crate::topology::{Family, Side, Topology};
use crate::{Result, lab_err};

const GCM: (&str, &str) = ("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
const CBC: (&str, &str) = ("aes256-sha256-modp2048!", "aes256-sha256-modp2048!");
const N: &str = "net-net";

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "iked-gcm",
            "iked<->iked AES-GCM/X25519: ikectl up, ping, inbound counters (typed status), ipsec down and SIGTERM empty both kernels",
            |c| iked_pair(c, GCM, "lab-psk-gcm-0123456789"),
        ),
        guest(
            "iked-cbc",
            "iked<->iked AES-256-CBC/SHA-256/MODP2048 with PFS: as iked-gcm",
            |c| iked_pair(c, CBC, "lab-psk-cbc-0123456789"),
        ),
        guest(
            "iked-badpsk",
            "iked<->iked with different PSKs: up fails, AUTHENTICATION_FAILED on both, both kernels empty",
            badpsk,
        ),
        guest(
            "iked-natt",
            "iked<->iked forceencaps=yes: ESP in UDP 4500/4500 in both kernels and in iked's status",
            |c| variant(c, Variant::Natt),
        ),
        guest("iked-v6", "iked<->iked IPv6 outside and inside", |c| {
            variant(c, Variant::V6)
        }),
        guest("iked-4in6", "iked<->iked IPv4 subnets over IPv6", |c| {
            variant(c, Variant::V4in6)
        }),
        guest("iked-6in4", "iked<->iked IPv6 subnets over IPv4", |c| {
            variant(c, Variant::V6in4)
        }),
        guest(
            "swan-init",
            "iked initiates to strongSwan (swanctl), AES-GCM; iked's down deletes the SAs on both",
            |c| with_down(c, &Tunnel::gcm(), PeerKind::Iked, PeerKind::Swanctl),
        ),
        guest(
            "swan-resp",
            "strongSwan (swanctl) initiates to iked, AES-GCM; iked's down deletes the SAs on both",
            |c| with_down(c, &Tunnel::gcm(), PeerKind::Swanctl, PeerKind::Iked),
        ),
        guest(
            "starter-init",
            "iked initiates to strongSwan's starter, AES-256-CBC/MODP2048; iked's down deletes on both",
            |c| with_down(c, &modp2048(), PeerKind::Iked, PeerKind::Starter),
        ),
        guest(
            "starter-resp",
            "strongSwan's starter initiates to iked, AES-256-CBC/MODP2048; iked's down deletes on both",
            |c| with_down(c, &modp2048(), PeerKind::Starter, PeerKind::Iked),
        ),
    ]
}

fn modp2048() -> Tunnel {
    Tunnel {
        ike: "aes256-sha256-modp2048".into(),
        esp: "aes256-sha256-modp2048".into(),
        ..Tunnel::gcm()
    }
}

/// Both iked on one ipsec.conf, left initiates.
fn iked_pair(ctx: &Ctx, (ike, esp): (&str, &str), psk: &str) -> Result<String> {
    let topo = Topology::new()?;
    let conf = IpsecConf::new()
        .conn(Conn::net2net(N, &topo, Family::V4, Family::V4, ike, esp))
        .render();
    let secrets = psk_secrets(psk);
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &conf, &secrets),
            (Side::Right, &conf, &secrets),
        ],
    )?;
    let (l, r) = ds.split_at_mut(1);
    let (l, r) = (&mut l[0], &mut r[0]);
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    why.ok("ikectl up", l.up(N));
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!("ping {}", p.as_ref().map(|p| p.ratio()).unwrap_or_default())
    });
    let mut counts = (0, 0);
    for (side, d) in [(Side::Left, &mut *l), (Side::Right, &mut *r)] {
        let Some(rep) = status(&mut why, d, side) else {
            continue;
        };
        let ike = ike_established(&rep, N);
        why.check(ike.len() == 1, || {
            format!(
                "{}: {} ESTABLISHED IKE_SAs, not 1",
                side.as_str(),
                ike.len()
            )
        });
        why.check(
            ike.iter().all(|sa| {
                let ids = [sa.local_id.as_str(), sa.remote_id.as_str()];
                ids == ["moon", "sun"] || ids == ["sun", "moon"]
            }),
            || format!("{}: identities not moon/sun", side.as_str()),
        );
        let kids = super::children(&rep, N);
        why.check(kids.len() == 1 && kids[0].mode == "TUNNEL", || {
            format!("{}: not one installed TUNNEL CHILD_SA", side.as_str())
        });
        let n = packets_in(&rep, N);
        if side == Side::Left {
            counts.0 = n;
        } else {
            counts.1 = n;
        }
        why.check(n >= 3, || format!("{}: inbound packets {n}", side.as_str()));
        // iked's strongSwan-format front (`ipsec status`) shows the same
        let text = why
            .ok("ipsec status", d.ipsec(&["status"]))
            .unwrap_or_default();
        why.check(
            text.lines()
                .any(|l| l.contains("net-net[") && l.contains("ESTABLISHED")),
            || format!("{}: ipsec status has no ESTABLISHED line", side.as_str()),
        );
        why.check(
            text.lines()
                .any(|l| l.contains("net-net{1}:") && l.contains("INSTALLED, TUNNEL")),
            || {
                format!(
                    "{}: ipsec status has no INSTALLED, TUNNEL line",
                    side.as_str()
                )
            },
        );
    }
    note_kernel(&mut why, &topo);
    why.ok("ipsec down", l.ipsec(&["down", N]));
    let t = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on the left after down", t);
    empty(&mut why, &topo, rh, "on the right after down (DELETE)", t);
    why.ok("second ikectl up", l.up(N));
    let p2 = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p2.is_some_and(|p| p.all()), || "second ping failed".into());
    why.ok("SIGTERM", l.sigterm(Duration::from_secs(10)));
    why.check(log_has(&l.log(), "SIGTERM", false), || {
        "no SIGTERM log line".into()
    });
    empty(&mut why, &topo, lh, "on the left after SIGTERM", t);
    empty(
        &mut why,
        &topo,
        rh,
        "on the right after the left's SIGTERM",
        t,
    );
    r.stop();
    why.done(
        &ctx.dir,
        format!(
            "ping 3/3, inbound packets left={} right={} (iked's status), ipsec status lines, down and SIGTERM leave both kernels empty",
            counts.0, counts.1
        ),
    )
}

fn badpsk(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let conf = IpsecConf::new()
        .conn(Conn::net2net(
            N,
            &topo,
            Family::V4,
            Family::V4,
            GCM.0,
            GCM.1,
        ))
        .render();
    let (sl, sr) = (
        psk_secrets("one-psk-0123456789"),
        psk_secrets("another-psk-0123456789"),
    );
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[(Side::Left, &conf, &sl), (Side::Right, &conf, &sr)],
    )?;
    let mut why = Why::default();
    let up = ds[0].up(N);
    why.check(up.is_err(), || {
        "ikectl up succeeded with a wrong PSK".into()
    });
    std::thread::sleep(Duration::from_millis(500));
    why.check(
        log_has(&ds[0].log(), "AUTHENTICATION_FAILED", false),
        || "left did not log AUTHENTICATION_FAILED".into(),
    );
    let rl = ds[1].log();
    why.check(
        log_has(&rl, "AUTHENTICATION_FAILED", false)
            || std::fs::read_to_string(&rl)
                .unwrap_or_default()
                .to_lowercase()
                .lines()
                .any(|l| l.contains("authentication") && l.contains("failed")),
        || "right did not log the failure".into(),
    );
    let t = Duration::from_secs(2);
    empty(&mut why, &topo, &topo.left, "on the left", t);
    empty(&mut why, &topo, &topo.right, "on the right", t);
    why.note("ikectl up", &format!("{up:?}"));
    why.done(
        &ctx.dir,
        "up fails, AUTHENTICATION_FAILED logged on both, both kernels empty".into(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Natt,
    V6,
    V4in6,
    V6in4,
}

fn variant(ctx: &Ctx, v: Variant) -> Result<String> {
    let (outer, inner) = match v {
        Variant::Natt => (Family::V4, Family::V4),
        Variant::V6 => (Family::V6, Family::V6),
        Variant::V4in6 => (Family::V6, Family::V4),
        Variant::V6in4 => (Family::V4, Family::V6),
    };
    let topo = Topology::new()?;
    let mut c = Conn::net2net(N, &topo, outer, inner, GCM.0, GCM.1);
    if v == Variant::Natt {
        c = c.set("forceencaps", "yes");
    }
    let conf = IpsecConf::new().conn(c).render();
    let secrets = psk_secrets(&format!("{v:?}-psk-0123456789"));
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &conf, &secrets),
            (Side::Right, &conf, &secrets),
        ],
    )?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    why.ok("ikectl up", ds[0].up(N));
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner(inner), rh.inner(inner), PingSpec::n(3)),
    );
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!("ping {}", p.as_ref().map(|p| p.ratio()).unwrap_or_default())
    });
    let mut counts = [0u64; 2];
    for (i, side) in [Side::Left, Side::Right].into_iter().enumerate() {
        let Some(rep) = status(&mut why, &mut ds[i], side) else {
            continue;
        };
        counts[i] = packets_in(&rep, N);
        why.check(counts[i] >= 3, || {
            format!("{}: inbound packets {}", side.as_str(), counts[i])
        });
        let kids = super::children(&rep, N);
        why.check(kids.len() == 1 && kids[0].mode == "TUNNEL", || {
            format!("{}: not one installed TUNNEL CHILD_SA", side.as_str())
        });
        if v == Variant::Natt {
            why.check(kids.iter().all(|c| c.encap), || {
                format!(
                    "{}: CHILD_SA not ESP in UDP in iked's status",
                    side.as_str()
                )
            });
            let h = topo.host(side);
            let sas = why.ok("kernel", kernel(&topo, h)).map(|k| k.0);
            why.check(
                sas.is_some_and(|s| {
                    s.len() == 2 && s.iter().all(|s| s.encap == Some((4500, 4500)))
                }),
                || format!("{}: SAs not UDP-encapsulated 4500/4500", side.as_str()),
            );
        }
    }
    if matches!(v, Variant::V4in6 | Variant::V6in4) {
        let (sas, pols) = why.ok("kernel", kernel(&topo, lh)).unwrap_or_default();
        why.check(
            sas.iter()
                .any(|s| s.src == lh.outer(outer) && s.dst == rh.outer(outer)),
            || format!("left: no SA {} -> {}", lh.outer(outer), rh.outer(outer)),
        );
        why.check(
            pols.iter()
                .any(|p| p.src == lh.net(inner) && p.dst == rh.net(inner) && p.dir == "out"),
            || format!("left: no policy {} -> {}", lh.net(inner), rh.net(inner)),
        );
    }
    note_kernel(&mut why, &topo);
    why.ok("ipsec down", ds[0].ipsec(&["down", N]));
    let t = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on the left after down", t);
    empty(&mut why, &topo, rh, "on the right after down", t);
    for d in ds.iter_mut() {
        d.stop();
    }
    why.done(
        &ctx.dir,
        format!(
            "ping 3/3, inbound packets left={} right={}{}, down leaves both kernels empty",
            counts[0],
            counts[1],
            if v == Variant::Natt {
                ", ESP in UDP 4500/4500"
            } else {
                ""
            }
        ),
    )
}

/// The generic tunnel proof, then iked's `ikectl down`: iked's kernel
/// empties and the peer's own status no longer shows the IKE_SA.
fn with_down(ctx: &Ctx, t: &Tunnel, left: PeerKind, right: PeerKind) -> Result<String> {
    tunnel_then(ctx, t, left, right, |topo, l, r| {
        let (iked, peer): (&mut dyn Peer, &mut dyn Peer) = if left == PeerKind::Iked {
            (l, r)
        } else {
            (r, l)
        };
        let side = iked.side();
        let i = iked
            .as_iked()
            .ok_or_else(|| lab_err!("no iked in this scenario"))?;
        i.down(CONN)?;
        crate::probe::kernel_empty(topo, topo.host(side), Duration::from_secs(5))?;
        let gone = crate::cmd::poll(Duration::from_secs(10), || {
            peer.check_established().is_err().then_some(())
        });
        if gone.is_none() {
            return Err(lab_err!(
                "{} still shows the IKE_SA 10 s after iked's DELETE",
                peer.label()
            ));
        }
        Ok("iked's down emptied its kernel and the peer dropped the IKE_SA".into())
    })
}
