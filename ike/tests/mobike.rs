//! MOBIKE (RFC 4555) between two protocol cores: iked as the initiator that
//! moves (its address goes, the route to the peer leaves from another) and
//! iked as the responder that follows, in memory with a simulated clock.
//! Datagrams to an address the host no longer has are lost, as on a real
//! network.

use ike::sa::{Event, RouteLookup, Transmit};
use ike::testing::{A, B, Pair};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The client's address after the move.
const A2: &str = "192.0.2.11";

const PSK: &str =
    "@moon.strongswan.org @sun.strongswan.org : PSK \"0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL\"\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn conf(mobike: &str) -> String {
    format!(
        "conn net-net\n  left={A}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon.strongswan.org\n  right={B}\n  rightsubnet=10.2.0.0/16\n  rightid=@sun.strongswan.org\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  mobike={mobike}\n  auto=add\n"
    )
}

/// The kernel's route towards the peer, which the test changes.
#[derive(Clone)]
struct Route(Arc<Mutex<IpAddr>>);
impl RouteLookup for Route {
    fn source_for(&self, _: IpAddr) -> Option<IpAddr> {
        Some(*self.0.lock().unwrap())
    }
}

/// a (the client, whose responder conn says `left=%any`) and b up, with
/// `mobike=` as given on each side; a's route lookup is returned.
fn up(mobike_a: &str, mobike_b: &str) -> (Pair, Route) {
    up_with(mobike_a, mobike_b, &[B])
}

/// As [`up`], b (the gateway) having the addresses `b_addrs`.
fn up_with(mobike_a: &str, mobike_b: &str, b_addrs: &[&str]) -> (Pair, Route) {
    let conf_a = conf(mobike_a);
    let conf_b = conf(mobike_b).replace(&format!("left={A}"), "left=%any");
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    p.b.set_local_addrs(p.now, b_addrs.iter().map(|a| ip(a)).collect());
    let route = Route(Arc::new(Mutex::new(ip(A))));
    p.a.set_routes(Box::new(route.clone()));
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "{:?}", p.a_events);
    (p, route)
}

/// The host a loses A and has A2, and the route to b leaves from A2.
fn move_a(p: &mut Pair, route: &Route) {
    *route.0.lock().unwrap() = ip(A2);
    p.a.set_local_addrs(p.now, vec![ip(A2)]);
}

/// Delivers until quiet: a's datagrams reach b from whatever source they
/// have; b's reach a only at a's current address `a_at` (the old one is
/// gone). Returns b's datagrams that were lost that way.
fn exchange(p: &mut Pair, a_at: IpAddr) -> usize {
    let mut lost = 0;
    for _ in 0..50 {
        let mut moved = false;
        while let Some(t) = p.a.poll_transmit() {
            moved = true;
            p.b.handle_datagram(p.now, t.remote, t.local, &t.data);
        }
        p.drain();
        while let Some(t) = p.b.poll_transmit() {
            moved = true;
            if t.remote.ip() == a_at {
                p.a.handle_datagram(p.now, t.remote, t.local, &t.data);
            } else {
                lost += 1;
            }
        }
        p.drain();
        if !moved {
            return lost;
        }
    }
    panic!("did not settle");
}

fn migrated(ev: &[Event]) -> Vec<(SocketAddr, SocketAddr, bool)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::PeerMigrated {
                local,
                remote,
                encap,
                ..
            } => Some((*local, *remote, *encap)),
            _ => None,
        })
        .collect()
}

fn at(a: &str) -> SocketAddr {
    SocketAddr::new(ip(a), 500)
}

#[test]
fn the_initiator_moves_and_the_responder_follows_with_the_children() {
    let (mut p, route) = up("yes", "yes");
    p.a_events.clear();
    p.b_events.clear();
    move_a(&mut p, &route);
    let t = p.a.poll_transmit().expect("UPDATE_SA_ADDRESSES");
    assert_eq!(t.local, at(A2), "sent from the new address");
    assert_eq!(t.remote, at(B));
    p.b.handle_datagram(p.now, t.remote, t.local, &t.data);
    assert_eq!(exchange(&mut p, ip(A2)), 0);
    assert_eq!(migrated(&p.b_events), vec![(at(B), at(A2), false)]);
    assert_eq!(migrated(&p.a_events), vec![(at(A2), at(B), false)]);
    assert_eq!(p.a.status(p.now)[0].local, at(A2));
    assert_eq!(p.b.status(p.now)[0].remote, at(A2));
    // the IKE_SA goes on over the new path: a DELETE reaches b, which answers at A2
    assert_eq!(p.a.terminate(p.now, "net-net"), 1);
    assert_eq!(exchange(&mut p, ip(A2)), 0);
    assert!(p.a.status(p.now).is_empty());
    assert!(p.b.status(p.now).is_empty());
}

