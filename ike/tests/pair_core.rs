//! The protocol core's rules that decide who gets what, and its kernel
//! round trip, tried with two cores in memory (`ike::testing::Pair`): the
//! conn a peer's identity selects, CHILD_SAs a peer may (not) add to its
//! IKE_SA, the kernel's verdict before the responder answers, the rekey
//! responder's deferred outbound SA, `%unique`, virtual IPs across an IKE
//! rekey, failed rekeys, `%defaultroute`, latency and reordering.

use ike::sa::{Event, IkeState, RouteLookup};
use ike::testing::{A, B, CountingSpis, Pair, TestRng, config};
use std::net::IpAddr;
use std::time::Duration;

const MOON: &str = "@moon.strongswan.org";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn count(ev: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    ev.iter().filter(|e| f(e)).count()
}

/// The road-warrior layout users write: a base conn for everybody and one
/// conn per user (`also=`) with the user's own `rightid` and address.
fn gateway() -> String {
    format!(
        "conn rw-base\n  left={B}\n  leftsubnet=198.51.100.0/24\n  leftid={MOON}\n  right=%any\n  rightid=%any\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n\
         conn client_a\n  also=rw-base\n  rightid=client_a\n  rightsourceip=10.3.100.100/32\n\
         conn client_b\n  also=rw-base\n  rightid=client_b\n  rightsourceip=10.3.100.200/32\n"
    )
}

fn client(id: &str) -> String {
    format!(
        "conn home\n  left={A}\n  leftsourceip=%config\n  leftid={id}\n  right={B}\n  rightsubnet=198.51.100.0/24\n  rightid={MOON}\n  authby=psk\n  auto=add\n"
    )
}

const RW_SECRETS: &str = "@moon.strongswan.org client_a : PSK \"secret-of-a\"\n@moon.strongswan.org client_b : PSK \"secret-of-b\"\n@moon.strongswan.org other : PSK \"secret-of-other\"\n";

/// Connects `id` to the gateway: (gateway's conn, address the client got).
fn connect_as(id: &str) -> (String, Vec<IpAddr>, Pair) {
    let mut p = Pair::new(&client(id), RW_SECRETS, &gateway(), RW_SECRETS);
    let ike = p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    let gw = p.b.status(p.now);
    assert_eq!(gw.len(), 1, "{:?}", p.b_events);
    assert_eq!(gw[0].state, IkeState::Established);
    let vip = p.a.virtual_ips(ike).0;
    (gw[0].conn.clone(), vip, p)
}

#[test]
fn per_user_conns_are_selected_by_the_exact_identity() {
    let (conn, vip, p) = connect_as("client_a");
    assert_eq!(conn, "client_a", "exact rightid beats rightid=%any");
    assert_eq!(vip, vec![ip("10.3.100.100")], "client_a's own address");
    let ib = Pair::installs(&p.b_events);
    assert_eq!(ib.len(), 1);
    assert_eq!(ib[0].conn, "client_a");
    assert_eq!(ib[0].ts_remote[0].to_string(), "10.3.100.100/32");

    let (conn, vip, _) = connect_as("client_b");
    assert_eq!(conn, "client_b");
    assert_eq!(vip, vec![ip("10.3.100.200")]);

    // A user without a conn of its own gets the base conn and a pool address.
    let (conn, vip, _) = connect_as("other");
    assert_eq!(conn, "rw-base");
    assert_eq!(vip, vec![ip("10.3.0.1")]);
}

#[test]
fn a_peer_cannot_claim_another_users_conn() {
    // "other" asks for client_a's identity as IDr-less peer but authenticates
    // with its own PSK: the gateway's conn follows the authenticated IDi.
    let (conn, vip, p) = connect_as("other");
    assert_eq!(conn, "rw-base");
    assert_ne!(vip, vec![ip("10.3.100.100")]);
    assert!(
        Pair::installs(&p.b_events)
            .iter()
            .all(|c| c.conn == "rw-base")
    );
}

/// A gateway with a PSK guest conn and a certificate-only admin conn that
/// accepts any peer identity (`right=%any`).
fn two_kinds_of_peer() -> String {
    format!(
        "conn guest\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid={MOON}\n  right=%any\n  rightid=guest\n  authby=psk\n  auto=add\n\
         conn admin\n  left={B}\n  leftsubnet=10.9.0.0/24\n  leftid={MOON}\n  leftauth=psk\n  right=%any\n  rightauth=pubkey\n  auto=add\n"
    )
}

