//! The answers built from a status snapshot, against the layout charon 5.9.8
//! sends (seen on the wire between swanctl and charon), and the dispatcher
//! against a scripted daemon loop.

use super::codec::{Item, Message, Packet};
use super::commands::*;
use super::events::LogLayer;
use super::{Out, Snapshot};
use crate::daemon::status::{ChildSaView, Counters, IkeSaView, StatusReport};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const CONF: &str = "conn gw\n  left=192.0.2.1\n  leftsubnet=10.1.0.0/16\n  leftid=moon\n  right=192.0.2.2\n  rightsubnet=10.2.0.0/16\n  rightid=sun\n  authby=psk\n  auto=add\n";

pub(super) fn snapshot() -> Snapshot {
    let src = conf::MemSource::default().with("/c", CONF);
    let config = conf::load_from(&src, std::path::Path::new("/c"), None).unwrap();
    let child = ChildSaView {
        conn: "gw".into(),
        child_id: 3,
        reqid: 1,
        mode: "TUNNEL".into(),
        spi_in: 0xc1d2e3f4,
        spi_out: 0x0000abcd,
        encap: true,
        proposal: "AES_CBC_128/HMAC_SHA2_256_128/ESN".into(),
        ts_local: vec!["10.1.0.0/16".into()],
        ts_remote: vec!["10.2.0.0/16".into()],
        established_secs_ago: 7,
        rekey_in_secs: Some(3317),
        rekeying: false,
        installed: true,
        counters: Some(Counters {
            bytes_in: 840,
            packets_in: 10,
            idle_in_secs: Some(2),
            bytes_out: 420,
            packets_out: 5,
            idle_out_secs: None,
        }),
    };
    let sa = IkeSaView {
        conn: "gw".into(),
        ike_id: 1,
        state: "ESTABLISHED".into(),
        initiator: true,
        local: "192.0.2.1:4500".parse().unwrap(),
        remote: "192.0.2.2:4500".parse().unwrap(),
        local_id: "moon".into(),
        remote_id: "sun".into(),
        remote_eap_id: None,
        spi_i: "0dcfa4e9bf4f0700".into(),
        spi_r: "85f9d7fc498e8bb3".into(),
        proposal: "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".into(),
        established_secs_ago: Some(10),
        rekey_in_secs: Some(13491),
        local_vips: vec![],
        remote_vips: vec!["10.3.0.1".parse().unwrap()],
        nat_local: false,
        nat_remote: true,
        nat_fake: false,
        children: vec![child],
    };
    let mut half = sa.clone();
    half.conn = "gw".into();
    half.ike_id = 2;
    half.state = "CONNECTING".into();
    half.initiator = false;
    half.established_secs_ago = None;
    half.rekey_in_secs = None;
    half.children.clear();
    Snapshot {
        report: StatusReport {
            version: "0.1.0".into(),
            uptime_secs: 12,
            ike_sas: vec![sa, half],
            stats: crate::daemon::status::Stats {
                half_open: 1,
                ..Default::default()
            },
            ..Default::default()
        },
        config: Arc::new(config),
        addrs: vec!["192.0.2.1".parse().unwrap()],
        scheduled: 2,
        pools: vec![super::PoolView {
            name: "10.3.0.0/28".into(),
            base: "10.3.0.0".parse().unwrap(),
            size: 14,
            online: 2,
            offline: 1,
            leases: vec![
                ("10.3.0.1".parse().unwrap(), "carol".into(), true),
                ("10.3.0.2".parse().unwrap(), "dave".into(), true),
                ("10.3.0.3".parse().unwrap(), "eve".into(), false),
            ],
        }],
        key_publics: Arc::default(),
    }
}

pub(super) fn keys(m: &Message) -> Vec<&str> {
    m.items.iter().map(|(k, _)| k.as_str()).collect()
}

fn list<'a>(m: &'a Message, k: &str) -> Vec<&'a str> {
    match m.get(k) {
        Some(Item::List(l)) => l.iter().map(|v| std::str::from_utf8(v).unwrap()).collect(),
        other => panic!("{k}: {other:?}"),
    }
}

