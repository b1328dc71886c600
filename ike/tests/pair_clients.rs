//! The road-warrior clients' quirks (ike/src/sa/ike_sa/quirks.rs), each
//! emulated by an iked client whose outgoing messages are rewritten before
//! encryption (`Endpoint::set_rewrite`, feature `testing`) the way the real
//! client writes them, against an iked gateway in a `Pair`.

use ike::sa::{Event, Selector};
use ike::testing::{A, B, Pair};
use ike::wire::{ExchangeType, NotifyType, Payload, ProtocolId, TransformType};
use std::time::Duration;

const PSK: &str = "@gw.example.org @client.example.org : PSK \"a-long-enough-test-psk-0123\"\n";

/// The gateway (b): `local`/`remote` subnets, `ike=`/`esp=`, no rekeying of
/// its own (the client rekeys, as road warriors do).
fn gateway(local: &str, remote: &str, ike: &str, esp: &str) -> String {
    format!(
        "conn rw\n  left={B}\n  leftid=@gw.example.org\n  leftsubnet={local}\n  right=%any\n  rightid=@client.example.org\n  rightsubnet={remote}\n  authby=psk\n  ike={ike}\n  esp={esp}\n  rekey=no\n  auto=add\n"
    )
}

/// The client (a), rekeying its CHILD_SA every ~15 min and its IKE_SA every ~50 min.
fn client(local: &str, remote: &str, ike: &str, esp: &str) -> String {
    format!(
        "conn rw\n  left={A}\n  leftid=@client.example.org\n  leftsubnet={local}\n  right={B}\n  rightid=@gw.example.org\n  rightsubnet={remote}\n  authby=psk\n  ike={ike}\n  esp={esp}\n  lifetime=20m\n  ikelifetime=1h\n  margintime=5m\n  reauth=no\n  auto=add\n"
    )
}

fn ups(ev: &[Event]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::IkeUp { .. }))
        .count()
}

/// An IKE_SA rekey request (CREATE_CHILD_SA whose SA is for IKE).
fn is_ike_rekey(x: ExchangeType, response: bool, p: &[Payload]) -> bool {
    x == ExchangeType::CREATE_CHILD_SA
        && !response
        && p.iter().any(|p| {
            matches!(p, Payload::Sa(sa) if sa.proposals.first().is_some_and(|p| p.protocol_id == ProtocolId::IKE))
        })
}

