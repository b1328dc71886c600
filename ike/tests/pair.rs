//! Two protocol cores exchanging datagrams in memory with a simulated clock
//! (the `Pair` of DESIGN.md): every exchange, with loss and duplication.

use ike::crypto::Provider;
use ike::sa::{ChildSaInstall, Endpoint, Event, IkeState, Mode};
use ike::testing::{A, B, CountingSpis as Spis, Pair, TestRng, config};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

fn net2net(ike: &str, esp: &str) -> String {
    format!(
        "conn net-net\n  left={A}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon.strongswan.org\n  right={B}\n  rightsubnet=10.2.0.0/16\n  rightid=@sun.strongswan.org\n  authby=psk\n  ike={ike}\n  esp={esp}\n  auto=add\n"
    )
}

const PSK: &str =
    "@moon.strongswan.org @sun.strongswan.org : PSK \"0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL\"\n";

fn assert_mirrored(a: &ChildSaInstall, b: &ChildSaInstall) {
    assert_eq!(a.spi_in, b.spi_out);
    assert_eq!(a.spi_out, b.spi_in);
    assert_eq!(a.keys_in, b.keys_out);
    assert_eq!(a.keys_out, b.keys_in);
    assert_ne!(a.keys_in, a.keys_out);
    assert_eq!(a.ts_local, b.ts_remote);
    assert_eq!(a.ts_remote, b.ts_local);
    assert_eq!((a.local, a.remote), (b.remote, b.local));
    assert_eq!(a.encr, b.encr);
    assert_eq!(a.integ, b.integ);
}

#[test]
fn psk_gcm_x25519_net_to_net() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!(
        (ia.len(), ib.len()),
        (1, 1),
        "a: {:?}\nb: {:?}",
        p.a_events,
        p.b_events
    );
    assert_mirrored(ia[0], ib[0]);
    let c = ia[0];
    assert_eq!(c.mode, Mode::Tunnel);
    assert_eq!(c.ts_local[0].to_string(), "10.1.0.0/16");
    assert_eq!(c.ts_remote[0].to_string(), "10.2.0.0/16");
    assert_eq!(c.keys_in.encr.len(), 16 + 4, "AES-128 key + salt");
    assert!(c.integ.is_none());
    assert_eq!(c.encap, None);
    let sa = p.a.status(p.now);
    assert_eq!(sa.len(), 1);
    assert_eq!(sa[0].state, IkeState::Established);
    assert_eq!(sa[0].remote_id, "sun.strongswan.org");
    assert_eq!(
        sa[0].proposal,
        "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    assert_eq!(p.b.status(p.now)[0].children[0].spi_in, ib[0].spi_in);
    // 4 datagrams: IKE_SA_INIT and IKE_AUTH request + response.
    assert_eq!(p.log.len(), 4);
}

#[test]
fn psk_cbc_modp2048_with_swapped_config() {
    // The responder's file has left/right swapped: local-side detection handles it.
    let conf_a = net2net("aes256-sha256-modp2048!", "aes256-sha256-modp2048!");
    let conf_b = format!(
        "conn net-net\n  right={A}\n  rightsubnet=10.1.0.0/16\n  rightid=@moon.strongswan.org\n  left={B}\n  leftsubnet=10.2.0.0/16\n  leftid=@sun.strongswan.org\n  authby=secret\n  ike=aes256-sha256-modp2048!\n  esp=aes256-sha256-modp2048!\n  auto=add\n"
    );
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!(
        (ia.len(), ib.len()),
        (1, 1),
        "{:?} {:?}",
        p.a_events,
        p.b_events
    );
    assert_mirrored(ia[0], ib[0]);
    assert_eq!(ia[0].keys_in.encr.len(), 32);
    assert_eq!(ia[0].keys_in.integ.len(), 32);
}

