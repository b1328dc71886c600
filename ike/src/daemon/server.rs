//! The I/O loop: sockets in, the core's datagrams out, its timer, its kernel
//! actions into `xfrm`, the control socket, signals, `auto=start` and
//! `keyingtries`.

use super::control::{self, Request, Response};
use super::core::Core;
use super::kernel::{Kernel, KernelSpis};
use super::net::{self, Datagram, NattInput, Sockets};
use super::status::{
    ChildSaView, ConnView, Counters, IkeSaView, RoutedView, ShuntView, StatusReport,
};
use super::{LogHandle, Options};
use crate::sa::{ChildSaInstall, Event, IkeStatus, Mode};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// How often local addresses are re-read.
const ADDR_REFRESH: Duration = Duration::from_secs(5);
/// Datagrams (or key exchange results) taken per turn of the loop beyond the first.
const BATCH: usize = 63;

use requests::{Reply, Waiter};

/// The daemon's state around the core.
pub struct Daemon<C: Core> {
    core: C,
    kernel: Kernel,
    sockets: Sockets,
    config: Arc<conf::Config>,
    opts: Options,
    log: LogHandle,
    started: Instant,
    addrs: Vec<IpAddr>,
    waiters: Vec<Waiter>,
    /// IKE_SAs we initiated that are not up yet: ike_id -> conn.
    pending: HashMap<u32, String>,
    /// Failed attempts of auto=start conns since their last success.
    attempts: HashMap<String, u32>,
    /// Scheduled re-initiations: (when, conn).
    retries: Vec<(Instant, String)>,
    stopping: bool,
    updown: super::scripts::Updown,
    /// Virtual IPs on interfaces, routes in table 220.
    routing: super::routing::Routing,
    resolv: super::resolv::Resolv,
    /// Conns routed by `ipsec route` (kept across reloads while they exist).
    manual_routes: Vec<String>,
    /// systemd's sd_notify socket (does nothing when not under systemd).
    pub notify: super::notify::Notifier,
    /// VICI's SA events (ike-updown, child-updown, ...).
    sa_events: sa_events::SaEvents,
    /// Worker threads for responder key exchanges (started by `run`).
    key_workers: Option<super::key_workers::KeyWorkers>,
}

impl<C: Core> std::fmt::Debug for Daemon<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("addrs", &self.addrs)
            .field("kernel", &self.kernel)
            .finish()
    }
}