#[test]
fn create_child_sa_for_another_conns_subnets_is_refused() {
    // The guest has two conns to the gateway with the same IDs and PSK: the
    // second rides on the first's IKE_SA as a CREATE_CHILD_SA for the admin subnet.
    let guest = format!(
        "conn %default\n  left={A}\n  leftid=guest\n  right={B}\n  rightid={MOON}\n  authby=psk\n  auto=add\n\
         conn guest\n  rightsubnet=10.1.0.0/16\n\
         conn sneak\n  rightsubnet=10.9.0.0/24\n"
    );
    let s = "guest @moon.strongswan.org : PSK \"guest-secret\"\n";
    let mut p = Pair::new(&guest, s, &two_kinds_of_peer(), s);
    let id1 = p.a.initiate(p.now, "guest").unwrap();
    p.run_clean();
    let id2 = p.a.initiate(p.now, "sneak").unwrap();
    assert_eq!(id1, id2, "the second conn rides on the same IKE_SA");
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(ib.len(), 1, "only the guest CHILD_SA: {:?}", p.b_events);
    assert_eq!(ib[0].conn, "guest");
    assert!(ib.iter().all(|c| c.conn != "admin"));
    assert_eq!(
        Pair::installs(&p.a_events).len(),
        1,
        "the client got no 'sneak' SA"
    );
    let st = p.b.status(p.now);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].state, IkeState::Established, "the IKE_SA stays");
    assert_eq!(st[0].children.len(), 1);
    assert!(p.b.counters().refused >= 1, "counted as refused");
}

#[test]
fn conns_with_the_same_peer_authentication_share_an_ike_sa() {
    // The legitimate case: the gateway's second conn has the guest's own
    // authentication (same rightid, PSK): its subnet is granted.
    let gw = format!(
        "conn %default\n  left={B}\n  leftid={MOON}\n  right=%any\n  rightid=guest\n  authby=psk\n  auto=add\n\
         conn guest\n  leftsubnet=10.1.0.0/16\n\
         conn guest2\n  leftsubnet=10.9.0.0/24\n"
    );
    let guest = format!(
        "conn %default\n  left={A}\n  leftid=guest\n  right={B}\n  rightid={MOON}\n  authby=psk\n  auto=add\n\
         conn guest\n  rightsubnet=10.1.0.0/16\n\
         conn more\n  rightsubnet=10.9.0.0/24\n"
    );
    let s = "guest @moon.strongswan.org : PSK \"guest-secret\"\n";
    let mut p = Pair::new(&guest, s, &gw, s);
    p.a.initiate(p.now, "guest").unwrap();
    p.run_clean();
    p.a.initiate(p.now, "more").unwrap();
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(ib.len(), 2, "{:?}", p.b_events);
    assert_eq!(ib[1].conn, "guest2");
    assert_eq!(ib[1].ts_local[0].to_string(), "10.9.0.0/24");
}

fn net2net() -> String {
    format!(
        "conn net-net\n  left={A}\n  leftsubnet=10.1.0.0/16\n  leftid=@moon\n  right={B}\n  rightsubnet=10.2.0.0/16\n  rightid=@sun\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519!\n  esp=aes128gcm16!\n  auto=add\n"
    )
}
const PSK: &str = "@moon @sun : PSK \"net-net-secret\"\n";

#[test]
fn a_kernel_refusal_is_answered_with_a_notify_not_an_sa_and_a_delete() {
    let mut p = Pair::same(&net2net(), PSK);
    p.refuse_b = true;
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(p.log.len(), 4, "IKE_SA_INIT + IKE_AUTH, no INFORMATIONAL");
    assert!(
        Pair::installs(&p.a_events).is_empty(),
        "the initiator was never told of a CHILD_SA: {:?}",
        p.a_events
    );
    let deletes = |e: &Event| matches!(e, Event::DeleteChild { .. });
    assert_eq!(count(&p.a_events, deletes), 0);
    assert_eq!(count(&p.b_events, deletes), 0);
    assert_eq!(
        count(&p.b_events, |e| matches!(e, Event::ReleaseSpi { .. })),
        1,
        "the refused CHILD_SA's SPI is released"
    );
    for st in [p.a.status(p.now), p.b.status(p.now)] {
        assert_eq!(st[0].state, IkeState::Established, "the IKE_SA stays up");
        assert!(st[0].children.is_empty());
    }
    // The same for a CHILD_SA added later (CREATE_CHILD_SA): the kernel
    // accepts again, the IKE_SA is still usable.
    p.refuse_b = false;
    p.a.terminate(p.now, "net-net");
    p.run_clean();
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    assert_eq!(Pair::installs(&p.a_events).len(), 1);
}

