//! The VICI socket: binding, one task per client, packets in and out.
//!
//! A client may send any number of packets; commands are answered one at a
//! time, in order (the protocol has no sequence numbers). A malformed packet,
//! or one only a server sends, is logged and ends that client's connection
//! (its length was read, but nothing it waits for could be answered
//! correctly); it never reaches the daemon.

use super::codec::{self, Packet};
use super::commands::{self, EVENTS};
use super::events::{self, Hub, LogLine, Published, SA_EVENTS};
use super::{Out, Query, ViciError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// How long the rest of a packet may take once its length arrived.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound VICI socket.
#[derive(Debug)]
pub struct Listener {
    pub listener: UnixListener,
    pub path: PathBuf,
}

/// Binds the socket of `uri` (strongswan.conf's `charon.plugins.vici.socket`):
/// refuses if something answers there (a running charon or iked), removes a
/// stale socket, and makes it root-only like the control socket.
pub fn bind(uri: &str) -> Result<Listener, String> {
    let path = super::unix_path(uri)
        .ok_or_else(|| format!("vici socket '{uri}': only unix:// sockets are served"))?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(format!(
                "vici socket {} is in use by another daemon",
                path.display()
            ));
        }
        let _ = std::fs::remove_file(&path);
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            return Err(format!("vici socket {}: no such directory", path.display()));
        }
    }
    let listener = crate::daemon::private_socket::bind(&path)
        .map_err(|e| format!("unable to bind vici socket {}: {e}", path.display()))?;
    Ok(Listener { listener, path })
}

/// Accepts clients until the daemon goes away.
pub async fn accept_loop(l: Listener, q: mpsc::Sender<Query>, hub: Hub) {
    info!(target: "cfg", "vici socket {} ready", l.path.display());
    loop {
        match l.listener.accept().await {
            Ok((s, _)) => {
                if q.is_closed() {
                    return;
                }
                tokio::spawn(serve(s, q.clone(), hub.clone()));
            }
            Err(e) => {
                warn!(target: "cfg", "vici socket: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Removes the socket file, if it is still ours.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

async fn serve(s: UnixStream, q: mpsc::Sender<Query>, hub: Hub) {
    if !crate::daemon::server::peer_allowed(&s) {
        warn!(target: "cfg", "vici connection from an unprivileged user refused");
        return;
    }
    let (mut r, w) = s.into_split();
    let (tx, rx) = mpsc::channel(OUT_QUEUE);
    let writer = tokio::spawn(write_loop(w, rx));
    let out = Out::new(tx);
    let mut fwd = Forwarders::default();
    let r = session(&mut r, &out, &q, &hub, &mut fwd).await;
    fwd.stop();
    drop(out);
    let w = writer.await.unwrap_or(Ok(()));
    match r.and(w) {
        Ok(()) => debug!(target: "cfg", "vici client disconnected"),
        Err(e) => warn!(target: "cfg", "vici client dropped: {e}"),
    }
}

/// Packets queued for one client before its commands and events wait.
const OUT_QUEUE: usize = 64;

/// Writes a client's packets in the order they were queued.
async fn write_loop(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Packet>,
) -> Result<(), ViciError> {
    while let Some(p) = rx.recv().await {
        w.write_all(&p.frame()?).await?;
    }
    Ok(())
}

/// The tasks that pass published events to one client while it is
/// registered for them.
#[derive(Default)]
struct Forwarders {
    sa: Option<JoinHandle<()>>,
    log: Option<JoinHandle<()>>,
}

impl Forwarders {
    /// Starts or stops the forwarders for what `out` is registered for now.
    fn sync(&mut self, out: &Out, hub: &Hub) {
        let want_sa = out.any_registered(SA_EVENTS);
        match (&self.sa, want_sa) {
            (None, true) => self.sa = Some(tokio::spawn(forward_sa(hub.subscribe(), out.clone()))),
            (Some(_), false) => stop(&mut self.sa),
            _ => {}
        }
        let want_log = out.is_registered("log");
        match (&self.log, want_log) {
            (None, true) => {
                self.log = Some(tokio::spawn(forward_log(
                    events::subscribe_log(),
                    out.clone(),
                )))
            }
            (Some(_), false) => stop(&mut self.log),
            _ => {}
        }
    }

    fn stop(&mut self) {
        stop(&mut self.sa);
        stop(&mut self.log);
    }
}

fn stop(h: &mut Option<JoinHandle<()>>) {
    if let Some(h) = h.take() {
        h.abort();
    }
}

/// SA events for a client (a client too slow to read misses some; it does
/// not hold up the daemon).
async fn forward_sa(mut rx: broadcast::Receiver<Arc<Published>>, out: Out) {
    loop {
        match rx.recv().await {
            Ok(p) => {
                if out.event(p.name, p.message.clone()).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// `log` events for a client (never logs itself: that would feed itself).
async fn forward_log(mut rx: broadcast::Receiver<Arc<LogLine>>, out: Out) {
    loop {
        match rx.recv().await {
            Ok(l) => {
                if out.event("log", l.message(true)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Reads one packet; Ok(None) at a clean end of stream.
pub async fn read_packet<R: AsyncReadExt + Unpin>(r: &mut R) -> Result<Option<Packet>, ViciError> {
    let mut h = [0u8; 4];
    match r.read_exact(&mut h[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let body = async {
        r.read_exact(&mut h[1..]).await?;
        let n = codec::segment_len(h)?;
        let mut b = vec![0u8; n];
        r.read_exact(&mut b).await?;
        Ok::<_, ViciError>(b)
    };
    let b = tokio::time::timeout(BODY_TIMEOUT, body)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(Some(Packet::decode(&b)?))
}

async fn session(
    r: &mut OwnedReadHalf,
    out: &Out,
    q: &mpsc::Sender<Query>,
    hub: &Hub,
    fwd: &mut Forwarders,
) -> Result<(), ViciError> {
    while let Some(p) = read_packet(r).await? {
        match p {
            Packet::EventRegister(name) => {
                let ok = EVENTS.contains(&name.as_str());
                debug!(target: "cfg", "vici: register '{name}': {}", if ok { "ok" } else { "unknown event" });
                if ok {
                    out.register(&name);
                }
                let a = if ok {
                    Packet::EventConfirm
                } else {
                    Packet::EventUnknown
                };
                out.send(a).await?;
                fwd.sync(out, hub);
            }
            Packet::EventUnregister(name) => {
                let a = if out.unregister(&name) {
                    Packet::EventConfirm
                } else {
                    Packet::EventUnknown
                };
                fwd.sync(out, hub);
                out.send(a).await?;
            }
            Packet::CmdRequest { command, message } => {
                debug!(target: "cfg", "vici: command '{command}'");
                let a = match commands::handle(&command, &message, q, out).await? {
                    Some(m) => Packet::CmdResponse(m),
                    None => {
                        debug!(target: "cfg", "vici: unknown command '{command}'");
                        Packet::CmdUnknown
                    }
                };
                out.send(a).await?;
            }
            Packet::CmdResponse(_) => return Err(ViciError::Unexpected("CMD_RESPONSE")),
            Packet::CmdUnknown => return Err(ViciError::Unexpected("CMD_UNKNOWN")),
            Packet::EventConfirm => return Err(ViciError::Unexpected("EVENT_CONFIRM")),
            Packet::EventUnknown => return Err(ViciError::Unexpected("EVENT_UNKNOWN")),
            Packet::Event { .. } => return Err(ViciError::Unexpected("EVENT")),
        }
    }
    Ok(())
}
