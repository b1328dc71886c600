//! strongswan.conf's `charon.*` settings change what the protocol core does:
//! each test loads a strongswan.conf text the way the daemon does
//! (`conf::load_all`, then `core_settings` and the `Config` into the core, as
//! `daemon::core::Core::set_config` does) and watches two cores in memory.

use ike::daemon::core::core_settings;
use ike::sa::{Endpoint, Event};
use ike::testing::{A, B, Pair};
use ike::wire::{CfgAttribute, ExchangeType, Payload};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NET: &str = "conn net-net\n  left=192.0.2.1\n  leftsubnet=10.1.0.0/16\n  leftid=@moon.strongswan.org\n  right=192.0.2.2\n  rightsubnet=10.2.0.0/16\n  rightid=@sun.strongswan.org\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n";
const PSK: &str =
    "@moon.strongswan.org @sun.strongswan.org : PSK \"0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL\"\n";

/// Gives `ep` the configuration of ipsec.conf `conf` plus strongswan.conf `sw`.
fn apply(ep: &mut Endpoint, conf: &str, secrets: &str, sw: &str) {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", conf)
        .with("/etc/ipsec.secrets", secrets)
        .with("/etc/strongswan.conf", sw);
    let cfg = conf::load_all(
        &src,
        "/etc/ipsec.conf".as_ref(),
        Some("/etc/ipsec.secrets".as_ref()),
        Some("/etc/strongswan.conf".as_ref()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    ep.set_settings(core_settings(&cfg.strongswan.charon));
    ep.set_config(Arc::new(cfg));
}

fn pair(sw_a: &str, sw_b: &str) -> Pair {
    let mut p = Pair::same(NET, PSK);
    apply(&mut p.a, NET, PSK, sw_a);
    apply(&mut p.b, NET, PSK, sw_b);
    p
}

/// Initiates towards a peer that never answers: (seconds until the IKE_SA
/// gives up, datagrams sent).
fn give_up(sw: &str) -> (f64, usize) {
    let mut p = pair(sw, "");
    let start = p.now;
    p.a.initiate(p.now, "net-net").unwrap();
    p.run(|_, _, _| 0);
    assert!(
        p.a_events.iter().any(
            |e| matches!(e, Event::IkeDown { reason, .. } if reason.contains("not responding"))
        ),
        "{:?}",
        p.a_events
    );
    (p.now.duration_since(start).as_secs_f64(), p.log.len())
}

#[test]
fn retransmit_settings_shape_the_schedule() {
    // 1 + 2 + 4: three sends (the request and two retransmits), then give up.
    let (secs, sent) = give_up(
        "charon {\n  retransmit_tries = 2\n  retransmit_timeout = 1\n  retransmit_base = 2\n}\n",
    );
    assert_eq!(sent, 3);
    assert!((6.9..7.1).contains(&secs), "{secs}");
    // retransmit_limit caps every wait: 2 + 5 + 5 + 5.
    let (secs, sent) = give_up(
        "charon {\n  retransmit_tries = 3\n  retransmit_timeout = 2\n  retransmit_base = 3\n  retransmit_limit = 5\n}\n",
    );
    assert_eq!(sent, 4);
    assert!((16.9..17.1).contains(&secs), "{secs}");
    // ... the first wait too (as strongSwan's): 3 + 3 + 3.
    let (secs, sent) = give_up(
        "charon {\n  retransmit_tries = 2\n  retransmit_timeout = 10\n  retransmit_limit = 3\n}\n",
    );
    assert_eq!(sent, 3);
    assert!((8.9..9.1).contains(&secs), "{secs}");
    // Without settings: strongSwan's 165 s and six sends (pair.rs).
    let (secs, sent) = give_up("");
    assert_eq!(sent, 6);
    assert!((164.0..166.0).contains(&secs), "{secs}");
}

/// Delivers `n` IKE_SA_INITs from `n` initiators at `A` (one IKE_SA each) to
/// `b`; its answers are dropped.
fn inits_to_b(p: &mut Pair, n: u64) {
    for i in 0..n {
        let mut a = ike::testing::endpoint(NET, PSK, A, 100 + i, 0xe000_0000 + 0x100 * i as u32);
        a.initiate(p.now, "net-net").unwrap();
        while let Some(t) = a.poll_transmit() {
            p.b.handle_datagram(p.now, t.remote, t.local, &t.data);
        }
    }
    while p.b.poll_transmit().is_some() {}
}

#[test]
fn half_open_timeout_drops_a_responders_half_open_ike_sa() {
    for (sw, alive_at, gone_at) in [
        ("charon {\n  half_open_timeout = 10s\n}\n", 9, 11),
        ("", 29, 31),
    ] {
        let mut p = pair("", sw);
        let start = p.now;
        inits_to_b(&mut p, 1);
        assert_eq!(p.b.half_open(), 1);
        p.b.handle_timeout(start + Duration::from_secs(alive_at));
        assert_eq!(p.b.half_open(), 1, "{sw:?} at {alive_at} s");
        p.b.handle_timeout(start + Duration::from_secs(gone_at));
        assert_eq!(p.b.half_open(), 0, "{sw:?} at {gone_at} s");
        assert!(p.b.status(start + Duration::from_secs(gone_at)).is_empty());
    }
}

#[test]
fn half_open_limits_come_from_strongswan_conf() {
    // Four IKE_SA_INITs from one address, each with its own IKE_SA.
    let cases = [
        // (strongswan.conf, half-open kept, dropped, COOKIEs demanded)
        // strongSwan's defaults: the fourth from one address must send a COOKIE.
        ("", 3, 0, 1),
        ("charon {\n  cookie_threshold_ip = 1\n}\n", 1, 0, 3),
        ("charon {\n  cookie_threshold_ip = 10\n}\n", 4, 0, 0),
        (
            "charon {\n  cookie_threshold_ip = 10\n  init_limit_half_open = 2\n}\n",
            2,
            2,
            0,
        ),
        (
            "charon {\n  cookie_threshold_ip = 10\n  block_threshold = 3\n}\n",
            3,
            1,
            0,
        ),
        (
            "charon {\n  cookie_threshold_ip = 10\n  cookie_threshold = 2\n}\n",
            2,
            0,
            2,
        ),
    ];
    for (sw, kept, dropped, cookies) in cases {
        let mut p = pair("", sw);
        inits_to_b(&mut p, 4);
        let c = p.b.counters();
        assert_eq!(
            (p.b.half_open(), c.init_dropped, c.cookies_sent),
            (kept, dropped, cookies),
            "{sw:?}"
        );
    }
}

#[test]
fn cookie_threshold_zero_makes_every_initiator_send_a_cookie() {
    let mut p = pair("", "charon {\n  cookie_threshold = 0\n}\n");
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "{:?}", p.a_events);
    assert_eq!(
        p.log.len(),
        6,
        "INIT, COOKIE, INIT again, its answer, AUTH, AUTH"
    );
    assert_eq!(p.b.counters().cookies_sent, 1);
}

#[test]
fn dns_and_nbns_servers_are_handed_to_clients() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon.strongswan.org\n  right=%any\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n"
    );
    let client = format!(
        "conn home\n  left={A}\n  leftsourceip=%config\n  leftid=carol@strongswan.org\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@moon.strongswan.org\n  authby=psk\n  auto=add\n"
    );
    let s = "carol@strongswan.org @moon.strongswan.org : PSK \"rw-secret\"\n";
    let mut p = Pair::new(&client, s, &gw, s);
    apply(
        &mut p.b,
        &gw,
        s,
        "charon {\n  dns1 = 198.51.100.53\n  dns2 = 2001:db8::53\n  nbns1 = 198.51.100.137\n}\n",
    );
    let seen: Arc<Mutex<Vec<CfgAttribute>>> = Arc::default();
    let log = seen.clone();
    p.b.set_rewrite(move |ex, response, payloads| {
        if ex == ExchangeType::IKE_AUTH && response {
            for pl in payloads.iter() {
                if let Payload::Cp(cp) = pl {
                    log.lock().unwrap().extend(cp.attributes.iter().cloned());
                }
            }
        }
    });
    p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "{:?}", p.a_events);
    let got = seen.lock().unwrap().clone();
    let v4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    for want in [
        CfgAttribute::InternalIp4Address(Some(v4("10.3.0.1"))),
        CfgAttribute::InternalIp4Dns(Some(v4("198.51.100.53"))),
        CfgAttribute::InternalIp6Dns(Some("2001:db8::53".parse::<Ipv6Addr>().unwrap())),
        CfgAttribute::InternalIp4Nbns(Some(v4("198.51.100.137"))),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
}

