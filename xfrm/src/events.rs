//! Kernel events (ACQUIRE, EXPIRE, POLEXPIRE, MAPPING) as an async tokio stream.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use netlink_packet_core::NetlinkBuffer;
use netlink_sys::{Socket, protocols::NETLINK_XFRM};
use tokio::io::unix::AsyncFd;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::types::Event;
use crate::wire;

const XFRMNLGRP_ACQUIRE: u32 = 1;
const XFRMNLGRP_EXPIRE: u32 = 2;
const XFRMNLGRP_MAPPING: u32 = 8;
const RX_BUF: usize = 64 * 1024;

/// A subscription to the XFRM multicast groups ACQUIRE, EXPIRE (SA and policy expiry)
/// and MAPPING, in the caller's network namespace.
///
/// Use [`EventStream::next`] or the [`futures_core::Stream`] impl. An
/// [`Error::EventsLost`] item means the kernel dropped events (socket buffer full);
/// the stream goes on.
pub struct EventStream {
    fd: AsyncFd<Socket>,
    queue: VecDeque<Result<Event>>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl EventStream {
    /// Subscribes. Must be called inside a tokio runtime with IO enabled (an
    /// [`Error::Io`] otherwise, not a panic).
    pub fn open() -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Io(io::Error::other(
                "EventStream::open needs a tokio runtime",
            )));
        }
        let mut sock = Socket::new(NETLINK_XFRM)?;
        sock.bind_auto()?;
        let _ = sock.set_rx_buf_sz(4 << 20);
        for g in [XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_MAPPING] {
            sock.add_membership(g)?;
        }
        sock.set_non_blocking(true)?;
        // SAFETY: `Socket` owns its file descriptor: it is open from `Socket::new` until
        // the `Socket` is dropped, which happens only when the `AsyncFd` that owns it is
        // dropped, and `as_raw_fd()` always returns that same descriptor.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| Error::Io(e.into()))?;
        Ok(EventStream {
            fd,
            queue: VecDeque::new(),
            buf: vec![0; RX_BUF],
        })
    }

    /// The next event.
    pub async fn next(&mut self) -> Result<Event> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event>> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Poll::Ready(e);
            }
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let buf = &mut self.buf;
            let res = guard.try_io(|s| {
                let mut slice: &mut [u8] = &mut buf[..];
                s.get_ref().recv(&mut slice, 0)
            });
            match res {
                Err(_would_block) => continue,
                Ok(Ok(n)) => {
                    let n = n.min(RX_BUF);
                    parse_datagram(&self.buf[..n], &mut self.queue);
                    self.buf[..n].zeroize();
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Poll::Ready(Err(Error::EventsLost));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
            }
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<Event>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx).map(Some)
    }
}

/// Splits one datagram into events; undecodable messages become `Malformed` items,
/// message types that are not events are skipped. Never panics.
pub(crate) fn parse_datagram(mut data: &[u8], out: &mut VecDeque<Result<Event>>) {
    while data.len() >= 16 {
        let Ok(nl) = NetlinkBuffer::new_checked(data) else {
            out.push_back(Err(Error::Malformed("bad netlink header in event".into())));
            return;
        };
        let len = nl.length() as usize;
        let ty = nl.message_type();
        let body = &data[16..len];
        match wire::decode_event(ty, body) {
            Ok(Some(ev)) => out.push_back(Ok(ev)),
            Ok(None) => {}
            Err(e) => out.push_back(Err(e)),
        }
        let adv = ((len + 3) & !3).max(16);
        data = data.get(adv..).unwrap_or(&[]);
    }
}
