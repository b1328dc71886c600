//! Host kernel tests, each in a network namespace of its own.
//!
//! The test process re-executes itself (this test binary, filtered to one exact test)
//! under `ip netns exec <fresh namespace>`; the child sees `XFRM_TEST_NETNS` and does
//! the netlink work there, after checking that it is not in the host's namespace. The
//! namespace is deleted on drop. Needs root and iproute2; without them the test says
//! SKIPPED on stderr (and fails when `CI=true`).

use std::io::Write;
use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use xfrm::*;

const ENV: &str = "XFRM_TEST_NETNS";
const PARENT_ENV: &str = "XFRM_TEST_PARENT_NETNS";

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "xfrmtest-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn can_netns() -> Result<(), String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Err("not root".into());
    }
    Command::new("ip")
        .arg("-V")
        .output()
        .map_err(|e| format!("iproute2 missing: {e}"))?;
    Ok(())
}

/// Runs `body` in a fresh namespace (see the module doc).
fn in_netns(test: &str, body: fn()) {
    if let Some(ns) = std::env::var_os(ENV) {
        let me = std::fs::read_link("/proc/self/ns/net").expect("own netns");
        let parent = std::env::var_os(PARENT_ENV).expect("parent's netns");
        assert_ne!(
            me.as_os_str(),
            parent.as_os_str(),
            "refusing to touch the caller's XFRM state"
        );
        eprintln!("running {test} in netns {}", ns.to_string_lossy());
        body();
        return;
    }
    if let Err(why) = can_netns() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: cannot create a network namespace ({why}) and CI=true");
        }
        // straight to fd 2: libtest captures eprintln!, and a skip must be visible
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: needs root and `ip netns` ({why}); CI=true makes this a failure"
        );
        return;
    }
    let ns = Netns::new();
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV, &ns.0)
        .env(
            PARENT_ENV,
            std::fs::read_link("/proc/self/ns/net").expect("own netns"),
        )
        .output()
        .expect("re-exec test in netns");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- child stdout\n{stdout}--- child stderr\n{stderr}---");
    assert!(out.status.success(), "{test} failed inside netns {}", ns.0);
    assert!(
        stdout.contains("1 passed"),
        "{test}: the child ran no test (filter mismatch?)"
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sh(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn out_policy(mark: Option<Mark>, if_id: Option<u32>) -> Policy {
    let sel = Selector::new(
        "198.51.100.0/24".parse().unwrap(),
        "203.0.113.0/24".parse().unwrap(),
    );
    let mut p = Policy::new(
        sel,
        Direction::Out,
        vec![Template::tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 1)],
    );
    p.mark = mark;
    p.if_id = if_id;
    p.priority = 100;
    p
}

#[test]
fn policy_add_get_delete_with_mark_and_if_id() {
    in_netns("policy_add_get_delete_with_mark_and_if_id", || {
        let mut x = Xfrm::open().unwrap();
        let p = out_policy(Some(Mark::exact(6)), Some(42));
        x.add_policy(&p).unwrap();
        // what the kernel has, seen by iproute2 independently of this crate
        let shown = sh(&["xfrm", "policy", "show"]);
        assert!(
            shown.contains("src 198.51.100.0/24 dst 203.0.113.0/24"),
            "{shown}"
        );
        assert!(shown.contains("mark 0x6/0xffffffff"), "{shown}");
        assert!(shown.contains("if_id 0x2a"), "{shown}");
        assert!(
            shown.contains("tmpl src 192.0.2.1 dst 192.0.2.2"),
            "{shown}"
        );

        let got = x.get_policy(&p.id()).unwrap();
        assert_eq!(got.policy.selector, p.selector);
        assert_eq!(got.policy.mark, Some(Mark::exact(6)));
        assert_eq!(got.policy.if_id, Some(42));
        assert_eq!(got.policy.templates, p.templates);
        assert_eq!(got.policy.priority, 100);
        assert_ne!(got.policy.index, 0, "kernel assigns an index");

        // same selector again: typed EEXIST; with another mark it is another policy
        let e = x.add_policy(&p).unwrap_err();
        assert!(e.is_exists(), "{e}");
        let p7 = out_policy(Some(Mark::exact(7)), Some(42));
        x.add_policy(&p7).unwrap();
        // the mark is part of the identity
        let mut wrong = p.id();
        wrong.mark = Some(Mark::exact(8));
        assert!(x.get_policy(&wrong).unwrap_err().is_not_found());
        // by index
        let by_index = PolicyId {
            mark: p.mark,
            if_id: p.if_id,
            ..PolicyId::by_index(got.policy.index, Direction::Out)
        };
        assert_eq!(x.get_policy(&by_index).unwrap().policy.selector, p.selector);

        // update changes the priority in place
        let mut p2 = p.clone();
        p2.priority = 200;
        x.update_policy(&p2).unwrap();
        assert_eq!(x.get_policy(&p.id()).unwrap().policy.priority, 200);
        assert_eq!(x.list_policies().unwrap().len(), 2);

        x.delete_policy(&p.id()).unwrap();
        assert!(x.get_policy(&p.id()).unwrap_err().is_not_found());
        let e = x.delete_policy(&p.id()).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains("mark 0x6/0xffffffff"), "{e}");
        assert!(x.get_policy(&p7.id()).is_ok());

        // IPv6, in/fwd, block
        let sel6 = Selector::new(
            "2001:db8:a::/64".parse().unwrap(),
            "2001:db8:b::/64".parse().unwrap(),
        );
        for dir in [Direction::In, Direction::Fwd] {
            let mut p6 = Policy::new(sel6, dir, vec![]);
            p6.action = Action::Block;
            x.add_policy(&p6).unwrap();
            let g = x.get_policy(&p6.id()).unwrap();
            assert_eq!(g.policy.action, Action::Block);
            assert_eq!(g.policy.dir, dir);
        }
        assert_eq!(x.list_policies().unwrap().len(), 3);
        x.flush_policies().unwrap();
        assert!(x.list_policies().unwrap().is_empty());
        assert_eq!(sh(&["xfrm", "policy", "show"]).trim(), "");
    });
}