/// Runs `p` with a NAT in front of `a` (192.0.2.1 seen as 198.51.100.7) for
/// `secs` simulated seconds after the tunnel is up: the keepalives `a` sent.
fn keepalives_behind_nat(p: &mut Pair, secs: u64) -> usize {
    let nat = |port: u16| -> SocketAddr { (IpAddr::from([198, 51, 100, 7]), port + 40000).into() };
    let back = |port: u16| -> SocketAddr { (A.parse::<IpAddr>().unwrap(), port - 40000).into() };
    p.a.initiate(p.now, "net-net").unwrap();
    let mut keepalives = 0;
    let rounds = 10 + secs;
    for round in 0..rounds {
        while let Some(t) = p.a.poll_transmit() {
            if t.data == [0xff] {
                keepalives += 1;
                continue;
            }
            p.b.handle_datagram(p.now, t.remote, nat(t.local.port()), &t.data);
        }
        p.drain();
        while let Some(t) = p.b.poll_transmit() {
            p.a.handle_datagram(p.now, back(t.remote.port()), t.local, &t.data);
        }
        p.drain();
        if round >= 10 {
            p.now += Duration::from_secs(1);
            p.a.handle_timeout(p.now);
            p.b.handle_timeout(p.now);
        }
    }
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "{:?}", p.a_events);
    keepalives
}

