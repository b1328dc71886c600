//! The daemon: the only place with tokio and sockets (see DESIGN.md).
//!
//! - [`server`]: the I/O loop around the sans-IO core (UDP 500/4500 with the
//!   non-ESP marker, timers, signals, `auto=start` + `keyingtries`).
//! - [`kernel`]: CHILD_SA installation through `xfrm`, kernel SPIs, counters,
//!   and the record of what iked installed.
//! - [`control`]: the line-JSON control protocol (`ikectl`, `ipsec`).
//! - [`status`]: status snapshots and strongSwan's `ipsec status` format.
//! - [`logging`]: tracing with strongSwan's subsystems and `charondebug`.
//! - [`scripts`]: `leftupdown=` scripts with the `PLUTO_*` environment.
//!
//! Tests: unit tests here (the loop with a scripted core, the installer's
//! translation, the status format against strongSwan's evaltest regexes, the
//! control protocol), `ike/tests/daemon_cli.rs` (the binaries on the host), and
//! `ike/tests/lab/run-daemon-guest.sh` (a kernel with ESP under QEMU: the
//! installer with hand-made CHILD_SAs, iked <-> iked and iked <-> strongSwan
//! tunnels with traffic and counters).

pub mod control;
pub mod core;
pub mod kernel;
pub mod logging;
pub mod net;
pub mod scripts;
pub mod server;
pub mod status;

pub use logging::LogHandle;

use std::path::PathBuf;

/// Where the daemon reads and listens.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub secrets: PathBuf,
    pub ctl: PathBuf,
    /// IKE port (500).
    pub port: u16,
    /// NAT-T port (4500).
    pub natt_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: conf::DEFAULT_CONF.into(),
            secrets: conf::DEFAULT_SECRETS.into(),
            ctl: control::DEFAULT_CTL.into(),
            port: 500,
            natt_port: 4500,
        }
    }
}

/// Loads the configuration (errors are returned for printing; the daemon does
/// not start with a broken configuration).
pub fn load_config(opts: &Options) -> Result<conf::Config, String> {
    let secrets = opts.secrets.exists().then_some(opts.secrets.as_path());
    conf::load(&opts.config, secrets).map_err(|e| e.to_string())
}

/// Runs the daemon with a core built by `make_core`; returns when stopped.
pub fn run_with<C: core::Core>(
    opts: Options,
    make_core: impl FnOnce(std::sync::Arc<conf::Config>, Vec<std::net::IpAddr>, kernel::KernelSpis) -> C,
) -> Result<(), String> {
    let config = load_config(&opts)?;
    let log = logging::init(&config.setup);
    for w in &config.warnings {
        tracing::warn!(target: "cfg", "{w}");
    }
    if !opts.secrets.exists() {
        tracing::warn!(target: "cfg", "{}: secrets file not found", opts.secrets.display());
    }
    // The daemon's loop (protocol core, key exchange, netlink) runs on this
    // thread inside block_on; the socket readers and control clients are tasks
    // on two worker threads, so datagrams are drained from the kernel (into a
    // 1024-datagram queue) while the loop computes, instead of overflowing the
    // sockets' receive buffers under a burst (bench/README.md, finding 1).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("iked-io")
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(server::serve(make_core, config, opts, log))
}
