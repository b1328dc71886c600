//! iked under systemd's Type=notify protocol: it sends READY=1 (with a STATUS=
//! line counting IKE_SAs) once its sockets are bound and the configuration
//! is loaded, RELOADING=1 then READY=1 around a reload, and STOPPING=1 when
//! SIGTERM arrives. The test plays systemd: it binds the datagram socket and
//! hands its path to iked in NOTIFY_SOCKET. Loopback only.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONF: &str = "conn net-net\n  left=127.0.0.1\n  right=198.51.100.251\n  leftid=moon\n  rightid=sun\n  authby=psk\n  auto=add\n";

fn recv_until(sock: &UnixDatagram, want: &str, log: &std::path::Path) -> Vec<String> {
    let mut seen = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    while t.elapsed() < Duration::from_secs(15) {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = msg.lines().any(|l| l == want);
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }
    panic!(
        "no {want} from iked; got {seen:?}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn ready_reloading_and_stopping_reach_notify_socket() {
    let dir = std::env::temp_dir().join(format!("iked-notify-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ipsec.conf"), CONF).unwrap();
    std::fs::write(
        dir.join("ipsec.secrets"),
        "moon sun : PSK \"never-printed\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("strongswan.conf"),
        "charon {\n  retransmit_tries = 2\n}\n",
    )
    .unwrap();
    let notify = UnixDatagram::bind(dir.join("notify")).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let ctl = dir.join("ctl");
    // Ports of their own, apart from daemon_cli's 20000..=37999.
    let port = 40_000 + (std::process::id() % 10_000) as u16 * 2;
    let log = dir.join("iked.log");
    let logf = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(dir.join("ipsec.conf"))
        .arg("--secrets")
        .arg(dir.join("ipsec.secrets"))
        .arg("--strongswan-conf")
        .arg(dir.join("strongswan.conf"))
        .arg("--ctl")
        .arg(&ctl)
        .args([
            "--port",
            &port.to_string(),
            "--natt-port",
            &(port + 1).to_string(),
        ])
        .env("NOTIFY_SOCKET", dir.join("notify"))
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .unwrap();

    let seen = recv_until(&notify, "READY=1", &log);
    let ready = seen.last().unwrap();
    assert!(
        ready.contains("STATUS=0 IKE_SAs (0 established), 1 conn"),
        "{ready:?}"
    );
    assert!(
        ready.contains(&format!("MAINPID={}", child.id())),
        "{ready:?}"
    );
    // READY=1 is the truth: the control socket answers and the IKE port is bound.
    let st = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg("--ctl")
        .arg(&ctl)
        .arg("status")
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "iked said READY=1 before binding 127.0.0.1:{port}"
    );

    let r = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg("--ctl")
        .arg(&ctl)
        .arg("reload")
        .output()
        .unwrap();
    assert!(r.status.success(), "{r:?}");
    let seen = recv_until(&notify, "READY=1", &log);
    assert!(
        seen.iter().any(|m| m == "RELOADING=1"),
        "no RELOADING=1 before READY=1: {seen:?}"
    );

    let k = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    recv_until(&notify, "STOPPING=1", &log);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "iked exited with {st}");
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(!text.contains("never-printed"), "{text}");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("iked did not exit after SIGTERM");
}