#[test]
fn a_refused_create_child_sa_leaves_the_ike_sa_and_other_children() {
    let conf = format!(
        "conn %default\n  left={A}\n  leftid=@moon\n  right={B}\n  rightid=@sun\n  authby=psk\n  auto=add\n\
         conn one\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\n\
         conn two\n  leftsubnet=10.3.0.0/16\n  rightsubnet=10.4.0.0/16\n"
    );
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "one").unwrap();
    p.run_clean();
    p.refuse_b = true;
    p.a.initiate(p.now, "two").unwrap();
    p.run_clean();
    assert_eq!(
        Pair::installs(&p.a_events).len(),
        1,
        "no SA for 'two' on the initiator"
    );
    assert_eq!(
        count(&p.a_events, |e| matches!(e, Event::DeleteChild { .. })),
        0
    );
    let st = p.a.status(p.now);
    assert_eq!(st[0].children.len(), 1);
    assert_eq!(st[0].children[0].conn, "one");
    assert_eq!(p.b.status(p.now)[0].children.len(), 1);
}

#[test]
fn the_rekey_responder_sends_on_the_new_sa_only_after_the_old_one_is_deleted() {
    let short = net2net().replace(
        "auto=add",
        "auto=add\n  lifetime=20s\n  margintime=8s\n  rekeyfuzz=0%\n  ikelifetime=1h",
    );
    // b rekeys later than a: a initiates every CHILD_SA rekey.
    let later = short.replace("margintime=8s", "margintime=4s");
    let mut p = Pair::new(&short, PSK, &later, PSK);
    p.until = p.now + Duration::from_secs(15);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let ib = Pair::installs(&p.b_events);
    assert_eq!(ib.len(), 2, "one rekey in 15 s: {:?}", p.b_events);
    assert!(!ib[0].defer_outbound, "a new CHILD_SA sends at once");
    assert!(ib[1].defer_outbound, "the rekeyed one waits");
    assert!(
        !Pair::installs(&p.a_events)[1].defer_outbound,
        "the rekey initiator does not wait"
    );
    let (old, new) = (ib[0].child_id, ib[1].child_id);
    let pos = |f: &dyn Fn(&Event) -> bool| p.b_events.iter().position(f);
    let out = pos(&|e| matches!(e, Event::InstallOutbound { child_id, .. } if *child_id == new))
        .expect("the outbound SA is installed");
    let gone = pos(&|e| matches!(e, Event::DeleteChild { child_id, .. } if *child_id == old))
        .expect("the old CHILD_SA is deleted");
    assert!(
        out < gone,
        "outbound first, then the old SA goes: {:?}",
        p.b_events
    );
    let install = pos(&|e| matches!(e, Event::InstallChild(c) if c.child_id == new)).unwrap();
    assert!(install < out);
}

#[test]
fn the_rekey_responder_stops_waiting_when_the_delete_never_comes() {
    let short = net2net().replace(
        "auto=add",
        "auto=add\n  lifetime=20s\n  margintime=8s\n  rekeyfuzz=0%\n  ikelifetime=1h",
    );
    let later = short.replace("margintime=8s", "margintime=4s");
    let mut p = Pair::new(&short, PSK, &later, PSK);
    p.until = p.now + Duration::from_secs(30);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let start = p.now;
    // From the rekey on, a's requests after the CREATE_CHILD_SA are lost (its DELETE).
    let mut seen_create = false;
    p.run(|from, _, t| {
        if from == 'a' && t.data.len() > 100 && !seen_create {
            seen_create = true;
            return 1;
        }
        usize::from(!(from == 'a' && seen_create))
    });
    let _ = start;
    let ib = Pair::installs(&p.b_events);
    assert!(ib.len() >= 2, "{:?}", p.b_events);
    let new = ib[1].child_id;
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::InstallOutbound { child_id, .. } if *child_id == new)),
        "after the wait the new outbound SA is installed anyway: {:?}",
        p.b_events
    );
}