#[test]
fn wrong_psk_fails_on_both_sides_without_child() {
    let conf = net2net("aes128-sha256-modp2048!", "aes128-sha256!");
    let other = "@moon.strongswan.org @sun.strongswan.org : PSK \"a-different-secret\"\n";
    let mut p = Pair::new(&conf, PSK, &conf, other);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert!(Pair::installs(&p.a_events).is_empty());
    assert!(Pair::installs(&p.b_events).is_empty());
    let down = |ev: &[Event]| ev.iter().any(|e| matches!(e, Event::IkeDown { .. }));
    assert!(
        down(&p.a_events) && down(&p.b_events),
        "{:?} {:?}",
        p.a_events,
        p.b_events
    );
    assert!(p.a.status(p.now).is_empty() && p.b.status(p.now).is_empty());
}

#[test]
fn lost_ike_auth_request_is_retransmitted() {
    let conf = net2net("aes128-sha256-ecp256!", "aes128-sha256!");
    let mut p = Pair::same(&conf, PSK);
    let start = p.now;
    p.a.initiate(p.now, "net-net").unwrap();
    // Datagram 2 is the first IKE_AUTH request: lose it.
    p.run(|_, n, _| usize::from(n != 2));
    assert_eq!(Pair::installs(&p.a_events).len(), 1);
    assert_eq!(Pair::installs(&p.b_events).len(), 1);
    assert_eq!(
        p.now.duration_since(start),
        Duration::from_secs(4),
        "retransmitted after strongSwan's 4 s"
    );
}

#[test]
fn duplicated_requests_are_answered_from_cache() {
    let conf = net2net("aes128-sha256-ecp256!", "aes128-sha256!");
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    // Every request from a is delivered twice.
    p.run(|from, _, _| if from == 'a' { 2 } else { 1 });
    assert_eq!(Pair::installs(&p.a_events).len(), 1);
    assert_eq!(
        Pair::installs(&p.b_events).len(),
        1,
        "the responder must not process a retransmit twice"
    );
    assert_eq!(p.b.status(p.now).len(), 1);
}

#[test]
fn invalid_ke_payload_retry() {
    let conf_a = net2net("aes128-sha256-ecp256-modp2048!", "aes128-sha256!");
    let conf_b = net2net("aes128-sha256-modp2048!", "aes128-sha256!");
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 1);
    assert!(
        p.a.status(p.now)[0].proposal.ends_with("MODP_2048"),
        "{}",
        p.a.status(p.now)[0].proposal
    );
    assert_eq!(
        p.log.len(),
        6,
        "INIT, INVALID_KE, INIT, INIT resp, AUTH, AUTH resp"
    );
}

#[test]
fn no_common_proposal() {
    let conf_a = net2net("aes128-sha256-ecp256!", "aes128-sha256!");
    let conf_b = net2net("aes256-sha512-modp4096!", "aes128-sha256!");
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert!(
        p.a_events.iter().any(
            |e| matches!(e, Event::IkeDown { reason, .. } if reason.contains("NO_PROPOSAL_CHOSEN"))
        ),
        "{:?}",
        p.a_events
    );
    assert!(p.b.status(p.now).is_empty());
}

#[test]
fn unreachable_peer_gives_up_after_five_retransmits() {
    let conf = net2net("aes128-sha256-ecp256!", "aes128-sha256!");
    let mut p = Pair::same(&conf, PSK);
    let start = p.now;
    p.a.initiate(p.now, "net-net").unwrap();
    p.run(|_, _, _| 0);
    assert!(
        p.a_events.iter().any(
            |e| matches!(e, Event::IkeDown { reason, .. } if reason.contains("not responding"))
        )
    );
    // 4 + 7.2 + 12.96 + 23.33 + 41.99 + 75.58 = 165 s (strongSwan's schedule).
    let secs = p.now.duration_since(start).as_secs_f64();
    assert!((164.0..166.0).contains(&secs), "{secs}");
    assert_eq!(p.log.len(), 6);
}

#[test]
fn delete_from_either_side_removes_children_on_both() {
    for initiator_deletes in [true, false] {
        let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
        let mut p = Pair::same(&conf, PSK);
        p.a.initiate(p.now, "net-net").unwrap();
        p.run_clean();
        let n = if initiator_deletes {
            p.a.terminate(p.now, "net-net")
        } else {
            p.b.terminate(p.now, "net-net")
        };
        assert_eq!(n, 1);
        p.run_clean();
        let deleted = |ev: &[Event]| {
            ev.iter()
                .filter(|e| matches!(e, Event::DeleteChild { .. }))
                .count()
        };
        assert_eq!((deleted(&p.a_events), deleted(&p.b_events)), (1, 1));
        assert!(p.a.status(p.now).is_empty(), "{:?}", p.a.status(p.now));
        assert!(p.b.status(p.now).is_empty());
    }
}

