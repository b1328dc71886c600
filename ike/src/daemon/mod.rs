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
//! - [`notify`]: systemd's sd_notify (READY, STATUS, RELOADING, STOPPING, WATCHDOG).
//! - [`vici`]: strongSwan's VICI protocol (`swanctl`, exporters) on `charon.vici`.
//!
//! Tests: unit tests here (the loop with a scripted core, the installer's
//! translation, the status format against strongSwan's evaltest regexes, the
//! control protocol), `ike/tests/daemon_cli.rs` (the binaries on the host), and
//! the daemon lab in `interop-tests` (a kernel with ESP under QEMU: the
//! installer with hand-made CHILD_SAs, iked <-> iked and iked <-> strongSwan
//! tunnels with traffic and counters).

pub mod control;
pub mod core;
pub mod journal;
pub mod kernel;
pub mod key_workers;
pub mod leases;
pub mod logging;
pub mod net;
pub mod notify;
pub mod os_random;
pub mod private_socket;
pub mod resolv;
pub mod routing;
pub mod scripts;
pub mod server;
pub mod status;
pub mod vici;
pub mod xfrm_build;

pub use logging::LogHandle;

use std::path::PathBuf;

/// Where the daemon reads and listens.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub secrets: PathBuf,
    /// strongswan.conf (`None`: not read, strongSwan's defaults apply).
    pub strongswan: Option<StrongswanConf>,
    pub ctl: PathBuf,
    /// IKE port given on the command line (else strongswan.conf's `charon.port`, 500).
    pub port: Option<u16>,
    /// NAT-T port given on the command line (else `charon.port_nat_t`, 4500).
    pub natt_port: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: conf::DEFAULT_CONF.into(),
            secrets: conf::DEFAULT_SECRETS.into(),
            strongswan: None,
            ctl: control::DEFAULT_CTL.into(),
            port: None,
            natt_port: None,
        }
    }
}

impl Options {
    /// The (IKE, NAT-T) ports: the command line's, else strongswan.conf's.
    pub fn ports(&self, config: &conf::Config) -> (u16, u16) {
        let c = &config.strongswan.charon;
        (
            self.port.unwrap_or(c.port),
            self.natt_port.unwrap_or(c.port_nat_t),
        )
    }
}

/// Which strongswan.conf to read, and whether it must exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrongswanConf {
    pub path: PathBuf,
    /// Named by `--strongswan-conf` or `STRONGSWAN_CONF`: a missing file is
    /// an error. The default location may be absent (strongSwan not installed).
    pub explicit: bool,
}

impl StrongswanConf {
    /// `--strongswan-conf`, else `$STRONGSWAN_CONF` (as charon honours it),
    /// else the optional default /etc/strongswan.conf.
    pub fn resolve(flag: Option<PathBuf>, env: Option<std::ffi::OsString>) -> Self {
        match flag.or_else(|| env.filter(|e| !e.is_empty()).map(PathBuf::from)) {
            Some(path) => StrongswanConf {
                path,
                explicit: true,
            },
            None => StrongswanConf {
                path: conf::swconf::DEFAULT_STRONGSWAN_CONF.into(),
                explicit: false,
            },
        }
    }

    /// The file to read, if any.
    pub fn to_read(&self) -> Option<&std::path::Path> {
        (self.explicit || self.path.exists()).then_some(self.path.as_path())
    }
}

/// Loads the configuration (errors are returned for the caller to print; the
/// daemon does not start, nor reload, with a broken configuration).
pub fn load(opts: &Options) -> Result<conf::Config, conf::ConfigErrors> {
    let secrets = opts.secrets.exists().then_some(opts.secrets.as_path());
    let sw = opts.strongswan.as_ref().and_then(StrongswanConf::to_read);
    conf::load_with(&opts.config, secrets, sw)
}

/// [`load`], errors as text.
pub fn load_config(opts: &Options) -> Result<conf::Config, String> {
    load(opts).map_err(|e| e.to_string())
}

/// Runs the daemon with a core built by `make_core`; returns when stopped.
pub fn run_with<C: core::Core>(
    opts: Options,
    make_core: impl FnOnce(std::sync::Arc<conf::Config>, Vec<std::net::IpAddr>, kernel::KernelSpis) -> C,
) -> Result<(), String> {
    let config = load_config(&opts)?;
    let log = logging::init(&config);
    for w in &config.warnings {
        tracing::warn!(target: "cfg", "{w}");
    }
    if !opts.secrets.exists() {
        tracing::warn!(target: "cfg", "{}: secrets file not found", opts.secrets.display());
    }
    let (port, natt) = opts.ports(&config);
    if (port, natt) != (500, 4500) {
        // The protocol core sends its own requests from 500 / 4500 and to
        // the peer's 500 / 4500 (rightikeport= is not applied either).
        tracing::warn!(target: "cfg", "iked listens on ports {port}/{natt} and answers there, but initiating from other ports than 500/4500 is not implemented: IKE_SAs this host initiates are sent from 500/4500 and have no socket to leave by");
    }
    // The daemon's loop (protocol core, netlink), the socket readers and the
    // control clients all run on this thread: a datagram goes from its
    // socket to the core without waking another thread (bench/README.md, "In
    // the guest: where the time goes"). The second core takes key exchanges
    // when a burst comes (key_workers.rs); the readers drain a socket into
    // the loop's 1024-datagram queue each turn, and the sockets' receive
    // buffers are raised to hold a burst meanwhile (net.rs).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(server::serve(make_core, config, opts, log))
}

#[cfg(test)]
mod tests {
    use super::StrongswanConf;
    use std::path::{Path, PathBuf};

    #[test]
    fn strongswan_conf_resolution() {
        let d = StrongswanConf::resolve(None, None);
        assert_eq!(d.path, Path::new("/etc/strongswan.conf"));
        assert!(!d.explicit);
        let e = StrongswanConf::resolve(None, Some("/e.conf".into()));
        assert_eq!((e.path.as_path(), e.explicit), (Path::new("/e.conf"), true));
        let f = StrongswanConf::resolve(Some("/f.conf".into()), Some("/e.conf".into()));
        assert_eq!(f.path, Path::new("/f.conf"));
        // an empty STRONGSWAN_CONF is as good as none
        assert!(!StrongswanConf::resolve(None, Some("".into())).explicit);
        // a missing default is skipped, a missing explicit file is read (and fails)
        let missing = PathBuf::from("/nonexistent/strongswan.conf");
        let opt = StrongswanConf {
            path: missing.clone(),
            explicit: false,
        };
        assert_eq!(opt.to_read(), None);
        let req = StrongswanConf {
            path: missing.clone(),
            explicit: true,
        };
        assert_eq!(req.to_read(), Some(missing.as_path()));
    }
}