#[test]
fn unique_marks_and_interface_ids_are_one_value_in_and_out() {
    let conf = net2net().replace(
        "auto=add",
        "auto=add\n  mark=%unique\n  if_id_in=%unique\n  if_id_out=%unique",
    );
    let mut p = Pair::same(&conf, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let c = Pair::installs(&p.a_events)[0].clone();
    assert!(c.mark_in.is_some());
    assert_eq!(c.mark_in, c.mark_out, "%unique: the same mark both ways");
    assert_eq!(c.if_id_in, c.if_id_out);
    let dir = net2net().replace("auto=add", "auto=add\n  mark=%unique-dir");
    let mut p = Pair::same(&dir, PSK);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let c = Pair::installs(&p.a_events)[0].clone();
    assert_ne!(c.mark_in, c.mark_out, "%unique-dir: one per direction");
}

#[test]
fn a_virtual_ip_survives_an_ike_sa_rekey() {
    let gw = format!(
        "conn rw\n  left={B}\n  leftsubnet=10.1.0.0/16\n  leftid={MOON}\n  right=%any\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  ikelifetime=1h\n  margintime=5m\n  auto=add\n"
    );
    let cl = format!(
        "conn home\n  left={A}\n  leftsourceip=%config\n  leftid=carol@strongswan.org\n  right={B}\n  rightsubnet=10.1.0.0/16\n  rightid={MOON}\n  authby=psk\n  ikelifetime=1h\n  margintime=5m\n  auto=add\n"
    );
    let s = "carol@strongswan.org @moon.strongswan.org : PSK \"rw-secret\"\n";
    let mut p = Pair::new(&cl, s, &gw, s);
    p.until = p.now + Duration::from_secs(70 * 60);
    p.a.initiate(p.now, "home").unwrap();
    p.run_clean();
    let ups = count(&p.b_events, |e| matches!(e, Event::IkeUp { .. }));
    assert!(ups >= 2, "rekeyed: {:?}", p.b_events);
    let st = p.b.status(p.now);
    assert_eq!(st.len(), 1, "the old IKE_SA is gone");
    assert_eq!(
        p.b.virtual_ips(st[0].ike_id).1,
        vec![ip("10.3.0.1")],
        "the lease moved"
    );
    assert_eq!(p.b.pool_online("10.3.0.0/28"), 1, "one lease, still online");
    let ca = p.a.status(p.now);
    assert_eq!(p.a.virtual_ips(ca[0].ike_id).0, vec![ip("10.3.0.1")]);
}

#[test]
fn a_child_rekey_that_cannot_be_built_is_retried() {
    let conf = net2net().replace(
        "auto=add",
        "auto=add\n  lifetime=20s\n  margintime=8s\n  rekeyfuzz=0%\n  ikelifetime=1h",
    );
    let later = conf.replace("margintime=8s", "margintime=2s");
    let mut p = Pair::new(&conf, PSK, &later, PSK);
    // a's SPI counter runs out after the first CHILD_SA: its rekey cannot be built.
    p.a = ike::sa::Endpoint::new(
        config(&conf, PSK),
        vec![ip(A)],
        ike::crypto::Provider::default(),
        Box::new(TestRng(5)),
        Box::new(CountingSpis(u32::MAX - 1)),
    );
    p.until = p.now + Duration::from_secs(13);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let st = p.a.status(p.now);
    let c = &st[0].children[0];
    assert!(!c.rekeying, "not stuck 'rekeying': {c:?}");
    assert!(
        c.rekey_in_secs.is_some(),
        "a new attempt is scheduled: {c:?}"
    );
}

/// The kernel's answer to "which source address towards the peer?".
struct Route(IpAddr);
impl RouteLookup for Route {
    fn source_for(&self, _: IpAddr) -> Option<IpAddr> {
        Some(self.0)
    }
}

#[test]
fn a_defaultroute_initiator_uses_the_routes_source_address() {
    let conf_a = net2net().replace(&format!("left={A}"), "left=%defaultroute");
    let mut p = Pair::new(&conf_a, PSK, &net2net(), PSK);
    // This host has another address first (a dummy interface), the route says A.
    p.a = ike::sa::Endpoint::new(
        config(&conf_a, PSK),
        vec![ip("198.51.100.77"), ip(A)],
        ike::crypto::Provider::default(),
        Box::new(TestRng(9)),
        Box::new(CountingSpis(0xc000_0000)),
    );
    p.a.set_routes(Box::new(Route(ip(A))));
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let st = p.a.status(p.now);
    assert_eq!(st[0].state, IkeState::Established);
    assert_eq!(
        st[0].local.ip(),
        ip(A),
        "the address actually used is shown"
    );
    assert_eq!(Pair::installs(&p.a_events)[0].local, ip(A));
}

#[test]
fn exchanges_survive_latency_and_reordering() {
    let conf = format!(
        "conn %default\n  left={A}\n  leftid=@moon\n  right={B}\n  rightid=@sun\n  authby=psk\n  auto=add\n  lifetime=20s\n  margintime=8s\n  rekeyfuzz=0%\n\
         conn one\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\n\
         conn two\n  leftsubnet=10.3.0.0/16\n  rightsubnet=10.4.0.0/16\n"
    );
    let mut p = Pair::same(&conf, PSK);
    p.latency = Duration::from_millis(80);
    p.reorder = true;
    p.until = p.now + Duration::from_secs(30);
    p.a.initiate(p.now, "one").unwrap();
    p.a.initiate(p.now, "two").unwrap();
    p.run_clean();
    let (a, b) = (p.a.status(p.now), p.b.status(p.now));
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].children.len(), 2, "{:?}", p.a_events);
    assert_eq!(b[0].children.len(), 2);
    let mut sa: Vec<u32> = a[0].children.iter().map(|c| c.spi_in).collect();
    let mut sb: Vec<u32> = b[0].children.iter().map(|c| c.spi_out).collect();
    sa.sort_unstable();
    sb.sort_unstable();
    assert_eq!(sa, sb, "both sides agree on the SAs after the rekeys");
}