#[test]
fn suites() {
    let a = parse_suite("AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048");
    assert_eq!(a.encr, Some(("AES_CBC".into(), Some(256))));
    assert_eq!(a.integ.as_deref(), Some("HMAC_SHA2_256_128"));
    assert_eq!(a.prf.as_deref(), Some("PRF_HMAC_SHA2_256"));
    assert_eq!(a.dh.as_deref(), Some("MODP_2048"));
    assert!(!a.esn);
    let g = parse_suite("AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384");
    assert_eq!(g.encr, Some(("AES_GCM_16".into(), Some(256))));
    assert_eq!((g.integ, g.dh.as_deref()), (None, Some("ECP_384")));
    let c = parse_suite("CHACHA20_POLY1305_256/PRF_HMAC_SHA2_256/CURVE_25519/ESN");
    assert_eq!(c.encr, Some(("CHACHA20_POLY1305".into(), Some(256))));
    assert_eq!(c.dh.as_deref(), Some("CURVE_25519"));
    assert!(c.esn);
    assert_eq!(parse_suite(""), Algs::default());
}

#[test]
fn times_like_strongswan() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_165_949);
    assert_eq!(format_time(t), "Dec 01 22:59:09 2026");
    assert_eq!(format_time(SystemTime::UNIX_EPOCH), "Jan 01 00:00:00 1970");
    let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
    assert_eq!(format_time(leap), "Feb 29 00:00:00 2000");
}

#[test]
fn version_and_stats() {
    let v = version("6.1.0-test");
    assert_eq!(
        keys(&v),
        ["daemon", "version", "sysname", "release", "machine"]
    );
    assert_eq!(v.get_str("daemon"), Some("iked"));
    assert_eq!(v.get_str("release"), Some("6.1.0-test"));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_165_961);
    let s = stats(&snapshot(), now);
    assert_eq!(
        keys(&s),
        [
            "uptime",
            "workers",
            "queues",
            "scheduled",
            "ikesas",
            "plugins"
        ]
    );
    let up = s.get_section("uptime").unwrap();
    assert_eq!(up.get_str("running"), Some("12 seconds"));
    assert_eq!(up.get_str("since"), Some("Dec 01 22:59:09 2026"));
    let ikesas = s.get_section("ikesas").unwrap();
    assert_eq!(ikesas.get_str("total"), Some("2"));
    assert_eq!(ikesas.get_str("half-open"), Some("1"));
    assert_eq!(s.get_str("scheduled"), Some("2"));
    assert!(list(&s, "plugins").contains(&"vici"));
}

