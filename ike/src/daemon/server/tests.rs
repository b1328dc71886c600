//! The loop with a scripted core: auto=start and keyingtries, up/down
//! waiters, status from the core, stop.

use super::requests::UP_WAIT;
use super::*;
use crate::sa::{ChildStatus, IkeState, Transmit};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A scripted core: records commands, hands out ids, replays queued events.
#[derive(Default)]
struct FakeCore {
    initiated: Vec<String>,
    terminated: Vec<String>,
    /// `terminate_ike` / `terminate_child` calls.
    terminated_ids: Vec<String>,
    /// `rekey_ike` / `rekey_child` calls.
    rekeyed: Vec<String>,
    events: VecDeque<Event>,
    next_id: u32,
    sas: Vec<IkeStatus>,
    shut_down: bool,
}

impl Core for FakeCore {
    fn set_config(&mut self, _: Arc<conf::Config>) {}
    fn set_local_addrs(&mut self, _: Instant, _: Vec<IpAddr>) {}
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn initiate(&mut self, _: Instant, conn: &str) -> Result<u32, crate::sa::InitiateError> {
        self.initiated.push(conn.to_owned());
        self.next_id += 1;
        Ok(self.next_id)
    }
    fn acquire(
        &mut self,
        now: Instant,
        conn: &str,
        _: IpAddr,
        _: IpAddr,
    ) -> Result<u32, crate::sa::InitiateError> {
        self.initiate(now, conn)
    }
    fn terminate(&mut self, _: Instant, conn: &str) -> usize {
        self.terminated.push(conn.to_owned());
        self.sas.iter().filter(|s| s.conn == conn).count()
    }
    fn terminate_ike(&mut self, _: Instant, ike_id: u32) -> bool {
        self.terminated_ids.push(format!("[{ike_id}]"));
        self.sas.iter().any(|s| s.ike_id == ike_id)
    }
    fn terminate_child(&mut self, _: Instant, child_id: u32) -> bool {
        self.terminated_ids.push(format!("{{{child_id}}}"));
        self.sas
            .iter()
            .any(|s| s.children.iter().any(|c| c.child_id == child_id))
    }
    fn rekey_ike(&mut self, _: Instant, ike_id: u32) -> Result<(), crate::sa::RekeyError> {
        self.rekeyed.push(format!("[{ike_id}]"));
        self.sas
            .iter()
            .any(|s| s.ike_id == ike_id)
            .then_some(())
            .ok_or(crate::sa::RekeyError::NoSuchIke(ike_id))
    }
    fn rekey_child(&mut self, _: Instant, child_id: u32) -> Result<(), crate::sa::RekeyError> {
        self.rekeyed.push(format!("{{{child_id}}}"));
        self.sas
            .iter()
            .any(|s| s.children.iter().any(|c| c.child_id == child_id))
            .then_some(())
            .ok_or(crate::sa::RekeyError::NoSuchChild(child_id))
    }
    fn shutdown(&mut self, _: Instant) {
        self.shut_down = true;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    fn status(&self, _: Instant) -> Vec<IkeStatus> {
        self.sas.clone()
    }
}

fn daemon(conf_text: &str) -> Daemon<FakeCore> {
    let src = conf::MemSource::default().with("/c", conf_text);
    let cfg = conf::load_from(&src, Path::new("/c"), None).unwrap();
    let (tx, _rx) = mpsc::channel(1);
    Daemon::new(
        FakeCore::default(),
        Kernel::open(),
        Sockets::new((500, 4500), tx),
        Arc::new(cfg),
        Options::default(),
        LogHandle::inert(),
        vec!["192.0.2.1".parse().unwrap()],
    )
}

const START: &str = "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=start\n  keyingtries=2\nconn b\n  left=192.0.2.1\n  right=192.0.2.3\n  authby=psk\n  auto=add\n";

fn down(conn: &str, ike_id: u32) -> Event {
    Event::IkeDown {
        conn: conn.into(),
        ike_id,
        reason: "AUTHENTICATION_FAILED".into(),
    }
}

#[test]
fn auto_start_is_retried_per_keyingtries() {
    let mut d = daemon(START);
    let t0 = Instant::now();
    d.start_conns(t0, None);
    assert_eq!(d.core.initiated, ["a"], "auto=add conns wait");
    d.core.events.push_back(down("a", 1));
    d.drain(t0);
    assert_eq!(d.retries.len(), 1);
    d.tick(t0);
    assert_eq!(d.core.initiated.len(), 1, "not before the delay");
    let later = d.next_tick().unwrap();
    assert!(later > t0);
    d.tick(later);
    assert_eq!(d.core.initiated, ["a", "a"]);
    // Second failure: keyingtries=2 is used up.
    d.core.events.push_back(down("a", 2));
    d.drain(later);
    assert!(d.retries.is_empty());
    assert!(d.next_tick().is_none());
}

#[test]
fn established_sas_are_not_retried_and_down_cancels_retries() {
    let mut d = daemon(START);
    let t0 = Instant::now();
    d.start_conns(t0, None);
    d.core.events.push_back(Event::IkeUp {
        conn: "a".into(),
        ike_id: 1,
    });
    d.core.events.push_back(down("a", 1));
    d.drain(t0);
    assert!(d.retries.is_empty(), "a deleted SA is not a failed attempt");

    d.start_conns(t0, None);
    d.core.events.push_back(down("a", 2));
    d.drain(t0);
    assert_eq!(d.retries.len(), 1);
    let (tx, _rx) = oneshot::channel();
    d.on_request(t0, Request::Down { conn: "a".into() }, tx);
    assert!(d.retries.is_empty(), "ipsec down stops the retries");
}

#[test]
fn up_waits_for_the_outcome() {
    let mut d = daemon(START);
    let t0 = Instant::now();
    let (tx, mut rx) = oneshot::channel();
    d.on_request(t0, Request::Up { conn: "b".into() }, tx);
    assert!(rx.try_recv().is_err(), "answered before the outcome");
    d.core.events.push_back(Event::IkeUp {
        conn: "b".into(),
        ike_id: 1,
    });
    d.drain(t0);
    let r = rx.try_recv().unwrap();
    assert!(r.ok);
    assert_eq!(r.message, "connection 'b' established successfully");

    let (tx, mut rx) = oneshot::channel();
    d.on_request(t0, Request::Up { conn: "b".into() }, tx);
    d.core.events.push_back(down("b", 2));
    d.drain(t0);
    let r = rx.try_recv().unwrap();
    assert!(!r.ok);
    assert_eq!(
        r.message,
        "establishing connection 'b' failed: AUTHENTICATION_FAILED"
    );
    assert!(d.retries.is_empty(), "auto=add conns are not retried");

    // Timeout.
    let (tx, mut rx) = oneshot::channel();
    d.on_request(t0, Request::Up { conn: "b".into() }, tx);
    d.tick(t0 + UP_WAIT);
    assert!(
        rx.try_recv()
            .unwrap()
            .message
            .contains("not established after")
    );

    let (tx, mut rx) = oneshot::channel();
    d.on_request(
        t0,
        Request::Up {
            conn: "nosuch".into(),
        },
        tx,
    );
    assert_eq!(rx.try_recv().unwrap().message, "no config named 'nosuch'");
}

#[test]
fn down_waits_for_every_ike_sa() {
    let mut d = daemon(START);
    let t0 = Instant::now();
    let (tx, mut rx) = oneshot::channel();
    d.on_request(t0, Request::Down { conn: "b".into() }, tx);
    assert_eq!(rx.try_recv().unwrap().message, "no IKE_SA named 'b' found");

    d.core.sas = vec![ike_status("b", 1), ike_status("b", 2)];
    let (tx, mut rx) = oneshot::channel();
    d.on_request(t0, Request::Down { conn: "b".into() }, tx);
    d.core.events.push_back(down("b", 1));
    d.drain(t0);
    assert!(rx.try_recv().is_err(), "one of two IKE_SAs still up");
    d.core.events.push_back(down("b", 2));
    d.drain(t0);
    assert_eq!(
        rx.try_recv().unwrap().message,
        "connection 'b' closed successfully"
    );
}

#[test]
fn down_by_unique_id_closes_one_ike_sa_or_one_child_sa() {
    let mut d = daemon(START);
    let t0 = Instant::now();
    d.core.sas = vec![ike_status("b", 1), ike_status("b", 2)];
    let ask = |d: &mut Daemon<FakeCore>, req| {
        let (tx, rx) = oneshot::channel();
        d.on_request(t0, req, tx);
        rx
    };
    // b[2] only: b[1] going down does not answer it.
    let mut rx = ask(
        &mut d,
        Request::DownIke {
            ike_id: 2,
            conn: Some("b".into()),
        },
    );
    assert_eq!(d.core.terminated_ids, ["[2]"]);
    assert!(d.core.terminated.is_empty(), "not the whole conn");
    d.core.events.push_back(down("b", 1));
    d.drain(t0);
    assert!(rx.try_recv().is_err());
    d.core.events.push_back(down("b", 2));
    d.drain(t0);
    let r = rx.try_recv().unwrap();
    assert_eq!(
        (r.ok, r.message.as_str()),
        (true, "IKE_SA b[2] closed successfully")
    );

    // The name must match; an unknown id is an error, not a wait.
    for (id, conn, msg) in [
        (2, Some("a"), "no IKE_SA a[2] found"),
        (9, None, "no IKE_SA [9] found"),
    ] {
        let mut rx = ask(
            &mut d,
            Request::DownIke {
                ike_id: id,
                conn: conn.map(Into::into),
            },
        );
        let r = rx.try_recv().unwrap();
        assert_eq!((r.ok, r.message.as_str()), (false, msg));
    }
    assert_eq!(
        d.core.terminated_ids,
        ["[2]"],
        "nothing else was terminated"
    );

    // One CHILD_SA (ike_status gives b[N] the CHILD_SA b{N}).
    let mut rx = ask(
        &mut d,
        Request::DownChild {
            child_id: 1,
            conn: None,
        },
    );
    assert_eq!(d.core.terminated_ids, ["[2]", "{1}"]);
    assert!(rx.try_recv().is_err(), "waits for the DELETE's answer");
    d.core.events.push_back(Event::DeleteChild {
        conn: "b".into(),
        child_id: 1,
        reqid: 3,
        local: "192.0.2.1".parse().unwrap(),
        remote: "192.0.2.3".parse().unwrap(),
        spi_in: 0xc0000001,
        spi_out: 0xc0000002,
    });
    d.drain(t0);
    let r = rx.try_recv().unwrap();
    assert_eq!(
        (r.ok, r.message.as_str()),
        (true, "CHILD_SA b{1} closed successfully")
    );
    let mut rx = ask(
        &mut d,
        Request::DownChild {
            child_id: 1,
            conn: Some("a".into()),
        },
    );
    assert_eq!(rx.try_recv().unwrap().message, "no CHILD_SA a{1} found");

    // No answer from the peer: the waiter times out.
    let mut rx = ask(
        &mut d,
        Request::DownChild {
            child_id: 2,
            conn: Some("b".into()),
        },
    );
    d.tick(t0 + super::requests::DOWN_WAIT);
    assert_eq!(
        rx.try_recv().unwrap().message,
        "CHILD_SA b{2} not closed after 15s"
    );
}

#[test]
fn ike_sas_going_up_and_down_are_vici_events() {
    let mut d = daemon(START);
    let t0 = Instant::now();
    d.core.sas = vec![ike_status("b", 4)];
    // Nobody listens: nothing is built.
    d.core.events.push_back(Event::IkeUp {
        conn: "b".into(),
        ike_id: 4,
    });
    d.drain(t0);
    let mut rx = d.sa_events.hub.subscribe();
    assert!(rx.try_recv().is_err());

    d.core.events.push_back(Event::IkeUp {
        conn: "b".into(),
        ike_id: 4,
    });
    d.drain(t0);
    let e = rx.try_recv().unwrap();
    assert_eq!(e.name, "ike-updown");
    assert_eq!(e.message.get_str("up"), Some("yes"));
    let sa = e.message.get_section("b").unwrap();
    assert_eq!(sa.get_str("uniqueid"), Some("4"));
    assert_eq!(sa.get_str("state"), Some("ESTABLISHED"));
    assert_eq!(sa.get_str("remote-host"), Some("192.0.2.3"));
    assert_eq!(sa.get_section("child-sas").map(|c| c.items.len()), Some(0));

    // Down: the view kept from the up event, the core has forgotten the SA.
    d.core.sas.clear();
    d.core.events.push_back(down("b", 4));
    d.drain(t0 + Duration::from_secs(10));
    let e = rx.try_recv().unwrap();
    assert_eq!(e.name, "ike-updown");
    assert_eq!(e.message.get_str("up"), None);
    let sa = e.message.get_section("b").unwrap();
    assert_eq!(
        (sa.get_str("state"), sa.get_str("local-id")),
        (Some("DELETING"), Some("moon"))
    );
    // ... with its times as they are at the end, not as they were at the start
    assert_eq!(
        (sa.get_str("established"), sa.get_str("rekey-time")),
        (Some("75"), Some("3590"))
    );

    // One that came up before anyone listened: what its end tells.
    d.core.events.push_back(down("b", 9));
    d.drain(t0);
    let e = rx.try_recv().unwrap();
    let sa = e.message.get_section("b").unwrap();
    assert_eq!(
        (sa.get_str("uniqueid"), sa.get_str("state")),
        (Some("9"), Some("DELETING"))
    );
    assert!(rx.try_recv().is_err());
}

fn ike_status(conn: &str, ike_id: u32) -> IkeStatus {
    IkeStatus {
        conn: conn.into(),
        ike_id,
        state: IkeState::Established,
        initiator: true,
        local: "192.0.2.1:500".parse().unwrap(),
        remote: "192.0.2.3:4500".parse().unwrap(),
        local_id: "moon".into(),
        remote_id: "sun".into(),
        remote_eap_id: None,
        spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
        spi_r: [0xff; 8],
        proposal: "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384".into(),
        established_secs_ago: Some(65),
        rekey_in_secs: Some(3600),
        nat_local: false,
        nat_remote: true,
        nat_fake: false,
        children: vec![ChildStatus {
            conn: conn.into(),
            child_id: ike_id,
            reqid: 3,
            mode: Mode::Transport,
            spi_in: 0xc0000001,
            spi_out: 0xc0000002,
            encap: true,
            proposal: "AES_GCM_16_256".into(),
            ts_local: vec![],
            ts_remote: vec![],
            established_secs_ago: 65,
            rekey_in_secs: Some(600),
            rekeying: false,
        }],
    }
}

#[test]
fn report_from_core_status() {
    let mut d = daemon(START);
    d.core.sas = vec![ike_status("b", 4)];
    let r = d.report(Instant::now(), true);
    assert_eq!(r.conns.len(), 2);
    assert_eq!(r.conns[0].auto, "start");
    let sa = &r.ike_sas[0];
    assert_eq!(sa.spi_i, "0102030405060708");
    assert_eq!(sa.state, "ESTABLISHED");
    let c = &sa.children[0];
    assert!(!c.installed, "nothing was installed in the kernel");
    assert_eq!(c.counters, None);
    let text = super::super::status::format_status(&r);
    assert!(
        text.contains(
            "           b[4]: ESTABLISHED 65 seconds ago, 192.0.2.1[moon]...192.0.2.3[sun]"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "           b{4}:  CREATED, TRANSPORT, reqid 3, ESP in UDP SPIs: c0000001_i c0000002_o"
        ),
        "{text}"
    );
}

#[test]
fn stop_and_shutdown() {
    let mut d = daemon(START);
    let (tx, mut rx) = oneshot::channel();
    d.on_request(Instant::now(), Request::Stop, tx);
    assert!(rx.try_recv().unwrap().ok);
    assert!(d.stopping);
    let (tx, mut rx) = oneshot::channel();
    d.on_request(Instant::now(), Request::Up { conn: "b".into() }, tx);
    d.shutdown();
    assert!(d.core.shut_down);
    assert_eq!(rx.try_recv().unwrap().message, "iked is shutting down");
}
