//! The request/reply side: a NETLINK_XFRM socket in the caller's network namespace.
//!
//! XFRM requests are answered synchronously by the kernel, inside `sendmsg()`: when the
//! send returns, every reply is already queued on the socket. So the socket is
//! non-blocking, a missing reply is reported instead of waited for, and many requests
//! can go out in one datagram (pipelining) with their acks read afterwards.

use std::io;

use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkBuffer};
use netlink_packet_xfrm as nx;
use netlink_sys::{Socket, protocols::NETLINK_XFRM};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::types::*;
use crate::wire::{self, Kind, Req};

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const HDR: usize = 16;
/// Requests per datagram, and bytes per datagram, when pipelining.
const CHUNK_REQS: usize = 64;
const CHUNK_BYTES: usize = 48 * 1024;
const RX_BUF: usize = 64 * 1024;
/// Upper bound on receive calls for one dump (a dump of 1M objects fits well inside).
const MAX_DUMP_RECVS: usize = 1_000_000;

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// A batch of install/delete requests, sent pipelined by [`Xfrm::execute`].
///
/// Key material is encoded into zeroizing buffers when added.
#[derive(Default)]
pub struct Batch {
    reqs: Vec<Req>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({} requests)", self.reqs.len())
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }
    /// Number of requests.
    pub fn len(&self) -> usize {
        self.reqs.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
    /// Queues an SA add (XFRM_MSG_NEWSA).
    pub fn add_sa(&mut self, sa: &Sa) -> Result<()> {
        self.reqs.push(wire::sa_request(sa, false)?);
        Ok(())
    }
    /// Queues an SA update (XFRM_MSG_UPDSA).
    pub fn update_sa(&mut self, sa: &Sa) -> Result<()> {
        self.reqs.push(wire::sa_request(sa, true)?);
        Ok(())
    }
    /// Queues an SA delete.
    pub fn delete_sa(&mut self, id: &SaId) {
        self.reqs.push(wire::sa_id_request(id, false));
    }
    /// Queues a policy add (XFRM_MSG_NEWPOLICY).
    pub fn add_policy(&mut self, p: &Policy) -> Result<()> {
        self.reqs.push(wire::policy_request(p, false)?);
        Ok(())
    }
    /// Queues a policy update (XFRM_MSG_UPDPOLICY).
    pub fn update_policy(&mut self, p: &Policy) -> Result<()> {
        self.reqs.push(wire::policy_request(p, true)?);
        Ok(())
    }
    /// Queues a policy delete.
    pub fn delete_policy(&mut self, id: &PolicyId) -> Result<()> {
        self.reqs.push(wire::policy_id_request(id, false)?);
        Ok(())
    }
}

/// One reply: the data messages (type, body) that came before the ack.
type Reply = Vec<(u16, Zeroizing<Vec<u8>>)>;

/// A NETLINK_XFRM socket opened in the caller's network namespace.
pub struct Xfrm {
    sock: Socket,
    seq: u32,
    rx: Zeroizing<Vec<u8>>,
    tx: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Xfrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xfrm").field("seq", &self.seq).finish()
    }
}

impl Xfrm {
    /// Opens the socket (in the calling thread's network namespace).
    pub fn open() -> Result<Self> {
        let mut sock = Socket::new(NETLINK_XFRM)?;
        sock.bind_auto()?;
        // Acks carry only the header (no echo of the request, which may hold keys),
        // and errors carry the kernel's explanation. Old kernels lack these: ignore.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_rx_buf_sz(1 << 20);
        sock.set_non_blocking(true)?;
        Ok(Xfrm {
            sock,
            seq: 1,
            rx: Zeroizing::new(vec![0; RX_BUF]),
            tx: Zeroizing::new(Vec::with_capacity(CHUNK_BYTES + 4096)),
        })
    }

    /// Installs an SA. An SA with this (dst, SPI, protocol, mark) must not exist
    /// ([`Error::Exists`]); after [`Xfrm::alloc_spi`] use [`Xfrm::update_sa`].
    pub fn add_sa(&mut self, sa: &Sa) -> Result<()> {
        self.one(wire::sa_request(sa, false)?).map(drop)
    }