#[test]
fn transport_mode_gre() {
    let conf = format!(
        "conn gre\n  type=transport\n  left={A}\n  right={B}\n  leftprotoport=gre\n  rightprotoport=gre\n  authby=psk\n  ike=aes256-sha256-modp2048!\n  esp=aes256-sha256!\n  auto=add\n"
    );
    let mut p = Pair::same(&conf, &format!("{A} {B} : PSK \"gre-secret\"\n"));
    p.a.initiate(p.now, "gre").unwrap();
    p.run_clean();
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!(
        (ia.len(), ib.len()),
        (1, 1),
        "{:?} {:?}",
        p.a_events,
        p.b_events
    );
    assert_eq!(ia[0].mode, Mode::Transport);
    assert_eq!(ia[0].ts_local[0].to_string(), format!("{A}/32[47]"));
    assert_mirrored(ia[0], ib[0]);
}

#[test]
fn responder_narrows_traffic_selectors() {
    let conf_a = format!(
        "conn n\n  left={A}\n  leftsubnet=10.1.0.0/16\n  right={B}\n  rightsubnet=10.0.0.0/8\n  authby=psk\n  auto=add\n"
    );
    let conf_b = format!(
        "conn n\n  left={A}\n  leftsubnet=10.1.0.0/24\n  right={B}\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  auto=add\n"
    );
    let s = format!("{A} {B} : PSK \"narrow\"\n");
    let mut p = Pair::new(&conf_a, &s, &conf_b, &s);
    p.a.initiate(p.now, "n").unwrap();
    p.run_clean();
    let ia = Pair::installs(&p.a_events);
    assert_eq!(ia.len(), 1, "{:?} {:?}", p.a_events, p.b_events);
    assert_eq!(ia[0].ts_local[0].to_string(), "10.1.0.0/24");
    assert_eq!(ia[0].ts_remote[0].to_string(), "10.2.0.0/16");
}

#[test]
fn disjoint_selectors_give_ts_unacceptable_but_ike_sa_stands() {
    let conf_a = format!(
        "conn n\n  left={A}\n  leftsubnet=10.1.0.0/16\n  right={B}\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  auto=add\n"
    );
    let conf_b = format!(
        "conn n\n  left={A}\n  leftsubnet=10.7.0.0/16\n  right={B}\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  auto=add\n"
    );
    let s = format!("{A} {B} : PSK \"ts\"\n");
    let mut p = Pair::new(&conf_a, &s, &conf_b, &s);
    p.a.initiate(p.now, "n").unwrap();
    p.run_clean();
    assert!(Pair::installs(&p.a_events).is_empty());
    assert_eq!(p.a.status(p.now)[0].state, IkeState::Established);
    assert!(p.a.status(p.now)[0].children.is_empty());
}

#[test]
fn forceencaps_floats_to_4500_and_encapsulates() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!")
        .replace("auto=add", "auto=add\n  forceencaps=yes");
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let ia = Pair::installs(&p.a_events);
    assert_eq!(ia.len(), 1);
    assert_eq!(ia[0].encap, Some((4500, 4500)));
    assert_eq!(Pair::installs(&p.b_events)[0].encap, Some((4500, 4500)));
    let s = &p.a.status(p.now)[0];
    assert_eq!((s.local.port(), s.remote.port()), (4500, 4500));
}

#[test]
fn garbage_is_dropped_without_panic() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    let l: SocketAddr = format!("{B}:500").parse().unwrap();
    let r: SocketAddr = format!("{A}:500").parse().unwrap();
    for junk in [&[][..], &[0u8; 27][..], &[0xff; 28][..], &[0u8; 200][..]] {
        p.b.handle_datagram(p.now, l, r, junk);
    }
    assert!(p.b.poll_transmit().is_none());
    assert!(p.b.status(p.now).is_empty());
}

