//! iked: the IKEv2 keying daemon. Argument parsing only; the work is in the `ike` crate.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "iked", version, about = "IKEv2 keying daemon reading strongSwan's ipsec.conf / ipsec.secrets")]
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check_config {
        return check_config(&args);
    }
    eprintln!(
        "iked: the daemon is not implemented yet; only --check-config works in this version"
    );
    ExitCode::from(2)
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