    /// Replaces an existing SA (or completes the larval SA of [`Xfrm::alloc_spi`]).
    pub fn update_sa(&mut self, sa: &Sa) -> Result<()> {
        self.one(wire::sa_request(sa, true)?).map(drop)
    }

    /// Deletes an SA.
    pub fn delete_sa(&mut self, id: &SaId) -> Result<()> {
        self.one(wire::sa_id_request(id, false)).map(drop)
    }

    /// Reads an SA: counters, current lifetime, configuration (never keys).
    pub fn get_sa(&mut self, id: &SaId) -> Result<SaInfo> {
        let what = id.to_string();
        let reply = self.one_answered(wire::sa_id_request(id, true))?;
        let m = first_decoded(reply, &what)?;
        wire::sa_info(m)
    }

    /// An SA whole, keys included (XFRM_MSG_GETSA answers them to
    /// CAP_NET_ADMIN), with its replay state: to send it again changed
    /// ([`Xfrm::update_sa`] for new UDP ports, [`Xfrm::add_sa`] elsewhere)
    /// instead of keeping a copy of its keys.
    pub fn read_sa(&mut self, id: &SaId) -> Result<Sa> {
        let what = id.to_string();
        let reply = self.one_answered(wire::sa_id_request(id, true))?;
        let m = first_decoded(reply, &what)?;
        wire::sa_whole(m)
    }

    /// Lists every SA (keys are wiped on receipt).
    pub fn list_sas(&mut self) -> Result<Vec<SaInfo>> {
        self.dump(true)?
            .into_iter()
            .map(|(ty, body)| decoded(ty, &body).and_then(wire::sa_info))
            .collect()
    }

    /// Deletes all SAs of one protocol, or of all IPsec protocols with `None`.
    pub fn flush_sas(&mut self, protocol: Option<Protocol>) -> Result<()> {
        self.one(wire::flush_sa_request(protocol)).map(drop)
    }