#[test]
fn list_sa_like_charon() {
    let s = snapshot();
    let all = list_sas(&s, None, None);
    assert_eq!(all.len(), 2);
    assert_eq!(list_sas(&s, Some("gw"), Some(2)).len(), 1);
    assert!(list_sas(&s, Some("other"), None).is_empty());
    assert!(list_sas(&s, None, Some(9)).is_empty());
    let sa = all[0].get_section("gw").unwrap();
    assert_eq!(list(sa, "remote-vips"), ["10.3.0.1"]);
    // charon 5.9.8's keys, in its order (remote-vips: the README's place)
    assert_eq!(
        keys(sa),
        [
            "uniqueid",
            "version",
            "state",
            "local-host",
            "local-port",
            "local-id",
            "remote-host",
            "remote-port",
            "remote-id",
            "initiator",
            "initiator-spi",
            "responder-spi",
            "nat-remote",
            "nat-any",
            "encr-alg",
            "encr-keysize",
            "integ-alg",
            "prf-alg",
            "dh-group",
            "established",
            "rekey-time",
            "remote-vips",
            "child-sas"
        ]
    );
    for (k, v) in [
        ("uniqueid", "1"),
        ("version", "2"),
        ("state", "ESTABLISHED"),
        ("local-host", "192.0.2.1"),
        ("local-port", "4500"),
        ("remote-id", "sun"),
        ("initiator", "yes"),
        ("initiator-spi", "0dcfa4e9bf4f0700"),
        ("nat-remote", "yes"),
        ("nat-any", "yes"),
        ("encr-alg", "AES_CBC"),
        ("encr-keysize", "256"),
        ("dh-group", "MODP_2048"),
        ("established", "10"),
        ("rekey-time", "13491"),
    ] {
        assert_eq!(sa.get_str(k), Some(v), "{k}");
    }
    let c = sa
        .get_section("child-sas")
        .unwrap()
        .get_section("gw-3")
        .unwrap();
    for (k, v) in [
        ("name", "gw"),
        ("uniqueid", "3"),
        ("reqid", "1"),
        ("state", "INSTALLED"),
        ("mode", "TUNNEL"),
        ("protocol", "ESP"),
        ("encap", "yes"),
        ("spi-in", "c1d2e3f4"),
        ("spi-out", "0000abcd"),
        ("encr-alg", "AES_CBC"),
        ("encr-keysize", "128"),
        ("integ-alg", "HMAC_SHA2_256_128"),
        ("esn", "1"),
        ("bytes-in", "840"),
        ("packets-in", "10"),
        ("use-in", "2"),
        ("bytes-out", "420"),
        ("packets-out", "5"),
        ("rekey-time", "3317"),
        // lifetime=1h from installation, 7 s ago
        ("life-time", "3593"),
        ("install-time", "7"),
    ] {
        assert_eq!(c.get_str(k), Some(v), "{k}");
    }
    assert_eq!(c.get("use-out"), None, "never used outbound");
    assert_eq!(list(c, "local-ts"), ["10.1.0.0/16"]);
    assert_eq!(list(c, "remote-ts"), ["10.2.0.0/16"]);
    let mut eap = s.clone();
    eap.report.ike_sas[0].remote_eap_id = Some("carol".into());
    let e = list_sas(&eap, None, Some(1));
    let e = e[0].get_section("gw").unwrap();
    assert_eq!(e.get_str("remote-eap-id"), Some("carol"));
    assert_eq!(
        keys(e)[8..11],
        ["remote-id", "remote-eap-id", "initiator"],
        "after remote-id, as the README lists it"
    );
    // forceencaps: a faked NAT; nothing set, no flag at all.
    let mut nat = s.clone();
    let v = &mut nat.report.ike_sas[0];
    (v.nat_local, v.nat_remote, v.nat_fake) = (true, false, true);
    let n = list_sas(&nat, None, Some(1));
    let n = n[0].get_section("gw").unwrap();
    assert_eq!(keys(n)[12..15], ["nat-local", "nat-fake", "nat-any"]);
    nat.report.ike_sas[0].nat_local = false;
    nat.report.ike_sas[0].nat_fake = false;
    let n = list_sas(&nat, None, Some(1));
    let n = n[0].get_section("gw").unwrap();
    assert!(
        keys(n).iter().all(|k| !k.starts_with("nat-")),
        "{:?}",
        keys(n)
    );
    let half = all[1].get_section("gw").unwrap();
    assert_eq!(half.get_str("state"), Some("CONNECTING"));
    assert_eq!(half.get("initiator"), None);
    assert_eq!(half.get("established"), None);
    assert_eq!(half.get_section("child-sas"), Some(&Message::new()));
}

#[test]
fn list_conn_like_charon() {
    let s = snapshot();
    let v = list_conns(&s, None);
    assert_eq!(v.len(), 1);
    assert!(list_conns(&s, Some("nosuch")).is_empty());
    let c = v[0].get_section("gw").unwrap();
    assert_eq!(
        keys(c),
        [
            "local_addrs",
            "remote_addrs",
            "version",
            "reauth_time",
            "rekey_time",
            "unique",
            "local-1",
            "remote-1",
            "children"
        ]
    );
    assert_eq!(list(c, "local_addrs"), ["192.0.2.1"]);
    assert_eq!(list(c, "remote_addrs"), ["192.0.2.2"]);
    assert_eq!(c.get_str("version"), Some("IKEv2"));
    // ikelifetime 3h - margintime 9m
    assert_eq!(c.get_str("rekey_time"), Some("10260"));
    let l = c.get_section("local-1").unwrap();
    assert_eq!(l.get_str("class"), Some("pre-shared key"));
    assert_eq!(l.get_str("id"), Some("moon"));
    assert_eq!(
        c.get_section("remote-1").unwrap().get_str("id"),
        Some("sun")
    );
    let ch = c
        .get_section("children")
        .unwrap()
        .get_section("gw")
        .unwrap();
    assert_eq!(ch.get_str("mode"), Some("TUNNEL"));
    assert_eq!(ch.get_str("rekey_time"), Some("3060"));
    assert_eq!(list(ch, "local-ts"), ["10.1.0.0/16"]);
    assert_eq!(list(ch, "remote-ts"), ["10.2.0.0/16"]);
}

