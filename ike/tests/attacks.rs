//! Attacks on the protocol core, each named after what it attacks, each
//! expected to fail (issue 13): two cores in memory (`ike::testing::Pair`)
//! and hand-made datagrams.

use ike::sa::{Event, IkeState};
use ike::testing::{A, B, Pair};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const PSK: &str = "@moon @sun : PSK \"attack-test-secret\"\n";

fn encaps() -> String {
    format!(
        "conn net-net\n  left={A}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon\n  right={B}\n  rightsubnet=10.2.0.0/16\n  rightid=@sun\n  authby=psk\n  forceencaps=yes\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    )
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn forged_message_from_another_port_does_not_move_the_ike_sa() {
    let mut p = Pair::same(&encaps(), PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let at = sa(&format!("{A}:4500"));
    assert_eq!(p.b.status(p.now)[0].remote, at, "NAT-T port in use");
    // A real request of a (its DELETE), held back; an on-path attacker flips
    // one encrypted byte and sends it from the peer's address, another port.
    assert_eq!(p.a.terminate(p.now, "net-net"), 1);
    let t = p.a.poll_transmit().expect("a's DELETE");
    let mut forged = t.data.clone();
    let n = forged.len();
    forged[n - 5] ^= 0x01;
    p.b_events.clear();
    let spoofed = sa(&format!("{A}:4999"));
    p.b.handle_datagram(p.now, t.remote, spoofed, &forged);
    p.drain();
    assert_eq!(p.b.status(p.now)[0].remote, at, "the IKE_SA did not move");
    assert!(
        !p.b_events
            .iter()
            .any(|e| matches!(e, Event::PeerMoved { .. })),
        "no ESP SA was moved: {:?}",
        p.b_events
    );
    assert!(p.b.counters().dropped >= 1, "the forgery is counted");
    // The genuine message from the new port (a real NAT mapping change) moves it.
    p.b.handle_datagram(p.now, t.remote, spoofed, &t.data);
    p.drain();
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::PeerMoved { remote, .. } if *remote == spoofed)),
        "{:?}",
        p.b_events
    );
}

#[test]
fn road_warrior_cannot_divert_its_outer_address_into_a_child_sa() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon\n  right=%any\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n"
    );
    // The client's second conn asks for its outer (maybe shared, CGNAT) address as TSi.
    let client = format!(
        "conn %default\n  left={A}\n  leftid=carol@strongswan.org\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@moon\n  authby=psk\n  auto=add\n\
         conn home\n  leftsourceip=%config\n\
         conn grab\n  leftsubnet={A}/32\n"
    );
    let s = "carol@strongswan.org @moon : PSK \"rw-secret\"\n";
    let mut p = Pair::new(&client, s, &gw, s);
    let id = p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    let vip: IpAddr = "10.3.0.1".parse().unwrap();
    assert_eq!(p.a.virtual_ips(id).0, vec![vip]);
    assert_eq!(
        p.a.initiate(p.now, "grab").unwrap(),
        id,
        "on the same IKE_SA"
    );
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(
        ib.len(),
        1,
        "only the virtual IP's CHILD_SA: {:?}",
        p.b_events
    );
    assert_eq!(ib[0].ts_remote[0].to_string(), "10.3.0.1/32");
    assert_eq!(p.b.status(p.now)[0].state, IkeState::Established);
    // The updown scripts see the addresses (PLUTO_PEER_SOURCEIP / PLUTO_MY_SOURCEIP).
    assert_eq!(ib[0].peer_sourceips, vec![vip]);
    assert!(ib[0].my_sourceips.is_empty());
    let ia = Pair::installs(&p.a_events);
    assert_eq!(ia[0].my_sourceips, vec![vip]);
    assert!(ia[0].peer_sourceips.is_empty());
}

