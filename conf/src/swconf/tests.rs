use super::*;
use crate::MemSource;
use std::net::IpAddr;
use std::time::Duration;

fn load(files: &[(&str, &str)]) -> (Settings, Vec<String>) {
    let mut src = MemSource::default();
    for (p, t) in files {
        src = src.with(p, t);
    }
    let (s, d) = load_from(&src, Path::new(files[0].0));
    (s, d.iter().map(ToString::to_string).collect())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn defaults_without_a_charon_section() {
    let (s, d) = load(&[(
        "/s.conf",
        "libstrongswan {\n  x = 1\n}\nswanctl {\n  load = pem\n}\n",
    )]);
    assert!(d.is_empty(), "{d:?}");
    let c = &s.charon;
    assert_eq!(*c, CharonSettings::default());
    assert_eq!(
        (c.retransmit.timeout, c.retransmit.base, c.retransmit.tries),
        (4.0, 1.8, 5)
    );
    assert_eq!((c.port, c.port_nat_t), (500, 4500));
    assert!(c.install_routes && c.install_virtual_ip && !c.make_before_break);
    assert_eq!(c.keep_alive, Duration::from_secs(20));
    assert_eq!(c.half_open_timeout, Duration::from_secs(30));
    assert_eq!(
        (c.cookie_threshold, c.cookie_threshold_ip, c.block_threshold),
        (30, 3, 5)
    );
    assert_eq!((c.init_limit_half_open, c.fragment_size), (0, 1280));
    assert_eq!(c.vici_socket, "unix:///var/run/charon.vici");
}

#[test]
fn every_implemented_key_is_read() {
    let (s, d) = load(&[(
        "/s.conf",
        "charon {
  retransmit_timeout = 1.5
  retransmit_base = 1
  retransmit_tries = 2
  retransmit_limit = 10
  install_routes = no
  install_virtual_ip = false
  port = 1500
  port_nat_t = 0x1195
  dns1 = 192.0.2.53
  dns2 = 2001:db8::53
  nbns1 = 192.0.2.137
  cookie_threshold = 20
  cookie_threshold_ip = 4
  init_limit_half_open = 1000
  block_threshold = 9
  half_open_timeout = 1m
  keep_alive = 0s
  fragment_size = 1400
  make_before_break = no
  ignore_routing_tables = 220 100
  plugins {
    vici {
      socket = unix:///run/iked.vici
    }
    resolve {
      file = /run/iked-resolv.conf
    }
  }
}
",
    )]);
    // ignore_routing_tables is typed but not applied: its one warning.
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with(
            "/s.conf:21:3: warning: charon.ignore_routing_tables: not implemented by iked"
        ),
        "{d:?}"
    );
    let c = &s.charon;
    assert_eq!(
        c.retransmit,
        Retransmit {
            timeout: 1.5,
            base: 1.0,
            tries: 2,
            limit: Some(Duration::from_secs(10))
        }
    );
    assert!(!c.install_routes && !c.install_virtual_ip && !c.make_before_break);
    assert_eq!((c.port, c.port_nat_t), (1500, 4501));
    assert_eq!(c.dns, [ip("192.0.2.53"), ip("2001:db8::53")]);
    assert_eq!(c.nbns, [ip("192.0.2.137")]);
    assert_eq!((c.cookie_threshold, c.cookie_threshold_ip), (20, 4));
    assert_eq!((c.init_limit_half_open, c.block_threshold), (1000, 9));
    assert_eq!(c.half_open_timeout, Duration::from_secs(60));
    assert_eq!(c.keep_alive, Duration::ZERO);
    assert_eq!(c.fragment_size, 1400);
    assert_eq!(c.ignore_routing_tables, [220, 100]);
    assert_eq!(c.vici_socket, "unix:///run/iked.vici");
    assert_eq!(c.resolve_file, "/run/iked-resolv.conf");
}

