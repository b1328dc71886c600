//! iked as the EAP road warrior (`leftauth=eap-mschapv2` / `eap-md5`)
//! against iked as the gateway, two cores in one process: the client
//! verifies the gateway's certificate AUTH before it answers any EAP
//! request, runs the method with its ipsec.secrets password, and both ends
//! key the last AUTH payloads with the MSK (SK_pi/SK_pr for EAP-MD5).

mod common;

use common::{endpoint, pki_dir, run};
use ike::sa::{Endpoint, Event, IkeState};
use std::time::Instant;

const GW: &str = "conn rw\n  left=192.0.2.1\n  leftcert=cert.pem\n  leftid=@moon.strongswan.org\n  leftsubnet=10.1.0.0/16\n  right=%any\n  rightid=%any\n  rightauth=METHOD\n  eap_identity=%any\n  rightsubnet=10.2.0.0/16\n  auto=add\n";
const CLIENT: &str = "conn home\n  left=192.0.2.2\n  leftid=carol@strongswan.org\n  leftauth=METHOD\n  eap_identity=carol\n  leftsubnet=10.2.0.0/16\n  right=192.0.2.1\n  rightid=@moon.strongswan.org\n  rightauth=pubkey\n  rightsubnet=10.1.0.0/16\n  auto=add\n";

fn installs(e: &[Event]) -> usize {
    e.iter()
        .filter(|e| matches!(e, Event::InstallChild(_)))
        .count()
}

fn pair(tag: &str, method: &str, client_pw: &str, gw_other_ca: bool) -> (Endpoint, Endpoint) {
    let gw_d = pki_dir(
        &format!("eapc-gw-{tag}"),
        "rsa",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        gw_other_ca,
    );
    let client_d = pki_dir(
        &format!("eapc-carol-{tag}"),
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
    );
    let gw = endpoint(
        &GW.replace("METHOD", method),
        ": RSA key.pem\ncarol : EAP \"eap-client-secret-1\"\n",
        &gw_d,
        "192.0.2.1",
        61,
    );
    let client = endpoint(
        &CLIENT.replace("METHOD", method),
        &format!("carol : EAP \"{client_pw}\"\n"),
        &client_d,
        "192.0.2.2",
        62,
    );
    (gw, client)
}

#[test]
fn an_eap_client_gets_its_tunnel_with_both_methods() {
    for method in ["eap-mschapv2", "eap-md5"] {
        let (mut gw, mut carol) = pair(method, method, "eap-client-secret-1", false);
        let now = Instant::now();
        carol.initiate(now, "home").unwrap();
        let (ec, eg, _) = run(&mut carol, &mut gw, now);
        assert_eq!(
            (installs(&ec), installs(&eg)),
            (1, 1),
            "{method}: {ec:?}\n{eg:?}"
        );
        let c = &carol.status(now)[0];
        assert_eq!(c.state, IkeState::Established, "{method}");
        assert_eq!(c.remote_id, "moon.strongswan.org");
        let g = &gw.status(now)[0];
        assert_eq!(g.state, IkeState::Established, "{method}");
        assert_eq!(g.remote_id, "carol@strongswan.org");
        assert_eq!(g.remote_eap_id.as_deref(), Some("carol"), "{method}");
    }
}

#[test]
fn a_wrong_password_gets_no_tunnel() {
    for method in ["eap-mschapv2", "eap-md5"] {
        let (mut gw, mut carol) = pair(&format!("{method}-bad"), method, "guessed", false);
        let now = Instant::now();
        carol.initiate(now, "home").unwrap();
        let (ec, eg, _) = run(&mut carol, &mut gw, now);
        assert_eq!((installs(&ec), installs(&eg)), (0, 0), "{method}");
        assert!(
            gw.status(now)
                .iter()
                .all(|s| s.state != IkeState::Established),
            "{method}"
        );
        assert!(
            carol
                .status(now)
                .iter()
                .all(|s| s.state != IkeState::Established),
            "{method}"
        );
    }
}

/// A gateway whose certificate the client does not trust never gets an
/// EAP answer: the client stops after its first IKE_AUTH.
#[test]
fn an_untrusted_gateway_gets_no_eap_answer() {
    let (mut gw, mut carol) = pair("untrusted", "eap-mschapv2", "eap-client-secret-1", true);
    let now = Instant::now();
    carol.initiate(now, "home").unwrap();
    let mut from_client = 0;
    for _ in 0..10 {
        while let Some(t) = carol.poll_transmit() {
            from_client += 1;
            gw.handle_datagram(now, t.remote, t.local, &t.data);
        }
        while let Some(t) = gw.poll_transmit() {
            carol.handle_datagram(now, t.remote, t.local, &t.data);
        }
    }
    // IKE_SA_INIT and the first IKE_AUTH; perhaps an INFORMATIONAL, never
    // a second IKE_AUTH with an EAP response.
    assert!(from_client <= 3, "{from_client} datagrams from the client");
    assert!(
        gw.status(now)
            .iter()
            .all(|s| s.state != IkeState::Established)
    );
    assert!(carol.status(now).is_empty() || carol.status(now)[0].state != IkeState::Established);
}