#[test]
fn a_virtual_ip_child_sa_is_rekeyed_by_the_client() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon\n  right=%any\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n  lifetime=1h\n  margintime=1m\n"
    );
    let client = format!(
        "conn home\n  left={A}\n  leftid=carol@strongswan.org\n  leftsourceip=%config\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@moon\n  authby=psk\n  auto=add\n  lifetime=20s\n  margintime=8s\n  rekeyfuzz=0%\n"
    );
    let s = "carol@strongswan.org @moon : PSK \"rw-secret\"\n";
    let mut p = Pair::new(&client, s, &gw, s);
    p.until = p.now + Duration::from_secs(15);
    p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(
        ib.len(),
        2,
        "the client's rekey of its VIP CHILD_SA was accepted: {:?}",
        p.b_events
    );
    assert_eq!(ib[1].ts_remote[0].to_string(), "10.3.0.1/32");
}

#[test]
fn tunnel_mode_child_on_a_transport_conn_is_refused() {
    let gw = format!(
        "conn %default\n  left={B}\n  leftid=@sun\n  right={A}\n  rightid=@moon\n  authby=psk\n  auto=add\n\
         conn one\n  leftsubnet=10.2.0.0/16\n  rightsubnet=10.1.0.0/16\n\
         conn gre\n  type=transport\n  leftprotoport=gre\n  rightprotoport=gre\n"
    );
    let client = format!(
        "conn %default\n  left={A}\n  leftid=@moon\n  right={B}\n  rightid=@sun\n  authby=psk\n  auto=add\n\
         conn one\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\n\
         conn gre\n  leftprotoport=gre\n  rightprotoport=gre\n"
    );
    let mut p = Pair::new(&client, PSK, &gw, PSK);
    p.a.initiate(p.now, "one").unwrap();
    p.run_clean();
    p.a.initiate(p.now, "gre").unwrap();
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(
        ib.len(),
        1,
        "no tunnel-mode SA for the transport conn: {:?}",
        p.b_events
    );
    assert_eq!(ib[0].conn, "one");
}

#[test]
fn an_ike_sa_init_flood_stays_bounded_and_a_real_client_still_gets_in() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@sun\n  right=%any\n  rightid=@moon\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    let client = format!(
        "conn rw\n  left={A}\n  leftid=@moon\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@sun\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    let mut p = Pair::new(&client, PSK, &gw, PSK);
    // One real IKE_SA_INIT, replayed with fresh SPIs from 20 spoofed
    // addresses x 10 ports (a documentation prefix): 200 requests.
    let mut flooder = ike::testing::endpoint(&client, PSK, A, 77, 1);
    flooder.initiate(p.now, "rw").unwrap();
    let init = flooder.poll_transmit().expect("an IKE_SA_INIT").data;
    let to = sa(&format!("{B}:500"));
    let mut n = 0u32;
    for host in 100..120 {
        for port in 0..10u16 {
            n += 1;
            let mut d = init.clone();
            d[..4].copy_from_slice(&n.to_be_bytes());
            let from = sa(&format!("198.51.100.{host}:{}", 1024 + port));
            p.b.handle_datagram(p.now, to, from, &d);
        }
    }
    let half_open = p.b.status(p.now).len();
    let c = p.b.counters();
    // cookie_threshold: strongSwan 5.9's default, 30 half-open IKE_SAs
    assert!(half_open <= 30, "half-open IKE_SAs bounded: {half_open}");
    assert!(c.cookies_sent >= 150, "COOKIEs demanded: {c:?}");
    while p.b.poll_transmit().is_some() {}
    // A real client: asked for a COOKIE too, retries with it, gets its tunnel.
    p.a.initiate(p.now, "rw").unwrap();
    p.run_clean();
    let est: Vec<_> =
        p.b.status(p.now)
            .into_iter()
            .filter(|s| s.state == IkeState::Established)
            .collect();
    assert_eq!(est.len(), 1, "the client is in");
    assert_eq!(Pair::installs(&p.a_events).len(), 1);
    // Many half-open SAs from one address: blocked beyond block_threshold.
    let mut q = Pair::new(&client, PSK, &gw, PSK);
    q.b.set_cookie_threshold(1000);
    let mut s = q.b.counters();
    for i in 0..20u32 {
        let mut d = init.clone();
        d[..4].copy_from_slice(&(1000 + i).to_be_bytes());
        let from = sa(&format!("198.51.100.7:{}", 2000 + i));
        q.b.handle_datagram(q.now, to, from, &d);
        s = q.b.counters();
    }
    assert!(
        q.b.status(q.now).len() <= 5,
        "{} half-open from one source",
        q.b.status(q.now).len()
    );
    assert!(s.cookies_sent > 0 || s.init_dropped > 0, "{s:?}");
}

