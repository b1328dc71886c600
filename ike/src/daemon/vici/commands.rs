//! The VICI commands iked answers, with the message layout strongSwan's
//! README documents and `swanctl` reads (checked field by field against
//! charon 5.9.8 on the wire: the same keys, in the same order where swanctl
//! cares).
//!
//! Answered: `version`, `stats`, `list-sas` (streamed `list-sa`),
//! `list-conns` (streamed `list-conn`), `get-conns` / `get-keys` /
//! `get-shared` / `get-authorities` (empty: nothing is loaded over VICI), `get-pools`,
//! `list-certs` (streamed `list-cert`, in [`super::certs`]), `initiate` and
//! `terminate` (in [`super::terminate`]; both stream `control-log`),
//! `reload-settings`, `rekey` (in [`super::rekey`]). strongSwan's other
//! commands (`redirect`, `load-conn`, ...: [`NOT_SUPPORTED`]) answer
//! `success = no` with an `errmsg` saying so; anything else gets CMD_UNKNOWN.

use super::codec::Message;
use super::events::{ControlFilter, LogLine};
use super::{Out, Query, Snapshot, ViciError};
use crate::daemon::control::{Request, Response};
use crate::daemon::status::{ChildSaView, IkeSaView, time_delta};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// Events a client may register for.
pub const EVENTS: &[&str] = &[
    "list-sa",
    "list-conn",
    "list-cert",
    "control-log",
    "log",
    "ike-updown",
    "ike-rekey",
    "child-updown",
    "child-rekey",
];

/// Runs one command: streams its events to `out` (to a client registered
/// for them) and returns the response (None: CMD_UNKNOWN).
pub async fn handle(
    command: &str,
    args: &Message,
    q: &mpsc::Sender<Query>,
    out: &Out,
) -> Result<Option<Message>, ViciError> {
    Ok(Some(match command {
        "version" => version(&kernel_release()),
        "stats" => stats(&snapshot(q).await?, SystemTime::now()),
        "list-sas" => {
            let s = snapshot(q).await?;
            let id = args
                .get_str("ike-id")
                .or_else(|| args.get_str("ike_id"))
                .and_then(|v| v.parse().ok());
            for m in list_sas(&s, args.get_str("ike"), id) {
                out.event("list-sa", m).await?;
            }
            Message::new()
        }
        "list-conns" => {
            for m in list_conns(&snapshot(q).await?, args.get_str("ike")) {
                out.event("list-conn", m).await?;
            }
            Message::new()
        }
        "get-pools" => get_pools(&snapshot(q).await?, args),
        "list-certs" => {
            let s = snapshot(q).await?;
            let (config, keys) = (s.config.clone(), s.key_publics.clone());
            let dir = crate::daemon::core::ipsec_d();
            let certs =
                tokio::task::spawn_blocking(move || super::certs::load(&dir, &config, &keys))
                    .await
                    .unwrap_or_default();
            for m in super::certs::list_certs(&certs, args) {
                out.event("list-cert", m).await?;
            }
            Message::new()
        }
        // Only what was loaded over VICI counts here, and iked loads nothing
        // over VICI (swanctl --load-* asks these first).
        "get-conns" => empty_list("conns"),
        "get-keys" | "get-shared" => empty_list("keys"),
        "get-authorities" => empty_list("authorities"),
        "initiate" => initiate(args, q, out).await?,
        "terminate" => super::terminate::terminate(args, q, out).await?,
        "reload-settings" => {
            let r = control(q, Request::Reload, None).await?;
            let r = r.unwrap_or_else(|| Response::err("no answer"));
            result(r.ok, &r.message)
        }
        "rekey" => super::rekey::rekey(args, q).await?,
        c if NOT_SUPPORTED.contains(&c) => result(false, &not_supported(c)),
        _ => return Ok(None),
    }))
}