#[test]
fn keys_asking_for_what_iked_lacks_get_one_warning_each() {
    // Their other value is what iked does anyway: no warning then (above). A
    // key set twice: the later wins, one warning.
    let (s, d) = load(&[(
        "/s.conf",
        "charon {\n  install_routes = yes\n  install_virtual_ip = yes\n  make_before_break = yes\n  ignore_routing_tables = 220\n  install_routes = yes\n}\n",
    )]);
    assert!(s.charon.install_routes && s.charon.make_before_break);
    assert_eq!(d.len(), 2, "{d:#?}");
    for (line, key, says) in [
        (4, "make_before_break", "never reauthenticates"),
        (5, "ignore_routing_tables", "not skipped"),
    ] {
        assert!(
            d.iter().any(|w| w.starts_with(&format!(
                "/s.conf:{line}:3: warning: charon.{key}: not implemented by iked, ignored ("
            )) && w.contains(says)),
            "{key}: {d:#?}"
        );
    }
    // Empty (the default) or the defaults themselves: silent, as iked's defaults
    // are strongSwan's except for these documented behaviours.
    let (_, d) = load(&[(
        "/s.conf",
        "charon {\n  install_routes =\n  make_before_break = no\n}\n",
    )]);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn retransmission_schedule_matches_strongswan_conf_5() {
    // strongswan.conf(5): 4, 7, 13, 23, 42 s between retransmits, give up after 76 s more.
    let r = Retransmit::default();
    let waits: Vec<u64> = (1..=6)
        .map(|n| r.wait(n).as_secs_f64().round() as u64)
        .collect();
    assert_eq!(waits, [4, 7, 13, 23, 42, 76]);
    let capped = Retransmit {
        limit: Some(Duration::from_secs(10)),
        ..r
    };
    assert_eq!(capped.wait(4), Duration::from_secs(10));
    assert_eq!(capped.wait(1), Duration::from_secs(4));
}

#[test]
fn bad_values_are_errors_with_location() {
    let (_, d) = load(&[(
        "/s.conf",
        "charon {\n  retransmit_tries = many\n  dns1 = dns.example\n  port = 0\n  keep_alive = soon\n  retransmit_base = 0\n  install_routes = perhaps\n  half_open_timeout = 0\n  fragment_size = 100\n  plugins {\n    vici {\n      socket = /run/x\n    }\n  }\n}\n",
    )]);
    let want = [
        "/s.conf:2:22: charon.retransmit_tries: 'many' is not a number",
        "/s.conf:3:10: charon.dns1: 'dns.example' is not an IPv4 or IPv6 address",
        "/s.conf:4:10: charon.port: port 0 (a random port) is not supported by iked",
        "/s.conf:5:16: charon.keep_alive: 'soon' is not a time",
        "/s.conf:6:21: charon.retransmit_base: '0' must be greater than 0",
        "/s.conf:7:20: charon.install_routes: 'perhaps' is not a boolean",
        "/s.conf:8:23: charon.half_open_timeout: 0 would drop every responder IKE_SA",
        "/s.conf:9:19: charon.fragment_size: 100 is too small for an IKE fragment",
        "/s.conf:12:16: charon.plugins.vici.socket: '/run/x' is not a socket URI",
    ];
    assert_eq!(d.len(), want.len(), "{d:#?}");
    for (got, w) in d.iter().zip(want) {
        assert!(got.starts_with(w), "{got}\n  expected {w}");
    }
}

#[test]
fn same_ports_are_an_error() {
    let (_, d) = load(&[("/s.conf", "charon {\n  port = 4500\n}\n")]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("/s.conf:2:10: charon.port_nat_t: port and port_nat_t are both 4500"),
        "{d:?}"
    );
}

#[test]
fn other_keys_get_one_warning_each_and_typos_a_hint() {
    let (_, d) = load(&[
        (
            "/s.conf",
            "charon {\n  threads = 16\n  retransmit_trys = 3\n  frobnicate = 1\n  plugins {\n    kernel-netlink {\n      xfrm_acq_expires = 60\n    }\n  }\n  crypto_test {\n    on_add = yes\n  }\n  plugin {\n    x = 1\n  }\n  tnc {\n  }\n  empty {\n    x =\n  }\n}\ninclude more.conf\n",
        ),
        ("/more.conf", "charon {\n  threads = 8\n}\n"),
    ]);
    let want = [
        "/more.conf:2:3: warning: charon.threads: not implemented by iked, ignored",
        "/s.conf:3:3: warning: charon.retransmit_trys: unknown setting, ignored (did you mean 'retransmit_tries'?)",
        "/s.conf:4:3: warning: charon.frobnicate: unknown setting, ignored",
        "/s.conf:7:7: warning: charon.plugins.kernel-netlink.xfrm_acq_expires: not implemented by iked",
        "/s.conf:11:5: warning: charon.crypto_test.on_add: not implemented by iked",
        "/s.conf:13:3: warning: charon.plugin: unknown setting, ignored (did you mean 'plugins'?)",
    ];
    assert_eq!(d.len(), want.len(), "{d:#?}");
    for (got, w) in d.iter().zip(want) {
        assert!(got.starts_with(w), "{got}\n  expected {w}");
    }
    assert!(!d[2].contains("did you mean"), "{}", d[2]);
}

#[test]
fn debian_default_layout_gives_one_note() {
    // The shape of Debian's /etc/strongswan.conf and its strongswan.d snippets.
    let (s, d) = load(&[
        (
            "/etc/strongswan.conf",
            "# strongswan.conf - strongSwan configuration file\n#\ncharon {\n\tload_modular = yes\n\tplugins {\n\t\tinclude strongswan.d/charon/*.conf\n\t}\n}\n\ninclude strongswan.d/*.conf\n",
        ),
        (
            "/etc/strongswan.d/charon/aes.conf",
            "aes {\n\n    # Whether to load the plugin.\n    load = yes\n\n}\n",
        ),
        (
            "/etc/strongswan.d/charon/vici.conf",
            "vici {\n    load = yes\n    # socket = unix://${piddir}/charon.vici\n}\n",
        ),
        (
            "/etc/strongswan.d/charon-logging.conf",
            "charon {\n    filelog {\n        # charon {\n        #     path = /var/log/charon.log\n        # }\n    }\n    syslog {\n        # identifier =\n        # auth {\n        # }\n    }\n}\n",
        ),
        (
            "/etc/strongswan.d/charon.conf",
            "charon {\n    # retransmit_tries = 5\n    # dns1 =\n}\n",
        ),
        (
            "/etc/strongswan.d/starter.conf",
            "starter {\n    # load_warning = yes\n}\n",
        ),
    ]);
    assert_eq!(s.charon, CharonSettings::default());
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with("/etc/strongswan.conf:4:2: warning: charon.load_modular: note: plugin lists are ignored and 2 more plugin load settings: iked has no loadable plugins"),
        "{d:?}"
    );
}