/// `count` ranges 10.2.N.1-10.2.N.254 (14 prefixes each) as a leftsubnet.
fn ranges(count: u8) -> String {
    (0..count)
        .map(|n| format!("10.2.{n}.1-10.2.{n}.254"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn one_child_sa_cannot_cost_unbounded_kernel_policies() {
    let gw = format!(
        "conn net\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@sun\n  right={A}\n  rightsubnet=10.0.0.0/8\n  rightid=@moon\n  authby=psk\n  auto=add\n"
    );
    let client = |n: u8| {
        format!(
            "conn net\n  left={A}\n  leftsubnet={}\n  leftid=@moon\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@sun\n  authby=psk\n  auto=add\n",
            ranges(n)
        )
    };
    // 10 ranges x 14 prefixes = 140 selector pairs: over the 128 allowed.
    let mut p = Pair::new(&client(10), PSK, &gw, PSK);
    p.a.initiate(p.now, "net").unwrap();
    p.run_clean();
    assert!(Pair::installs(&p.b_events).is_empty(), "{:?}", p.b_events);
    assert!(
        Pair::installs(&p.a_events).is_empty(),
        "the client learns TS_UNACCEPTABLE: {:?}",
        p.a_events
    );
    // 5 ranges = 70 pairs: accepted, every range kept.
    let mut p = Pair::new(&client(5), PSK, &gw, PSK);
    p.a.initiate(p.now, "net").unwrap();
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(ib.len(), 1, "{:?}", p.b_events);
    assert_eq!(ib[0].ts_remote.len(), 5);
}

#[test]
fn a_peer_cannot_pile_up_child_sas_beyond_the_cap() {
    let gw = format!(
        "conn net\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@sun\n  right={A}\n  rightsubnet=10.2.0.0/16\n  rightid=@moon\n  authby=psk\n  auto=add\n"
    );
    let mut client = format!(
        "conn %default\n  left={A}\n  leftid=@moon\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@sun\n  authby=psk\n  auto=add\n"
    );
    for i in 0..5 {
        client.push_str(&format!("conn c{i}\n  leftsubnet=10.2.{i}.0/24\n"));
    }
    let mut p = Pair::new(&client, PSK, &gw, PSK);
    p.b.set_settings(ike::sa::CoreSettings {
        max_child_sas: 3,
        ..Default::default()
    });
    let id = p.a.initiate(p.now, "c0").unwrap();
    p.run_clean();
    for i in 1..5 {
        assert_eq!(p.a.initiate(p.now, &format!("c{i}")).unwrap(), id);
        p.run_clean();
    }
    assert_eq!(Pair::installs(&p.b_events).len(), 3, "{:?}", p.b_events);
    assert!(p.b.counters().refused >= 2, "{:?}", p.b.counters());
    // The IKE_SA and its three CHILD_SAs stay.
    assert_eq!(p.b.status(p.now)[0].state, IkeState::Established);
    assert_eq!(p.b.status(p.now)[0].children.len(), 3);
}

#[test]
fn an_ike_sa_rekey_right_after_establishment_is_refused_for_now() {
    let gw = format!(
        "conn net\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@sun\n  right={A}\n  rightsubnet=10.2.0.0/16\n  rightid=@moon\n  authby=psk\n  auto=add\n"
    );
    // The client rekeys its IKE_SA one second after it is up.
    let client = format!(
        "conn net\n  left={A}\n  leftsubnet=10.2.0.0/16\n  leftid=@moon\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@sun\n  authby=psk\n  auto=add\n  ikelifetime=61s\n  margintime=60s\n  rekeyfuzz=0%\n"
    );
    // Ten simulated minutes: unthrottled that would be ~600 IKE_SA rekeys.
    let mut p = Pair::new(&client, PSK, &gw, PSK);
    p.a.initiate(p.now, "net").unwrap();
    p.run_clean();
    let st = p.b.status(p.now);
    assert_eq!(st.len(), 1, "{st:?}");
    // Each too-early rekey got TEMPORARY_FAILURE; the client tried again
    // about 30 s later, which was accepted.
    let refused = p.b.counters().refused;
    assert!((15..=25).contains(&refused), "refused {refused}");
    assert!(st[0].ike_id < 2 * 25, "IKE_SA ids used: {}", st[0].ike_id);
    // The tunnel never dropped: the first CHILD_SA is still there.
    assert_eq!(st[0].children.len(), 1);
    assert!(st[0].children[0].established_secs_ago >= 590, "{st:?}");
}

/// What the cores logged while `f` ran (one thread).
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let w = sink.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || w.clone())
        .finish();
    let out = tracing::subscriber::with_default(sub, f);
    let text = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    (out, text)
}

#[test]
fn pool_lines_operators_grep_are_logged_as_strongswan_words_them() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon\n  right=%any\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n"
    );
    let client = format!(
        "conn home\n  left={A}\n  leftid=carol@strongswan.org\n  leftsourceip=%config\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@moon\n  authby=psk\n  auto=add\n"
    );
    let s = "carol@strongswan.org @moon : PSK \"rw-secret\"\n";
    let (_, log) = logged(|| {
        let mut p = Pair::new(&client, s, &gw, s);
        p.a.initiate(p.now, "home").unwrap();
        p.run_clean();
        assert_eq!(p.b.status(p.now)[0].state, IkeState::Established);
    });
    for line in [
        "adding virtual IP address pool 10.3.0.0/28",
        "peer requested virtual IP %any",
        "assigning new lease 10.3.0.1 to 'carol@strongswan.org'",
        "assigning virtual IP 10.3.0.1 to peer 'carol@strongswan.org'",
        "installing new virtual IP 10.3.0.1",
    ] {
        assert!(log.contains(line), "'{line}' not logged:\n{log}");
    }
}

