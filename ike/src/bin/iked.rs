//! iked: the IKEv2 keying daemon. Argument parsing only; the work is in the `ike` crate.

use clap::Parser;
use ike::daemon::{Options, control};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "iked",
    version,
    about = "IKEv2 keying daemon reading strongSwan's ipsec.conf / ipsec.secrets"
)]
struct Args {
    /// Parse and validate the configuration, print one line per conn, and exit
    /// (0: valid, 1: errors, all of them printed).
    #[arg(long)]
    check_config: bool,
    /// ipsec.conf to read.
    #[arg(long = "config", value_name = "PATH", default_value = conf::DEFAULT_CONF)]
    config: PathBuf,
    /// ipsec.secrets to read.
    #[arg(long = "secrets", value_name = "PATH", default_value = conf::DEFAULT_SECRETS)]
    secrets: PathBuf,
    /// Control socket (root-only) for ikectl and ipsec.
    #[arg(long = "ctl", value_name = "PATH", default_value = control::DEFAULT_CTL)]
    ctl: PathBuf,
    /// UDP port for IKE.
    #[arg(long, value_name = "PORT", default_value_t = 500)]
    port: u16,
    /// UDP port for NAT traversal (non-ESP marker, ESP-in-UDP).
    #[arg(long = "natt-port", value_name = "PORT", default_value_t = 4500)]
    natt_port: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check_config {
        return check_config(&args);
    }
    let opts = Options {
        config: args.config,
        secrets: args.secrets,
        ctl: args.ctl,
        port: args.port,
        natt_port: args.natt_port,
    };
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

fn check_config(args: &Args) -> ExitCode {
    let secrets = args.secrets.exists().then_some(args.secrets.as_path());
    if secrets.is_none() {
        eprintln!(
            "{}: warning: secrets file not found; checking ipsec.conf only",
            args.secrets.display()
        );
    }
    match conf::load(&args.config, secrets) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("{w}");
            }
            for c in &cfg.conns {
                println!("{}", c.summary());
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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
