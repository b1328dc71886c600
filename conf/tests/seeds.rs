//! The seed configurations users bring, parsed to the expected values.

use conf::conn::*;
use conf::proposal::iana;
use conf::values::*;
use std::path::Path;
use std::time::Duration;

fn load(conf_text: &str, secrets: &str) -> conf::Config {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", conf_text)
        .with("/etc/ipsec.secrets", secrets);
    match conf::load_from(
        &src,
        Path::new("/etc/ipsec.conf"),
        Some(Path::new("/etc/ipsec.secrets")),
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn ids(v: &[conf::Transform]) -> Vec<u16> {
    v.iter().map(|t| t.id).collect()
}

fn net(s: &str) -> Subnet {
    let (n, _) = parse_net(s).unwrap();
    Subnet {
        addr: TsAddr::Net(n),
        protoport: None,
    }
}

#[test]
fn vti_v3_2() {
    let cfg = load(
        "conn V3-2\n  left        = 2001:db8:1::1\n  leftsubnet  = ::/0\n  right       = 2001:db8:3::2\n  rightsubnet = ::/0\n  authby      = psk\n  mark        = 6\n  auto        = route\n  keyexchange = ikev2\n  keyingtries = %forever\n  ike         = aes256gcm16-prfsha384-ecp384!\n  esp         = aes256gcm16-prfsha384-ecp384!\n  mobike      = no\n",
        ": PSK \"secret\"\n",
    );
    let c = cfg.conn("V3-2").unwrap();
    assert_eq!(
        c.left.hosts,
        vec![Host::Addr("2001:db8:1::1".parse().unwrap())]
    );
    assert_eq!(
        c.right.hosts,
        vec![Host::Addr("2001:db8:3::2".parse().unwrap())]
    );
    assert_eq!(c.left.subnets, vec![net("::/0")]);
    assert_eq!(c.right.subnets, vec![net("::/0")]);
    assert_eq!(c.left.auth, AuthMethod::Psk);
    assert_eq!(c.right.auth, AuthMethod::Psk);
    let m = Mark {
        value: MarkValue::Fixed(6),
        mask: 0xffff_ffff,
    };
    assert_eq!(c.mark_in, Some(m));
    assert_eq!(c.mark_out, Some(m));
    assert_eq!(c.auto, Auto::Route);
    assert_eq!(c.keyexchange, KeyExchange::Ikev2);
    assert_eq!(c.keyingtries, KeyingTries::Forever);
    assert!(!c.mobike);
    assert!(c.ike.strict && c.esp.strict);
    assert_eq!(c.ike.proposals.len(), 1);
    let p = &c.ike.proposals[0];
    assert_eq!(ids(&p.encr), vec![iana::ENCR_AES_GCM_16]);
    assert_eq!(p.encr[0].key_len, Some(256));
    assert_eq!(ids(&p.prf), vec![iana::PRF_HMAC_SHA2_384]);
    assert_eq!(ids(&p.dh), vec![iana::ECP_384]);
    assert!(p.integ.is_empty());
    let e = &c.esp.proposals[0];
    assert_eq!(ids(&e.encr), vec![iana::ENCR_AES_GCM_16]);
    assert!(e.prf.is_empty(), "ESP has no PRF");
    assert_eq!(ids(&e.dh), vec![iana::ECP_384], "PFS group");
    assert_eq!(c.esp.effective().len(), 1, "strict: nothing appended");
    // The PRF in esp= is reported, not silently dropped.
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.keyword.as_deref() == Some("esp") && w.message.contains("prfsha384"))
    );
    assert_eq!(
        c.local_side(&["2001:db8:3::2".parse().unwrap()]),
        Side::Right
    );
}