/// With the daemon's worker threads (`offload_key_exchanges`), an
/// IKE_SA_INIT flood's key exchanges wait for the workers, not the event
/// loop: meanwhile an established IKE_SA's liveness check is answered at
/// once, a retransmitted INIT is not answered (nothing to answer yet), and
/// `init_limit_job_load` drops the INITs beyond the waiting key exchanges.
#[test]
fn an_init_flood_waits_for_the_workers_and_established_sas_are_still_served() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@sun\n  right=%any\n  rightid=@moon\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    let client = format!(
        "conn rw\n  left={A}\n  leftid=@moon\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@sun\n  authby=psk\n  dpddelay=10s\n  dpdaction=clear\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    let mut p = Pair::new(&client, PSK, &gw, PSK);
    p.b.offload_key_exchanges(true);
    p.until = p.now;
    p.a.initiate(p.now, "rw").unwrap();
    p.run_clean();
    assert_eq!(
        p.b.status(p.now).len(),
        1,
        "the client is in (via the workers)"
    );
    p.b.set_settings(ike::sa::CoreSettings {
        cookie_threshold: 1000,
        cookie_threshold_ip: 1000,
        init_limit_job_load: 8,
        ..Default::default()
    });
    let mut flooder = ike::testing::endpoint(&client, PSK, A, 78, 1);
    flooder.initiate(p.now, "rw").unwrap();
    let init = flooder.poll_transmit().expect("an IKE_SA_INIT").data;
    let to = sa(&format!("{B}:500"));
    let first = sa("198.51.100.50:500");
    for i in 0..20u32 {
        let mut d = init.clone();
        d[..4].copy_from_slice(&(i + 1).to_be_bytes());
        let from = sa(&format!("198.51.100.{}:500", 50 + i));
        p.b.handle_datagram(p.now, to, from, &d);
    }
    assert_eq!(p.b.counters().init_dropped, 12, "{:?}", p.b.counters());
    assert_eq!(p.b.half_open(), 8);
    assert!(
        p.b.poll_transmit().is_none(),
        "no answer before the key exchange"
    );
    // The first flooder retransmits: still nothing to answer.
    let mut d = init.clone();
    d[..4].copy_from_slice(&1u32.to_be_bytes());
    p.b.handle_datagram(p.now, to, first, &d);
    assert!(
        p.b.poll_transmit().is_none(),
        "no empty answer to a retransmit"
    );
    // The client's liveness check is answered while 8 key exchanges wait.
    p.now += Duration::from_secs(10);
    p.a.handle_timeout(p.now);
    let dpd = p.a.poll_transmit().expect("the client's liveness check");
    p.b.handle_datagram(p.now, dpd.remote, dpd.local, &dpd.data);
    let answer = p.b.poll_transmit().expect("answered at once");
    p.a.handle_datagram(p.now, answer.remote, answer.local, &answer.data);
    assert_eq!(p.a.status(p.now)[0].state, IkeState::Established);
    // The workers finish: each waiting flooder gets its IKE_SA_INIT answer.
    let mut jobs = 0;
    let mut rng = ike::testing::TestRng(5);
    while let Some(j) = p.b.poll_key_job() {
        jobs += 1;
        p.b.key_job_done(j.run(&mut rng));
    }
    assert_eq!(jobs, 8);
    let mut answers = 0;
    while let Some(t) = p.b.poll_transmit() {
        assert!(t.remote.ip().to_string().starts_with("198.51.100."));
        answers += 1;
    }
    assert_eq!(answers, 8);
}