fn two_conns(ike: &str, esp: &str) -> String {
    format!(
        "conn %default\n  left={A}\n  leftid=@moon.strongswan.org\n  right={B}\n  rightid=@sun.strongswan.org\n  authby=psk\n  ike={ike}\n  esp={esp}\n  auto=add\nconn one\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\nconn two\n  leftsubnet=10.3.0.0/16\n  rightsubnet=10.4.0.0/16\n"
    )
}

#[test]
fn two_conns_share_one_ike_sa() {
    let conf = two_conns("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    let id1 = p.a.initiate(p.now, "one").unwrap();
    // Asked while the first is still connecting: deferred onto the same IKE_SA.
    let id2 = p.a.initiate(p.now, "two").unwrap();
    assert_eq!(id1, id2);
    p.run_clean();
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!((ia.len(), ib.len()), (2, 2), "{:?}", p.a_events);
    assert_mirrored(ia[1], ib[1]);
    assert_eq!(ia[1].conn, "two");
    assert_eq!(
        ib[1].conn, "two",
        "the responder picks conn 'two' by its selectors"
    );
    assert_eq!(ia[1].ts_local[0].to_string(), "10.3.0.0/16");
    assert_eq!(p.a.status(p.now).len(), 1);
    assert_eq!(p.a.status(p.now)[0].children.len(), 2);
    assert_eq!(p.b.status(p.now)[0].children.len(), 2);
    // A third request for an existing child changes nothing.
    assert_eq!(p.a.initiate(p.now, "two").unwrap(), id1);
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 2);
}

#[test]
fn child_sa_is_rekeyed_before_expiry_with_pfs() {
    let conf = net2net("aes256-sha256-modp2048!", "aes256-sha256-modp2048!").replace(
        "auto=add",
        "auto=add\n  lifetime=20m\n  margintime=3m\n  ikelifetime=3h",
    );
    let mut p = Pair::same(&conf, PSK);
    let start = p.now;
    p.until = start + Duration::from_secs(25 * 60);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run(|_, _, _| 1);
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert!(
        ia.len() >= 2 && ib.len() >= 2,
        "rekeyed: {} {}",
        ia.len(),
        ib.len()
    );
    // The rekeyed pair is mirrored and has fresh keys (PFS with modp2048).
    assert_mirrored(ia[1], ib[1]);
    assert_ne!(ia[1].keys_in, ia[0].keys_in);
    assert_ne!(ia[1].spi_in, ia[0].spi_in);
    // The first rekey came between lifetime - margin - fuzz and lifetime - margin.
    let del_a = p
        .a_events
        .iter()
        .position(|e| matches!(e, Event::DeleteChild { spi_in, .. } if *spi_in == ia[0].spi_in));
    let del_b = p
        .b_events
        .iter()
        .position(|e| matches!(e, Event::DeleteChild { spi_in, .. } if *spi_in == ib[0].spi_in));
    assert!(
        del_a.is_some() && del_b.is_some(),
        "old CHILD_SA deleted on both sides"
    );
    let elapsed = p.now.duration_since(start);
    assert!(elapsed >= Duration::from_secs(14 * 60), "{elapsed:?}");
    // Exactly one CHILD_SA per side at any time after settling.
    assert_eq!(p.a.status(p.now)[0].children.len(), 1);
    assert_eq!(p.b.status(p.now)[0].children.len(), 1);
}