#[test]
fn one_ike_sa_or_one_child_sa_is_terminated_by_its_id() {
    let conf = format!(
        "conn %default\n  left={A}\n  leftid=@moon\n  right={B}\n  rightid=@sun\n  authby=psk\n  auto=add\n\
         conn one\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\n\
         conn two\n  leftsubnet=10.3.0.0/16\n  rightsubnet=10.4.0.0/16\n"
    );
    let mut p = Pair::same(&conf, PSK);
    let ike = p.a.initiate(p.now, "one").unwrap();
    p.a.initiate(p.now, "two").unwrap();
    p.run_clean();
    let two = Pair::installs(&p.a_events)[1].child_id;
    assert!(!p.a.terminate_child(p.now, two + 100), "unknown CHILD_SA");
    assert!(p.a.terminate_child(p.now, two));
    p.run_clean();
    for st in [p.a.status(p.now), p.b.status(p.now)] {
        assert_eq!(st.len(), 1, "the IKE_SA stays");
        assert_eq!(st[0].children.len(), 1);
        assert_eq!(st[0].children[0].conn, "one");
    }
    assert!(!p.a.terminate_ike(p.now, ike + 100));
    assert!(p.a.terminate_ike(p.now, ike));
    p.run_clean();
    assert!(p.a.status(p.now).is_empty() && p.b.status(p.now).is_empty());
}

#[test]
fn a_refused_ike_sa_rekey_is_tried_again_later() {
    // The peer refuses our IKE_SA rekey (TEMPORARY_FAILURE: it is deleting
    // the IKE_SA itself just then); our SA must schedule another attempt.
    let conf = net2net().replace(
        "auto=add",
        "auto=add\n  ikelifetime=60s\n  margintime=10s\n  rekeyfuzz=0%\n  lifetime=8h",
    );
    let later = conf.replace("ikelifetime=60s", "ikelifetime=1h");
    let mut p = Pair::new(&conf, PSK, &later, PSK);
    p.until = p.now + Duration::from_secs(40);
    p.a.initiate(p.now, "net-net").unwrap();
    p.run_clean();
    let due = p.a.poll_timeout().expect("the rekey is scheduled");
    p.now = due;
    p.a.handle_timeout(p.now);
    let rekey = p.a.poll_transmit().expect("a's CREATE_CHILD_SA");
    assert_eq!(p.b.terminate(p.now, "net-net"), 1);
    let delete = p.b.poll_transmit().expect("b's DELETE");
    p.b.handle_datagram(p.now, rekey.remote, rekey.local, &rekey.data);
    let refusal = p.b.poll_transmit().expect("b's answer");
    p.a.handle_datagram(p.now, refusal.remote, refusal.local, &refusal.data);
    let st = p.a.status(p.now);
    assert_eq!(st[0].state, IkeState::Established);
    let again = st[0].rekey_in_secs.expect("another rekey is scheduled");
    assert!((25..=30).contains(&again), "retried in about 30 s: {again}");
    // (b's DELETE then ends it, as it would.)
    p.a.handle_datagram(p.now, delete.remote, delete.local, &delete.data);
    assert!(p.a.status(p.now).is_empty());
}