#[test]
fn pipelined_batch_installs_many_policies_with_one_result_each() {
    in_netns(
        "pipelined_batch_installs_many_policies_with_one_result_each",
        || {
            let mut x = Xfrm::open().unwrap();
            let mut b = Batch::new();
            let mut n = 0;
            for a in 0..20u8 {
                for c in 0..20u8 {
                    let sel = Selector::new(
                        Prefix::host(IpAddr::from([198, 51, 100, a])),
                        Prefix::host(IpAddr::from([203, 0, 113, c])),
                    );
                    for dir in [Direction::Out, Direction::In, Direction::Fwd] {
                        let mut p = Policy::new(
                            sel,
                            dir,
                            vec![Template::tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 1)],
                        );
                        p.mark = Some(Mark::exact(u32::from(a)));
                        b.add_policy(&p).unwrap();
                        n += 1;
                    }
                }
            }
            // one duplicate in the middle: exactly that one fails
            let dup = Policy::new(
                Selector::new(
                    Prefix::host(ip("198.51.100.3")),
                    Prefix::host(ip("203.0.113.4")),
                ),
                Direction::Out,
                vec![Template::tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 1)],
            );
            let mut dup = dup;
            dup.mark = Some(Mark::exact(3));
            b.add_policy(&dup).unwrap();
            let res = x.execute(&b);
            assert_eq!(res.len(), n + 1);
            let failed: Vec<_> = res.iter().enumerate().filter(|(_, r)| r.is_err()).collect();
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert_eq!(failed[0].0, n);
            assert!(failed[0].1.as_ref().unwrap_err().is_exists());
            assert_eq!(x.list_policies().unwrap().len(), n);
            let count = sh(&["xfrm", "policy", "count"]);
            println!("ip xfrm policy count: {count}");
            x.flush_policies().unwrap();
        },
    );
}

