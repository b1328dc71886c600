//! `iked --check-config`: exit 0 with a line per conn, or exit 1 with every error.

use std::process::Command;

fn run(conf_text: &str, secrets: &str) -> (i32, String, String) {
    run_with(conf_text, secrets, Some(""), &[], &[])
}

/// Runs `iked --check-config` on files written to a fresh folder; with
/// `strongswan = Some(text)` a strongswan.conf is written there and passed
/// with --strongswan-conf. `args`/`env` are added ("DIR" in them is the folder).
fn run_with(
    conf_text: &str,
    secrets: &str,
    strongswan: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "iked-check-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("ipsec.conf");
    let s = dir.join("ipsec.secrets");
    std::fs::write(&c, conf_text).unwrap();
    std::fs::write(&s, secrets).unwrap();
    let d = dir.to_string_lossy().into_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iked"));
    cmd.args(["--check-config", "--config"])
        .arg(&c)
        .arg("--secrets")
        .arg(&s)
        .env_remove("STRONGSWAN_CONF");
    if let Some(t) = strongswan {
        let p = dir.join("strongswan.conf");
        std::fs::write(&p, t).unwrap();
        cmd.arg("--strongswan-conf").arg(&p);
    }
    cmd.args(args.iter().map(|a| a.replace("DIR", &d)));
    for (k, v) in env {
        cmd.env(k, v.replace("DIR", &d));
    }
    let out = cmd.output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CONN: &str = "conn one\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=add\n";

#[test]
fn valid_config_exits_0_with_summary() {
    let (code, out, _) = run(
        "conn one\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=add\nconn two\n  also=one\n  rightsubnet=10.2.0.0/16\n",
        ": PSK \"never-printed\"\n",
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with(
        "one: 192.0.2.1[192.0.2.1] (host) ... 192.0.2.2[192.0.2.2] (host), type=tunnel, auto=add"
    ));
    assert!(lines[1].contains("10.2.0.0/16"));
    assert!(lines[2].starts_with("strongswan.conf: "), "{out}");
    assert!(lines[3].starts_with("configuration OK: 2 conns, 0 ca sections, 1 secret"));
    assert!(!out.contains("never-printed"));
}

#[test]
fn errors_exit_1_and_are_all_listed() {
    let (code, out, err) = run(
        "conn a\n  auto=sometimes\n  esp=aes256\n",
        ": PSK \"never-printed\"\n",
    );
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.starts_with("2 errors in the configuration:\n"), "{err}");
    assert!(err.contains(":2:8: auto: 'sometimes'"));
    assert!(err.contains(":3:7: esp: 'aes256' has no integrity"));
    assert!(!err.contains("never-printed"));
}

#[test]
fn strongswan_conf_settings_are_shown() {
    let (code, out, err) = run_with(
        CONN,
        ": PSK \"never-printed\"\n",
        Some(
            "charon {\n  retransmit_tries = 2\n  retransmit_timeout = 1.0\n  retransmit_base = 1\n  port = 1500\n  port_nat_t = 1501\n  dns1 = 192.0.2.53\n  threads = 8\n}\n",
        ),
        &[],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("strongswan.conf: "))
        .unwrap();
    assert!(
        line.contains(
            "strongswan.conf: ports 1500/1501, retransmit 1s*1^n x2, dns 192.0.2.53, nbns none"
        ),
        "{line}"
    );
    assert!(
        err.contains(
            "strongswan.conf:8:3: warning: charon.threads: not implemented by iked, ignored"
        ),
        "{err}"
    );
}

#[test]
fn command_line_ports_override_strongswan_conf() {
    let (code, out, _) = run_with(
        CONN,
        "",
        Some("charon {\n  port = 1500\n  port_nat_t = 1501\n}\n"),
        &["--port", "2500", "--natt-port", "2501"],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ports 2500/2501,"), "{out}");
}

#[test]
fn bad_strongswan_conf_exits_1_with_every_error() {
    let (code, out, err) = run_with(
        CONN,
        "",
        Some(
            "charon {\n  retransmit_tries = often\n  dns1 = ns.example\n  plugins.vici.socket = unix:///x\n  keep_alive 20s\n",
        ),
        &[],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("5 errors in the configuration:\n"), "{err}");
    for want in [
        "strongswan.conf:1:1: charon: section 'charon' is not closed",
        "strongswan.conf:2:22: charon.retransmit_tries: 'often' is not a number",
        "strongswan.conf:3:10: charon.dns1: 'ns.example' is not an IPv4 or IPv6 address",
        "strongswan.conf:4:3: plugins.vici.socket: '.' is not allowed in a key",
        "strongswan.conf:5:14: keep_alive: expected '=' or '{' after 'keep_alive', found '2'",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
}

#[test]
fn explicit_strongswan_conf_must_exist() {
    let (code, _, err) = run_with(CONN, "", None, &["--strongswan-conf", "DIR/nope.conf"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope.conf: cannot read"), "{err}");
    // STRONGSWAN_CONF is as explicit as the option (charon honours it too).
    let (code, _, err) = run_with(CONN, "", None, &[], &[("STRONGSWAN_CONF", "DIR/nope.conf")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope.conf: cannot read"), "{err}");
}

#[test]
fn strongswan_conf_env_is_read_and_the_option_wins() {
    let sw = "charon {\n  port = 1600\n  port_nat_t = 1601\n}\n";
    let (code, out, err) = run_with(CONN, "", None, &[], &[("STRONGSWAN_CONF", "DIR/env.conf")]);
    // env.conf does not exist yet: an error naming it proves the variable is read.
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("env.conf: cannot read"), "{err}");
    let dir = std::env::temp_dir().join(format!("iked-check-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("env.conf"), sw).unwrap();
    let env_conf = dir.join("env.conf").to_string_lossy().into_owned();
    let (code, out, err) = run_with(CONN, "", None, &[], &[("STRONGSWAN_CONF", &env_conf)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ports 1600/1601,"), "{out}");
    let (code, out, _) = run_with(
        CONN,
        "",
        Some("charon {\n  port = 1700\n  port_nat_t = 1701\n}\n"),
        &[],
        &[("STRONGSWAN_CONF", &env_conf)],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ports 1700/1701,"),
        "--strongswan-conf beats STRONGSWAN_CONF: {out}"
    );
}

#[test]
fn a_psk_gateway_for_eap_clients_is_warned_about() {
    let (code, out, err) = run(
        "conn rw\n  left=192.0.2.1\n  leftauth=psk\n  right=%any\n  rightauth=eap-mschapv2\n  eap_identity=%any\n  auto=add\n",
        ": PSK \"never-printed\"\ncarol : EAP \"never-printed-either\"\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains(":3:12: warning: leftauth: leftauth=psk with rightauth=eap-*: every client that starts IKE_AUTH receives an AUTH keyed with the PSK and can guess the PSK offline"),
        "{all}"
    );
    assert!(!all.contains("never-printed"));
    // A certificate gateway is not warned about.
    let (_, out, err) = run(
        "conn rw\n  left=192.0.2.1\n  leftauth=pubkey\n  right=%any\n  rightauth=eap-mschapv2\n  auto=add\n",
        "",
    );
    assert!(
        !format!("{out}{err}").contains("guess the PSK"),
        "{out}{err}"
    );
}
