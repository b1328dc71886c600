//! ipsec: strongSwan's command surface (`ipsec start|stop|restart|status|
//! statusall|up|down|leases|reload|version`) as a thin front of iked's control socket.
//!
//! Environment (for tests and unusual layouts): `IKED_CTL` (control socket),
//! `IKED_CONFIG`, `IKED_SECRETS` (files iked reads on `start`), `IKED_LOGFILE`
//! (iked's output after `start`, default /var/log/iked.log), `IKED_BIN` (the
//! daemon; default: `iked` beside this program), `IKED_ARGS` (extra arguments).

use ike::daemon::control::{self, Request, Response};
use ike::daemon::status;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: ipsec start|stop|restart|status [NAME]|statusall [NAME]|up NAME|down NAME (or NAME[N], NAME{N})|route NAME|unroute NAME|leases [POOL [ADDRESS]]|reload|update|rereadsecrets|rereadall|version";

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| default.into())
}

fn ctl() -> PathBuf {
    env_path("IKED_CTL", control::DEFAULT_CTL)
}

fn ask(req: &Request, wait: Duration) -> Result<Response, String> {
    control::request(&ctl(), req, wait).map_err(|e| e.to_string())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn show(r: &Response) -> ExitCode {
    if !r.message.is_empty() {
        if r.ok {
            println!("{}", r.message);
        } else {
            eprintln!("{}", r.message);
        }
    }
    for e in &r.errors {
        eprintln!("{e}");
    }
    if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn start() -> ExitCode {
    let ctl = ctl();
    if control::is_running(&ctl) {
        eprintln!("iked is already running (control socket {})", ctl.display());
        return ExitCode::from(1);
    }
    println!(
        "Starting iked {} IPsec daemon...",
        env!("CARGO_PKG_VERSION")
    );
    let bin = std::env::var_os("IKED_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .map(|e| e.with_file_name("iked"))
        })
        .unwrap_or_else(|| "iked".into());
    let logfile = env_path("IKED_LOGFILE", "/var/log/iked.log");
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&logfile)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ipsec: cannot open {}: {e}", logfile.display());
            return ExitCode::from(1);
        }
    };
    let (out, err) = match (log.try_clone(), log.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            eprintln!("ipsec: cannot duplicate the log file handle");
            return ExitCode::from(1);
        }
    };
    let mut cmd = Command::new(&bin);
    cmd.arg("--config")
        .arg(env_path("IKED_CONFIG", conf::DEFAULT_CONF))
        .arg("--secrets")
        .arg(env_path("IKED_SECRETS", conf::DEFAULT_SECRETS))
        .arg("--ctl")
        .arg(&ctl);
    if let Ok(extra) = std::env::var("IKED_ARGS") {
        cmd.args(extra.split_whitespace());
    }
    // Its own process group: a terminal's ^C must not reach the daemon.
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipsec: cannot start {}: {e}", bin.display());
            return ExitCode::from(1);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            eprintln!(
                "iked exited during start ({st}); from {}:",
                logfile.display()
            );
            let log = std::fs::read_to_string(&logfile).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            for l in &lines[lines.len().saturating_sub(20)..] {
                eprintln!("  {l}");
            }
            return ExitCode::from(1);
        }
        if control::is_running(&ctl) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("iked did not answer within 15s; see {}", logfile.display());
    ExitCode::from(1)
}

fn stop() -> ExitCode {
    let ctl = ctl();
    println!("Stopping iked IPsec daemon...");
    match ask(&Request::Stop, Duration::from_secs(10)) {
        Ok(_) => {}
        Err(_) => {
            eprintln!("iked is not running");
            return ExitCode::from(1);
        }
    }
    // iked removes its control socket when it has cleaned up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if !ctl.exists() {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("iked did not stop within 20s");
    ExitCode::from(1)
}

fn status(all: bool, name: Option<&str>) -> ExitCode {
    let req = if all {
        Request::Statusall
    } else {
        Request::Status
    };
    let r = match ask(&req, Duration::from_secs(10)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let Some(mut st) = r.status else {
        return show(&r);
    };
    if let Some(n) = name {
        st.ike_sas.retain(|s| s.conn == n);
        st.conns.retain(|c| c.name == n);
    }
    if all {
        print!("{}", status::format_statusall(&st));
    } else {
        print!("{}", status::format_status(&st));
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["start", ..] => start(),
        ["stop"] => stop(),
        ["restart"] => {
            let _ = stop();
            start()
        }
        ["status"] => status(false, None),
        ["status", n] => status(false, Some(n)),
        ["statusall"] => status(true, None),
        ["statusall", n] => status(true, Some(n)),
        ["up", n] => match ask(&Request::Up { conn: (*n).into() }, Duration::from_secs(90)) {
            Ok(r) => show(&r),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        ["down", n] => {
            match control::down_request(n).and_then(|req| ask(&req, Duration::from_secs(30))) {
                Ok(r) => show(&r),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        ["route", n] => match ask(
            &Request::Route { conn: (*n).into() },
            Duration::from_secs(10),
        ) {
            Ok(r) => show(&r),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        ["unroute", n] => match ask(
            &Request::Unroute { conn: (*n).into() },
            Duration::from_secs(10),
        ) {
            Ok(r) => show(&r),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        ["leases", rest @ ..] if rest.len() <= 2 => {
            let addr = match rest.get(1).map(|a| a.parse::<std::net::IpAddr>()) {
                None => None,
                Some(Ok(a)) => Some(a),
                Some(Err(_)) => {
                    eprintln!("'{}' is not an IP address", rest[1]);
                    return ExitCode::from(2);
                }
            };
            let req = Request::Leases {
                pool: rest.first().map(|p| (*p).to_owned()),
                addr,
            };
            match ask(&req, Duration::from_secs(10)) {
                Ok(r) => show(&r),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        ["reload" | "update" | "rereadsecrets" | "rereadall"] => {
            println!("Reloading iked IPsec configuration...");
            match ask(&Request::Reload, Duration::from_secs(30)) {
                Ok(r) => show(&r),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        ["version" | "--version"] => {
            println!("Linux iked U{}/K{}", env!("CARGO_PKG_VERSION"), kernel());
            println!("An IKEv2 keying daemon with strongSwan's configuration and commands.");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