    /// Deletes every SA for which `keep` returns false; returns how many were deleted.
    /// The kernel can only flush by protocol; this lists and deletes.
    pub fn flush_sas_matching(&mut self, mut keep: impl FnMut(&SaInfo) -> bool) -> Result<usize> {
        let sas = self.list_sas()?;
        let mut batch = Batch::new();
        for s in sas.iter().filter(|s| !keep(s)) {
            batch.delete_sa(&SaId {
                dst: s.dst,
                spi: s.spi,
                protocol: s.protocol,
                mark: s.mark,
            });
        }
        let mut n = 0;
        for r in self.execute(&batch) {
            match r {
                Ok(()) => n += 1,
                // gone meanwhile (expired), or a larval SA without SPI
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Asks the kernel for an unused SPI in `[min, max]`; creates a larval SA that the
    /// kernel deletes after 30 s unless [`Xfrm::update_sa`] completes it. The kernel
    /// picks at random, about as many tries as the range is wide: a range that is
    /// mostly taken can fail ([`Error::NotFound`]) while SPIs are still free.
    pub fn alloc_spi(&mut self, req: &SpiRequest) -> Result<u32> {
        let r = wire::alloc_spi_request(req)?;
        let what = r.what.clone();
        let reply = self.one_answered(r)?;
        let m = first_decoded(reply, &what)?;
        let info = wire::sa_info(m)?;
        Ok(info.spi)
    }

    /// Installs a policy ([`Error::Exists`] if one with the same selector, direction,
    /// mark and if_id exists).
    pub fn add_policy(&mut self, p: &Policy) -> Result<()> {
        self.one(wire::policy_request(p, false)?).map(drop)
    }

    /// Installs or replaces a policy.
    pub fn update_policy(&mut self, p: &Policy) -> Result<()> {
        self.one(wire::policy_request(p, true)?).map(drop)
    }

    /// Deletes a policy.
    pub fn delete_policy(&mut self, id: &PolicyId) -> Result<()> {
        self.one(wire::policy_id_request(id, false)?).map(drop)
    }

    /// Reads a policy.
    pub fn get_policy(&mut self, id: &PolicyId) -> Result<PolicyInfo> {
        let what = id.to_string();
        let reply = self.one_answered(wire::policy_id_request(id, true)?)?;
        let m = first_decoded(reply, &what)?;
        wire::policy_info(m)
    }

    /// Lists every policy.
    pub fn list_policies(&mut self) -> Result<Vec<PolicyInfo>> {
        self.dump(false)?
            .into_iter()
            .map(|(ty, body)| decoded(ty, &body).and_then(wire::policy_info))
            .collect()
    }

    /// Deletes all (main-type) policies.
    pub fn flush_policies(&mut self) -> Result<()> {
        self.one(wire::flush_policy_request()).map(drop)
    }

    /// Sends a batch pipelined (many requests per datagram) and returns one result per
    /// request, in order. Only the last request of each datagram asks for an ack: the
    /// kernel answers a failed request anyway, in order, so every request before the
    /// last one's ack without an error of its own succeeded (one receive per
    /// datagram instead of one per request).
    pub fn execute(&mut self, batch: &Batch) -> Vec<Result<()>> {
        let mut out = Vec::with_capacity(batch.reqs.len());
        let mut start = 0;
        while start < batch.reqs.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < batch.reqs.len()
                && end - start < CHUNK_REQS
                && (end == start || bytes + HDR + batch.reqs[end].body.len() <= CHUNK_BYTES)
            {
                bytes += align4(HDR + batch.reqs[end].body.len());
                end += 1;
            }
            let refs: Vec<&Req> = batch.reqs[start..end].iter().collect();
            out.extend(
                self.transact(&refs, Acks::Last)
                    .into_iter()
                    .map(|r| r.map(drop)),
            );
            start = end;
        }
        out
    }

    fn one(&mut self, req: Req) -> Result<Reply> {
        self.transact(&[&req], Acks::Every)
            .pop()
            .unwrap_or_else(|| Err(Error::NoReply { what: req.what }))
    }

    /// A request the kernel answers with data (GET, ALLOCSPI): asked without an
    /// ack, it completes on that answer (or its error): one receive, not two.
    fn one_answered(&mut self, req: Req) -> Result<Reply> {
        self.transact(&[&req], Acks::Answer)
            .pop()
            .unwrap_or_else(|| Err(Error::NoReply { what: req.what }))
    }

    fn dump(&mut self, sa: bool) -> Result<Reply> {
        let req = wire::dump_request(sa);
        self.transact(&[&req], Acks::Dump)
            .pop()
            .unwrap_or_else(|| Err(Error::NoReply { what: req.what }))
    }

    /// Sends `reqs` in one datagram and collects one result per request.
    fn transact(&mut self, reqs: &[&Req], acks: Acks) -> Vec<Result<Reply>> {
        let base = self.seq;
        self.seq = self.seq.wrapping_add(reqs.len() as u32 + 1);
        self.tx.clear();
        for (i, r) in reqs.iter().enumerate() {
            let len = HDR + r.body.len();
            let ack = if acks == Acks::Answer || (acks == Acks::Last && i + 1 < reqs.len()) {
                0
            } else {
                NLM_F_ACK
            };
            let flags = NLM_F_REQUEST | ack | r.flags;
            self.tx.extend_from_slice(&(len as u32).to_ne_bytes());
            self.tx.extend_from_slice(&r.ty.to_ne_bytes());
            self.tx.extend_from_slice(&flags.to_ne_bytes());
            self.tx
                .extend_from_slice(&base.wrapping_add(i as u32).to_ne_bytes());
            self.tx.extend_from_slice(&0u32.to_ne_bytes());
            self.tx.extend_from_slice(&r.body);
            let pad = align4(len) - len;
            self.tx.extend_from_slice(&[0u8; 3][..pad]);
        }
        let sent = self.sock.send(&self.tx, 0);
        self.tx.zeroize();
        if let Err(e) = sent {
            let msg = e.to_string();
            return reqs
                .iter()
                .map(|_| Err(Error::Io(io::Error::new(e.kind(), msg.clone()))))
                .collect();
        }
        let mut results: Vec<Option<Result<Reply>>> = (0..reqs.len()).map(|_| None).collect();
        let mut replies: Vec<Reply> = (0..reqs.len()).map(|_| Vec::new()).collect();
        let mut pending = reqs.len();
        let mut recvs = 0;
        while pending > 0 && recvs < MAX_DUMP_RECVS {
            recvs += 1;
            let n = {
                let mut slice: &mut [u8] = &mut self.rx[..];
                match self.sock.recv(&mut slice, 0) {
                    Ok(n) => n.min(RX_BUF),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let msg = e.to_string();
                        for r in results.iter_mut().filter(|r| r.is_none()) {
                            *r = Some(Err(Error::Io(io::Error::new(e.kind(), msg.clone()))));
                        }
                        break;
                    }
                }
            };
            pending -= absorb(&self.rx[..n], base, reqs, acks, &mut results, &mut replies);
            self.rx[..n].zeroize();
        }
        results
            .into_iter()
            .zip(reqs)
            .map(|(r, q)| {
                r.unwrap_or_else(|| {
                    Err(Error::NoReply {
                        what: q.what.clone(),
                    })
                })
            })
            .collect()
    }
}

/// Which requests of a datagram ask for an ack (`NLM_F_ACK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acks {
    /// Every one: each completes on its ack (or error).
    Every,
    /// Only the last: its ack completes every request before it that had no error.
    Last,
    /// A dump: it completes on NLMSG_DONE.
    Dump,
    /// None: each completes on its (first) data answer, or its error.
    Answer,
}

