//! The worker threads that run the core's responder key exchanges
//! (`sa::KeyJob`, see `sa/key_jobs.rs`), so that a flood of IKE_SA_INITs
//! does not stall the event loop, and the second core does the DH work.
//!
//! A key exchange goes to a worker only when the loop is busy
//! (`offload`): handing it over and back costs two thread wakeups and the
//! context switches with them, more than the key exchange itself on a host
//! with AES and a fast clock, so an IKE_SA_INIT that arrives alone is
//! answered by the loop at once.

use crate::sa::{KeyJob, KeyJobDone};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::warn;

/// The pool: jobs go in through `submit`, results come back on the
/// receiver `start` returned (read by the event loop).
#[derive(Debug)]
pub struct KeyWorkers {
    jobs: Option<Sender<KeyJob>>,
    threads: Vec<JoinHandle<()>>,
    /// Jobs submitted whose result the loop has not taken yet.
    in_flight: usize,
}

impl KeyWorkers {
    /// `n` threads (at least one).
    pub fn start(n: usize) -> std::io::Result<(KeyWorkers, UnboundedReceiver<KeyJobDone>)> {
        let (tx, rx) = channel::<KeyJob>();
        let (done_tx, done_rx) = unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let (rx, done_tx) = (rx.clone(), done_tx.clone());
            let t = std::thread::Builder::new()
                .name(format!("iked-kex{i}"))
                .spawn(move || work(&rx, &done_tx))?;
            threads.push(t);
        }
        Ok((
            KeyWorkers {
                jobs: Some(tx),
                threads,
                in_flight: 0,
            },
            done_rx,
        ))
    }

    /// How many threads run key exchanges.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Queues a job; gives it back if the workers are gone.
    pub fn submit(&mut self, job: KeyJob) -> Result<(), KeyJob> {
        let Some(tx) = &self.jobs else {
            return Err(job);
        };
        tx.send(job).map_err(|e| e.0)?;
        self.in_flight += 1;
        Ok(())
    }

    /// The loop took a job's result off the receiver.
    pub fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Whether the key exchange of the next datagram goes to a worker:
    /// when `queued` more datagrams wait behind it, or workers are still
    /// busy with earlier ones (a burst), and not otherwise.
    pub fn offload(&self, queued: usize) -> bool {
        self.jobs.is_some() && (queued > 0 || self.in_flight > 0)
    }
}

impl Drop for KeyWorkers {
    fn drop(&mut self) {
        // Closing the queue ends every worker after its current job.
        self.jobs = None;
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                warn!(target: "dmn", "a key exchange worker panicked");
            }
        }
    }
}

fn work(rx: &Mutex<Receiver<KeyJob>>, done: &UnboundedSender<KeyJobDone>) {
    let mut rng = super::os_random::OsRandom::new();
    loop {
        // The lock is held only while taking one job.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if done.send(job.run(&mut rng)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_start_and_stop() {
        let (w, _rx) = KeyWorkers::start(2).expect("threads");
        assert_eq!(w.threads(), 2);
        drop(w);
    }

    #[test]
    fn a_job_goes_to_a_worker_only_when_the_loop_is_busy() {
        let (mut w, _rx) = KeyWorkers::start(1).expect("threads");
        // alone: the loop does it
        assert!(!w.offload(0));
        // datagrams queued behind it: a worker
        assert!(w.offload(3));
        // a job out, nothing queued: still a worker (the burst goes on)
        w.in_flight = 1;
        assert!(w.offload(0));
        w.finished();
        assert!(!w.offload(0));
        // more results than jobs does not wrap around
        w.finished();
        assert!(!w.offload(0));
        // the workers gone: the loop, however busy
        w.jobs = None;
        assert!(!w.offload(5));
    }
}