#[test]
fn keep_alive_sets_the_nat_t_keepalive_interval() {
    let conf_b = NET.replace("left=192.0.2.1", "left=%any");
    let run = |sw: &str| {
        let mut p = Pair::new(NET, PSK, &conf_b, PSK);
        apply(&mut p.a, NET, PSK, sw);
        keepalives_behind_nat(&mut p, 100)
    };
    // 100 s: every 20 s by default, every 10 s with keep_alive = 10s, never with 0.
    assert!((4..=5).contains(&run("")), "{}", run(""));
    let ten = run("charon {\n  keep_alive = 10s\n}\n");
    assert!((9..=10).contains(&ten), "{ten}");
    assert_eq!(run("charon {\n  keep_alive = 0\n}\n"), 0);
}

#[test]
fn fragment_size_bounds_the_ike_datagrams() {
    // 30 subnets on one side: an IKE_AUTH of about 800 octets, under the
    // default 1280 (30 selector pairs, under the cap of 128).
    let nets = (0..30)
        .map(|i| format!("10.1.{i}.0/24"))
        .collect::<Vec<_>>()
        .join(",");
    let conf = NET.replace("leftsubnet=10.1.0.0/16", &format!("leftsubnet={nets}"));
    let run = |sw: &str| {
        let mut p = Pair::same(&conf, PSK);
        apply(&mut p.a, &conf, PSK, sw);
        apply(&mut p.b, &conf, PSK, sw);
        p.a.initiate(p.now, "net-net").unwrap();
        p.run_clean();
        assert_eq!(Pair::installs(&p.a_events).len(), 1, "{:?}", p.a_events);
        p.log.iter().map(|(_, n)| *n).collect::<Vec<usize>>()
    };
    let whole = run("");
    assert_eq!(whole.len(), 4, "INIT, INIT, AUTH, AUTH: {whole:?}");
    assert!(whole[2] > 576 && whole[2] <= 1280, "{whole:?}");
    // strongSwan's fragment_size is the whole IP datagram: the IKE message
    // (the UDP payload, port 500: no non-ESP marker) leaves room for the
    // IPv4 and UDP headers
    let small = run("charon {\n  fragment_size = 576\n}\n");
    assert!(small.len() > 4, "IKE_AUTH in fragments: {small:?}");
    assert!(small.iter().all(|&n| n + 28 <= 576), "{small:?}");
    assert!(small[2..].iter().any(|&n| n + 28 > 500), "{small:?}");
    // 0: the per-family default, 576 for IPv4 (strongSwan's)
    let zero = run("charon {\n  fragment_size = 0\n}\n");
    assert_eq!(zero.len(), small.len(), "{zero:?} {small:?}");
    assert!(zero.iter().all(|&n| n + 28 <= 576), "{zero:?}");
}
