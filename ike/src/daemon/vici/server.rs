//! The VICI socket: binding, one task per client, packets in and out.
//!
//! A client may send any number of packets; commands are answered one at a
//! time, in order (the protocol has no sequence numbers). A malformed packet,
//! or one only a server sends, is logged and ends that client's connection
//! (its length was read, but nothing it waits for could be answered
//! correctly); it never reaches the daemon.

use super::codec::{self, Packet};
use super::commands::{self, EVENTS};
use super::{Query, ViciError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
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
pub async fn accept_loop(l: Listener, q: mpsc::Sender<Query>) {
    info!(target: "cfg", "vici socket {} ready", l.path.display());
    loop {
        match l.listener.accept().await {
            Ok((s, _)) => {
                if q.is_closed() {
                    return;
                }
                tokio::spawn(serve(s, q.clone()));
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

async fn serve(s: UnixStream, q: mpsc::Sender<Query>) {
    if !crate::daemon::server::peer_allowed(&s) {
        warn!(target: "cfg", "vici connection from an unprivileged user refused");
        return;
    }
    let (mut r, mut w) = s.into_split();
    match session(&mut r, &mut w, &q).await {
        Ok(()) => debug!(target: "cfg", "vici client disconnected"),
        Err(e) => warn!(target: "cfg", "vici client dropped: {e}"),
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

async fn send(w: &mut OwnedWriteHalf, p: &Packet) -> Result<(), ViciError> {
    w.write_all(&p.frame()?).await?;
    Ok(())
}

async fn session(
    r: &mut OwnedReadHalf,
    w: &mut OwnedWriteHalf,
    q: &mpsc::Sender<Query>,
) -> Result<(), ViciError> {
    let mut registered: HashSet<String> = HashSet::new();
    while let Some(p) = read_packet(r).await? {
        match p {
            Packet::EventRegister(name) => {
                let ok = EVENTS.contains(&name.as_str());
                debug!(target: "cfg", "vici: register '{name}': {}", if ok { "ok" } else { "unknown event" });
                if ok {
                    registered.insert(name);
                }
                let a = if ok {
                    Packet::EventConfirm
                } else {
                    Packet::EventUnknown
                };
                send(w, &a).await?;
            }
            Packet::EventUnregister(name) => {
                let a = if registered.remove(&name) {
                    Packet::EventConfirm
                } else {
                    Packet::EventUnknown
                };
                send(w, &a).await?;
            }
            Packet::CmdRequest { command, message } => {
                debug!(target: "cfg", "vici: command '{command}'");
                let h = commands::handle(&command, &message, q).await?;
                for (name, m) in h.events {
                    if registered.contains(name) {
                        send(
                            w,
                            &Packet::Event {
                                name: name.into(),
                                message: m,
                            },
                        )
                        .await?;
                    }
                }
                let a = match h.response {
                    Some(m) => Packet::CmdResponse(m),
                    None => {
                        debug!(target: "cfg", "vici: unknown command '{command}'");
                        Packet::CmdUnknown
                    }
                };
                send(w, &a).await?;
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
