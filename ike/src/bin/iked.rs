//! iked: the IKEv2 keying daemon. Argument parsing only; the work is in the `ike` crate.

use clap::Parser;
use ike::cli::IkedArgs as Args;
use ike::daemon::{Options, StrongswanConf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        config: args.config,
        secrets: args.secrets,
        strongswan: Some(StrongswanConf::resolve(
            args.strongswan_conf,
            std::env::var_os("STRONGSWAN_CONF"),
        )),
        ctl: args.ctl,
        port: args.port,
        natt_port: args.natt_port,
    };
    if args.check_config {
        return check_config(&opts);
    }
    match ike::daemon::run_with(opts, ike::daemon::core::endpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("iked: {e}");
            if !e.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(1)
        }
    }
}

fn check_config(opts: &Options) -> ExitCode {
    if !opts.secrets.exists() {
        eprintln!(
            "{}: warning: secrets file not found; checking ipsec.conf only",
            opts.secrets.display()
        );
    }
    let sw = opts.strongswan.as_ref();
    match ike::daemon::load(opts) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("{w}");
            }
            for c in &cfg.conns {
                println!("{}", c.summary());
            }
            match sw.and_then(|s| s.to_read()) {
                Some(p) => println!("{}", strongswan_summary(p, &cfg, opts)),
                None => println!(
                    "strongswan.conf: {} not found, strongSwan's defaults apply",
                    sw.map(|s| s.path.display().to_string()).unwrap_or_default()
                ),
            }
            println!(
                "configuration OK: {} conn{}, {} ca section{}, {} secret{}, {} warning{}",
                cfg.conns.len(),
                plural(cfg.conns.len()),
                cfg.cas.len(),
                plural(cfg.cas.len()),
                cfg.secrets.entries.len(),
                plural(cfg.secrets.entries.len()),
                cfg.warnings.len(),
                plural(cfg.warnings.len()),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{e}");
            ExitCode::from(1)
        }
    }
}

/// One line: what iked takes from strongswan.conf.
fn strongswan_summary(path: &std::path::Path, cfg: &conf::Config, opts: &Options) -> String {
    let c = &cfg.strongswan.charon;
    let r = &c.retransmit;
    let (port, natt) = opts.ports(cfg);
    let ips = |v: &[std::net::IpAddr]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    format!(
        "strongswan.conf: {}: ports {port}/{natt}, retransmit {}s*{}^n x{}{}, dns {}, nbns {}, cookies at {} half-open ({} per IP), keep_alive {}s, fragment_size {}, {} logger{}",
        path.display(),
        r.timeout,
        r.base,
        r.tries,
        r.limit
            .map(|l| format!(" (max {}s)", l.as_secs_f64()))
            .unwrap_or_default(),
        ips(&c.dns),
        ips(&c.nbns),
        c.cookie_threshold,
        c.cookie_threshold_ip,
        c.keep_alive.as_secs(),
        c.fragment_size,
        c.loggers.len(),
        plural(c.loggers.len()),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