#[test]
fn a_to_b_psk_masked_subnets() {
    let cfg = load(
        "config setup\n  charondebug=\"ike 1, knl 1, cfg 1\"\n  uniqueids=no\nconn a-to-b\n  authby=secret\n  type=tunnel\n  auto=route\n  left=172.16.0.18\n  leftsubnet=10.0.0.1/16\n  right=172.16.0.2\n  rightsubnet=10.1.0.1/16\n  ike=aes256-sha2_256-modp1024!\n  keyexchange=ikev2\n  esp=aes256-sha2_256!\n  reauth=no\n  forceencaps=yes\n",
        "172.16.0.18 172.16.0.2 : PSK \"x\"\n",
    );
    assert_eq!(
        cfg.setup.charondebug,
        vec![("ike".into(), 1), ("knl".into(), 1), ("cfg".into(), 1)]
    );
    assert_eq!(cfg.setup.uniqueids, conf::setup::UniqueIds::No);
    let c = cfg.conn("a-to-b").unwrap();
    assert_eq!(c.left.subnets, vec![net("10.0.0.0/16")]);
    assert_eq!(c.right.subnets, vec![net("10.1.0.0/16")]);
    assert_eq!(c.conn_type, ConnType::Tunnel);
    assert_eq!(c.auto, Auto::Route);
    assert!(!c.reauth && c.forceencaps);
    let p = &c.ike.proposals[0];
    assert_eq!((ids(&p.encr), p.encr[0].key_len), (vec![12], Some(256)));
    assert_eq!(ids(&p.integ), vec![iana::AUTH_HMAC_SHA2_256_128]);
    assert_eq!(ids(&p.prf), vec![iana::PRF_HMAC_SHA2_256]);
    assert_eq!(ids(&p.dh), vec![iana::MODP_1024]);
    let e = &c.esp.proposals[0];
    assert_eq!(ids(&e.integ), vec![iana::AUTH_HMAC_SHA2_256_128]);
    assert!(e.dh.is_empty(), "no PFS");
    // Masking warned, naming file:line and keyword.
    let w: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    assert!(w.iter().any(|s| s.starts_with("/etc/ipsec.conf:9:14: warning: leftsubnet: '10.0.0.1/16' has host bits set; using the network 10.0.0.0/16")), "{w:#?}");
    assert!(
        w.iter()
            .any(|s| s.contains("modp1024") && s.contains("weak"))
    );
    let me = Identity::Ipv4("172.16.0.18".parse().unwrap());
    let peer = Identity::Ipv4("172.16.0.2".parse().unwrap());
    assert_eq!(cfg.secrets.find_psk(&me, &peer).unwrap().expose(), b"x");
}

#[test]
fn road_warrior_eap_with_also() {
    let cfg = load(
        "conn ikev2-vpn\n  auto=add\n  compress=no\n  type=tunnel\n  keyexchange=ikev2\n  fragmentation=yes\n  forceencaps=yes\n  dpdaction=clear\n  dpddelay=300s\n  rekey=no\n  left=%any\n  leftid=@ipsec.example.com\n  leftcert=server-cert.pem\n  leftsendcert=always\n  leftsubnet=10.0.0.0/8\n  right=%any\n  rightauth=eap-mschapv2\n  rightsendcert=never\nconn ikev2-vpn-client_a\n  also=ikev2-vpn\n  rightid=client_a\n  eap_identity=client_a\n  rightsourceip=10.0.255.100/32\n",
        ": RSA /etc/ipsec.d/private/server-key.pem\nclient_a : EAP \"plaintext-password-for-client_a\"\n",
    );
    assert_eq!(cfg.conns.len(), 2);
    let c = cfg.conn("ikev2-vpn-client_a").unwrap();
    assert_eq!(c.auto, Auto::Add);
    assert!(!c.compress && c.forceencaps && !c.rekey);
    assert_eq!(c.fragmentation, Fragmentation::Yes);
    assert_eq!(c.dpdaction, DpdAction::Clear);
    assert_eq!(c.dpddelay, Duration::from_secs(300));
    assert_eq!(c.left.hosts, vec![Host::Any(None)]);
    assert_eq!(c.left.id, Some(Identity::Fqdn("ipsec.example.com".into())));
    assert_eq!(c.left.cert.as_deref(), Some("server-cert.pem"));
    assert_eq!(c.left.sendcert, SendCert::Always);
    assert_eq!(c.left.subnets, vec![net("10.0.0.0/8")]);
    assert!(matches!(
        c.left.auth,
        AuthMethod::Pubkey {
            kind: PubkeyKind::Any,
            ..
        }
    ));
    assert_eq!(c.right.auth, AuthMethod::Eap(EapMethod::Mschapv2));
    assert_eq!(c.right.sendcert, SendCert::Never);
    assert_eq!(c.right.id, Some(Identity::Fqdn("client_a".into())));
    assert_eq!(c.eap_identity, Some(Identity::Fqdn("client_a".into())));
    assert_eq!(
        c.right.sourceip,
        vec![SourceIp::Pool(TsAddr::Net(
            parse_net("10.0.255.100/32").unwrap().0
        ))]
    );
    // The template itself has no rightid.
    assert_eq!(cfg.conn("ikev2-vpn").unwrap().right.id, None);
    // Secrets.
    use conf::secrets::*;
    assert!(
        matches!(&cfg.secrets.entries[0].kind, SecretKind::KeyFile { ty: KeyFileType::Rsa, path, .. } if path == "/etc/ipsec.d/private/server-key.pem")
    );
    let user = Identity::Fqdn("client_a".into());
    let server = Identity::Fqdn("ipsec.example.com".into());
    assert_eq!(
        cfg.secrets.find_eap(&server, &user).unwrap().expose(),
        b"plaintext-password-for-client_a"
    );
    assert!(!format!("{:?}", cfg.secrets).contains("plaintext-password"));
}

