//! ikectl: control iked over its Unix socket. Argument parsing only.

use clap::Parser;
use ike::cli::{IkectlArgs as Args, IkectlCmd as Cmd};
use ike::daemon::control::{self, Request};
use ike::daemon::status;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args = Args::parse();
    let (req, json, all) = match args.cmd {
        Cmd::Status { json } => (Request::Status, json, false),
        Cmd::Statusall { json } => (Request::Statusall, json, true),
        Cmd::Up { name } => (Request::Up { conn: name }, false, false),
        Cmd::Down { name } => match control::down_request(&name) {
            Ok(r) => (r, false, false),
            Err(e) => {
                eprintln!("ikectl: {e}");
                return ExitCode::from(2);
            }
        },
        Cmd::Route { name } => (Request::Route { conn: name }, false, false),
        Cmd::Unroute { name } => (Request::Unroute { conn: name }, false, false),
        Cmd::Reload => (Request::Reload, false, false),
        Cmd::Stop => (Request::Stop, false, false),
        Cmd::Leases { pool, addr } => (Request::Leases { pool, addr }, false, false),
    };
    let ctl = args
        .ctl
        .or_else(|| std::env::var_os("IKED_CTL").map(PathBuf::from))
        .unwrap_or_else(|| control::DEFAULT_CTL.into());
    let resp = match control::request(&ctl, &req, Duration::from_secs(90)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ikectl: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(st) = &resp.status {
        if json {
            match serde_json::to_string_pretty(st) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("ikectl: {e}");
                    return ExitCode::from(2);
                }
            }
        } else if all {
            print!("{}", status::format_statusall(st));
        } else {
            print!("{}", status::format_status(st));
        }
    }
    if !resp.message.is_empty() {
        if resp.ok {
            println!("{}", resp.message);
        } else {
            eprintln!("{}", resp.message);
        }
    }
    for e in &resp.errors {
        eprintln!("{e}");
    }
    if resp.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