/// Both ends rekey the IKE_SA at the same instant (RFC 7296 §2.8.2): their
/// requests cross. Afterwards each side has exactly one IKE_SA, the same one,
/// carrying the CHILD_SA (not deleted, not re-made); over several seeds both
/// outcomes of the nonce comparison happen.
#[test]
fn simultaneous_ike_sa_rekeys_leave_one_ike_sa_with_its_child_sa() {
    let conf = net2net().replace(
        "auto=add",
        "auto=add\n  ikelifetime=60s\n  margintime=10s\n  rekeyfuzz=0%\n  lifetime=8h",
    );
    let (mut a_won, mut b_won) = (0, 0);
    for seed in 1..=12u64 {
        let mut p = Pair::seeded(&conf, PSK, &conf, PSK, (seed, seed + 100));
        p.until = p.now;
        p.a.initiate(p.now, "net-net").unwrap();
        p.run_clean();
        let before = p.a.status(p.now);
        assert_eq!(before.len(), 1);
        let child = (before[0].children[0].spi_in, before[0].children[0].spi_out);
        // Both rekey timers are due at the same time: fire both, then cross.
        let due = [p.a.poll_timeout(), p.b.poll_timeout()];
        p.now = due.into_iter().flatten().max().expect("rekeys scheduled");
        p.a.handle_timeout(p.now);
        p.b.handle_timeout(p.now);
        let ra = p.a.poll_transmit().expect("a's CREATE_CHILD_SA");
        let rb = p.b.poll_transmit().expect("b's CREATE_CHILD_SA");
        p.b.handle_datagram(p.now, ra.remote, ra.local, &ra.data);
        p.a.handle_datagram(p.now, rb.remote, rb.local, &rb.data);
        p.until = p.now + Duration::from_secs(5);
        p.run_clean();
        let (sa, sb) = (p.a.status(p.now), p.b.status(p.now));
        assert_eq!(sa.len(), 1, "seed {seed}: a keeps one IKE_SA: {sa:?}");
        assert_eq!(sb.len(), 1, "seed {seed}: b keeps one IKE_SA: {sb:?}");
        assert_eq!((sa[0].spi_i, sa[0].spi_r), (sb[0].spi_i, sb[0].spi_r));
        assert_ne!(sa[0].spi_i, before[0].spi_i, "seed {seed}: rekeyed");
        assert_eq!(sa[0].state, IkeState::Established);
        assert_eq!(sa[0].children.len(), 1, "seed {seed}: {sa:?}");
        assert_eq!(sb[0].children.len(), 1, "seed {seed}: {sb:?}");
        let c = &sa[0].children[0];
        assert_eq!(
            (c.spi_in, c.spi_out),
            child,
            "seed {seed}: the same CHILD_SA"
        );
        assert!(
            sa[0].rekey_in_secs.is_some(),
            "seed {seed}: the survivor rekeys later"
        );
        let deletes = |ev: &[Event]| count(ev, |e| matches!(e, Event::DeleteChild { .. }));
        assert_eq!(
            deletes(&p.a_events) + deletes(&p.b_events),
            0,
            "seed {seed}"
        );
        if sa[0].initiator {
            a_won += 1;
        } else {
            b_won += 1;
        }
        // The survivor still works: deleting it removes the CHILD_SA on both.
        assert_eq!(p.b.terminate(p.now, "net-net"), 1);
        p.run_clean();
        assert!(p.a.status(p.now).is_empty() && p.b.status(p.now).is_empty());
    }
    assert!(
        a_won > 0 && b_won > 0,
        "both outcomes: a {a_won}, b {b_won}"
    );
}