#[test]
fn an_unchanged_route_or_a_conn_without_mobike_moves_nothing() {
    // A stays the route's source: a new address elsewhere changes nothing
    let (mut p, _route) = up("yes", "yes");
    p.a.set_local_addrs(p.now, vec![ip(A), ip("198.51.100.5")]);
    assert!(p.a.poll_transmit().is_none());
    // mobike=no on either side: no MOBIKE, so nothing is sent (and b would not follow)
    for (ma, mb) in [("no", "yes"), ("yes", "no")] {
        let (mut p, route) = up(ma, mb);
        move_a(&mut p, &route);
        assert!(
            p.a.poll_transmit().is_none(),
            "mobike={ma} / mobike={mb}: no UPDATE_SA_ADDRESSES"
        );
        assert_eq!(p.a.status(p.now)[0].local, at(A));
    }
}

#[test]
fn a_request_lost_with_the_old_address_is_answered_at_the_new_one() {
    // What a MOBIKE client sees when its address goes while a request is
    // out: b's answer went to the old address and was lost; the retransmit
    // comes from the new one and b must answer there (RFC 4555 §3.5), else
    // the client never gets through to its UPDATE_SA_ADDRESSES.
    let (mut p, route) = up("yes", "yes");
    let child = Pair::installs(&p.a_events)[0].child_id;
    p.a_events.clear();
    p.b_events.clear();
    p.a.rekey_child(p.now, child).unwrap();
    let req = p.a.poll_transmit().expect("CREATE_CHILD_SA request");
    assert_eq!(req.local, at(A));
    p.b.handle_datagram(p.now, req.remote, req.local, &req.data);
    p.drain();
    let answers: Vec<Transmit> = std::iter::from_fn(|| p.b.poll_transmit()).collect();
    assert_eq!(answers.len(), 1, "b answered at A, which is about to go");
    // the address goes before the answer arrives
    move_a(&mut p, &route);
    assert!(
        p.a.poll_transmit().is_none(),
        "the update waits for the outstanding request (window of one)"
    );
    // a retransmits the CREATE_CHILD_SA, now from A2
    p.now += Duration::from_secs(5);
    p.a.handle_timeout(p.now);
    p.b.handle_timeout(p.now);
    let re = p.a.poll_transmit().expect("retransmit");
    assert_eq!(re.local, at(A2));
    assert_eq!(re.data, req.data, "the same request");
    p.b.handle_datagram(p.now, re.remote, re.local, &re.data);
    let cached = p.b.poll_transmit().expect("b answers from its cache");
    assert_eq!(cached.remote, at(A2), "to the retransmit's source");
    assert_eq!(cached.data, answers[0].data);
    p.a.handle_datagram(p.now, cached.remote, cached.local, &cached.data);
    assert_eq!(exchange(&mut p, ip(A2)), 0);
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "the rekey completed");
    assert_eq!(Pair::installs(&p.b_events).len(), 1);
    assert_eq!(p.b.status(p.now)[0].remote, at(A2), "then b followed");
    assert_eq!(p.a.status(p.now)[0].local, at(A2));
}

#[test]
fn a_forged_retransmit_or_update_from_elsewhere_gets_nothing() {
    let (mut p, route) = up("yes", "yes");
    let child = Pair::installs(&p.a_events)[0].child_id;
    p.a.rekey_child(p.now, child).unwrap();
    let req = p.a.poll_transmit().unwrap();
    p.b.handle_datagram(p.now, req.remote, req.local, &req.data);
    p.drain();
    while p.b.poll_transmit().is_some() {}
    // the SPIs and message ID travel in clear: a forged "retransmit" from
    // a victim's address must not make b reflect its answer there
    let victim: SocketAddr = "203.0.113.9:500".parse().unwrap();
    let mut forged = req.data.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    let dropped = p.b.counters().dropped;
    p.b.handle_datagram(p.now, req.remote, victim, &forged);
    p.drain();
    assert!(p.b.poll_transmit().is_none(), "nothing sent to {victim}");
    assert_eq!(p.b.counters().dropped, dropped + 1, "a counted drop");
    // let the rekey finish, then forge an UPDATE_SA_ADDRESSES from the victim
    p.b.handle_datagram(p.now, req.remote, req.local, &req.data);
    exchange(&mut p, ip(A));
    p.a_events.clear();
    p.b_events.clear();
    move_a(&mut p, &route);
    let upd = p.a.poll_transmit().expect("UPDATE_SA_ADDRESSES");
    let mut forged = upd.data.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    p.b.handle_datagram(p.now, upd.remote, victim, &forged);
    p.drain();
    assert!(p.b.poll_transmit().is_none());
    assert!(migrated(&p.b_events).is_empty(), "b did not move");
    assert_eq!(p.b.status(p.now)[0].remote, at(A));
}

