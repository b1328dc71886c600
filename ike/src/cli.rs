//! The command lines of `iked` and `ikectl` (clap definitions): the binaries
//! parse with them, and `iked-gen-docs` renders man pages and shell
//! completions from them, so the two never disagree.

use crate::daemon::control;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

const IKED_LONG_ABOUT: &str = "IKEv2 keying daemon reading strongSwan's ipsec.conf / ipsec.secrets.

iked negotiates IKEv2 (RFC 7296) IKE_SAs and CHILD_SAs with the peers of /etc/ipsec.conf, authenticated by the secrets of /etc/ipsec.secrets and the certificates of /etc/ipsec.d, and installs ESP SAs and policies into the Linux kernel through XFRM netlink. It takes the place of strongSwan's charon and starter: ikectl(8) and ipsec(8) control it over its control socket. Settings of the charon section of /etc/strongswan.conf (retransmission, DNS servers for clients, DoS thresholds, ports, loggers) are read too; iked --check-config names every key it does not apply.";

const IKED_AFTER_HELP: &str = "FILES: /etc/ipsec.conf, /etc/ipsec.secrets (mode 0600), /etc/ipsec.d/{cacerts,certs,private,crls}, /etc/strongswan.conf and /etc/strongswan.d, /run/iked.ctl (control socket).

SYSTEMD: iked.service (Type=notify) runs iked; `systemctl enable iked` also links it as strongswan-starter.service and ipsec.service. Under systemd iked logs to the journal with charon-systemd's fields: journalctl -u iked IKE_SA_NAME=NAME.

IPSEC.CONF DIFFERENCES: IKEv1 (keyexchange=ikev1) is refused with an error; iked rekeys IKE_SAs and never reauthenticates them (reauth=yes acts as no); strongSwan keywords iked does not implement are accepted with one warning each, never silently; iked --check-config lists them.";

#[derive(Parser, Debug)]
#[command(
    name = "iked",
    version,
    about = "IKEv2 keying daemon reading strongSwan's ipsec.conf / ipsec.secrets",
    long_about = IKED_LONG_ABOUT,
    after_long_help = IKED_AFTER_HELP
)]
pub struct IkedArgs {
    /// Parse and validate the configuration, print one line per conn, and exit
    /// (0: valid, 1: errors, all of them printed).
    #[arg(long)]
    pub check_config: bool,
    /// ipsec.conf to read.
    #[arg(long = "config", value_name = "PATH", default_value = conf::DEFAULT_CONF)]
    pub config: PathBuf,
    /// ipsec.secrets to read.
    #[arg(long = "secrets", value_name = "PATH", default_value = conf::DEFAULT_SECRETS)]
    pub secrets: PathBuf,
    /// strongswan.conf to read (its `charon` section). Default: $STRONGSWAN_CONF,
    /// else /etc/strongswan.conf if it exists. A file named here or in
    /// STRONGSWAN_CONF must exist.
    #[arg(long = "strongswan-conf", value_name = "PATH")]
    pub strongswan_conf: Option<PathBuf>,
    /// Control socket (root-only) for ikectl and ipsec.
    #[arg(long = "ctl", value_name = "PATH", default_value = control::DEFAULT_CTL)]
    pub ctl: PathBuf,
    /// UDP port for IKE (overrides strongswan.conf's charon.port; default 500).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// UDP port for NAT traversal, non-ESP marker and ESP-in-UDP (overrides
    /// charon.port_nat_t; default 4500).
    #[arg(long = "natt-port", value_name = "PORT")]
    pub natt_port: Option<u16>,
}

#[derive(Parser, Debug)]
#[command(name = "ikectl", version, about = "Control the iked IKEv2 daemon")]
pub struct IkectlArgs {
    /// iked's control socket (default: $IKED_CTL, else /run/iked.ctl).
    #[arg(long = "ctl", value_name = "PATH")]
    pub ctl: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: IkectlCmd,
}

#[derive(Subcommand, Debug)]
pub enum IkectlCmd {
    /// IKE_SAs and CHILD_SAs (strongSwan's `ipsec status` format, or JSON).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Status with the daemon, the conns and kernel counters.
    Statusall {
        #[arg(long)]
        json: bool,
    },
    /// Initiate a conn and wait for the outcome.
    Up { name: String },
    /// Close a conn's IKE_SAs (and their CHILD_SAs): NAME; one IKE_SA by its
    /// unique id: NAME[N]; one CHILD_SA: NAME{N} (as `ipsec down`).
    Down { name: String },
    /// Install a conn's trap policies (a shunt's policies), like `ipsec route`.
    Route { name: String },
    /// Remove them again, like `ipsec unroute`.
    Unroute { name: String },
    /// Re-read ipsec.conf / ipsec.secrets (a broken file keeps the old configuration).
    Reload,
    /// Stop iked (it deletes its SAs first).
    Stop,
    /// The virtual-IP pools and their leases, like `ipsec leases`.
    Leases {
        /// One pool (its `rightsourceip=` text, e.g. 10.3.0.0/28).
        pool: Option<String>,
        /// One address of it.
        addr: Option<std::net::IpAddr>,
    },
}