/// Files the messages of one received datagram under the requests they answer
/// (by sequence number). Returns how many requests it completed. Never panics.
fn absorb(
    data: &[u8],
    base: u32,
    reqs: &[&Req],
    acks: Acks,
    results: &mut [Option<Result<Reply>>],
    replies: &mut [Reply],
) -> usize {
    let dump = acks == Acks::Dump;
    let mut done = 0;
    let mut off = 0;
    while off + HDR <= data.len() {
        let Ok(nl) = NetlinkBuffer::new_checked(&data[off..]) else {
            break;
        };
        let len = nl.length() as usize;
        let (ty, flags, seq) = (nl.message_type(), nl.flags(), nl.sequence_number());
        let body = &data[off + HDR..off + len];
        off += align4(len).max(HDR);
        let idx = seq.wrapping_sub(base) as usize;
        if idx >= reqs.len() || idx >= results.len() || idx >= replies.len() {
            continue;
        }
        if results[idx].is_some() {
            continue;
        }
        match ty {
            NLMSG_ERROR => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(-libc::EBADMSG);
                let r = if code == 0 {
                    Ok(std::mem::take(&mut replies[idx]))
                } else {
                    let msg = extack_message(flags, body);
                    Err(map_error(reqs[idx], code.wrapping_neg(), msg))
                };
                results[idx] = Some(r);
                done += 1;
                if acks == Acks::Last && idx + 1 == reqs.len() {
                    // processed in order: the ones before without an error succeeded
                    for (res, rep) in results.iter_mut().zip(replies.iter_mut()).take(idx) {
                        if res.is_none() {
                            *res = Some(Ok(std::mem::take(rep)));
                            done += 1;
                        }
                    }
                }
            }
            NLMSG_DONE if dump => {
                results[idx] = Some(Ok(std::mem::take(&mut replies[idx])));
                done += 1;
            }
            NLMSG_NOOP | NLMSG_DONE => {}
            NLMSG_OVERRUN => {
                results[idx] = Some(Err(Error::Malformed("netlink overrun: reply lost".into())));
                done += 1;
            }
            // a data reply (GET, ALLOCSPI, dump part); the ack or DONE follows,
            // unless no ack was asked for
            _ => {
                replies[idx].push((ty, Zeroizing::new(body.to_vec())));
                if acks == Acks::Answer {
                    results[idx] = Some(Ok(std::mem::take(&mut replies[idx])));
                    done += 1;
                }
            }
        }
    }
    done
}