/// Windows: IKE_SA_INIT with modp2048, the IKE_SA rekey with modp1024 only.
/// The emulated client starts from the first group of its `ike=` on rekey
/// (`prefer_previous_dh_group = no`) and offers only the modp1024 proposal.
fn windows_modp1024_rekey(gateway_ike: &str) -> Pair {
    let conf_b = gateway(
        "10.1.0.0/16",
        "10.2.0.0/16",
        gateway_ike,
        "aes256-sha1,aes256-sha256!",
    );
    let conf_a = client(
        "10.2.0.0/16",
        "10.1.0.0/16",
        "aes256-sha1-modp1024,aes256-sha256-modp2048!",
        "aes256-sha1!",
    );
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    p.a.set_settings(ike::sa::CoreSettings {
        prefer_previous_dh_group: false,
        ..Default::default()
    });
    p.a.set_rewrite(|x, response, payloads| {
        if !is_ike_rekey(x, response, payloads) {
            return;
        }
        for pl in payloads.iter_mut() {
            if let Payload::Sa(sa) = pl {
                sa.proposals.retain(|pr| {
                    pr.transforms
                        .iter()
                        .any(|t| t.transform_type == TransformType::DH && t.id == 2)
                });
            }
        }
    });
    p.until = p.now + Duration::from_secs(70 * 60);
    p.a.initiate(p.now, "rw").unwrap();
    // The IKE_SA comes up with modp2048 (the gateway's first choice, after
    // an INVALID_KE_PAYLOAD), before any rekey.
    let until = p.until;
    p.until = p.now;
    p.run_clean();
    assert_eq!(
        p.b.status(p.now)[0].proposal,
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    p.until = until;
    p.run_clean();
    p
}

#[test]
fn windows_rekeys_its_ike_sa_with_modp1024_when_the_conn_allows_it() {
    let p = windows_modp1024_rekey("aes256-sha256-modp2048,aes256-sha1-modp1024!");
    assert!(ups(&p.b_events) >= 2, "rekeyed: {:?}", p.b_events);
    let sa = p.b.status(p.now);
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(
        sa[0].proposal,
        "AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
    );
    // the CHILD_SA moved to the new IKE_SA
    assert_eq!(sa[0].children.len(), 1);
}

#[test]
fn a_modp1024_rekey_is_refused_when_the_conn_does_not_allow_it() {
    let p = windows_modp1024_rekey("aes256-sha256-modp2048!");
    assert_eq!(ups(&p.b_events), 1, "{:?}", p.b_events);
    assert!(p.b.counters().refused >= 1);
    let sa = p.b.status(p.now);
    assert_eq!(
        sa[0].proposal,
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
}

fn any4() -> Selector {
    Selector {
        start: "0.0.0.0".parse().unwrap(),
        end: "255.255.255.255".parse().unwrap(),
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    }
}

/// Windows rekeys a CHILD_SA proposing 0.0.0.0/0 on both sides; the gateway
/// allows 10.0.0.0/8 but the SA being rekeyed is 10.1.0.0/16 === 10.2.0.0/16:
/// the new SA keeps those selectors, it is not widened to the conn's.
#[test]
fn windows_supernet_selectors_on_child_rekey_are_narrowed_to_the_old_sa() {
    let conf_b = gateway(
        "10.0.0.0/8",
        "10.2.0.0/16",
        "aes256-sha256-modp2048!",
        "aes256-sha1!",
    );
    let conf_a = client(
        "10.2.0.0/16",
        "10.1.0.0/16",
        "aes256-sha256-modp2048!",
        "aes256-sha1!",
    );
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    let mut rewritten = 0;
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = seen.clone();
    p.a.set_rewrite(move |x, response, payloads| {
        let rekey = payloads
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA));
        if x != ExchangeType::CREATE_CHILD_SA || response || !rekey {
            return;
        }
        for pl in payloads.iter_mut() {
            if let Payload::TsI(t) | Payload::TsR(t) = pl {
                *t = vec![ike::ts::to_wire(&any4())];
            }
        }
        seen2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    p.until = p.now + Duration::from_secs(20 * 60);
    p.a.initiate(p.now, "rw").unwrap();
    p.run_clean();
    rewritten += seen.load(std::sync::atomic::Ordering::SeqCst);
    assert!(rewritten >= 1, "no CHILD_SA rekey in the window");
    let (ia, ib) = (Pair::installs(&p.a_events), Pair::installs(&p.b_events));
    assert!(ia.len() >= 2 && ib.len() >= 2, "{:?}", p.b_events);
    for c in ib {
        assert_eq!(c.ts_local[0].to_string(), "10.1.0.0/16");
        assert_eq!(c.ts_remote[0].to_string(), "10.2.0.0/16");
        assert_eq!((c.ts_local.len(), c.ts_remote.len()), (1, 1));
    }
    for c in ia {
        assert_eq!(c.ts_local[0].to_string(), "10.2.0.0/16");
        assert_eq!(c.ts_remote[0].to_string(), "10.1.0.0/16");
    }
    assert_eq!(p.b.status(p.now)[0].children.len(), 1);
}

/// CHILD_SA rekeys of one client with `esp=` `client_esp` against a gateway
/// with `gateway_esp`: (installs on the gateway, its refused counter, the
/// CHILD_SA's proposal at the end).
fn child_rekeys(client_esp: &str, gateway_esp: &str) -> (usize, u64, String) {
    let conf_b = gateway(
        "10.1.0.0/16",
        "10.2.0.0/16",
        "aes256-sha256-modp2048!",
        gateway_esp,
    );
    let conf_a = client(
        "10.2.0.0/16",
        "10.1.0.0/16",
        "aes256-sha256-modp2048!",
        client_esp,
    );
    let mut p = Pair::new(&conf_a, PSK, &conf_b, PSK);
    p.until = p.now + Duration::from_secs(20 * 60);
    p.a.initiate(p.now, "rw").unwrap();
    p.run_clean();
    let sa = p.b.status(p.now);
    let proposal = sa[0]
        .children
        .first()
        .map(|c| c.proposal.clone())
        .unwrap_or_default();
    (
        Pair::installs(&p.b_events).len(),
        p.b.counters().refused,
        proposal,
    )
}

/// iOS proposes PFS on CHILD_SA rekeys, the others do not: a gateway whose
/// `esp=` has a proposal with a group and one without takes both.
#[test]
fn ios_pfs_and_other_clients_without_pfs_both_rekey_when_esp_allows_both() {
    let gw = "aes256-sha256-modp2048,aes256-sha256!";
    let (installs, refused, proposal) = child_rekeys("aes256-sha256-modp2048!", gw);
    assert!(installs >= 2 && refused == 0, "iOS: {installs} {refused}");
    assert!(
        proposal.contains("MODP_2048"),
        "iOS rekey with PFS: {proposal}"
    );
    let (installs, refused, proposal) = child_rekeys("aes256-sha256!", gw);
    assert!(
        installs >= 2 && refused == 0,
        "others: {installs} {refused}"
    );
    assert!(!proposal.contains("MODP"), "rekey without PFS: {proposal}");
    // A gateway that allows no group refuses iOS' PFS rekey (the CHILD_SA
    // from IKE_AUTH, which has no key exchange, was still made).
    let (installs, refused, _) = child_rekeys("aes256-sha256-modp2048!", "aes256-sha256!");
    assert_eq!(installs, 1);
    assert!(refused >= 1);
}
