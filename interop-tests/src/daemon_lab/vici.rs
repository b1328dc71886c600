//! `iked-vici`: strongSwan's own clients against iked's VICI socket, with a
//! real strongSwan peer (charon-systemd, swanctl) and real CHILD_SAs.
//!
//! Debian's `swanctl` drives iked (the initiator): `--initiate --child`
//! (iked's log lines streamed back, control-log), `--list-sas` (the kernel's
//! counters after 3 pings), `--list-conns`, `--stats`, `--terminate
//! --child-id` / `--child` (the IKE_SA stays, both kernels empty) and
//! `--terminate --ike`; `--monitor-sa` watches. The lab's own VICI client
//! ([`crate::vici`], on iked's codec) reads `list-sas` from iked and from
//! strongSwan and compares the two views of the one tunnel (SPIs,
//! algorithms, selectors, packet counters), and listens to `ike-updown`,
//! `child-updown` (the last kernel counters when a CHILD_SA goes),
//! `child-rekey` and `ike-rekey`: after `--reload-settings` with short
//! lifetimes, iked rekeys the CHILD_SA and the IKE_SA under a ping that must
//! lose nothing.

use std::path::Path;
use std::time::Duration;

use super::{both, empty, guest, note_kernel, start_ikeds};
use crate::cmd::{Daemon, run};
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{CONN, Iked, Peer, StrongSwan, Tunnel};
use crate::probe::{PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Side, Topology};
use crate::vici::{Event, Listener, Message, Vici, list, number, render, section, sections, value};
use crate::{Result, lab_err, write_file};

/// The SA events the listener registers for.
const EVENTS: &[&str] = &["ike-updown", "child-updown", "ike-rekey", "child-rekey"];
/// Part 2's lifetimes: the CHILD_SA rekeys at 7 s, the IKE_SA at 11 s.
const FAST: [(&str, &str); 5] = [
    ("lifetime", "12s"),
    ("ikelifetime", "16s"),
    ("margintime", "5s"),
    ("rekeyfuzz", "0%"),
    ("reauth", "no"),
];
/// Part 2's ping: 65 requests 0.2 s apart (13 s, across both rekeys).
const PINGS: u32 = 65;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-vici",
        "swanctl (initiate/list-sas/list-conns/stats/terminate/monitor-sa) and the lab's VICI listener against iked, strongSwan as peer: counters, events, rekeys",
        iked_vici,
    )]
}

/// iked's ipsec.conf for the swanctl peer's tunnel (its identities), with
/// `extra` settings.
fn iked_conf(topo: &Topology, extra: &[(&str, &str)]) -> String {
    let (l, r) = (&topo.left, &topo.right);
    let mut c = Conn::net2net(
        CONN,
        topo,
        Family::V4,
        Family::V4,
        "aes128gcm16-prfsha256-x25519!",
        "aes128gcm16-x25519!",
    )
    .set("leftid", &format!("@{}", l.id))
    .set("rightid", &format!("@{}", r.id));
    for (k, v) in extra {
        c = c.set(k, v);
    }
    IpsecConf::new().conn(c).render()
}

/// `swanctl CMD --uri unix://SOCK ARGS...`: (exit status 0, what it printed).
fn swanctl(vici: &Path, args: &[&str]) -> Result<(bool, String)> {
    let uri = format!("unix://{}", vici.display());
    let mut argv = vec!["swanctl", args[0], "--uri", uri.as_str()];
    argv.extend_from_slice(&args[1..]);
    let out = run(&argv, Duration::from_secs(70))?;
    Ok((
        out.status.success(),
        format!("{}{}", out.stdout, out.stderr),
    ))
}