#[test]
fn a_second_move_while_the_update_is_out_sends_another() {
    // Wi-Fi goes (to A2), then that network goes too (to A3) before the
    // first update's answer arrives: the peer took the first update's copy
    // from A2, so one more update from A3 must follow, and the first
    // answer's NAT detection (of the A2 path) must not be taken for A3.
    let (mut p, route) = up("yes", "yes");
    p.a_events.clear();
    p.b_events.clear();
    move_a(&mut p, &route);
    let u1 = p.a.poll_transmit().expect("UPDATE_SA_ADDRESSES from A2");
    assert_eq!(u1.local, at(A2));
    let a3 = "192.0.2.13";
    *route.0.lock().unwrap() = ip(a3);
    p.a.set_local_addrs(p.now, vec![ip(a3)]);
    assert!(p.a.poll_transmit().is_none(), "one request at a time");
    // b takes the copy from A2 and answers there: lost, A2 is gone
    p.b.handle_datagram(p.now, u1.remote, u1.local, &u1.data);
    p.drain();
    assert!(p.b.poll_transmit().is_some_and(|t| t.remote == at(A2)));
    assert_eq!(p.b.status(p.now)[0].remote, at(A2));
    // a retransmits from A3, b answers there from its cache
    p.now += Duration::from_secs(5);
    p.a.handle_timeout(p.now);
    let re = p.a.poll_transmit().expect("retransmit");
    assert_eq!(re.local, at(a3));
    p.b.handle_datagram(p.now, re.remote, re.local, &re.data);
    assert_eq!(exchange(&mut p, ip(a3)), 0);
    assert_eq!(
        p.b.status(p.now)[0].remote,
        at(a3),
        "the second update moved b"
    );
    assert_eq!(p.a.status(p.now)[0].local, at(a3));
    assert_eq!(
        migrated(&p.a_events),
        vec![(at(a3), at(B), false)],
        "one move of the CHILD_SAs, to A3, without UDP encapsulation"
    );
    assert_eq!(migrated(&p.b_events).last(), Some(&(at(B), at(a3), false)));
}

/// The gateway's second uplink.
const B2: &str = "192.0.2.22";

/// Runs both sides for up to `secs` simulated seconds, one second a step:
/// a's datagrams to `dead` are lost (that uplink of b failed), b's reach a.
/// Returns how many were lost.
fn run_with_dead_uplink(p: &mut Pair, dead: IpAddr, secs: u64) -> usize {
    let mut lost = 0;
    for _ in 0..secs {
        for _ in 0..20 {
            let mut moved = false;
            while let Some(t) = p.a.poll_transmit() {
                moved = true;
                if t.remote.ip() == dead {
                    lost += 1;
                } else {
                    p.b.handle_datagram(p.now, t.remote, t.local, &t.data);
                }
            }
            p.drain();
            while let Some(t) = p.b.poll_transmit() {
                moved = true;
                p.a.handle_datagram(p.now, t.remote, t.local, &t.data);
            }
            p.drain();
            if !moved {
                break;
            }
        }
        p.now += Duration::from_secs(1);
        p.a.handle_timeout(p.now);
        p.b.handle_timeout(p.now);
    }
    lost
}