/// Binds the control socket: refuses if a daemon answers there, removes a
/// stale socket, and makes it root-only.
pub fn bind_control(path: &Path) -> Result<UnixListener, String> {
    if path.exists() {
        if control::is_running(path) {
            return Err(format!(
                "another iked is running (control socket {} answers)",
                path.display()
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    super::private_socket::bind(path)
        .map_err(|e| format!("unable to bind control socket {}: {e}", path.display()))
}

/// Only root (or iked's own user) may talk to iked.
pub(crate) fn peer_allowed(s: &UnixStream) -> bool {
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    match s.peer_cred() {
        Ok(c) => c.uid() == 0 || c.uid() == me,
        Err(_) => false,
    }
}

async fn serve_client(s: UnixStream, tx: mpsc::Sender<(Request, Reply)>) {
    if !peer_allowed(&s) {
        warn!(target: "cfg", "control connection from an unprivileged user refused");
        return;
    }
    let (r, mut w) = s.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(r).take(control::MAX_REQUEST as u64 + 1);
    let read = reader.read_until(b'\n', &mut line);
    let resp = match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(_)) => match control::parse_request(&line) {
            Ok(req) => {
                let (otx, orx) = oneshot::channel();
                if tx.send((req, otx)).await.is_err() {
                    Response::err("iked is shutting down")
                } else {
                    orx.await
                        .unwrap_or_else(|_| Response::err("iked is shutting down"))
                }
            }
            Err(e) => e,
        },
        _ => return,
    };
    let _ = w.write_all(&control::encode(&resp)).await;
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn auth_name(a: &conf::conn::AuthMethod) -> &'static str {
    use conf::conn::AuthMethod::*;
    match a {
        Psk => "pre-shared key",
        Pubkey { .. } => "public key",
        Eap(_) => "EAP",
        Xauth(_) => "XAuth",
        Any => "any",
        Never => "no",
    }
}

/// The statusall view of a conn.
pub fn conn_view(c: &conf::Conn, addrs: &[IpAddr]) -> ConnView {
    let (l, r) = c.ends(c.local_side(addrs));
    let hosts = |e: &conf::End| {
        e.hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    // strongSwan shows the end's protoport on each selector: `dynamic[gre]`.
    let ts = |e: &conf::End| {
        let pp = &e.protoport;
        let suffix = super::status::protoport_suffix(pp.proto, pp.port_from, pp.port_to);
        if e.subnets.is_empty() {
            format!("dynamic{suffix}")
        } else {
            e.subnets
                .iter()
                .map(|s| match s.protoport {
                    Some(_) => s.to_string(),
                    None => format!("{s}{suffix}"),
                })
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    ConnView {
        name: c.name.clone(),
        local_addrs: hosts(l),
        remote_addrs: hosts(r),
        local_id: l.effective_id().to_string(),
        remote_id: r.effective_id().to_string(),
        local_auth: auth_name(&l.auth).into(),
        remote_auth: auth_name(&r.auth).into(),
        local_ts: ts(l),
        remote_ts: ts(r),
        mode: match c.conn_type {
            conf::conn::ConnType::Transport | conf::conn::ConnType::TransportProxy => "TRANSPORT",
            conf::conn::ConnType::Passthrough => "PASS",
            conf::conn::ConnType::Drop => "DROP",
            conf::conn::ConnType::Tunnel => "TUNNEL",
        }
        .into(),
        auto: format!("{:?}", c.auto).to_lowercase(),
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tunnel => "TUNNEL",
        Mode::Transport => "TRANSPORT",
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Seconds since `t` (epoch seconds), None for 0 (never).
fn idle(t: u64) -> Option<u64> {
    if t == 0 {
        return None;
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Some(now.saturating_sub(t))
}

/// A CHILD_SA's counters from its two kernel SAs.
fn counters_of(i: &xfrm::Current, o: &xfrm::Current) -> Counters {
    Counters {
        bytes_in: i.bytes,
        packets_in: i.packets,
        idle_in_secs: idle(i.use_time),
        bytes_out: o.bytes,
        packets_out: o.packets,
        idle_out_secs: idle(o.use_time),
    }
}

fn ts_line(c: &ChildSaInstall) -> String {
    let j = |v: &[crate::sa::Selector]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("{} === {}", j(&c.ts_local), j(&c.ts_remote))
}

impl<C: Core> Daemon<C> {
    pub fn new(
        core: C,
        kernel: Kernel,
        sockets: Sockets,
        config: Arc<conf::Config>,
        opts: Options,
        log: LogHandle,
        addrs: Vec<IpAddr>,
    ) -> Self {
        Daemon {
            core,
            kernel,
            sockets,
            config,
            opts,
            log,
            started: Instant::now(),
            addrs,
            waiters: Vec::new(),
            pending: HashMap::new(),
            attempts: HashMap::new(),
            retries: Vec::new(),
            stopping: false,
            updown: Default::default(),
            routing: Default::default(),
            resolv: Default::default(),
            manual_routes: Vec::new(),
            notify: super::notify::Notifier::none(),
            sa_events: Default::default(),
            key_workers: None,
        }
    }

    /// Installs the trap policies of every `auto=route` conn and of the conns
    /// routed by `ipsec route`, and the policies of shunts (again after a
    /// reload: those of the new configuration replace the old ones).
    pub fn route_conns(&mut self) {
        self.kernel.remove_traps(None);
        self.kernel.remove_shunts(None);
        let cfg = self.config.clone();
        self.manual_routes.retain(|n| cfg.conn(n).is_some());
        let manual = self.manual_routes.clone();
        for c in cfg.conns.iter().filter(|c| {
            matches!(c.auto, conf::conn::Auto::Route)
                || (c.is_shunt() && c.auto == conf::conn::Auto::Start)
                || manual.contains(&c.name)
        }) {
            match self.route_one(c) {
                Ok(m) => info!(target: "cfg", "{m}"),
                Err(e) => error!(target: "knl", "{e}"),
            }
        }
    }

    /// Installs one conn's trap policies (or a shunt's policies).
    fn route_one(&mut self, c: &conf::Conn) -> Result<String, String> {
        if c.is_shunt() {
            let mode = if c.conn_type == conf::conn::ConnType::Drop {
                "DROP"
            } else {
                "PASS"
            };
            return super::kernel::shunt_policies(c, &self.addrs)
                .and_then(|p| self.kernel.install_shunt(&c.name, &p))
                .map(|n| format!("'{}' shunted ({mode}): {n} policies", c.name))
                .map_err(|e| format!("unable to install shunt '{}': {e}", c.name));
        }
        let reqid = self.core.reqid(&c.name);
        super::kernel::trap_policies(c, &self.addrs, reqid)
            .and_then(|p| self.kernel.install_trap(&c.name, &p))
            .map(|n| {
                format!(
                    "'{}' routed: {n} trap polic{}",
                    c.name,
                    if n == 1 { "y" } else { "ies" }
                )
            })
            .map_err(|e| format!("unable to route '{}': {e}", c.name))
    }

    /// Initiates every `auto=start` conn.
    pub fn start_conns(&mut self, now: Instant, only_new_since: Option<&conf::Config>) {
        let names: Vec<String> = self
            .config
            .conns
            .iter()
            .filter(|c| c.auto == conf::conn::Auto::Start && !c.is_shunt())
            .filter(|c| only_new_since.is_none_or(|old| old.conn(&c.name).is_none()))
            .map(|c| c.name.clone())
            .collect();
        for n in names {
            let _ = self.initiate(now, &n);
        }
    }

    fn initiate(&mut self, now: Instant, conn: &str) -> Result<u32, crate::sa::InitiateError> {
        match self.core.initiate(now, conn) {
            Ok(id) => {
                debug!(target: "cfg", "initiating '{conn}' (IKE_SA {conn}[{id}])");
                self.pending.insert(id, conn.to_owned());
                Ok(id)
            }
            Err(e) => {
                error!(target: "cfg", "unable to initiate '{conn}': {e}");
                Err(e)
            }
        }
    }

    fn keyingtries(&self, conn: &str) -> Option<conf::conn::KeyingTries> {
        let c = self.config.conn(conn)?;
        (c.auto == conf::conn::Auto::Start).then_some(c.keyingtries)
    }

    /// Times out waiters and runs due retries.
    fn tick(&mut self, now: Instant) {
        self.expire_waiters(now);
        let (due, later): (Vec<_>, Vec<_>) = self.retries.drain(..).partition(|(t, _)| *t <= now);
        self.retries = later;
        for (_, conn) in due {
            if self.config.conn(&conn).is_some() {
                let _ = self.initiate(now, &conn);
            }
        }
    }

    fn next_tick(&self) -> Option<Instant> {
        let w = self.waiters.iter().map(Waiter::deadline);
        w.chain(self.retries.iter().map(|(t, _)| *t)).min()
    }

    /// Rescans this host's addresses (rebinding the sockets) and tells the
    /// core when they changed, or always when `routes_changed` (the route
    /// towards a MOBIKE peer may now leave from another address).
    fn refresh_addrs(&mut self, now: Instant, routes_changed: bool) {
        let a = net::local_addrs();
        // Also retries binds that failed (e.g. IPv6 addresses still in DAD).
        self.sockets.sync(&a);
        if a != self.addrs {
            info!(target: "knl", "local addresses changed: {:?}", a);
            self.addrs = a.clone();
            self.core.set_local_addrs(now, a);
        } else if routes_changed {
            self.core.set_local_addrs(now, a);
        }
    }

    pub fn on_datagram(&mut self, now: Instant, d: Datagram) {
        let data = if d.local.port() == self.sockets.natt_port() {
            match net::natt_input(&d.data) {
                NattInput::Ike(ike) => ike,
                NattInput::Keepalive => {
                    debug!(target: "net", "NAT keepalive from {}", d.remote);
                    return;
                }
                NattInput::Drop => {
                    debug!(target: "net", "dropping {} bytes without non-ESP marker from {}", d.data.len(), d.remote);
                    return;
                }
            }
        } else {
            &d.data[..]
        };
        debug!(target: "net", "received packet: from {} to {} ({} bytes)", d.remote, d.local, data.len());
        self.core.handle_datagram(now, d.local, d.remote, data);
    }

    /// The status snapshot; with `counters`, kernel counters per CHILD_SA.
    pub fn report(&mut self, now: Instant, counters: bool) -> StatusReport {
        let sas = self.core.status(now);
        let names: Vec<String> = self
            .kernel
            .routed_conns()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let shunted = self
            .kernel
            .shunted_conns()
            .into_iter()
            .filter_map(|n| self.config.conn(n))
            .map(|c| {
                let v = conn_view(c, &self.addrs);
                ShuntView {
                    conn: v.name,
                    mode: v.mode,
                    ts_local: v.local_ts,
                    ts_remote: v.remote_ts,
                }
            })
            .collect();
        let routed = names
            .iter()
            .filter_map(|n| {
                let c = self.config.conn(n)?;
                let v = conn_view(c, &self.addrs);
                // the reqid the trap's template names (strongSwan: `name{reqid}: ROUTED`)
                let reqid = c.reqid.or_else(|| self.core.reqid(n)).unwrap_or(0);
                Some(RoutedView {
                    conn: v.name,
                    mode: v.mode,
                    reqid,
                    ts_local: v.local_ts,
                    ts_remote: v.remote_ts,
                })
            })
            .collect();
        let ike_sas = sas
            .into_iter()
            .map(|s| self.ike_view(s, counters))
            .collect();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").into(),
            kernel: kernel_release(),
            uptime_secs: now.saturating_duration_since(self.started).as_secs(),
            pid: std::process::id(),
            listening: self.sockets.bound_addrs(),
            conns: self
                .config
                .conns
                .iter()
                .map(|c| conn_view(c, &self.addrs))
                .collect(),
            ike_sas,
            shunted,
            routed,
            stats: super::status::Stats::new(self.core.counters(), self.core.half_open()),
        }
    }

    fn ike_view(&mut self, s: IkeStatus, counters: bool) -> IkeSaView {
        let children = s
            .children
            .iter()
            .map(|c| {
                let installed = self.kernel.installed(c.child_id).is_some();
                let k = if counters && installed {
                    self.kernel
                        .counters(c.child_id)
                        .map(|(i, o)| counters_of(&i, &o))
                } else {
                    None
                };
                ChildSaView {
                    conn: c.conn.clone(),
                    child_id: c.child_id,
                    reqid: c.reqid,
                    mode: mode_name(c.mode).into(),
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    encap: c.encap,
                    proposal: c.proposal.clone(),
                    ts_local: c.ts_local.iter().map(super::status::ts_string).collect(),
                    ts_remote: c.ts_remote.iter().map(super::status::ts_string).collect(),
                    established_secs_ago: c.established_secs_ago,
                    rekey_in_secs: c.rekey_in_secs,
                    rekeying: c.rekeying,
                    installed,
                    counters: k,
                }
            })
            .collect();
        let (local_vips, remote_vips) = self.core.virtual_ips(s.ike_id);
        IkeSaView {
            conn: s.conn,
            ike_id: s.ike_id,
            state: s.state.as_str().into(),
            initiator: s.initiator,
            local: s.local,
            remote: s.remote,
            local_id: s.local_id,
            remote_id: s.remote_id,
            remote_eap_id: s.remote_eap_id,
            spi_i: hex(&s.spi_i),
            spi_r: hex(&s.spi_r),
            proposal: s.proposal,
            established_secs_ago: s.established_secs_ago,
            rekey_in_secs: s.rekey_in_secs,
            local_vips,
            remote_vips,
            nat_local: s.nat_local,
            nat_remote: s.nat_remote,
            nat_fake: s.nat_fake,
            children,
        }
    }

    /// systemd's STATUS= line: the IKE_SAs and conns.
    pub fn status_line(&self) -> String {
        let (all, up) = self.core.sa_counts();
        let n = self.config.conns.len();
        format!(
            "{all} IKE_SA{} ({up} established), {n} conn{}",
            if all == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" }
        )
    }

    fn reload(&mut self, now: Instant) -> Response {
        self.notify.reloading();
        let r = self.reload_config(now);
        self.notify.reloaded(&self.status_line());
        r
    }

    fn reload_config(&mut self, now: Instant) -> Response {
        match super::load(&self.opts) {
            Ok(cfg) => {
                for w in &cfg.warnings {
                    warn!(target: "cfg", "{w}");
                }
                if self.opts.ports(&cfg) != self.opts.ports(&self.config) {
                    warn!(target: "cfg", "charon.port / charon.port_nat_t changed: the new ports apply after a restart");
                }
                let n = cfg.conns.len();
                let old = std::mem::replace(&mut self.config, Arc::new(cfg));
                self.core.set_config(self.config.clone());
                self.log.apply(&self.config);
                self.route_conns();
                self.start_conns(now, Some(&old));
                info!(target: "cfg", "configuration reloaded: {n} conn{}", if n == 1 { "" } else { "s" });
                Response::ok(format!(
                    "configuration reloaded: {n} conn{}",
                    if n == 1 { "" } else { "s" }
                ))
            }
            Err(e) => {
                let errors: Vec<String> = e.diagnostics.iter().map(ToString::to_string).collect();
                error!(target: "cfg", "reload failed, keeping the old configuration:\n{e}");
                Response {
                    ok: false,
                    message: format!(
                        "reload failed ({} error{}), the old configuration stays in use",
                        e.errors().count(),
                        if e.errors().count() == 1 { "" } else { "s" }
                    ),
                    errors,
                    status: None,
                }
            }
        }
    }

    /// Deletes every SA (the DELETEs go out), then removes whatever iked
    /// installed in the kernel.
    pub fn shutdown(&mut self) {
        self.notify.stopping();
        self.stopping = true;
        let now = Instant::now();
        self.core.shutdown(now);
        self.drain(now);
        self.kernel.drop_larval();
        let n = self.kernel.remove_all();
        if n > 0 {
            info!(target: "knl", "removed {n} remaining CHILD_SA{} from the kernel", if n == 1 { "" } else { "s" });
        }
        self.routing.shutdown(self.routing_settings());
        self.resolv.shutdown();
        self.kernel.close_journal();
        for w in self.waiters.drain(..) {
            let _ = w.into_reply().send(Response::err("iked is shutting down"));
        }
        self.sockets.close();
    }

    /// Starts the key exchange workers (one per CPU), which take the core's
    /// responder key exchanges when the loop is busy (`take_datagram`);
    /// without threads the core does them.
    fn start_key_workers(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::sa::KeyJobDone>> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        match super::key_workers::KeyWorkers::start(n) {
            Ok((w, rx)) => {
                info!(target: "dmn", "{} key exchange worker thread{}", w.threads(), if w.threads() == 1 { "" } else { "s" });
                self.key_workers = Some(w);
                Some(rx)
            }
            Err(e) => {
                warn!(target: "dmn", "no key exchange workers ({e}): the event loop does key exchanges itself");
                None
            }
        }
    }

    /// The loop; returns when asked to stop (signal or `stop`).
    pub async fn run(
        &mut self,
        mut dgrams: mpsc::Receiver<Datagram>,
        listener: UnixListener,
        vici: Option<super::vici::server::Listener>,
    ) -> std::io::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (ctl_tx, mut ctl_rx) = mpsc::channel::<(Request, Reply)>(16);
        // VICI clients' tasks ask the loop through this channel (the loop
        // stays the core's only owner).
        let (vici_tx, mut vici_rx) = mpsc::channel::<super::vici::Query>(16);
        if let Some(v) = vici {
            tokio::spawn(super::vici::server::accept_loop(
                v,
                vici_tx.clone(),
                self.sa_events.hub.clone(),
            ));
        }
        drop(vici_tx);
        let mut addr_timer = tokio::time::interval(ADDR_REFRESH);
        addr_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
        let mut kevents = match xfrm::EventStream::open() {
            Ok(e) => Some(e),
            Err(e) => {
                warn!(target: "knl", "no XFRM events (auto=route will not trigger): {e}");
                None
            }
        };
        // MOBIKE: an address that goes is noticed at once, not on the next rescan
        let mut addr_watch = match xfrm::AddrWatch::open() {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(target: "knl", "no address events (address changes are seen every {} s): {e}", ADDR_REFRESH.as_secs());
                None
            }
        };
        let mut watchdog = self.notify.watchdog_interval().map(tokio::time::interval);
        let mut key_done = self.start_key_workers();
        let now = Instant::now();
        self.route_conns();
        self.start_conns(now, None);
        self.drain(now);
        // Sockets bound and the configuration loaded: systemd may go on.
        self.notify.ready(&self.status_line());
        while !self.stopping {
            let core_dl = self.core.poll_timeout();
            let tick_dl = self.next_tick();
            let core_sleep = core_dl
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(far);
            let tick_sleep = tick_dl
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(far);
            tokio::select! {
                d = dgrams.recv() => {
                    let Some(d) = d else { break };
                    self.take_datagram(d, dgrams.len());
                    // A burst: what else is queued goes through now, each
                    // datagram drained as alone, without another turn of
                    // this select (its timers and wakers) per datagram.
                    for _ in 0..BATCH {
                        let Ok(d) = dgrams.try_recv() else { break };
                        self.drain(Instant::now());
                        self.take_datagram(d, dgrams.len());
                    }
                }
                r = ctl_rx.recv() => {
                    if let Some((req, tx)) = r {
                        self.on_request(Instant::now(), req, tx);
                    }
                }
                Some(q) = vici_rx.recv() => self.on_vici(Instant::now(), q),
                Some(done) = next_key_done(&mut key_done) => {
                    self.take_key_job_done(done);
                    for _ in 0..BATCH {
                        let Some(done) = key_done.as_mut().and_then(|r| r.try_recv().ok()) else { break };
                        self.drain(Instant::now());
                        self.take_key_job_done(done);
                    }
                }
                a = listener.accept() => {
                    match a {
                        Ok((s, _)) => { tokio::spawn(serve_client(s, ctl_tx.clone())); }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => { warn!(target: "cfg", "control socket: {e}"); tokio::time::sleep(Duration::from_millis(50)).await; }
                    }
                }
                _ = tokio::time::sleep_until(core_sleep) => {
                    self.core.handle_timeout(Instant::now());
                }
                _ = tokio::time::sleep_until(tick_sleep) => {
                    self.tick(Instant::now());
                }
                c = next_addr_change(&mut addr_watch) => {
                    match c {
                        Ok(c) => {
                            debug!(target: "knl", "kernel announced {c:?}");
                            self.refresh_addrs(Instant::now(), c.routes || c.lost);
                        }
                        Err(e) => {
                            warn!(target: "knl", "address events stopped (address changes are seen every {} s): {e}", ADDR_REFRESH.as_secs());
                            addr_watch = None;
                        }
                    }
                }
                _ = addr_timer.tick() => {
                    self.refresh_addrs(Instant::now(), false);
                    if self.notify.active() {
                        self.notify.status(&self.status_line());
                    }
                }
                _ = next_tick(&mut watchdog) => self.notify.watchdog(),
                ev = next_kernel_event(&mut kevents) => match ev {
                    Ok(ev) => self.on_kernel_event(Instant::now(), ev),
                    Err(e) => {
                        warn!(target: "knl", "XFRM events: {e}");
                        if !matches!(e, xfrm::Error::EventsLost) {
                            kevents = None;
                        }
                    }
                },
                _ = term.recv() => { info!(target: "dmn", "SIGTERM received, shutting down"); break; }
                _ = int.recv() => { info!(target: "dmn", "SIGINT received, shutting down"); break; }
                _ = hup.recv() => { let r = self.reload(Instant::now()); info!(target: "dmn", "SIGHUP: {}", r.message); }
            }
            self.drain(Instant::now());
        }
        self.shutdown();
        Ok(())
    }
}

async fn next_key_done(
    r: &mut Option<tokio::sync::mpsc::UnboundedReceiver<crate::sa::KeyJobDone>>,
) -> Option<crate::sa::KeyJobDone> {
    match r {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_tick(i: &mut Option<tokio::time::Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn next_addr_change(w: &mut Option<xfrm::AddrWatch>) -> xfrm::Result<xfrm::Changes> {
    match w {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

async fn next_kernel_event(s: &mut Option<xfrm::EventStream>) -> xfrm::Result<xfrm::Event> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Builds everything and runs until stopped.
pub async fn serve<C: Core>(
    make_core: impl FnOnce(Arc<conf::Config>, Vec<IpAddr>, KernelSpis) -> C,
    config: conf::Config,
    opts: Options,
    log: LogHandle,
) -> Result<(), String> {
    let config = Arc::new(config);
    let addrs = net::local_addrs();
    let (tx, rx) = mpsc::channel(1024);
    let mut sockets = Sockets::new(opts.ports(&config), tx);
    sockets.sync(&addrs);
    if sockets.bound_addrs().is_empty() {
        warn!(target: "net", "no IKE socket could be bound");
    }
    let (mut kernel, spis) = Kernel::open_pair();
    // The control socket last: once it exists, iked also answers IKE.
    let listener = bind_control(&opts.ctl)?;
    // No other iked answers on this socket: what its journal lists was left
    // by a predecessor that did not stop cleanly.
    kernel.take_over(&super::journal::Journal::path_for(&opts.ctl));
    // VICI beside it (strongswan.conf's charon.plugins.vici.socket); a socket
    // that cannot be bound (a charon owns it) costs VICI, not the daemon.
    let vici = match super::vici::server::bind(&config.strongswan.charon.vici_socket) {
        Ok(v) => Some(v),
        Err(e) => {
            warn!(target: "cfg", "{e}; VICI not available");
            None
        }
    };
    let vici_path = vici.as_ref().map(|v| v.path.clone());
    let core = make_core(config.clone(), addrs.clone(), spis);
    let ctl = opts.ctl.clone();
    info!(target: "dmn", "iked {} starting: {} conn{}, listening on {:?}, control socket {}",
        env!("CARGO_PKG_VERSION"), config.conns.len(), if config.conns.len() == 1 { "" } else { "s" },
        sockets.bound_addrs(), ctl.display());
    let mut d = Daemon::new(core, kernel, sockets, config, opts, log, addrs);
    d.notify = super::notify::Notifier::from_env();
    let r = d.run(rx, listener, vici).await;
    // Let the control tasks write their last answers (e.g. to `stop`).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = std::fs::remove_file(&ctl);
    if let Some(p) = vici_path {
        super::vici::server::remove(&p);
    }
    info!(target: "dmn", "iked stopped");
    r.map_err(|e| format!("signal setup: {e}"))
}

mod events;
mod requests;
mod sa_events;
#[cfg(test)]
mod tests;
mod vici_query;