/// A scripted daemon loop: answers snapshots, records control requests,
/// and logs a line (through the VICI log layer) before answering an `up`.
pub(super) fn scripted_loop() -> (
    tokio::sync::mpsc::Sender<super::Query>,
    tokio::task::JoinHandle<Vec<crate::daemon::control::Request>>,
) {
    use super::Query;
    use crate::daemon::control::{Request, Response};
    use tracing_subscriber::layer::SubscriberExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Query>(4);
    let seen = tokio::spawn(async move {
        let mut reqs = Vec::new();
        while let Some(q) = rx.recv().await {
            match q {
                Query::Snapshot(t) => {
                    let _ = t.send(snapshot());
                }
                Query::Rekey(targets, t) => {
                    // Only CHILD_SA {3} can be rekeyed here.
                    let r = targets
                        .iter()
                        .map(|t| match t {
                            super::rekey::Target::Child(3) => Ok(()),
                            t => Err(format!("{t:?} refused")),
                        })
                        .collect();
                    let _ = t.send(r);
                }
                Query::Control(r, t) => {
                    if let Request::Up { conn } = &r {
                        let sub = tracing_subscriber::Registry::default().with(LogLayer);
                        tracing::subscriber::with_default(sub, || {
                            tracing::info!(target: "ike", "initiating IKE_SA {conn}[1] to 192.0.2.2");
                            tracing::info!(target: "ike", "IKE_SA other[7] is not this one");
                            tracing::debug!(target: "ike", "a debug line of {conn}[1]");
                        });
                    }
                    let ok = !matches!(r, Request::Reload);
                    let _ = t.send(if ok {
                        Response::ok(format!("did {r:?}"))
                    } else {
                        Response::err("reload failed")
                    });
                    reqs.push(r);
                }
            }
        }
        reqs
    });
    (tx, seen)
}

/// A client's way out, registered for `names`, and what reaches it.
pub(super) fn client(names: &[&str]) -> (Out, tokio::sync::mpsc::Receiver<Packet>) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let out = Out::new(tx);
    for n in names {
        out.register(n);
    }
    (out, rx)
}

/// The events queued for a client so far: (name, message).
fn drained(rx: &mut tokio::sync::mpsc::Receiver<Packet>) -> Vec<(String, Message)> {
    let mut v = Vec::new();
    while let Ok(p) = rx.try_recv() {
        if let Packet::Event { name, message } = p {
            v.push((name, message));
        }
    }
    v
}

pub(super) fn args(kv: &[(&str, &str)]) -> Message {
    let mut m = Message::new();
    for (k, v) in kv {
        m.kv(k, v);
    }
    m
}

/// The dispatcher against a scripted loop: snapshots, control requests,
/// streamed events.
#[tokio::test]
async fn dispatch() {
    use crate::daemon::control::Request;
    let (tx, seen) = scripted_loop();
    let (out, mut rx) = client(&["list-sa"]);
    let none = Message::new();
    assert_eq!(
        handle("no-such-command", &none, &tx, &out).await.unwrap(),
        None,
        "CMD_UNKNOWN"
    );
    let r = handle("list-sas", &none, &tx, &out).await.unwrap();
    assert_eq!(r, Some(Message::new()));
    let ev = drained(&mut rx);
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|(n, _)| n == "list-sa"));
    // Not registered: nothing streamed.
    let (quiet, mut qrx) = client(&[]);
    handle("list-sas", &none, &tx, &quiet).await.unwrap();
    assert!(drained(&mut qrx).is_empty());

    let r = handle(
        "initiate",
        &args(&[("child", "gw"), ("timeout", "5000")]),
        &tx,
        &out,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.get_str("success"), Some("yes"));
    let r = handle("initiate", &args(&[("child", "nosuch")]), &tx, &out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.get_str("success"), Some("no"));
    assert_eq!(
        r.get_str("errmsg"),
        Some("CHILD_SA config 'nosuch' not found")
    );

    let term = |kv: &'static [(&'static str, &'static str)]| {
        let tx = tx.clone();
        let out = out.clone();
        async move {
            handle("terminate", &args(kv), &tx, &out)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let r = term(&[("ike", "gw")]).await;
    assert_eq!(r.get_str("success"), Some("yes"));
    assert_eq!(
        (r.get_str("matches"), r.get_str("terminated")),
        (Some("2"), Some("2"))
    );
    // One IKE_SA by unique id, though two share the conn.
    let r = term(&[("ike-id", "1")]).await;
    assert_eq!(
        (r.get_str("success"), r.get_str("matches")),
        (Some("yes"), Some("1"))
    );
    let r = term(&[("ike", "other"), ("ike-id", "1")]).await;
    assert_eq!(
        r.get_str("errmsg"),
        Some("no matching SAs to terminate found")
    );
    // CHILD_SAs by unique id and by name.
    let r = term(&[("child-id", "3")]).await;
    assert_eq!(
        (r.get_str("success"), r.get_str("terminated")),
        (Some("yes"), Some("1"))
    );
    let r = term(&[("child", "gw")]).await;
    assert_eq!(
        (r.get_str("success"), r.get_str("matches")),
        (Some("yes"), Some("1"))
    );
    let r = term(&[("child-id", "4")]).await;
    assert_eq!(
        r.get_str("errmsg"),
        Some("no matching SAs to terminate found")
    );
    let r = term(&[("child-id", "x")]).await;
    assert_eq!(r.get_str("errmsg"), Some("invalid unique id"));
    let r = term(&[("ike", "other")]).await;
    assert_eq!(
        r.get_str("errmsg"),
        Some("no matching SAs to terminate found")
    );

    let r = handle("reload-settings", &none, &tx, &out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.get_str("success"), r.get_str("errmsg")),
        (Some("no"), Some("reload failed"))
    );
    drop(tx);
    let reqs = seen.await.unwrap();
    let child = |id| Request::DownChild {
        child_id: id,
        conn: Some("gw".into()),
    };
    assert_eq!(
        reqs,
        [
            Request::Up { conn: "gw".into() },
            Request::Down { conn: "gw".into() },
            Request::DownIke {
                ike_id: 1,
                conn: Some("gw".into())
            },
            child(3),
            child(3),
            Request::Reload
        ]
    );
}