/// The commands of strongSwan's VICI (its README's list) iked does not
/// answer: `success = no` and an `errmsg` saying so. A name not in that list
/// gets CMD_UNKNOWN.
pub const NOT_SUPPORTED: &[&str] = &[
    "redirect",
    "install",
    "uninstall",
    "list-policies",
    "list-authorities",
    "load-conn",
    "unload-conn",
    "load-key",
    "unload-key",
    "load-token",
    "load-cert",
    "load-shared",
    "unload-shared",
    "flush-certs",
    "clear-creds",
    "load-authority",
    "unload-authority",
    "load-pool",
    "unload-pool",
    "get-algorithms",
    "get-counters",
    "reset-counters",
];

fn empty_list(key: &str) -> Message {
    let mut m = Message::new();
    m.list::<_, &str>(key, []);
    m
}

/// The `errmsg` of a command in [`NOT_SUPPORTED`].
pub fn not_supported(command: &str) -> String {
    let why = match command {
        "redirect" => " (no RFC 5685 redirection)",
        c if c.starts_with("load-")
            || c.starts_with("unload-")
            || c == "clear-creds"
            || c == "flush-certs" =>
        {
            " (iked is configured by ipsec.conf and ipsec.secrets)"
        }
        _ => "",
    };
    format!("'{command}' is not supported by iked{why}")
}

pub(super) async fn snapshot(q: &mpsc::Sender<Query>) -> Result<Snapshot, ViciError> {
    let (tx, rx) = oneshot::channel();
    q.send(Query::Snapshot(tx))
        .await
        .map_err(|_| ViciError::Gone)?;
    rx.await.map_err(|_| ViciError::Gone)
}

/// A control request; waits up to `wait` (None: for the daemon's own limit).
/// Ok(None): not answered in time.
pub(super) async fn control(
    q: &mpsc::Sender<Query>,
    req: Request,
    wait: Option<Duration>,
) -> Result<Option<Response>, ViciError> {
    let (tx, rx) = oneshot::channel();
    q.send(Query::Control(req, tx))
        .await
        .map_err(|_| ViciError::Gone)?;
    match wait {
        None => rx.await.map(Some).map_err(|_| ViciError::Gone),
        Some(d) => match tokio::time::timeout(d, rx).await {
            Ok(r) => r.map(Some).map_err(|_| ViciError::Gone),
            Err(_) => Ok(None),
        },
    }
}

/// Control requests, all sent at once, whose log lines (those `filter`
/// wants) are streamed to `out` as `control-log` while they run, if the
/// client registered for them. An answer not given within `wait` is None.
pub(super) async fn control_logged(
    q: &mpsc::Sender<Query>,
    reqs: Vec<Request>,
    wait: Option<Duration>,
    out: &Out,
    filter: &ControlFilter,
) -> Result<Vec<Option<Response>>, ViciError> {
    // Subscribed before the requests go out: no line of theirs is missed.
    let mut logs = out
        .is_registered("control-log")
        .then(super::events::subscribe_log);
    let mut pending = Vec::with_capacity(reqs.len());
    for req in reqs {
        let (tx, rx) = oneshot::channel();
        q.send(Query::Control(req, tx))
            .await
            .map_err(|_| ViciError::Gone)?;
        pending.push(rx);
    }
    let deadline = wait.map(|d| tokio::time::Instant::now() + d);
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
    let mut answers = Vec::with_capacity(pending.len());
    let mut expired = false;
    for mut rx in pending {
        let r = loop {
            if expired {
                break rx.try_recv().ok();
            }
            tokio::select! {
                r = &mut rx => break Some(r.map_err(|_| ViciError::Gone)?),
                l = next_log(&mut logs) => {
                    if let Some(l) = l {
                        send_log(out, filter, &l).await?;
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)) => expired = true,
            }
        };
        answers.push(r);
    }
    // The lines logged just before the last answer (the loop logs, then answers).
    if let Some(logs) = &mut logs {
        while let Ok(l) = logs.try_recv() {
            send_log(out, filter, &l).await?;
        }
    }
    Ok(answers)
}