/// Runs `c` (a third peer at `addr`) against the gateway `p.b` until quiet:
/// datagrams both ways, the kernel's yes to every CHILD_SA.
fn shuttle(p: &mut Pair, c: &mut ike::sa::Endpoint, addr: &str) -> Vec<ike::sa::Event> {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let mut moved = false;
        while let Some(t) = c.poll_transmit() {
            moved = true;
            p.b.handle_datagram(p.now, t.remote, t.local, &t.data);
        }
        while let Some(t) = p.b.poll_transmit() {
            moved = true;
            if t.remote.ip().to_string() == addr {
                c.handle_datagram(p.now, t.remote, t.local, &t.data);
            }
        }
        while let Some(e) = p.b.poll_event() {
            moved = true;
            if let Event::InstallChild(i) = &e {
                p.b.child_installed(p.now, i.child_id, Ok(()));
            }
            p.b_events.push(e);
        }
        while let Some(e) = c.poll_event() {
            moved = true;
            if let Event::InstallChild(i) = &e {
                c.child_installed(p.now, i.child_id, Ok(()));
            }
            seen.push(e);
        }
        if !moved {
            break;
        }
    }
    seen
}

/// A hub for branch offices (`rightsubnet=10.9.0.0/16` for every branch):
/// alice's branch holds 10.9.1.0/24. bob, authenticated with his own PSK,
/// asks for the same subnet: refused (TS_UNACCEPTABLE), so the hub's policy
/// for alice's subnet stays alice's; his own subnet he gets.
#[test]
fn a_peer_cannot_claim_the_subnet_of_another_peers_child_sa() {
    let hub = format!(
        "conn branches\n  left={B}\n  leftid=@hq\n  leftsubnet=10.1.0.0/16\n  right=%any\n  rightid=%any\n  rightsubnet=10.9.0.0/16\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    let branch = |addr: &str, id: &str, subnet: &str| {
        format!(
            "conn hq\n  left={addr}\n  leftid=@{id}\n  leftsubnet={subnet}\n  right={B}\n  rightid=@hq\n  rightsubnet=10.1.0.0/16\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
        )
    };
    let secrets = "@hq @alice : PSK \"alice-secret\"\n@hq @bob : PSK \"bob-secret\"\n";
    let mut p = Pair::new(&branch(A, "alice", "10.9.1.0/24"), secrets, &hub, secrets);
    p.a.initiate(p.now, "hq").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.b_events).len(), 1, "alice is in");
    let bob_at = "192.0.2.3";
    for (subnet, wanted) in [("10.9.1.0/24", 0), ("10.9.1.128/25", 0), ("10.9.2.0/24", 1)] {
        let mut bob = ike::testing::endpoint(
            &branch(bob_at, "bob", subnet),
            secrets,
            bob_at,
            9,
            0x7000_0000,
        );
        bob.initiate(p.now, "hq").unwrap();
        let seen = shuttle(&mut p, &mut bob, bob_at);
        let installs = seen
            .iter()
            .filter(|e| matches!(e, Event::InstallChild(_)))
            .count();
        assert_eq!(installs, wanted, "bob asking for {subnet}: {seen:?}");
        let hub_children: usize = p.b.status(p.now).iter().map(|s| s.children.len()).sum();
        assert_eq!(hub_children, 1 + wanted, "bob asking for {subnet}");
        // alice's CHILD_SA is untouched either way
        let alice =
            p.b.status(p.now)
                .into_iter()
                .find(|s| s.remote_id == "alice")
                .unwrap();
        assert_eq!(alice.children.len(), 1);
        assert_eq!(alice.children[0].ts_remote[0].to_string(), "10.9.1.0/24");
        if wanted == 1 {
            assert!(bob.terminate(p.now, "hq") > 0);
            shuttle(&mut p, &mut bob, bob_at);
        }
    }
}

