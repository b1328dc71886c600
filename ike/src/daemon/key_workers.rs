//! The worker threads that run the core's responder key exchanges
//! (`sa::KeyJob`, see `sa/key_jobs.rs`), so that a flood of IKE_SA_INITs
//! does not stall the event loop, and the second core does the DH work.

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
            },
            done_rx,
        ))
    }

    /// How many threads run key exchanges.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Queues a job; gives it back if the workers are gone.
    pub fn submit(&self, job: KeyJob) -> Result<(), KeyJob> {
        match &self.jobs {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
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
}