#[test]
fn ike_sa_is_rekeyed_and_keeps_its_children() {
    let conf = net2net("aes128gcm16-prfsha256-ecp256!", "aes128gcm16!").replace(
        "auto=add",
        "auto=add\n  lifetime=8h\n  ikelifetime=1h\n  margintime=5m",
    );
    let mut p = Pair::same(&conf, PSK);
    p.until = p.now + Duration::from_secs(70 * 60);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run(|_, _, _| 1);
    let ups = |ev: &[Event]| {
        ev.iter()
            .filter(|e| matches!(e, Event::IkeUp { .. }))
            .count()
    };
    assert!(
        ups(&p.a_events) >= 2 && ups(&p.b_events) >= 2,
        "{:?}",
        p.a_events
    );
    // No CHILD_SA was deleted by the IKE rekey.
    let child_deletes = |ev: &[Event]| {
        ev.iter()
            .filter(|e| matches!(e, Event::DeleteChild { .. }))
            .count()
    };
    let sa = p.a.status(p.now);
    assert_eq!(sa.len(), 1, "old IKE_SA gone: {sa:?}");
    assert_eq!(sa[0].children.len(), 1);
    assert_eq!(p.b.status(p.now).len(), 1);
    // Child rekeys (8h lifetime) may not have happened: only IKE rekeys in this window.
    assert_eq!(child_deletes(&p.a_events), child_deletes(&p.b_events));
    // The rekeyed IKE_SA still works: delete it, both sides see the CHILD_SA go.
    p.a.terminate(p.now, "net-net");
    p.run_clean();
    assert!(p.a.status(p.now).is_empty() && p.b.status(p.now).is_empty());
}

#[test]
fn dead_peer_detection_and_restart() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!")
        .replace("auto=add", "auto=add\n  dpdaction=restart\n  dpddelay=30s");
    let mut p = Pair::same(&conf, PSK);
    let start = p.now;
    p.until = start + Duration::from_secs(100);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    // Alive peer: liveness checks every 30 s are answered, nothing else happens.
    assert_eq!(
        p.log.len(),
        4 + 2 * 6,
        "3 DPD rounds from each side (both have dpdaction)"
    );
    assert_eq!(p.a.status(p.now)[0].state, IkeState::Established);
    // Now b goes silent: a declares it dead and restarts the conn.
    p.until = p.now + Duration::from_secs(240);
    p.run(|_, _, _| 0);
    assert!(
        p.a_events.iter().any(
            |e| matches!(e, Event::IkeDown { reason, .. } if reason.contains("not responding"))
        )
    );
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, Event::DeleteChild { .. })),
        "the dead peer's CHILD_SA is removed"
    );
    let s = p.a.status(p.now);
    assert_eq!(s.len(), 1, "restarted: a new IKE_SA is connecting");
    assert_eq!(s[0].state, IkeState::Connecting);
}

#[test]
fn ipv6_outer_and_ipv4_in_ipv6_inner() {
    let (a6, b6) = ("2001:db8:1::1", "2001:db8:3::2");
    let conf = format!(
        "conn V3-2\n  left={a6}\n  leftsubnet=::/0\n  right={b6}\n  rightsubnet=::/0\n  authby=psk\n  mark=6\n  keyingtries=%forever\n  ike=aes256gcm16-prfsha384-ecp384!\n  esp=aes256gcm16-prfsha384-ecp384!\n  mobike=no\n  auto=route\nconn v4in6\n  left={a6}\n  leftsubnet=10.1.0.0/16\n  right={b6}\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  auto=add\n"
    );
    let s = format!("{a6} {b6} : PSK \"v6-secret\"\n");
    let mk = |addr: &str, seed: u64| {
        Endpoint::new(
            config(&conf, &s),
            vec![addr.parse().unwrap()],
            Provider::default(),
            Box::new(TestRng(seed)),
            Box::new(Spis(u32::from(seed as u8) << 24)),
        )
    };
    let mut p = Pair::same(&conf, &s);
    p.a = mk(a6, 11);
    p.b = mk(b6, 12);
    p.a.initiate(p.now, "V3-2").unwrap();
    p.a.initiate(p.now, "v4in6").unwrap();
    // Pair::run asserts IPv4 peers: deliver by hand.
    for _ in 0..20 {
        while let Some(t) = p.a.poll_transmit() {
            p.b.handle_datagram(p.now, t.remote, t.local, &t.data);
        }
        p.drain();
        while let Some(t) = p.b.poll_transmit() {
            p.a.handle_datagram(p.now, t.remote, t.local, &t.data);
        }
        p.drain();
    }
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!((ia.len(), ib.len()), (2, 2), "{:?}", p.a_events);
    assert_mirrored(ia[0], ib[0]);
    assert_eq!(ia[0].mark_in, Some((6, 0xffff_ffff)));
    assert_eq!(ia[0].ts_local[0].to_string(), "::/0");
    assert_eq!(ia[0].local.to_string(), a6);
    assert_eq!(
        ia[1].ts_local[0].to_string(),
        "10.1.0.0/16",
        "IPv4 selectors inside an IPv6 IKE_SA"
    );
    assert_eq!(p.a.status(p.now).len(), 1, "both CHILD_SAs on one IKE_SA");
}