/// `initiate` streams the log lines of its conn while it runs, at the
/// client's `loglevel`, to a client registered for `control-log`.
#[tokio::test]
async fn initiate_streams_control_log() {
    let (tx, _seen) = scripted_loop();
    let (out, mut rx) = client(&["control-log"]);
    let r = handle("initiate", &args(&[("child", "gw")]), &tx, &out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.get_str("success"), Some("yes"));
    let ev = drained(&mut rx);
    let msgs: Vec<&str> = ev
        .iter()
        .filter(|(n, _)| n == "control-log")
        .filter_map(|(_, m)| m.get_str("msg"))
        .collect();
    assert!(
        msgs.contains(&"initiating IKE_SA gw[1] to 192.0.2.2"),
        "{msgs:?}"
    );
    assert!(
        !msgs.iter().any(|m| m.contains("other[7]")),
        "another SA's line: {msgs:?}"
    );
    assert!(
        !msgs.iter().any(|m| m.contains("debug line")),
        "level 2 > loglevel 1: {msgs:?}"
    );
    let (_, m) = ev
        .iter()
        .find(|(_, m)| m.get_str("msg") == Some("initiating IKE_SA gw[1] to 192.0.2.2"))
        .unwrap();
    assert_eq!(
        keys(m),
        ["group", "level", "ikesa-name", "ikesa-uniqueid", "msg"],
        "control-log has no thread"
    );
    assert_eq!(
        (m.get_str("group"), m.get_str("level")),
        (Some("IKE"), Some("1"))
    );
    assert_eq!(
        (m.get_str("ikesa-name"), m.get_str("ikesa-uniqueid")),
        (Some("gw"), Some("1"))
    );

    // loglevel 2 lets the debug line through.
    let r = handle(
        "initiate",
        &args(&[("child", "gw"), ("loglevel", "2")]),
        &tx,
        &out,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.get_str("success"), Some("yes"));
    let ev = drained(&mut rx);
    assert!(
        ev.iter()
            .any(|(_, m)| m.get_str("msg") == Some("a debug line of gw[1]"))
    );
}

#[test]
fn log_lines_name_their_sa() {
    use super::events::sa_of;
    assert_eq!(
        sa_of("IKE_SA gw[3] established"),
        Some(("gw".into(), Some(3)))
    );
    assert_eq!(
        sa_of("CHILD_SA net-2{12} installed"),
        Some(("net-2".into(), None))
    );
    assert_eq!(
        sa_of("from 192.0.2.1[500] to 2001:db8::1[4500]: gw[2]"),
        Some(("gw".into(), Some(2)))
    );
    assert_eq!(
        sa_of("sending packet: from 192.0.2.1[500] to fe80::a[500]"),
        None
    );
    assert_eq!(sa_of("authentication of 'sun' successful"), None);
    assert_eq!(sa_of("x[] y[1a] [5] z{"), None);
    assert_eq!(
        sa_of("established between 192.0.2.1[moon]...192.0.2.2[sun]"),
        None
    );
}