#[test]
fn loggers_and_their_levels() {
    let (s, d) = load(&[(
        "/s.conf",
        "charon {\n  filelog {\n    /var/log/charon.log {\n      time_format = %b %e %T\n      default = 1\n      ike = 2\n    }\n    stderr {\n      knl = 3\n      iek = 1\n    }\n    log {\n      path = stdout\n    }\n  }\n  syslog {\n    identifier = charon\n    daemon {\n    }\n    auth {\n      default = -1\n      ike = 0\n    }\n  }\n  journal {\n    default = 9\n  }\n}\n",
    )]);
    let l = &s.charon.loggers;
    assert_eq!(l.len(), 6, "{l:#?}");
    assert_eq!(l[0].target, LogTarget::File("/var/log/charon.log".into()));
    assert_eq!((l[0].level("ike"), l[0].level("cfg")), (2, 1));
    assert_eq!(l[1].target, LogTarget::Stderr);
    assert_eq!((l[1].level("knl"), l[1].level("ike")), (3, 1));
    assert_eq!(l[2].target, LogTarget::Stdout);
    assert_eq!(l[3].target, LogTarget::Syslog("daemon".into()));
    assert_eq!(l[4].target, LogTarget::Syslog("auth".into()));
    assert_eq!((l[4].level("ike"), l[4].level("net")), (0, -1));
    assert_eq!(l[5].target, LogTarget::Journal);
    assert_eq!(l[0].options.time_format.as_deref(), Some("%b %e %T"));
    assert!(l[0].options.append && !l[0].options.ike_name);
    assert_eq!(l[3].options.identifier.as_deref(), Some("charon"));
    let want = [
        "/s.conf:10:7: warning: charon.filelog.stderr.iek: unknown setting, ignored (did you mean 'ike'?)",
        "/s.conf:26:15: charon.journal.default: 9 is out of range (-1 to 4): a log level",
    ];
    assert_eq!(d.len(), want.len(), "{d:#?}");
    for (got, w) in d.iter().zip(want) {
        assert!(got.starts_with(w), "{got}\n  expected {w}");
    }
}