/// Runs `swanctl ARGS` against `vici`, notes its output, requires success
/// and `done` (e.g. "initiate completed successfully"); returns the output.
fn swanctl_ok(why: &mut Why, vici: &Path, args: &[&str], done: &str) -> String {
    let what = format!("swanctl {}", args.join(" "));
    let Some((ok, text)) = why.ok(&what, swanctl(vici, args)) else {
        return String::new();
    };
    why.note(&format!("{what} (iked)"), &text);
    why.check(ok && text.contains(done), || {
        format!("{what}: no '{done}': {}", last_lines(&text, 4))
    });
    text
}

fn last_lines(text: &str, n: usize) -> String {
    let v: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(n)..].join(" / ")
}

/// `(SPI, bytes, packets)` of a `swanctl --list-sas` counter line
/// (`    in  c1f2a3b4,    252 bytes,     3 packets,     0s ago`), `dir` "in" or "out".
fn counter_line(list_sas: &str, dir: &str) -> Option<(String, u64, u64)> {
    list_sas.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(dir)?.strip_prefix(' ')?;
        let mut parts = rest.split(',').map(str::trim);
        let spi = parts.next()?.to_owned();
        let bytes = parts.next()?.strip_suffix(" bytes")?.trim().parse().ok()?;
        let packets = parts
            .next()?
            .strip_suffix(" packets")?
            .trim()
            .parse()
            .ok()?;
        Some((spi, bytes, packets))
    })
}

/// The IKE_SA section of a `list-sa` / SA event message (`{conn: {...}}`).
fn ike_of(m: &Message) -> Option<&Message> {
    section(m, &[CONN])
}

/// The first CHILD_SA section of an IKE_SA section.
fn first_child(ike: &Message) -> Option<&Message> {
    section(ike, &["child-sas"]).and_then(|cs| sections(cs).first().map(|(_, c)| *c))
}

fn up(m: &Message) -> bool {
    value(m, &["up"]) == Some("yes")
}