#[test]
fn acquire_proposes_the_packet_first() {
    let conf =
        net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!").replace("auto=add", "auto=route");
    let mut p = Pair::same(&conf, PSK);
    p.a.acquire(
        p.now,
        "net-net",
        "10.1.0.5".parse().unwrap(),
        "10.2.0.9".parse().unwrap(),
    )
    .unwrap();
    p.run_clean();
    let ia = Pair::installs(&p.a_events);
    assert_eq!(ia.len(), 1);
    let l: Vec<String> = ia[0].ts_local.iter().map(ToString::to_string).collect();
    let r: Vec<String> = ia[0].ts_remote.iter().map(ToString::to_string).collect();
    assert!(l.contains(&"10.1.0.0/16".to_string()), "{l:?}");
    assert!(r.contains(&"10.2.0.0/16".to_string()), "{r:?}");
    // A packet outside the conn's selectors is not proposed.
    let mut p = Pair::same(&conf, PSK);
    p.a.acquire(
        p.now,
        "net-net",
        "10.9.0.5".parse().unwrap(),
        "10.2.0.9".parse().unwrap(),
    )
    .unwrap();
    p.run_clean();
    let ia = Pair::installs(&p.a_events);
    assert_eq!(
        ia[0]
            .ts_local
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["10.1.0.0/16".to_string()]
    );
}

#[test]
fn virtual_ips_from_a_pool_with_dns() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon.strongswan.org\n  right=%any\n  rightsourceip=10.3.0.0/28\n  rightdns=198.51.100.53\n  authby=psk\n  auto=add\n"
    );
    let client = format!(
        "conn home\n  left={A}\n  leftsourceip=%config\n  leftid=carol@strongswan.org\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid=@moon.strongswan.org\n  authby=psk\n  auto=add\n"
    );
    let s = "carol@strongswan.org @moon.strongswan.org : PSK \"rw-secret\"\n";
    let mut p = Pair::new(&client, s, &gw, s);
    let id = p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!(
        (ia.len(), ib.len()),
        (1, 1),
        "{:?} {:?}",
        p.a_events,
        p.b_events
    );
    assert_eq!(
        ia[0].ts_local[0].to_string(),
        "10.3.0.1/32",
        "the first address of the pool"
    );
    assert_eq!(ib[0].ts_remote[0].to_string(), "10.3.0.1/32");
    assert_eq!(
        p.a.virtual_ips(id).0,
        vec!["10.3.0.1".parse::<IpAddr>().unwrap()]
    );
    let gw_id = p.b.status(p.now)[0].ike_id;
    assert_eq!(
        p.b.virtual_ips(gw_id).1,
        vec!["10.3.0.1".parse::<IpAddr>().unwrap()]
    );
    // Reconnect: the same identity gets the same address back, after release.
    p.a.terminate(p.now, "home");
    p.run_clean();
    assert!(p.b.virtual_ips(gw_id).1.is_empty());
    let id2 = p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    assert_eq!(
        p.a.virtual_ips(id2).0,
        vec!["10.3.0.1".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn responder_demands_a_cookie_under_load() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    p.b.set_cookie_threshold(0);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "{:?}", p.a_events);
    assert_eq!(Pair::installs(&p.b_events).len(), 1);
    assert_eq!(
        p.log.len(),
        6,
        "INIT, COOKIE, INIT with cookie, INIT resp, AUTH, AUTH resp"
    );
    // Requests without the cookie are answered statelessly: the responder keeps nothing.
    let mut q = Pair::same(&conf, PSK);
    q.b.set_cookie_threshold(0);
    q.a.initiate(q.now, "net-net").unwrap();
    q.run(|from, _, _| usize::from(from == 'a'));
    assert!(
        q.b.status(q.now).is_empty(),
        "no state kept for cookie-less requests"
    );
    assert_eq!(
        q.log.iter().filter(|(f, _)| *f == 'b').count(),
        6,
        "one COOKIE per (re)transmitted request"
    );
}