#[test]
fn transport_gre_rsasigkey() {
    let key = "AwEAAc3qN9ygRUObYnAvaRlUtDT+gOZGIpB4cYY4NhPdr5dJhELLvHLuIXqMWF5bNKEnoSNsdNG9nx04FE9iVY1xOpsZWFO1eUm/EO4UOdzg9aJVA5oExGC4X6h1dJxnsbhcuX5zpHrNB8k9lwTbZQZGwHtrjMa5XakWqLFtwOdBrz19";
    let cfg = load(
        &format!(
            "conn gre\n  type=transport\n  left=192.0.2.1\n  right=192.0.2.2\n  leftprotoport=gre\n  rightprotoport=gre\n  authby=rsasig\n  leftrsasigkey=0s{key}\n  rightrsasigkey=%cert\n  ike=aes256-sha256-modp2048!\n  esp=aes256-sha256-modp2048!\n  auto=start\n"
        ),
        "",
    );
    let c = cfg.conn("gre").unwrap();
    assert_eq!(c.conn_type, ConnType::Transport);
    assert_eq!(c.left.protoport.proto, 47);
    assert_eq!(c.right.protoport.proto, 47);
    assert!(matches!(
        c.left.auth,
        AuthMethod::Pubkey {
            kind: PubkeyKind::Rsa,
            ..
        }
    ));
    match &c.left.sigkey {
        Some(SigKey::Raw(b)) => {
            assert_eq!(b[0], 3, "RFC 3110: exponent length 3");
            assert_eq!(&b[1..4], &[1, 0, 1], "exponent 65537");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.right.sigkey, Some(SigKey::Cert));
    let p = &c.ike.proposals[0];
    assert_eq!(
        (ids(&p.encr), ids(&p.integ), ids(&p.prf), ids(&p.dh)),
        (vec![12], vec![12], vec![5], vec![14])
    );
    let e = &c.esp.proposals[0];
    assert_eq!(
        (ids(&e.encr), ids(&e.integ), ids(&e.dh)),
        (vec![12], vec![12], vec![14])
    );
}

#[test]
fn also_precedence_and_default() {
    // Own settings beat also=; later also= beats earlier; %default is last; empty unsets.
    let cfg = load(
        "conn %default\n  ikelifetime=60m\n  keylife=20m\n  mobike=no\n  dpddelay=10\nconn a\n  auto=ignore\n  dpddelay=20\n  left=192.0.2.1\n  rightid=@a\nconn b\n  auto=ignore\n  dpddelay=30\n  rightid=@b\nconn c\n  also=a\n  rightid=@own\n  also=b\n  right=192.0.2.9\n  mobike=\n",
        "",
    );
    let c = cfg.conn("c").unwrap();
    assert_eq!(
        c.right.id,
        Some(Identity::Fqdn("own".into())),
        "own beats also even when also comes later"
    );
    assert_eq!(c.dpddelay, Duration::from_secs(30), "later also= wins");
    assert_eq!(c.left.hosts, vec![Host::Addr("192.0.2.1".parse().unwrap())]);
    assert_eq!(c.ikelifetime, Duration::from_secs(3600), "%default applies");
    assert!(
        c.mobike,
        "mobike= unset: built-in default (yes), not %default's no"
    );
    assert!(!cfg.conn("a").unwrap().mobike);
    // Multi-level also.
    let cfg = load(
        "conn x\n  also=y\n  auto=add\n  right=192.0.2.2\nconn y\n  also=z\nconn z\n  leftid=@deep\n  auto=ignore\n",
        "",
    );
    assert_eq!(
        cfg.conn("x").unwrap().left.id,
        Some(Identity::Fqdn("deep".into()))
    );
}

#[test]
fn includes_relative_with_globs() {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", "config setup\n  uniqueids=never\ninclude ipsec.d/*.conf\ninclude /etc/extra/one.conf\n")
        .with("/etc/ipsec.d/a.conf", "conn a\n  right=192.0.2.1\n  auto=add\n")
        .with("/etc/ipsec.d/b.conf", "conn b\n  right=192.0.2.2\n  auto=add\ninclude sub/c.conf\n")
        .with("/etc/ipsec.d/sub/c.conf", "conn c\n  right=192.0.2.3\n  auto=add\n")
        .with("/etc/extra/one.conf", "conn d\n  right=192.0.2.4\n  auto=add\n");
    let cfg = conf::load_from(&src, Path::new("/etc/ipsec.conf"), None).unwrap();
    let names: Vec<&str> = cfg.conns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "c", "d"]);
}
