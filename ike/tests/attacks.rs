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