/// Two CHILD_SAs of one gateway conn to one address (two identities on one
/// host, or two clients behind one NAT) get a reqid each: the kernel picks
/// an outbound SA by (peer address, reqid), so with one reqid the traffic
/// for the first CHILD_SA went out through the second's SA — encrypted for
/// the other peer (found by the guest scenario iked-flood).
#[test]
fn two_child_sas_to_one_address_never_share_a_reqid() {
    let gw = format!(
        "conn gw\n  left={B}\n  leftid=@gw\n  leftsubnet=203.0.113.1/32\n  right=%any\n  rightid=%any\n  rightsubnet=198.51.100.0/24\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    let conn = |name: &str, id: &str, sub: &str| {
        format!(
            "conn {name}\n  left={A}\n  leftid=@{id}\n  leftsubnet={sub}\n  right={B}\n  rightid=@gw\n  rightsubnet=203.0.113.1/32\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
        )
    };
    let client = conn("est", "est", "198.51.100.1/32") + &conn("late", "late", "198.51.100.2/32");
    let secrets = ": PSK \"reqid-test-secret\"\n";
    let mut p = Pair::new(&client, secrets, &gw, secrets);
    p.a.initiate(p.now, "est").unwrap();
    p.run_clean();
    p.a.initiate(p.now, "late").unwrap();
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(ib.len(), 2, "{ib:?}");
    assert_eq!(ib[0].remote, ib[1].remote, "one peer address");
    assert_ne!(ib[0].reqid, ib[1].reqid, "a reqid per set of selectors");
    // the first keeps the conn's own reqid (its trap policies' one)
    let st = p.b.status(p.now);
    assert!(st.iter().all(|s| s.children.len() == 1), "{st:?}");
}