/// The client rekeys its CHILD_SA while b's first uplink is dead: its
/// retransmits probe b's other address, b answers there, and the IKE_SA
/// and CHILD_SAs move to it (UPDATE_SA_ADDRESSES) instead of dying.
fn fails_over(p: &mut Pair) {
    let child = Pair::installs(&p.a_events)[0].child_id;
    p.a_events.clear();
    p.b_events.clear();
    p.a.rekey_child(p.now, child).unwrap();
    let lost = run_with_dead_uplink(p, ip(B), 20);
    assert!(
        lost >= 2,
        "the request and its first retransmit went to {B}: {lost}"
    );
    assert_eq!(p.a.status(p.now)[0].remote, SocketAddr::new(ip(B2), 500));
    assert_eq!(p.b.status(p.now)[0].local, SocketAddr::new(ip(B2), 500));
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "the rekey completed");
    assert_eq!(Pair::installs(&p.b_events).len(), 1);
    assert_eq!(
        migrated(&p.a_events),
        vec![(at(A), SocketAddr::new(ip(B2), 500), false)]
    );
    assert_eq!(
        migrated(&p.b_events),
        vec![(SocketAddr::new(ip(B2), 500), at(A), false)]
    );
    // and it goes on there: a DELETE reaches b at B2
    assert_eq!(p.a.terminate(p.now, "net-net"), 1);
    run_with_dead_uplink(p, ip(B), 2);
    assert!(p.a.status(p.now).is_empty());
    assert!(p.b.status(p.now).is_empty());
}

#[test]
fn the_client_fails_over_to_the_address_the_gateway_announced_in_ike_auth() {
    let (mut p, _route) = up_with("yes", "yes", &[B, B2]);
    fails_over(&mut p);
}

#[test]
fn the_client_fails_over_to_an_address_the_gateway_announced_later() {
    let (mut p, _route) = up("yes", "yes");
    p.b.set_local_addrs(p.now, vec![ip(B), ip(B2)]);
    let t =
        p.b.poll_transmit()
            .expect("b's INFORMATIONAL with its new address list");
    assert_eq!((t.local, t.remote), (at(B), at(A)));
    p.a.handle_datagram(p.now, t.remote, t.local, &t.data);
    assert_eq!(exchange(&mut p, ip(A)), 0);
    // the same addresses again: nothing sent
    p.b.set_local_addrs(p.now, vec![ip(B), ip(B2)]);
    assert!(p.b.poll_transmit().is_none());
    fails_over(&mut p);
}

#[test]
fn without_an_announced_address_or_mobike_there_is_no_failover() {
    // b announces NO_ADDITIONAL_ADDRESSES; with mobike=no on b it announces
    // nothing and a never probes: the IKE_SA dies with its uplink, as before
    for (mobike_b, addrs) in [("yes", vec![B]), ("no", vec![B, B2])] {
        let (mut p, _route) = up_with("yes", mobike_b, &addrs);
        let child = Pair::installs(&p.a_events)[0].child_id;
        p.a.rekey_child(p.now, child).unwrap();
        let mut sent_elsewhere = 0;
        for _ in 0..400 {
            while let Some(t) = p.a.poll_transmit() {
                if t.remote.ip() != ip(B) {
                    sent_elsewhere += 1;
                }
            }
            p.now += Duration::from_secs(1);
            p.a.handle_timeout(p.now);
        }
        assert_eq!(
            sent_elsewhere, 0,
            "mobike={mobike_b} {addrs:?}: nothing probed"
        );
        assert!(p.a.status(p.now).is_empty(), "mobike={mobike_b}: given up");
    }
}

#[test]
fn an_answer_from_an_address_the_gateway_did_not_announce_moves_nothing() {
    // the answer authenticates, but comes from 192.0.2.23, which b never
    // named (a redirecting attacker, a stray NAT): a takes the answer and
    // stays where it was
    let (mut p, _route) = up_with("yes", "yes", &[B, B2]);
    let child = Pair::installs(&p.a_events)[0].child_id;
    p.a_events.clear();
    p.a.rekey_child(p.now, child).unwrap();
    let req = p.a.poll_transmit().unwrap();
    p.b.handle_datagram(p.now, req.remote, req.local, &req.data);
    p.drain();
    let ans = p.b.poll_transmit().unwrap();
    let elsewhere: SocketAddr = "192.0.2.23:500".parse().unwrap();
    p.a.handle_datagram(p.now, ans.remote, elsewhere, &ans.data);
    p.drain();
    assert_eq!(Pair::installs(&p.a_events).len(), 1, "the answer was taken");
    assert_eq!(p.a.status(p.now)[0].remote, at(B));
    // what a sends next (the old CHILD_SA's DELETE) still goes to B
    let next = p.a.poll_transmit().expect("DELETE of the rekeyed CHILD_SA");
    assert_eq!((next.local, next.remote), (at(A), at(B)));
    p.b.handle_datagram(p.now, next.remote, next.local, &next.data);
    assert_eq!(exchange(&mut p, ip(A)), 0);
    assert!(migrated(&p.a_events).is_empty(), "no UPDATE_SA_ADDRESSES");
    assert!(migrated(&p.b_events).is_empty());
    assert_eq!(p.b.status(p.now)[0].local, at(B));
}