#[test]
fn sa_add_without_esp_gives_a_clear_error() {
    in_netns("sa_add_without_esp_gives_a_clear_error", || {
        let mut x = Xfrm::open().unwrap();
        let cbc = Crypto::EncrInteg {
            encr: EncrAlg::AesCbc,
            encr_key: Key::new(vec![1; 32]),
            integ: IntegAlg::HmacSha256,
            integ_key: Key::new(vec![2; 32]),
            trunc_bits: 128,
        };
        let mut sa = Sa::new(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x1000,
            Mode::Tunnel,
            1,
            cbc,
        );
        sa.mark = Some(Mark::exact(6));
        match x.add_sa(&sa) {
            Err(e) if e.is_no_esp() => {
                let msg = e.to_string();
                println!("host kernel without ESP: {msg}");
                assert!(
                    msg.contains("kernel lacks ESP support (CONFIG_INET_ESP"),
                    "{msg}"
                );
                assert!(msg.contains("spi 0x00001000"), "{msg}");
                // nothing was installed
                assert!(x.get_sa(&sa.id()).unwrap_err().is_not_found());
            }
            Ok(()) => {
                println!("kernel has ESP: checking get/delete instead");
                let info = x.get_sa(&sa.id()).unwrap();
                assert_eq!(info.encryption.as_deref(), Some("cbc(aes)"));
                assert_eq!(info.integrity, Some(("hmac(sha256)".into(), 128)));
                assert_eq!(info.mark, Some(Mark::exact(6)));
                assert_eq!(info.current.packets, 0);
                assert!(x.add_sa(&sa).unwrap_err().is_exists());
                x.delete_sa(&sa.id()).unwrap();
                assert!(x.delete_sa(&sa.id()).unwrap_err().is_not_found());
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        // an algorithm the kernel has never heard of is named in the error
        let bogus = Crypto::EncrInteg {
            encr: EncrAlg::AesCbc,
            encr_key: Key::new(vec![1; 16]),
            integ: IntegAlg::Named("hmac(nosuch)".into()),
            integ_key: Key::new(vec![2; 32]),
            trunc_bits: 96,
        };
        let sa = Sa::new(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x1001,
            Mode::Tunnel,
            1,
            bogus,
        );
        let e = x.add_sa(&sa).unwrap_err();
        println!("bogus integrity: {e}");
        match &e {
            Error::UnknownAlgorithm { name, role, .. } => {
                assert_eq!(name, "hmac(nosuch)");
                assert_eq!(*role, "integrity");
            }
            other => panic!("expected UnknownAlgorithm, got {other}"),
        }
        // GCM: on a kernel without ESP the AEAD lookup fails first (or ESP is missing)
        let gcm = Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: Key::new(vec![3; 20]),
            icv_bits: 128,
        };
        let sa = Sa::new(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x1002,
            Mode::Tunnel,
            1,
            gcm,
        );
        match x.add_sa(&sa) {
            Ok(()) => x.delete_sa(&sa.id()).unwrap(),
            Err(e @ Error::UnknownAlgorithm { .. }) => {
                println!("gcm: {e}");
                assert!(e.to_string().contains("rfc4106(gcm(aes))"), "{e}");
            }
            Err(e) => assert!(e.is_no_esp(), "{e}"),
        }
        // deleting what is not there is a typed error
        let e = x
            .delete_sa(&SaId {
                dst: ip("192.0.2.9"),
                spi: 0x4242,
                protocol: Protocol::Esp,
                mark: None,
            })
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        x.flush_sas(None).unwrap();
    });
}

#[test]
fn alloc_spi_hands_out_distinct_spis_in_range() {
    in_netns("alloc_spi_hands_out_distinct_spis_in_range", || {
        let mut x = Xfrm::open().unwrap();
        // (the kernel picks at random within the range, trying about as many times
        // as the range is wide: keep the range wide compared to what is taken)
        let mut req = SpiRequest::new(ip("192.0.2.1"), ip("192.0.2.2"), 1);
        req.min = 0x1000;
        req.max = 0x10ff;
        let mut seen = Vec::new();
        for _ in 0..16 {
            let spi = x.alloc_spi(&req).unwrap();
            assert!((0x1000..=0x10ff).contains(&spi), "spi 0x{spi:x}");
            assert!(!seen.contains(&spi), "spi 0x{spi:x} handed out twice");
            seen.push(spi);
        }
        // larval SAs (the kernel drops them after 30 s unless updated) are listed, and can be deleted selectively
        let listed = x.list_sas().unwrap();
        assert_eq!(listed.len(), 16, "{listed:?}");
        assert!(
            listed
                .iter()
                .all(|s| s.src == ip("192.0.2.1") && s.reqid == 1)
        );
        let keep = seen[0];
        let n = x.flush_sas_matching(|s| s.spi == keep).unwrap();
        assert_eq!(n, 15);
        let left: Vec<u32> = x.list_sas().unwrap().iter().map(|s| s.spi).collect();
        assert_eq!(left, vec![keep]);
        // a one-SPI range: the second request finds it taken
        req.min = 0x2000;
        req.max = 0x2000;
        assert_eq!(x.alloc_spi(&req).unwrap(), 0x2000);
        let e = x.alloc_spi(&req).unwrap_err();
        println!("exhausted range: {e}");
        assert!(e.is_not_found(), "{e}");
        let mut v6 = SpiRequest::new(ip("2001:db8::1"), ip("2001:db8::2"), 2);
        v6.mark = Some(Mark::exact(6));
        let spi = x.alloc_spi(&v6).unwrap();
        assert!((0xc000_0000..=0xcfff_ffff).contains(&spi));
        x.flush_sas(None).unwrap();
    });
}

#[test]
fn acquire_and_policy_expire_events_arrive() {
    in_netns("acquire_and_policy_expire_events_arrive", || {
        // a veth pair inside this namespace carries the test traffic
        sh(&["link", "set", "lo", "up"]);
        sh(&["link", "add", "xt0", "type", "veth", "peer", "name", "xt1"]);
        sh(&["addr", "add", "192.0.2.1/24", "dev", "xt0"]);
        sh(&["link", "set", "xt0", "up"]);
        sh(&["link", "set", "xt1", "up"]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut events = EventStream::open().unwrap();
            let mut x = Xfrm::open().unwrap();
            // trap policy: template, no SA
            let sel = Selector::new(
                Prefix::host(ip("192.0.2.1")),
                Prefix::host(ip("192.0.2.99")),
            );
            let mut trap = Policy::new(sel, Direction::Out, vec![Template::transport(77)]);
            trap.priority = 10;
            x.add_policy(&trap).unwrap();
            let index = x.get_policy(&trap.id()).unwrap().policy.index;
            let s = UdpSocket::bind("192.0.2.1:0").unwrap();
            let _ = s.send_to(b"x", "192.0.2.99:9");
            let acq = loop {
                match tokio::time::timeout(Duration::from_secs(10), events.next()).await {
                    Ok(Ok(Event::Acquire(a))) => break a,
                    Ok(Ok(other)) => println!("other event: {other:?}"),
                    Ok(Err(e)) => panic!("event error: {e}"),
                    Err(_) => panic!("no ACQUIRE within 10 s"),
                }
            };
            println!("ACQUIRE: {acq:?}");
            assert_eq!(acq.policy_index, index);
            assert_eq!(acq.policy_dir, Some(Direction::Out));
            assert_eq!(acq.selector.src.addr, ip("192.0.2.1"));
            assert_eq!(acq.selector.dst.addr, ip("192.0.2.99"));
            assert_eq!(acq.selector.proto, 17);
            assert_eq!(acq.dst, ip("192.0.2.99"));
            assert_eq!(acq.templates.first().map(|t| t.0.reqid), Some(77));

            // a policy with a 1 s soft / 2 s hard lifetime expires with two events
            let sel = Selector::new(
                "198.51.100.0/24".parse().unwrap(),
                "203.0.113.0/24".parse().unwrap(),
            );
            let mut p = Policy::new(sel, Direction::Fwd, vec![]);
            p.lifetime.soft.add_seconds = Some(1);
            p.lifetime.hard.add_seconds = Some(2);
            x.add_policy(&p).unwrap();
            let mut soft = false;
            let hard = loop {
                match tokio::time::timeout(Duration::from_secs(15), events.next()).await {
                    Ok(Ok(Event::PolicyExpire(e))) => {
                        println!("POLEXPIRE: {e:?}");
                        assert_eq!(e.selector, sel);
                        assert_eq!(e.dir, Some(Direction::Fwd));
                        if e.hard {
                            break e;
                        }
                        soft = true;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => panic!("event error: {e}"),
                    Err(_) => panic!("no POLEXPIRE within 15 s"),
                }
            };
            assert!(soft, "soft expire came first");
            assert!(hard.hard);
            assert!(
                x.get_policy(&p.id()).unwrap_err().is_not_found(),
                "hard expiry deletes"
            );
        });
    });
}