/// The SA events' layout: list-sa's fields, `up`, old/new.
#[test]
fn sa_event_layouts() {
    use super::events::*;
    let s = snapshot();
    let sa = &s.report.ike_sas[0];
    let up = ike_updown(true, &s.config, sa);
    assert_eq!(keys(&up), ["up", "gw"]);
    let ike = up.get_section("gw").unwrap();
    assert_eq!(ike.get_str("uniqueid"), Some("1"));
    assert_eq!(
        ike.get_section("child-sas"),
        Some(&Message::new()),
        "ike-updown has no CHILD_SAs (an empty section for swanctl)"
    );
    let down = ike_updown(false, &s.config, sa);
    assert_eq!(keys(&down), ["gw"], "a down event has no 'up'");

    let child = &sa.children[0];
    let cu = child_updown(true, &s.config, sa, child);
    let cs = cu
        .get_section("gw")
        .unwrap()
        .get_section("child-sas")
        .unwrap();
    assert_eq!(keys(cs), ["gw-3"]);
    assert_eq!(
        cs.get_section("gw-3").unwrap().get_str("state"),
        Some("INSTALLED")
    );
    let cd = child_updown(false, &s.config, sa, child);
    let c = cd
        .get_section("gw")
        .unwrap()
        .get_section("child-sas")
        .unwrap()
        .get_section("gw-3")
        .unwrap();
    assert_eq!(c.get_str("state"), Some("DELETING"));
    assert_eq!(c.get_str("bytes-in"), Some("840"), "the last counters");

    let mut new = sa.clone();
    new.ike_id = 5;
    let r = ike_rekey(&s.config, sa, &new);
    let g = r.get_section("gw").unwrap();
    assert_eq!(keys(g), ["old", "new"]);
    assert_eq!(g.get_section("new").unwrap().get_str("uniqueid"), Some("5"));
    let mut nc = child.clone();
    nc.child_id = 4;
    let r = child_rekey(&s.config, sa, child, &nc);
    let pair = r
        .get_section("gw")
        .unwrap()
        .get_section("child-sas")
        .unwrap()
        .get_section("gw-4")
        .unwrap();
    assert_eq!(keys(pair), ["old", "new"]);
    assert_eq!(
        pair.get_section("old").unwrap().get_str("uniqueid"),
        Some("3")
    );
}

#[test]
fn get_pools_like_charon() {
    let m = get_pools(&snapshot(), &Message::new());
    assert_eq!(keys(&m), ["10.3.0.0/28"]);
    let p = m.get_section("10.3.0.0/28").unwrap();
    assert_eq!(keys(p), ["base", "size", "online", "offline"]);
    assert_eq!(
        [
            p.get_str("base"),
            p.get_str("size"),
            p.get_str("online"),
            p.get_str("offline")
        ],
        [Some("10.3.0.0"), Some("14"), Some("2"), Some("1")]
    );
    assert_eq!(
        get_pools(&snapshot(), &args(&[("name", "other")])),
        Message::new()
    );
    let m = get_pools(&snapshot(), &args(&[("leases", "yes")]));
    let p = m.get_section("10.3.0.0/28").unwrap();
    assert_eq!(keys(p), ["base", "size", "online", "offline", "leases"]);
    let l = p.get_section("leases").unwrap();
    assert_eq!(keys(l), ["0", "1", "2"]);
    let eve = l.get_section("2").unwrap();
    assert_eq!(keys(eve), ["address", "identity", "status"]);
    assert_eq!(
        [
            eve.get_str("address"),
            eve.get_str("identity"),
            eve.get_str("status")
        ],
        [Some("10.3.0.3"), Some("eve"), Some("offline")]
    );
}

#[test]
fn socket_uris() {
    assert_eq!(
        super::unix_path("unix:///var/run/charon.vici"),
        Some("/var/run/charon.vici".into())
    );
    assert_eq!(super::unix_path("tcp://127.0.0.1:4502"), None);
    assert_eq!(super::unix_path("unix://"), None);
}