#[test]
fn logger_options_are_typed_and_checked() {
    let (s, d) = load(&[(
        "/s.conf",
        "charon {\n  filelog {\n    f {\n      path = /var/log/iked.log\n      append = no\n      ike_name = yes\n      log_level = yes\n      time_add_ms = yes\n      flush_line = yes\n      json = yes\n    }\n    g {\n      time_precision = ns\n      append = maybe\n    }\n  }\n  syslog {\n    local3 {\n      ike_name = yes\n    }\n    nowhere {\n      ike = 2\n    }\n  }\n}\n",
    )]);
    let l = &s.charon.loggers;
    assert_eq!(l[0].target, LogTarget::File("/var/log/iked.log".into()));
    let o = &l[0].options;
    assert!(!o.append && o.ike_name && o.log_level);
    assert_eq!(o.time_precision.as_deref(), Some("ms"));
    assert_eq!(l[2].target, LogTarget::Syslog("local3".into()));
    assert!(l[2].options.ike_name);
    assert_eq!(l.len(), 3, "the section 'nowhere' is no facility: {l:#?}");
    let want = [
        "/s.conf:10:7: warning: charon.filelog.f.json: not implemented by iked",
        "/s.conf:13:24: charon.filelog.g.time_precision: 'ns' is not ms or us",
        "/s.conf:14:16: charon.filelog.g.append: 'maybe' is not a boolean",
        "/s.conf:21:5: warning: charon.syslog.nowhere: 'nowhere' is not a syslog facility",
    ];
    assert_eq!(d.len(), want.len(), "{d:#?}");
    for (got, w) in d.iter().zip(want) {
        assert!(got.starts_with(w), "{got}\n  expected {w}");
    }
}

#[test]
fn empty_value_restores_the_default_and_later_files_win() {
    let (s, d) = load(&[
        (
            "/s.conf",
            "charon {\n  retransmit_tries = 2\n  keep_alive = 5s\n}\ninclude b.conf\n",
        ),
        ("/b.conf", "charon {\n  retransmit_tries =\n}\n"),
    ]);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(s.charon.retransmit.tries, 5);
    assert_eq!(s.charon.keep_alive, Duration::from_secs(5));
}

#[test]
fn charon_systemd_settings_are_pointed_out() {
    let (_, d) = load(&[("/s.conf", "charon-systemd {\n  load = random nonce\n}\n")]);
    assert!(
        d.is_empty(),
        "a plugin list alone is not worth a warning: {d:?}"
    );
    let (_, d) = load(&[(
        "/s.conf",
        "charon-systemd {\n  load = random\n  journal {\n  }\n  syslog {\n    daemon {\n      knl = 2\n    }\n  }\n}\n",
    )]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with(
        "/s.conf:1:1: warning: charon-systemd: settings for charon-systemd are not read"
    ));
}

#[test]
fn a_long_retransmission_schedule_stays_a_valid_deadline() {
    // retransmit_tries = 200 with the default base: 4 * 1.8^199 s would
    // overflow a deadline; every wait stays at most FOREVER
    let r = crate::swconf::Retransmit {
        tries: 200,
        ..Default::default()
    };
    let now = std::time::Instant::now();
    for n in [1, 50, 200, 201, u32::MAX] {
        let w = r.wait(n);
        assert!(w <= crate::swconf::Retransmit::FOREVER, "{n}: {w:?}");
        assert!(now.checked_add(w).is_some(), "{n}: {w:?}");
    }
    assert_eq!(r.wait(1), Duration::from_secs(4));
}