fn decoded(ty: u16, body: &[u8]) -> Result<nx::XfrmMessage> {
    wire::decode(ty, body)?
        .ok_or_else(|| Error::Malformed(format!("unexpected XFRM message type {ty}")))
}

fn first_decoded(reply: Reply, what: &str) -> Result<nx::XfrmMessage> {
    let Some((ty, body)) = reply.into_iter().next() else {
        return Err(Error::Malformed(format!("no data in the reply for {what}")));
    };
    decoded(ty, &body)
}

/// The kernel's extended-ack text, if the error carries one.
fn extack_message(flags: u16, body: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || body.len() < 4 + HDR {
        return None;
    }
    let orig_len = u32::from_ne_bytes(body[4..8].try_into().ok()?) as usize;
    let mut off = 4usize.saturating_add(if flags & NLM_F_CAPPED != 0 {
        HDR
    } else {
        align4(orig_len.max(HDR))
    });
    while off.saturating_add(4) <= body.len() {
        let l = u16::from_ne_bytes([body[off], body[off + 1]]) as usize;
        let t = u16::from_ne_bytes([body[off + 2], body[off + 3]]) & 0x3fff;
        if l < 4 || off + l > body.len() {
            break;
        }
        if t == NLMSGERR_ATTR_MSG {
            let v = &body[off + 4..off + l];
            let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
            return Some(String::from_utf8_lossy(&v[..end]).into_owned());
        }
        off += align4(l);
    }
    None
}

fn map_error(req: &Req, errno: i32, message: Option<String>) -> Error {
    let what = req.what.clone();
    match errno {
        libc::EEXIST => Error::Exists { what },
        libc::ENOENT | libc::ESRCH => Error::NotFound { what },
        libc::EPERM | libc::EACCES => Error::PermissionDenied { what },
        libc::EPROTONOSUPPORT if req.kind == Kind::InstallSa => Error::NoEsp { what },
        libc::ENOSYS if req.kind == Kind::InstallSa && !req.algs.is_empty() => {
            // The kernel's message says which kind it could not find.
            let m = message.as_deref().unwrap_or("").to_ascii_lowercase();
            let role = if m.contains("aead") {
                Some("aead")
            } else if m.contains("crypt") {
                Some("encryption")
            } else if m.contains("auth") {
                Some("integrity")
            } else {
                None
            };
            let pick = role
                .and_then(|r| req.algs.iter().find(|(_, rr)| *rr == r))
                .or_else(|| (req.algs.len() == 1).then(|| &req.algs[0]));
            match pick {
                Some((name, role)) => Error::UnknownAlgorithm {
                    name: name.clone(),
                    role,
                    what,
                },
                None => Error::UnknownAlgorithm {
                    name: req
                        .algs
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    role: "encryption/integrity",
                    what,
                },
            }
        }
        _ => Error::Kernel {
            what,
            errno,
            message,
        },
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn error_for(req: &Req, errno: i32, msg: Option<String>) -> Error {
        map_error(req, errno, msg)
    }

    pub(crate) fn extack_for(flags: u16, body: &[u8]) -> Option<String> {
        extack_message(flags, body)
    }

    /// Feeds one datagram to the reply matcher for `n` requests starting at `base`.
    pub(crate) fn absorb_for(data: &[u8], base: u32, n: usize, acks: Acks) -> Vec<Option<bool>> {
        let reqs: Vec<Req> = (0..n).map(|_| wire::flush_policy_request()).collect();
        let refs: Vec<&Req> = reqs.iter().collect();
        let mut results: Vec<Option<Result<Reply>>> = (0..n).map(|_| None).collect();
        let mut replies: Vec<Reply> = (0..n).map(|_| Vec::new()).collect();
        let done = absorb(data, base, &refs, acks, &mut results, &mut replies);
        assert_eq!(done, results.iter().filter(|r| r.is_some()).count());
        results.into_iter().map(|r| r.map(|r| r.is_ok())).collect()
    }
}