#[test]
fn uniqueids_replaces_the_old_ike_sa_of_a_reconnecting_peer() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    // The initiator "reboots": a fresh endpoint, same identity.
    p.a = Endpoint::new(
        config(&conf, PSK),
        vec![A.parse().unwrap()],
        Provider::default(),
        Box::new(TestRng(99)),
        Box::new(Spis(0xe000_0000)),
    );
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let st = p.b.status(p.now);
    assert_eq!(st.len(), 1, "the old IKE_SA is gone: {st:?}");
    assert_eq!(st[0].children.len(), 1);
    assert_eq!(
        p.b_events
            .iter()
            .filter(|e| matches!(e, Event::DeleteChild { .. }))
            .count(),
        1,
        "the old CHILD_SA was removed"
    );
}

#[test]
fn unknown_critical_payload_gets_unsupported_critical_payload() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    let t = p.a.poll_transmit().unwrap();
    // Insert an empty payload of unknown type 99 with the critical bit, first in the chain.
    let mut d = t.data.clone();
    let first = d[16];
    d[16] = 99;
    let mut ins = vec![first, 0x80, 0, 4];
    let mut out = d[..28].to_vec();
    out.append(&mut ins);
    out.extend_from_slice(&d[28..]);
    let len = u32::try_from(out.len()).unwrap();
    out[24..28].copy_from_slice(&len.to_be_bytes());
    p.b.handle_datagram(p.now, t.remote, t.local, &out);
    let reply = p.b.poll_transmit().expect("an answer");
    let m = ike::wire::Message::decode(&reply.data).unwrap();
    match m.payloads.as_slice() {
        [ike::wire::Payload::Notify(n)] => {
            assert_eq!(
                n.notify_type,
                ike::wire::NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
            );
            assert_eq!(n.data, vec![99]);
        }
        other => panic!("{other:?}"),
    }
    assert!(p.b.status(p.now).is_empty());
    // Same payload without the critical bit: skipped, the exchange proceeds.
    out[29] = 0;
    p.b.handle_datagram(p.now, t.remote, t.local, &out);
    let reply = p.b.poll_transmit().expect("an answer");
    let m = ike::wire::Message::decode(&reply.data).unwrap();
    assert!(
        m.payloads
            .iter()
            .any(|p| matches!(p, ike::wire::Payload::Ke(_)))
    );
}

#[test]
fn initiator_behind_nat_floats_encapsulates_and_sends_keepalives() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    // The responder does not know the initiator's (public) address.
    let conf_b = conf.replace(&format!("left={A}"), "left=%any");
    let mut p = Pair::new(&conf, PSK, &conf_b, PSK);
    // A NAT maps 192.0.2.1:500/4500 to 198.51.100.7:40500/44500.
    let public = |port: u16| -> SocketAddr {
        format!("198.51.100.7:{}", if port == 500 { 40500 } else { 44500 })
            .parse()
            .unwrap()
    };
    let private = |port: u16| -> SocketAddr {
        format!("{A}:{}", if port == 40500 { 500 } else { 4500 })
            .parse()
            .unwrap()
    };
    p.a.initiate(p.now, "net-net").unwrap();
    let mut keepalives = 0;
    for round in 0..40 {
        while let Some(t) = p.a.poll_transmit() {
            if t.data == [0xff] {
                keepalives += 1;
                assert_eq!(t.local.port(), 4500);
                continue;
            }
            p.b.handle_datagram(p.now, t.remote, public(t.local.port()), &t.data);
        }
        p.drain();
        while let Some(t) = p.b.poll_transmit() {
            p.a.handle_datagram(p.now, private(t.remote.port()), t.local, &t.data);
        }
        p.drain();
        if round > 10 {
            p.now += Duration::from_secs(5);
            p.a.handle_timeout(p.now);
            p.b.handle_timeout(p.now);
        }
    }
    p.drain();
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert_eq!(
        (ia.len(), ib.len()),
        (1, 1),
        "{:?} {:?}",
        p.a_events,
        p.b_events
    );
    assert_eq!(ia[0].encap, Some((4500, 4500)));
    assert_eq!(
        ib[0].encap,
        Some((4500, 44500)),
        "the responder sends to the NAT's mapped port"
    );
    assert_eq!(ib[0].remote.to_string(), "198.51.100.7");
    assert!(
        (4..=7).contains(&keepalives),
        "a keepalive every 20 s over ~145 s: {keepalives}"
    );
}