/// Waits (at most 10 s) until iked's VICI socket has `n` clients, then a
/// moment for their registrations; false if they were not seen (a hint for
/// the report: the clients' own output is what the checks read). iked binds
/// the socket under a staging name in the same folder and renames it, so the
/// listening and accepted sockets show that name in `/proc/net/unix` (in
/// iked's namespace or in the clients').
fn wait_clients(topo: &Topology, vici: &Path, n: usize) -> bool {
    let dir = vici
        .parent()
        .map(|d| format!("{}/", d.display()))
        .unwrap_or_default();
    let name = vici
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let seen = crate::cmd::poll(Duration::from_secs(10), || {
        let theirs = topo
            .exec(
                &topo.left,
                &["cat", "/proc/net/unix"],
                Duration::from_secs(10),
            )
            .ok()?
            .stdout;
        let ours = std::fs::read_to_string("/proc/net/unix").ok()?;
        let k = format!("{theirs}\n{ours}")
            .lines()
            .filter_map(|l| l.split_whitespace().nth(7))
            .filter(|p| p.starts_with(&dir) && p.contains(&name))
            .count();
        (k > n).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    seen.is_some()
}

/// Compares iked's and strongSwan's `list-sas` for the one tunnel; returns
/// the packets iked counted in and out.
fn compare_views(why: &mut Why, iked: &Message, swan: &Message) -> (u64, u64) {
    let (Some(i), Some(s)) = (ike_of(iked), ike_of(swan)) else {
        why.check(false, || "list-sas: no IKE_SA 'gw' on one side".into());
        return (0, 0);
    };
    for k in [
        "initiator-spi",
        "responder-spi",
        "encr-alg",
        "encr-keysize",
        "prf-alg",
        "dh-group",
    ] {
        let (a, b) = (i.get_str(k), s.get_str(k));
        why.check(a.is_some() && a == b, || {
            format!("list-sas {k}: iked {a:?}, strongSwan {b:?}")
        });
    }
    why.check(i.get_str("initiator") == Some("yes"), || {
        "list-sas: iked not the initiator".into()
    });
    why.check(s.get_str("initiator").is_none(), || {
        "list-sas: strongSwan an initiator too".into()
    });
    let (Some(ic), Some(sc)) = (first_child(i), first_child(s)) else {
        why.check(false, || "list-sas: no CHILD_SA on one side".into());
        return (0, 0);
    };
    for (a, b) in [
        ("spi-in", "spi-out"),
        ("spi-out", "spi-in"),
        ("encr-alg", "encr-alg"),
        ("encr-keysize", "encr-keysize"),
        ("mode", "mode"),
        ("state", "state"),
    ] {
        let (x, y) = (ic.get_str(a), sc.get_str(b));
        why.check(x.is_some() && x == y, || {
            format!("list-sas CHILD_SA: iked {a} {x:?}, strongSwan {b} {y:?}")
        });
    }
    why.check(
        list(ic, "local-ts") == list(sc, "remote-ts")
            && list(ic, "remote-ts") == list(sc, "local-ts"),
        || {
            format!(
                "list-sas selectors: iked {:?}/{:?}, strongSwan {:?}/{:?}",
                list(ic, "local-ts"),
                list(ic, "remote-ts"),
                list(sc, "local-ts"),
                list(sc, "remote-ts")
            )
        },
    );
    let n = |m: &Message, k: &str| number(m, &[k]).unwrap_or(0);
    let (pin, pout) = (n(ic, "packets-in"), n(ic, "packets-out"));
    why.check(pin == 3 && pout == 3, || {
        format!("iked's list-sas: packets in {pin}, out {pout}, not 3/3")
    });
    why.check(
        pin == n(sc, "packets-out") && pout == n(sc, "packets-in"),
        || {
            format!(
                "packets: iked in/out {pin}/{pout}, strongSwan out/in {}/{}",
                n(sc, "packets-out"),
                n(sc, "packets-in")
            )
        },
    );
    why.check(n(ic, "bytes-in") > 0 && n(ic, "bytes-out") > 0, || {
        "iked's list-sas: no bytes counted".into()
    });
    (pin, pout)
}

fn count(events: &[Event], name: &str) -> usize {
    events.iter().filter(|e| e.name == name).count()
}

fn iked_vici(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let t = Tunnel::gcm();
    let conf = iked_conf(&topo, &[]);
    let secrets = t.ipsec_secrets(Side::Left);
    let sd = ctx.peer_dir(Side::Right);
    let (mut i, mut s) = both(
        || start_ikeds(ctx, &topo, &[(Side::Left, &conf, &secrets)]),
        || StrongSwan::start(&topo, Side::Right, &t, &sd),
    )?;
    let mut i = i.pop().ok_or_else(|| lab_err!("no iked"))?;
    let mut why = Why::default();
    let summary = scenario(ctx, &topo, &mut i, &mut s, &mut why);
    note_kernel(&mut why, &topo);
    i.stop();
    s.stop();
    why.done(&ctx.dir, summary)
}

fn scenario(ctx: &Ctx, topo: &Topology, i: &mut Iked, s: &mut StrongSwan, why: &mut Why) -> String {
    let (lh, rh) = (&topo.left, &topo.right);
    let v = i.vici().to_owned();
    let Some(mut lis) = why.ok("VICI listener", Listener::start(&v, EVENTS)) else {
        return String::new();
    };
    let uri = format!("unix://{}", v.display());
    let monitor_out = ctx.dir.join("monitor-sa.txt");
    let mut monitor = why.ok(
        "swanctl --monitor-sa",
        Daemon::spawn(
            "swanctl --monitor-sa",
            &["stdbuf", "-oL", "swanctl", "--monitor-sa", "--uri", &uri],
            &[],
            &monitor_out,
        ),
    );
    if !wait_clients(topo, &v, 2) {
        why.note(
            "swanctl --monitor-sa",
            "its connection was not seen in /proc/net/unix within 10 s",
        );
    }
    let t5 = Duration::from_secs(5);
    let t10 = Duration::from_secs(10);

    // Part 1: default lifetimes (nothing rekeys meanwhile).
    let init = swanctl_ok(
        why,
        &v,
        &["--initiate", "--child", CONN, "--timeout", "60"],
        "initiate completed successfully",
    );
    why.check(
        init.lines()
            .any(|l| l.starts_with(&format!("[IKE] IKE_SA {CONN}[1] established between"))),
        || "swanctl --initiate: no IKE_SA established line (control-log)".into(),
    );
    why.check(
        init.lines()
            .any(|l| l.starts_with(&format!("[CHD] CHILD_SA {CONN}{{1}} established with SPIs"))),
        || "swanctl --initiate: no CHILD_SA established line (control-log)".into(),
    );
    let ike_up = lis.wait_for("ike-updown", t10, |m| {
        up(m) && ike_of(m).and_then(|i| i.get_str("state")) == Some("ESTABLISHED")
    });
    why.check(ike_up.is_some(), || "no ike-updown (up) event".into());
    let child_up = lis.wait_for("child-updown", t10, |m| {
        up(m)
            && ike_of(m)
                .and_then(first_child)
                .and_then(|c| c.get_str("state"))
                == Some("INSTALLED")
    });
    why.check(child_up.is_some(), || {
        "no child-updown (up, INSTALLED) event".into()
    });
    let p = why.ok("ping", ping(topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)));
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!("ping {}", p.as_ref().map(|p| p.ratio()).unwrap_or_default())
    });

    let sas = swanctl_ok(why, &v, &["--list-sas"], "");
    let swan_sas = s.swanctl(&["--list-sas"]).unwrap_or_else(|e| e.to_string());
    why.note(
        "swanctl --list-sas (strongSwan, the same tunnel)",
        &swan_sas,
    );
    why.check(
        sas.lines()
            .any(|l| l.starts_with(&format!("{CONN}: #1, ESTABLISHED, IKEv2, "))),
        || "swanctl --list-sas: no 'gw: #1, ESTABLISHED, IKEv2' line".into(),
    );
    why.check(
        sas.lines().any(|l| {
            l.starts_with(&format!(
                "  {CONN}: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_GCM_16-128"
            ))
        }),
        || "swanctl --list-sas: no INSTALLED TUNNEL AES_GCM_16-128 CHILD_SA line".into(),
    );
    let cin = counter_line(&sas, "in");
    let cout = counter_line(&sas, "out");
    why.check(
        cin.as_ref().is_some_and(|c| c.2 == 3 && c.1 > 0)
            && cout.as_ref().is_some_and(|c| c.2 == 3 && c.1 > 0),
        || format!("swanctl --list-sas counters not 3/3 packets: in {cin:?}, out {cout:?}"),
    );
    let lnet = format!("    local  {}", lh.net4);
    let rnet = format!("    remote {}", rh.net4);
    why.check(
        sas.lines().any(|l| l == lnet) && sas.lines().any(|l| l == rnet),
        || "swanctl --list-sas: selectors".into(),
    );
    // the typed views of both ends
    let views = Vici::connect(&v)
        .and_then(|mut c| c.list_sas())
        .and_then(|a| Ok((a, Vici::connect(s.vici())?.list_sas()?)));
    let (mut pin, mut pout) = (0, 0);
    if let Some((a, b)) = why.ok("list-sas over VICI", views) {
        why.check(a.len() == 1 && b.len() == 1, || {
            format!(
                "list-sas: {} IKE_SAs on iked, {} on strongSwan, not 1 and 1",
                a.len(),
                b.len()
            )
        });
        if let (Some(a), Some(b)) = (a.first(), b.first()) {
            (pin, pout) = compare_views(why, a, b);
        }
    }

    let conns = swanctl_ok(why, &v, &["--list-conns"], "");
    why.check(
        conns
            .lines()
            .any(|l| l.starts_with(&format!("{CONN}: IKEv2"))),
        || "swanctl --list-conns: no 'gw: IKEv2' line".into(),
    );
    why.check(
        conns
            .lines()
            .any(|l| l == format!("  {CONN}: TUNNEL, rekeying every 3060s")),
        || "swanctl --list-conns: no 'gw: TUNNEL, rekeying every 3060s' (default lifetimes)".into(),
    );
    let stats = swanctl_ok(why, &v, &["--stats"], "IKE_SAs: 1 total, 0 half-open");
    why.check(stats.starts_with("uptime: "), || {
        "swanctl --stats: no uptime".into()
    });

    swanctl_ok(
        why,
        &v,
        &["--terminate", "--child-id", "1", "--timeout", "30"],
        "terminate completed successfully",
    );
    let down = lis.wait_for("child-updown", t10, |m| !up(m));
    let last = down
        .as_ref()
        .and_then(|e| ike_of(&e.message).and_then(first_child))
        .map(|c| {
            (
                number(c, &["packets-in"]).unwrap_or(0),
                number(c, &["packets-out"]).unwrap_or(0),
                number(c, &["bytes-in"]).unwrap_or(0),
                c.get_str("state").unwrap_or("").to_owned(),
            )
        });
    why.check(
        last.as_ref()
            .is_some_and(|l| l.0 == 3 && l.1 == 3 && l.2 > 0 && l.3 == "DELETING"),
        || {
            format!(
                "child-updown (down): not DELETING with the last counters 3/3 packets: {last:?}"
            )
        },
    );
    empty(
        why,
        topo,
        lh,
        "on iked's side after --terminate --child-id",
        t5,
    );
    empty(
        why,
        topo,
        rh,
        "on strongSwan's side after --terminate --child-id",
        t5,
    );
    let after = Vici::connect(&v).and_then(|mut c| c.list_sas());
    if let Some(a) = why.ok("list-sas after --terminate --child-id", after) {
        let ike = a.first().and_then(ike_of);
        why.check(
            a.len() == 1
                && ike.is_some_and(|i| {
                    i.get_str("uniqueid") == Some("1")
                        && i.get_str("state") == Some("ESTABLISHED")
                        && first_child(i).is_none()
                }),
            || "after --terminate --child-id: not IKE_SA #1 alone, ESTABLISHED".into(),
        );
    }

    // a CHILD_SA on the IKE_SA that stayed, closed by name; then the IKE_SA
    swanctl_ok(
        why,
        &v,
        &["--initiate", "--child", CONN, "--timeout", "60"],
        "initiate completed successfully",
    );
    let again = Vici::connect(&v).and_then(|mut c| c.list_sas());
    if let Some(a) = why.ok("list-sas after the second initiate", again) {
        let ike = a.first().and_then(ike_of);
        why.check(
            a.len() == 1
                && ike.is_some_and(|i| {
                    i.get_str("uniqueid") == Some("1")
                        && first_child(i).and_then(|c| c.get_str("uniqueid")) == Some("2")
                }),
            || "second CHILD_SA: not CHILD_SA #2 on IKE_SA #1".into(),
        );
    }
    let nsa = kernel(topo, lh).map(|k| k.0.len()).unwrap_or(0);
    why.check(nsa == 2, || {
        format!("second CHILD_SA: {nsa} SAs in iked's kernel, not 2")
    });
    swanctl_ok(
        why,
        &v,
        &["--terminate", "--child", CONN, "--timeout", "30"],
        "terminate completed successfully",
    );
    empty(why, topo, lh, "after --terminate --child", t5);
    swanctl_ok(
        why,
        &v,
        &["--terminate", "--ike", CONN, "--timeout", "30"],
        "terminate completed successfully",
    );
    let ike_down = lis.wait_for("ike-updown", t10, |m| {
        !up(m) && ike_of(m).and_then(|i| i.get_str("uniqueid")) == Some("1")
    });
    why.check(ike_down.is_some(), || {
        "no ike-updown (down) event for IKE_SA #1".into()
    });
    let none = swanctl(&v, &["--list-sas"])
        .map(|r| r.1)
        .unwrap_or_default();
    why.check(none.trim().is_empty(), || {
        format!(
            "swanctl --list-sas after --terminate --ike: {}",
            last_lines(&none, 3)
        )
    });
    let peer_gone = crate::cmd::poll(t10, || {
        Vici::connect(s.vici())
            .and_then(|mut c| c.list_sas())
            .ok()
            .filter(Vec::is_empty)
    });
    why.check(peer_gone.is_some(), || {
        "strongSwan still lists the IKE_SA 10 s after iked's DELETE".into()
    });
    empty(why, topo, lh, "on iked's side after --terminate --ike", t5);
    empty(
        why,
        topo,
        rh,
        "on strongSwan's side after --terminate --ike",
        t5,
    );

    // Part 2: short lifetimes through --reload-settings, rekeys under traffic.
    let ready_for_rekeys = write_file(&i.conf_path(), &iked_conf(topo, &FAST));
    why.ok("rewrite iked's ipsec.conf", ready_for_rekeys);
    swanctl_ok(why, &v, &["--reload-settings"], "");
    let conns2 = swanctl(&v, &["--list-conns"])
        .map(|r| r.1)
        .unwrap_or_default();
    why.note(
        "swanctl --list-conns after --reload-settings (iked)",
        &conns2,
    );
    why.check(
        conns2
            .lines()
            .any(|l| l == format!("  {CONN}: TUNNEL, rekeying every 7s")),
        || "swanctl --list-conns after --reload-settings: not 'rekeying every 7s'".into(),
    );
    swanctl_ok(
        why,
        &v,
        &["--initiate", "--child", CONN, "--timeout", "60"],
        "initiate completed successfully",
    );
    let spec = PingSpec {
        count: PINGS,
        interval_ms: 200,
        wait_s: 1,
    };
    let p = why.ok(
        "ping across the rekeys",
        ping(topo, lh, lh.inner4, rh.inner4, spec),
    );
    let lost = p.as_ref().map(|p| p.lost()).unwrap_or(PINGS);
    why.check(
        p.as_ref().is_some_and(|p| p.sent == PINGS && p.all()),
        || format!("{lost} of {PINGS} pings lost across the rekeys"),
    );
    let rekey = lis.wait_for("child-rekey", t5, |_| true);
    let old = rekey.as_ref().and_then(|e| {
        let pair = ike_of(&e.message).and_then(first_child)?;
        let (o, n) = (pair.get_section("old")?, pair.get_section("new")?);
        Some((
            number(o, &["packets-in"]).unwrap_or(0),
            number(o, &["bytes-out"]).unwrap_or(0),
            o.get_str("uniqueid").unwrap_or("").to_owned(),
            n.get_str("uniqueid").unwrap_or("").to_owned(),
        ))
    });
    why.check(
        old.as_ref()
            .is_some_and(|o| o.0 > 0 && o.1 > 0 && !o.2.is_empty() && o.2 != o.3),
        || format!("child-rekey: no old CHILD_SA with its traffic and a new one: {old:?}"),
    );
    let ike_rekey = lis.wait_for("ike-rekey", t5, |m| {
        let ids = ike_of(m).map(|p| {
            (
                value(p, &["old", "uniqueid"]),
                value(p, &["new", "uniqueid"]),
            )
        });
        ids.is_some_and(|(o, n)| o.is_some() && n.is_some() && o != n)
    });
    why.check(ike_rekey.is_some(), || {
        "no ike-rekey event (old and new IKE_SA)".into()
    });
    let rekeyed = Vici::connect(&v).and_then(|mut c| c.list_sas());
    if let Some(a) = why.ok("list-sas after the rekeys", rekeyed) {
        let ike = a.first().and_then(ike_of);
        let id = ike.and_then(|i| number(i, &["uniqueid"])).unwrap_or(0);
        why.check(a.len() == 1 && id >= 3, || {
            format!(
                "after the rekeys: {} IKE_SAs, uniqueid {id} (want one, #3 or later)",
                a.len()
            )
        });
        // the CHILD_SA rekeys every 7 s: the listing may catch one in the act
        // (the old one REKEYING, the new one beside it)
        let states: Vec<&str> = ike
            .and_then(|i| section(i, &["child-sas"]))
            .map(|cs| {
                sections(cs)
                    .iter()
                    .filter_map(|(_, c)| c.get_str("state"))
                    .collect()
            })
            .unwrap_or_default();
        why.check(
            states.iter().any(|s| *s == "INSTALLED" || *s == "REKEYING"),
            || format!("after the rekeys: no installed CHILD_SA (states {states:?})"),
        );
    }
    swanctl_ok(
        why,
        &v,
        &["--terminate", "--ike", CONN, "--timeout", "30"],
        "terminate completed successfully",
    );
    empty(why, topo, lh, "on iked's side at the end", t5);
    empty(why, topo, rh, "on strongSwan's side at the end", t5);

    let events = lis.stop();
    if let Some(e) = lis.ended() {
        why.note("VICI listener ended", &e);
    }
    if let Some(m) = monitor.as_mut() {
        m.stop(Duration::from_secs(5));
    }
    let mon = std::fs::read_to_string(&monitor_out).unwrap_or_default();
    for want in [
        format!("{CONN}: #1, ESTABLISHED, IKEv2"),
        format!("  {CONN}: #1, reqid 1, INSTALLED, TUNNEL"),
        format!("  {CONN}: #1, reqid 1, DELETING, TUNNEL"),
        format!("{CONN}: #1, DELETING, IKEv2"),
    ] {
        why.check(mon.lines().any(|l| l.starts_with(&want)), || {
            format!("swanctl --monitor-sa: no '{want}' line")
        });
    }
    let listing: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e.name, render(&e.message)))
        .collect();
    why.note("VICI events (the lab's listener)", &listing.join("\n"));
    let (nup, nrk, nik) = (
        count(&events, "child-updown"),
        count(&events, "child-rekey"),
        count(&events, "ike-rekey"),
    );
    format!(
        "swanctl initiate (control-log), list-sas {pin}/{pout} packets = strongSwan's view (SPIs, algorithms, selectors, counters), \
         list-conns, stats, terminate --child-id/--child/--ike with both kernels empty, monitor-sa; \
         events: {} ike-updown, {nup} child-updown (down: {} packets in/out, {} bytes in), \
         {nrk} child-rekey (old CHILD_SA {}: {} packets in), {nik} ike-rekey; \
         reload-settings -> rekeying every 7s, {PINGS} pings across the rekeys, {lost} lost",
        count(&events, "ike-updown"),
        last.as_ref()
            .map(|l| format!("{}/{}", l.0, l.1))
            .unwrap_or_default(),
        last.as_ref().map(|l| l.2).unwrap_or(0),
        old.as_ref().map(|o| o.2.as_str()).unwrap_or(""),
        old.as_ref().map(|o| o.0).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::counter_line;

    #[test]
    fn swanctl_counter_lines_parse() {
        let s = "  gw: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_GCM_16-128\n    in  c1f2a3b4,    252 bytes,     3 packets,     0s ago\n    out c5d6e7f8,    264 bytes,     4 packets,     1s ago\n";
        assert_eq!(counter_line(s, "in"), Some(("c1f2a3b4".into(), 252, 3)));
        assert_eq!(counter_line(s, "out"), Some(("c5d6e7f8".into(), 264, 4)));
        assert_eq!(counter_line("in  x", "in"), None);
    }
}
