//! `interop-lab`: run lab scenarios here or in the QEMU guest, and the demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use interop_tests::guest::{self, GuestRun};
use interop_tests::peer::Iked;
use interop_tests::scenario::{self, Outcome, Place};
use interop_tests::topology::kernel_has_esp;

#[derive(Parser, Debug)]
#[command(about = "iked interop lab: namespaces, real peers, a QEMU guest")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List the scenarios.
    List,
    /// Run scenarios on this machine (guest ones need a kernel with ESP).
    Run {
        /// Scenario names; `host` = every host scenario.
        names: Vec<String>,
        /// Results folder (default: a fresh /tmp/iked-lab.<pid>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Boot the guest once and run guest scenarios in it (default: all).
    Guest {
        /// Scenario names (default: every guest scenario).
        names: Vec<String>,
        /// Results folder shared with the guest.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Bound on the whole guest run, seconds.
        #[arg(long, default_value_t = 2400)]
        timeout: u64,
        /// Rust scenarios run at once inside the guest (default `$LAB_JOBS` or 3).
        #[arg(long)]
        jobs: Option<usize>,
        /// Also run the xfrm crate's guest suite (lab/guest-xfrm.sh) in the
        /// same boot, with this prebuilt xfrm-lab example binary.
        #[arg(long)]
        xfrm_lab: Option<PathBuf>,
        /// The xfrm crate's netns test binary, for that suite.
        #[arg(long, requires = "xfrm_lab")]
        xfrm_tests: Option<PathBuf>,
        /// That suite's scenarios (default: all of them).
        #[arg(long, requires = "xfrm_lab")]
        xfrm_scenarios: Option<String>,
    },
    /// (inside the guest) run scenarios and write results into OUT.
    #[command(hide = true)]
    GuestInside {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// A file of scenario names, one a line (before `names`).
        #[arg(long)]
        names_file: Option<PathBuf>,
        names: Vec<String>,
    },
    /// (inside a namespace) the install-* scenarios' driver: install a
    /// hand-made CHILD_SA through iked's kernel installer, hold it until
    /// stdin closes, print its counters, remove it.
    #[command(hide = true)]
    InstallChild {
        /// gcm, cbc, chacha, encap, transport
        case: String,
        /// left or right
        side: String,
    },
    /// (inside a namespace) a bounded IKE_SA_INIT flood from many source
    /// addresses that never answer COOKIEs (the iked-flood scenario).
    #[command(hide = true)]
    Flood {
        /// The responder's address (UDP port 500).
        #[arg(long)]
        to: std::net::IpAddr,
        /// Source addresses, A.B.C.D-E (assigned in this namespace).
        #[arg(long)]
        sources: String,
        /// Requests in all.
        #[arg(long)]
        count: u64,
        /// At most this long, seconds.
        #[arg(long)]
        seconds: u64,
    },
    /// strongSwan's own ikev2-stroke scenarios (from the corpus), run
    /// unchanged in one guest boot: the reference pass (strongSwan on every
    /// host) and the iked pass (iked on one host).
    Conformance {
        /// Scenarios (default: the whole ikev2-stroke group).
        scenarios: Vec<String>,
        /// The host iked replaces (default: moon where it runs IKE, else sun).
        #[arg(long, value_parser = ["moon", "sun", "carol", "dave", "alice", "venus", "bob"])]
        iked_host: Option<String>,
        /// The reference pass only (strongSwan everywhere).
        #[arg(long)]
        reference: bool,
        /// Results folder shared with the guest.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Bound on the whole guest run, seconds.
        #[arg(long, default_value_t = 7200)]
        timeout: u64,
        /// Passes run at once inside the guest.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// (inside a conformance host) its syslog daemon.
    #[command(hide = true)]
    ConformanceSyslogd {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        host: String,
    },
    /// Exit 0 if this kernel has ESP (else print why not and exit 1).
    Esp,
    /// The demo: two namespaces, strongSwan on both sides from one ipsec.conf.
    Demo {
        /// Results folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn print_outcome(o: &Outcome) {
    println!("{}", o.line());
    if !o.pass {
        println!("    logs: {}", o.dir.display());
    }
}

fn default_out(what: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/iked-lab-{what}.{}", std::process::id()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.cmd {
        Cmd::List => {
            for s in scenario::all() {
                println!(
                    "{:24} {:6} {}{}",
                    s.name,
                    format!("{:?}", s.place),
                    s.about,
                    if s.suite { "" } else { " [on demand]" }
                );
            }
            ExitCode::SUCCESS
        }
        Cmd::Run { names, out } => {
            let out = out.unwrap_or_else(|| default_out("run"));
            let names: Vec<String> = if names.is_empty() || names == ["host"] {
                scenario::names(Place::Host)
                    .into_iter()
                    .map(String::from)
                    .collect()
            } else {
                names
            };
            let mut ok = true;
            for n in &names {
                let Some(s) = scenario::find(n) else {
                    println!("RESULT {n} FAIL 0s unknown scenario (see `interop-lab list`)");
                    ok = false;
                    continue;
                };
                if s.place == Place::Guest {
                    if let Err(why) = kernel_has_esp() {
                        println!(
                            "RESULT {n} FAIL 0s needs a kernel with ESP (this one: {why}); use `interop-lab guest {n}`"
                        );
                        ok = false;
                        continue;
                    }
                }
                let o = s.run(&out);
                ok &= o.pass;
                print_outcome(&o);
            }
            println!("logs: {}", out.display());
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Cmd::Guest {
            names,
            out,
            timeout,
            jobs,
            xfrm_lab,
            xfrm_tests,
            xfrm_scenarios,
        } => {
            let names: Vec<String> = if names.is_empty() {
                guest::default_names()
            } else {
                names
            };
            let mut g = GuestRun::new(names, self_exe());
            g.timeout = Duration::from_secs(timeout);
            if let Some(j) = jobs {
                g.jobs = j.max(1);
            }
            g.xfrm_suite = xfrm_lab.map(|lab| guest::XfrmSuite {
                lab,
                tests: xfrm_tests,
                scenarios: xfrm_scenarios,
            });
            if let Some(o) = out {
                g.out = o;
            }
            match g.run() {
                Ok(r) => {
                    println!(
                        "guest: kernel {}, boot to first command {}, whole run {:.1}s",
                        r.kernel,
                        r.boot_secs
                            .map(|b| format!("{b:.1}s"))
                            .unwrap_or_else(|| "?".into()),
                        r.total_secs
                    );
                    let mut ok = true;
                    for o in &r.outcomes {
                        ok &= o.pass;
                        print_outcome(o);
                    }
                    println!("logs: {}", r.out.display());
                    if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    println!("guest run FAILED: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::GuestInside {
            out,
            jobs,
            names_file,
            names,
        } => {
            let mut all: Vec<String> = match names_file.map(|f| std::fs::read_to_string(&f)) {
                Some(Ok(text)) => text.split_whitespace().map(String::from).collect(),
                Some(Err(e)) => {
                    eprintln!("guest-inside: the names file: {e}");
                    return ExitCode::FAILURE;
                }
                None => Vec::new(),
            };
            all.extend(names);
            guest_inside(&out, &all, jobs)
        }
        Cmd::InstallChild { case, side } => {
            interop_tests::daemon_lab::install::install_child_main(&case, &side)
        }
        Cmd::Flood {
            to,
            sources,
            count,
            seconds,
        } => flood(to, &sources, count, seconds),
        Cmd::Esp => esp(),
        Cmd::Conformance {
            scenarios,
            iked_host,
            reference,
            out,
            timeout,
            jobs,
        } => conformance(scenarios, iked_host, reference, out, timeout, jobs),
        Cmd::ConformanceSyslogd { socket, dir, host } => syslogd(&socket, &dir, &host),
        Cmd::Demo { out } => demo(out.unwrap_or_else(|| default_out("demo"))),
    }
}

fn guest_inside(out: &Path, names: &[String], jobs: usize) -> ExitCode {
    match guest::inside(out, names, jobs) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("guest-inside: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flood(to: std::net::IpAddr, sources: &str, count: u64, seconds: u64) -> ExitCode {
    let r = interop_tests::flood::parse_sources(sources)
        .and_then(|src| interop_tests::flood::run(to, &src, count, seconds));
    match r {
        Ok(s) => {
            println!(
                "flood: sent {} IKE_SA_INIT requests from {} sources in {:.1}s",
                s.requests,
                s.sources,
                s.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flood: {e}");
            ExitCode::FAILURE
        }
    }
}

fn esp() -> ExitCode {
    match kernel_has_esp() {
        Ok(()) => {
            println!("this kernel has ESP");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("this kernel has no ESP: {why}");
            ExitCode::FAILURE
        }
    }
}

fn syslogd(socket: &Path, dir: &Path, host: &str) -> ExitCode {
    match interop_tests::conformance::syslog::serve(
        socket,
        dir,
        host,
        Duration::from_secs(6 * 3600),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-syslogd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn conformance(
    scenarios: Vec<String>,
    iked_host: Option<String>,
    reference: bool,
    out: Option<PathBuf>,
    timeout: u64,
    jobs: usize,
) -> ExitCode {
    use interop_tests::conformance::{self as cf, report};
    let scenarios = if scenarios.is_empty() {
        match cf::list() {
            Ok(v) => v,
            Err(e) => {
                println!("conformance: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        scenarios
    };
    let plan = match report::Plan::new(&scenarios, iked_host.as_deref(), reference) {
        Ok(p) => p,
        Err(e) => {
            println!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let names = plan.names();
    let outcomes = if names.is_empty() {
        Vec::new()
    } else {
        let mut g = GuestRun::new(names, self_exe());
        g.timeout = Duration::from_secs(timeout);
        g.jobs = jobs.max(1);
        g.out = out.unwrap_or_else(|| default_out("conformance"));
        println!(
            "conformance: {} pass(es) of {} scenario(s) in one guest boot; results in {}",
            g.scenarios.len(),
            plan.rows.len(),
            g.out.display()
        );
        match g.run() {
            Ok(r) => {
                println!(
                    "guest: kernel {}, boot to first command {}, whole run {:.1}s",
                    r.kernel,
                    r.boot_secs
                        .map(|b| format!("{b:.1}s"))
                        .unwrap_or_else(|| "?".into()),
                    r.total_secs
                );
                r.outcomes
            }
            Err(e) => {
                println!("guest run FAILED: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let (text, ok) = report::render(&plan, &outcomes);
    print!("{text}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn self_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("interop-lab"))
}

fn section(title: &str, body: &str) {
    println!("\n===== {title}");
    println!("{}", body.trim_end());
}

/// Does this iked run tunnels (a daemon with a control socket), or is it the
/// `--check-config`-only version?
fn iked_daemon_available() -> bool {
    let Ok(bin) = Iked::binary() else {
        return false;
    };
    let help = std::process::Command::new(&bin)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    help.contains("--ctl") && bin.with_file_name("ikectl").exists()
}

fn demo(out: PathBuf) -> ExitCode {
    // With a working iked daemon: iked on the left, strongSwan on the right,
    // both from the same ipsec.conf; the strongSwan-only run comes along as
    // the reference (and the fallback if the iked run fails).
    let with_iked = iked_daemon_available();
    let names: Vec<String> = if with_iked {
        println!(
            "demo: LEFT runs iked, RIGHT runs strongSwan 5.9 (charon via `ipsec start`), each in its own\n\
             demo: network namespace, both from the SAME literal ipsec.conf; then, for reference,\n\
             demo: strongSwan on both sides."
        );
        vec!["iked-starter".into(), "starter".into()]
    } else {
        println!(
            "demo: this iked has no daemon yet (only `iked --check-config`), so BOTH sides run\n\
             demo: strongSwan 5.9 (charon via `ipsec start`, each in its own network and mount\n\
             demo: namespace) from the SAME literal ipsec.conf. When iked runs tunnels, it takes the left side."
        );
        vec!["starter".into()]
    };
    let outcomes: Vec<Outcome> = match kernel_has_esp() {
        Ok(()) => {
            println!("demo: this kernel has ESP: running directly in two network namespaces");
            names
                .iter()
                .filter_map(|n| scenario::find(n).map(|s| s.run(&out)))
                .collect()
        }
        Err(why) => {
            println!(
                "demo: this kernel has no ESP (`ip xfrm state add ... rfc4106(gcm(aes))` says: {why});\n\
                 demo: running it in a QEMU guest with Debian's kernel instead (software emulation, 1-3 minutes)"
            );
            let mut g = GuestRun::new(names, self_exe());
            g.out = out.clone();
            g.timeout = Duration::from_secs(600);
            match g.run() {
                Ok(r) => {
                    println!(
                        "demo: guest kernel {}, booted in {}",
                        r.kernel,
                        r.boot_secs
                            .map(|b| format!("{b:.1}s"))
                            .unwrap_or_else(|| "?".into())
                    );
                    r.outcomes
                }
                Err(e) => {
                    println!("demo FAILED: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| format!("({}: {e})", p.display()));
    let mut shown_conf = false;
    for o in &outcomes {
        let who = if o.name == "iked-starter" {
            "iked (left) <-> strongSwan (right)"
        } else {
            "strongSwan (left) <-> strongSwan (right)"
        };
        let conf = o.dir.join("left/ipsec.conf");
        if !shown_conf {
            shown_conf = true;
            section("ipsec.conf (the same file on both sides)", &read(&conf));
            match Iked::check_config(&conf, &o.dir.join("left/ipsec.secrets")) {
                Ok(lines) => section("iked --check-config on that ipsec.conf", &lines),
                Err(e) => section("iked --check-config on that ipsec.conf", &e.to_string()),
            }
        }
        section(
            &format!("{who}: status of each side, then the kernel's SAs and policies"),
            &read(&o.dir.join("report.txt")),
        );
        println!();
        println!("{}", o.line());
    }
    let first = outcomes.first();
    match first {
        Some(o) if o.pass => {
            println!(
                "demo: PASS ({}): the tunnel is up on both sides and the pings crossed the SAs (inbound ESP counters above). Logs: {}",
                if o.name == "iked-starter" {
                    "iked <-> strongSwan"
                } else {
                    "strongSwan on both sides"
                },
                out.display()
            );
            ExitCode::SUCCESS
        }
        Some(o) => {
            println!("demo: FAIL ({}). Logs: {}", o.name, out.display());
            ExitCode::FAILURE
        }
        None => {
            println!("demo FAILED: no scenario ran");
            ExitCode::FAILURE
        }
    }
}