#[test]
fn nat_mapping_change_moves_the_ike_sa_and_its_children() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let conf_b = conf.replace(&format!("left={A}"), "left=%any");
    let mut p = Pair::new(&conf, PSK, &conf_b, PSK);
    // The NAT maps 192.0.2.1:500/4500 to 198.51.100.7:40500/<nat_port>.
    let nat_port = 44500;
    p.a.initiate(p.now, "net-net").unwrap();
    for _ in 0..10 {
        while let Some(t) = p.a.poll_transmit() {
            let from: SocketAddr = format!(
                "198.51.100.7:{}",
                if t.local.port() == 500 {
                    40500
                } else {
                    nat_port
                }
            )
            .parse()
            .unwrap();
            p.b.handle_datagram(p.now, t.remote, from, &t.data);
        }
        p.drain();
        while let Some(t) = p.b.poll_transmit() {
            let to: SocketAddr =
                format!("{A}:{}", if t.remote.port() == 40500 { 500 } else { 4500 })
                    .parse()
                    .unwrap();
            p.a.handle_datagram(p.now, to, t.local, &t.data);
        }
        p.drain();
    }
    p.drain();
    let child = Pair::installs(&p.b_events)[0].child_id;
    assert_eq!(
        p.b.status(p.now)[0].remote.to_string(),
        "198.51.100.7:44500"
    );
    // The kernel reports ESP from a new port (XFRM_MSG_MAPPING): the IKE_SA
    // follows and the daemon is told to move every CHILD_SA.
    p.b_events.clear();
    let moved: SocketAddr = "198.51.100.7:45001".parse().unwrap();
    assert!(p.b.peer_moved(child, moved));
    p.drain();
    assert_eq!(p.b.status(p.now)[0].remote, moved);
    assert!(
        p.b_events.iter().any(|e| matches!(e,
            Event::PeerMoved { remote, child_ids, .. } if *remote == moved && child_ids == &vec![child])),
        "{:?}",
        p.b_events
    );
    // the same mapping again: nothing to do; another address or an unknown child: refused
    p.b_events.clear();
    assert!(p.b.peer_moved(child, moved));
    p.drain();
    assert!(p.b_events.is_empty(), "{:?}", p.b_events);
    assert!(!p.b.peer_moved(child, "203.0.113.9:45001".parse().unwrap()));
    assert!(!p.b.peer_moved(child + 100, moved));
    assert_eq!(p.b.status(p.now)[0].remote, moved);
    // the next request (here: the DELETE of `down`) goes to the new port
    assert_eq!(p.b.terminate(p.now, "net-net"), 1);
    let t = p.b.poll_transmit().expect("a DELETE request");
    assert_eq!(t.remote, moved);
}

#[test]
fn a_child_the_kernel_refused_is_deleted_on_the_peer_too() {
    let conf = net2net("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let id = Pair::installs(&p.a_events)[0].child_id;
    p.a.child_failed(p.now, id);
    p.run_clean();
    assert!(p.a.status(p.now)[0].children.is_empty());
    assert!(
        p.b.status(p.now)[0].children.is_empty(),
        "the peer removed its half"
    );
    assert_eq!(
        p.b_events
            .iter()
            .filter(|e| matches!(e, Event::DeleteChild { .. }))
            .count(),
        1
    );
    assert_eq!(
        p.a.status(p.now)[0].state,
        IkeState::Established,
        "the IKE_SA stays"
    );
    assert_eq!(p.a.reqid("net-net"), Some(1));
}