/// The next log line (None after a gap of missed lines); never, without a receiver.
async fn next_log(
    logs: &mut Option<tokio::sync::broadcast::Receiver<std::sync::Arc<LogLine>>>,
) -> Option<std::sync::Arc<LogLine>> {
    match logs {
        Some(rx) => match rx.recv().await {
            Ok(l) => Some(l),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn send_log(out: &Out, filter: &ControlFilter, l: &LogLine) -> Result<(), ViciError> {
    if filter.wants(l) {
        out.event("control-log", l.message(false)).await?;
    }
    Ok(())
}

/// The `loglevel` of an `initiate` / `terminate` (swanctl's default: 1).
pub(super) fn loglevel(args: &Message) -> u8 {
    args.get_str("loglevel")
        .and_then(|l| l.parse::<i64>().ok())
        .map_or(1, |l| l.clamp(0, 4) as u8)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// `success`, and `errmsg` on failure.
pub(super) fn result(ok: bool, errmsg: &str) -> Message {
    let mut m = Message::new();
    m.kv("success", if ok { "yes" } else { "no" });
    if !ok {
        m.kv("errmsg", errmsg);
    }
    m
}

pub fn version(release: &str) -> Message {
    let mut m = Message::new();
    m.kv("daemon", "iked")
        .kv("version", env!("CARGO_PKG_VERSION"))
        .kv("sysname", "Linux")
        .kv("release", release)
        .kv("machine", std::env::consts::ARCH);
    m
}

/// The threads iked runs: the daemon loop and two socket readers.
const THREADS: usize = 3;

pub fn stats(s: &Snapshot, now: SystemTime) -> Message {
    let r = &s.report;
    let since = now - Duration::from_secs(r.uptime_secs);
    let mut uptime = Message::new();
    uptime
        .kv("running", time_delta(r.uptime_secs))
        .kv("since", format_time(since));
    // One job runs (the loop answering this request); nothing is queued.
    let mut active = Message::new();
    active
        .kv("critical", "0")
        .kv("high", "0")
        .kv("medium", "1")
        .kv("low", "0");
    let mut workers = Message::new();
    workers
        .kv("total", THREADS.to_string())
        .kv("idle", (THREADS - 1).to_string())
        .section("active", active);
    let mut queues = Message::new();
    for p in ["critical", "high", "medium", "low"] {
        queues.kv(p, "0");
    }
    // The core's count (IKE_SAs not yet authenticated), as statusall shows it.
    let half_open = r.stats.half_open;
    let mut ikesas = Message::new();
    ikesas
        .kv("total", r.ike_sas.len().to_string())
        .kv("half-open", half_open.to_string());
    let mut m = Message::new();
    m.section("uptime", uptime)
        .section("workers", workers)
        .section("queues", queues)
        .kv("scheduled", s.scheduled.to_string())
        .section("ikesas", ikesas)
        .list(
            "plugins",
            ["iked", "kernel-netlink", "socket-default", "updown", "vici"],
        );
    m
}

/// `get-pools`: each pool (or the one `name` asks for) with its base, size
/// and lease counts, and with `leases = yes` each lease: its address, the
/// identity it belongs to, online or offline.
pub fn get_pools(s: &Snapshot, args: &Message) -> Message {
    let with_leases = args.get_str("leases") == Some("yes");
    let name = args.get_str("name");
    let mut m = Message::new();
    for p in s.pools.iter().filter(|p| name.is_none_or(|n| n == p.name)) {
        let mut pool = Message::new();
        pool.kv("base", p.base.to_string())
            .kv("size", p.size.to_string())
            .kv("online", p.online.to_string())
            .kv("offline", p.offline.to_string());
        if with_leases {
            let mut leases = Message::new();
            for (i, (addr, id, online)) in p.leases.iter().enumerate() {
                let mut l = Message::new();
                l.kv("address", addr.to_string())
                    .kv("identity", id)
                    .kv("status", if *online { "online" } else { "offline" });
                leases.section(&i.to_string(), l);
            }
            pool.section("leases", leases);
        }
        m.section(&p.name, pool);
    }
    m
}

/// strongSwan's `%b %d %T %Y`, in UTC: `Dec 01 22:59:09 2026`.
pub fn format_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS[usize::try_from(month - 1).unwrap_or(0).min(11)];
    format!(
        "{mon} {day:02} {:02}:{:02}:{:02} {year}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Algorithms of a negotiated suite, from the core's strongSwan-style name
/// (`AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Algs {
    /// Name and key size: `AES_CBC` + 256, `AES_GCM_16` + 128.
    pub encr: Option<(String, Option<u16>)>,
    pub integ: Option<String>,
    pub prf: Option<String>,
    pub dh: Option<String>,
    pub esn: bool,
}

pub fn parse_suite(s: &str) -> Algs {
    let mut a = Algs::default();
    for part in s.split('/').filter(|p| !p.is_empty()) {
        if part == "ESN" {
            a.esn = true;
        } else if part.starts_with("PRF_") {
            a.prf = Some(part.into());
        } else if ["MODP_", "ECP_", "CURVE_", "DH_"]
            .iter()
            .any(|p| part.starts_with(p))
        {
            a.dh = Some(part.into());
        } else if part.starts_with("HMAC_") || part.starts_with("AES_XCBC") {
            a.integ = Some(part.into());
        } else if a.encr.is_none() {
            a.encr = Some(match part.rsplit_once('_') {
                Some((name, bits)) if bits.parse::<u16>().is_ok() => {
                    (name.into(), bits.parse().ok())
                }
                _ => (part.into(), None),
            });
        }
    }
    a
}

fn put_algs(m: &mut Message, a: &Algs) {
    if let Some((name, bits)) = &a.encr {
        m.kv("encr-alg", name);
        if let Some(b) = bits {
            m.kv("encr-keysize", b.to_string());
        }
    }
    if let Some(i) = &a.integ {
        m.kv("integ-alg", i);
    }
    if let Some(p) = &a.prf {
        m.kv("prf-alg", p);
    }
    if let Some(d) = &a.dh {
        m.kv("dh-group", d);
    }
}

/// One `list-sa` event per IKE_SA (filtered by conn name and unique id).
pub fn list_sas(s: &Snapshot, ike: Option<&str>, ike_id: Option<u32>) -> Vec<Message> {
    s.report
        .ike_sas
        .iter()
        .filter(|sa| ike.is_none_or(|n| n == sa.conn))
        .filter(|sa| ike_id.is_none_or(|id| id == sa.ike_id))
        .map(|sa| {
            let mut m = Message::new();
            m.section(&sa.conn, ike_sa(&s.config, sa, true));
            m
        })
        .collect()
}

/// An IKE_SA as `list-sa` (and `ike-updown`) show it.
pub fn ike_sa(config: &conf::Config, sa: &IkeSaView, children: bool) -> Message {
    let mut m = Message::new();
    m.kv("uniqueid", sa.ike_id.to_string())
        .kv("version", "2")
        .kv("state", &sa.state)
        .kv("local-host", sa.local.ip().to_string())
        .kv("local-port", sa.local.port().to_string())
        .kv("local-id", &sa.local_id)
        .kv("remote-host", sa.remote.ip().to_string())
        .kv("remote-port", sa.remote.port().to_string())
        .kv("remote-id", &sa.remote_id);
    if let Some(e) = &sa.remote_eap_id {
        m.kv("remote-eap-id", e);
    }
    if sa.initiator {
        m.kv("initiator", "yes");
    }
    m.kv("initiator-spi", &sa.spi_i)
        .kv("responder-spi", &sa.spi_r);
    // Each flag only when set, as charon sends them.
    for (k, on) in [
        ("nat-local", sa.nat_local),
        ("nat-remote", sa.nat_remote),
        ("nat-fake", sa.nat_fake),
        ("nat-any", sa.nat_local || sa.nat_remote || sa.nat_fake),
    ] {
        if on {
            m.kv(k, "yes");
        }
    }
    put_algs(&mut m, &parse_suite(&sa.proposal));
    if let Some(e) = sa.established_secs_ago {
        m.kv("established", e.to_string());
    }
    if let Some(r) = sa.rekey_in_secs {
        m.kv("rekey-time", r.to_string());
    }
    if !sa.local_vips.is_empty() {
        m.list("local-vips", sa.local_vips.iter().map(|a| a.to_string()));
    }
    if !sa.remote_vips.is_empty() {
        m.list("remote-vips", sa.remote_vips.iter().map(|a| a.to_string()));
    }
    if children {
        let mut cs = Message::new();
        for c in &sa.children {
            let conn = config.conn(&c.conn);
            cs.section(&format!("{}-{}", c.conn, c.child_id), child_sa(c, conn));
        }
        m.section("child-sas", cs);
    }
    m
}

/// A CHILD_SA of a `list-sa` event.
pub fn child_sa(c: &ChildSaView, conn: Option<&conf::Conn>) -> Message {
    let mut m = Message::new();
    let state = match (c.installed, c.rekeying) {
        (true, true) => "REKEYING",
        (true, false) => "INSTALLED",
        (false, _) => "CREATED",
    };
    m.kv("name", &c.conn)
        .kv("uniqueid", c.child_id.to_string())
        .kv("reqid", c.reqid.to_string())
        .kv("state", state)
        .kv("mode", &c.mode)
        .kv("protocol", "ESP");
    if c.encap {
        m.kv("encap", "yes");
    }
    m.kv("spi-in", format!("{:08x}", c.spi_in))
        .kv("spi-out", format!("{:08x}", c.spi_out));
    let a = parse_suite(&c.proposal);
    put_algs(&mut m, &a);
    if a.esn {
        m.kv("esn", "1");
    }
    let k = c.counters.unwrap_or_default();
    m.kv("bytes-in", k.bytes_in.to_string())
        .kv("packets-in", k.packets_in.to_string());
    if let Some(i) = k.idle_in_secs {
        m.kv("use-in", i.to_string());
    }
    m.kv("bytes-out", k.bytes_out.to_string())
        .kv("packets-out", k.packets_out.to_string());
    if let Some(i) = k.idle_out_secs {
        m.kv("use-out", i.to_string());
    }
    if let Some(r) = c.rekey_in_secs {
        m.kv("rekey-time", r.to_string());
    }
    // The hard lifetime is the conn's `lifetime` from installation on.
    if let Some(conn) = conn {
        let life = conn
            .lifetime
            .as_secs()
            .saturating_sub(c.established_secs_ago);
        m.kv("life-time", life.to_string());
    }
    m.kv("install-time", c.established_secs_ago.to_string())
        .list("local-ts", &c.ts_local)
        .list("remote-ts", &c.ts_remote);
    m
}

/// One `list-conn` event per conn of ipsec.conf (filtered by name).
pub fn list_conns(s: &Snapshot, ike: Option<&str>) -> Vec<Message> {
    s.config
        .conns
        .iter()
        .filter(|c| ike.is_none_or(|n| n == c.name))
        .map(|c| {
            let mut m = Message::new();
            m.section(&c.name, conn(s, c));
            m
        })
        .collect()
}

fn split(s: &str) -> Vec<&str> {
    s.split(',').filter(|x| !x.is_empty()).collect()
}

fn dpd_name(a: conf::conn::DpdAction) -> &'static str {
    use conf::conn::DpdAction::*;
    match a {
        None => "none",
        Clear => "clear",
        Hold => "trap",
        Restart => "restart",
    }
}

/// A conn as `list-conn` shows it: the IKE part, one auth round per side,
/// and the conn's CHILD_SA (an ipsec.conf conn is both, with one name).
pub fn conn(s: &Snapshot, c: &conf::Conn) -> Message {
    let v = crate::daemon::server::conn_view(c, &s.addrs);
    let ike_rekey = c.ikelifetime.saturating_sub(c.margintime).as_secs();
    let child_rekey = c.lifetime.saturating_sub(c.margintime).as_secs();
    let unique = match s.config.setup.uniqueids {
        conf::setup::UniqueIds::No => "UNIQUE_NO",
        conf::setup::UniqueIds::Never => "UNIQUE_NEVER",
        conf::setup::UniqueIds::Keep => "UNIQUE_KEEP",
        conf::setup::UniqueIds::Yes | conf::setup::UniqueIds::Replace => "UNIQUE_REPLACE",
    };
    let auth = |id: &str, class: &str| {
        let mut a = Message::new();
        a.kv("id", id).kv("class", class);
        for l in ["groups", "cert_policy", "certs", "cacerts"] {
            a.list::<_, &str>(l, []);
        }
        a
    };
    let mut child = Message::new();
    child
        .kv("mode", &v.mode)
        .kv(
            "rekey_time",
            if c.rekey { child_rekey } else { 0 }.to_string(),
        )
        .kv("rekey_bytes", c.lifebytes.unwrap_or(0).to_string())
        .kv("rekey_packets", c.lifepackets.unwrap_or(0).to_string())
        .kv("dpd_action", dpd_name(c.dpdaction))
        .kv("close_action", dpd_name(c.closeaction))
        .list("local-ts", split(&v.local_ts))
        .list("remote-ts", split(&v.remote_ts));
    let mut children = Message::new();
    children.section(&c.name, child);
    let mut m = Message::new();
    m.list("local_addrs", split(&v.local_addrs))
        .list("remote_addrs", split(&v.remote_addrs))
        .kv("version", "IKEv2")
        // iked rekeys IKE_SAs, it does not reauthenticate them.
        .kv("reauth_time", "0")
        .kv(
            "rekey_time",
            if c.rekey { ike_rekey } else { 0 }.to_string(),
        )
        .kv("unique", unique);
    if c.dpdaction != conf::conn::DpdAction::None {
        m.kv("dpd_delay", c.dpddelay.as_secs().to_string());
    }
    m.section("local-1", auth(&v.local_id, &v.local_auth))
        .section("remote-1", auth(&v.remote_id, &v.remote_auth))
        .section("children", children);
    m
}

/// `timeout` in ms: 0 (or none) waits for the daemon, -1 not at all.
pub(super) enum Wait {
    Daemon,
    No,
    For(Duration),
}

impl Wait {
    pub(super) fn of(args: &Message) -> Wait {
        match args.get_str("timeout").and_then(|t| t.parse::<i64>().ok()) {
            None | Some(0) => Wait::Daemon,
            Some(n) if n < 0 => Wait::No,
            Some(n) => Wait::For(Duration::from_millis(n.unsigned_abs())),
        }
    }

    /// How long to wait for the daemon's answer (None: its own limit).
    pub(super) fn limit(&self) -> Option<Duration> {
        match self {
            Wait::Daemon => None,
            Wait::No => Some(Duration::ZERO),
            Wait::For(d) => Some(*d),
        }
    }
}

async fn initiate(
    args: &Message,
    q: &mpsc::Sender<Query>,
    out: &Out,
) -> Result<Message, ViciError> {
    let (name, kind) = match (args.get_str("child"), args.get_str("ike")) {
        (Some(c), _) => (c, "CHILD_SA"),
        (None, Some(i)) => (i, "IKE_SA"),
        (None, None) => return Ok(result(false, "missing configuration name")),
    };
    let s = snapshot(q).await?;
    if s.config.conn(name).is_none() {
        return Ok(result(false, &format!("{kind} config '{name}' not found")));
    }
    let req = Request::Up { conn: name.into() };
    let wait = Wait::of(args);
    if let Wait::No = wait {
        control(q, req, wait.limit()).await?;
        return Ok(result(true, ""));
    }
    let filter = ControlFilter {
        conn: name.into(),
        level: loglevel(args),
    };
    let r = control_logged(q, vec![req], wait.limit(), out, &filter).await?;
    Ok(match r.into_iter().next().flatten() {
        Some(r) => result(r.ok, &r.message),
        None => result(false, &format!("initiating '{name}' timed out")),
    })
}
