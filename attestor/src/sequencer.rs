//! The batching sequencer: submissions queue up and are appended to the log in batches of at most
//! `max_batch` entries, at most `max_delay` after the first entry of the batch arrived. A batch is
//! one durable append (one round of fsyncs and one new signed checkpoint), so throughput grows with
//! load while an idle log still answers within `max_delay` plus one append.
//!
//! Every submitter waits for its own receipt, which the backend hands out only once the batch is
//! durable and covered by a checkpoint: the write API answers after that, never before.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Mutex};

/// What the sequencer appends to.
pub trait Backend: Send + 'static {
    /// What each submitter gets back (index, proof, checkpoint...).
    type Receipt: Send + 'static;
    /// Appends `entries` durably, in order, returning one receipt per entry. An `Err` fails every
    /// submitter of the batch and must leave the log as it was before the call.
    fn append(&mut self, entries: &[Vec<u8>]) -> Result<Vec<Self::Receipt>, String>;
}

/// Batch limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most entries in one append.
    pub max_batch: usize,
    /// Longest wait from the first queued entry to the append.
    pub max_delay: Duration,
    /// Submissions that may wait in the queue; beyond it, `submit` waits for room.
    pub queue: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch: 512,
            max_delay: Duration::from_millis(25),
            queue: 16_384,
        }
    }
}

/// Why a submission got no receipt.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SequencerError {
    #[error("the log could not append the batch: {0}")]
    Append(String),
    #[error("the sequencer has stopped")]
    Stopped,
}

struct Job<R> {
    entry: Vec<u8>,
    reply: oneshot::Sender<Result<R, SequencerError>>,
}

/// A handle on the sequencer task; cheap to clone.
pub struct Sequencer<R> {
    tx: mpsc::Sender<Job<R>>,
}

impl<R> Clone for Sequencer<R> {
    fn clone(&self) -> Self {
        Sequencer {
            tx: self.tx.clone(),
        }
    }
}

impl<R> std::fmt::Debug for Sequencer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").finish_non_exhaustive()
    }
}

impl<R: Send + 'static> Sequencer<R> {
    /// Starts the sequencer task on the current tokio runtime. The backend's appends run on the
    /// blocking pool (they fsync).
    pub fn start<B>(backend: B, cfg: BatchConfig) -> Sequencer<R>
    where
        B: Backend<Receipt = R>,
    {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        tokio::spawn(run(Arc::new(Mutex::new(backend)), rx, cfg));
        Sequencer { tx }
    }

    /// Queues `entry` and waits until it is durably in the log.
    pub async fn submit(&self, entry: Vec<u8>) -> Result<R, SequencerError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { entry, reply })
            .await
            .map_err(|_| SequencerError::Stopped)?;
        answer.await.map_err(|_| SequencerError::Stopped)?
    }
}

async fn run<B: Backend>(
    backend: Arc<Mutex<B>>,
    mut rx: mpsc::Receiver<Job<B::Receipt>>,
    cfg: BatchConfig,
) {
    let max = cfg.max_batch.max(1);
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + cfg.max_delay;
        let mut jobs = vec![first];
        while jobs.len() < max {
            // Take whatever is already queued without waiting, then wait until the deadline.
            match rx.try_recv() {
                Ok(j) => {
                    jobs.push(j);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(j)) => jobs.push(j),
                Ok(None) | Err(_) => break,
            }
        }
        let (entries, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.entry, j.reply)).unzip();
        let backend = backend.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut b = backend.blocking_lock();
            b.append(&entries)
        })
        .await;
        let result = match result {
            Ok(Ok(receipts)) if receipts.len() == replies.len() => Ok(receipts),
            Ok(Ok(receipts)) => Err(SequencerError::Append(format!(
                "the backend returned {} receipts for {} entries",
                receipts.len(),
                replies.len()
            ))),
            Ok(Err(e)) => Err(SequencerError::Append(e)),
            Err(e) => Err(SequencerError::Append(format!("append task failed: {e}"))),
        };
        match result {
            Ok(receipts) => {
                for (reply, r) in replies.into_iter().zip(receipts) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records batch sizes; fails batches containing "fail".
    struct Recorder {
        batches: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
        next: u64,
    }

    impl Backend for Recorder {
        type Receipt = u64;
        fn append(&mut self, entries: &[Vec<u8>]) -> Result<Vec<u64>, String> {
            if entries.iter().any(|e| e == b"fail") {
                return Err("refused".into());
            }
            self.batches.lock().unwrap().push(entries.len());
            let first = self.next;
            self.next += entries.len() as u64;
            Ok((first..self.next).collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_submissions_are_batched_and_each_gets_its_own_index() {
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seq = Sequencer::start(
            Recorder {
                batches: batches.clone(),
                next: 0,
            },
            BatchConfig {
                max_batch: 64,
                max_delay: Duration::from_millis(50),
                queue: 1024,
            },
        );
        let mut tasks = Vec::new();
        for i in 0..500u32 {
            let s = seq.clone();
            tasks.push(tokio::spawn(async move {
                s.submit(i.to_be_bytes().to_vec()).await
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap().unwrap());
        }
        got.sort_unstable();
        assert_eq!(
            got,
            (0..500).collect::<Vec<_>>(),
            "every entry exactly once"
        );
        let b = batches.lock().unwrap();
        assert!(b.iter().all(|&n| n <= 64), "max_batch respected: {b:?}");
        assert!(
            b.len() < 100,
            "submissions were batched: {} batches",
            b.len()
        );
    }

    #[tokio::test]
    async fn a_lone_entry_waits_at_most_the_delay() {
        let seq = Sequencer::start(
            Recorder {
                batches: Default::default(),
                next: 7,
            },
            BatchConfig {
                max_batch: 1000,
                max_delay: Duration::from_millis(30),
                queue: 10,
            },
        );
        let t = std::time::Instant::now();
        assert_eq!(seq.submit(b"x".to_vec()).await, Ok(7));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_failed_append_fails_its_batch_and_the_log_goes_on() {
        let seq = Sequencer::start(
            Recorder {
                batches: Default::default(),
                next: 0,
            },
            BatchConfig {
                max_batch: 1,
                max_delay: Duration::from_millis(1),
                queue: 10,
            },
        );
        assert_eq!(
            seq.submit(b"fail".to_vec()).await,
            Err(SequencerError::Append("refused".into()))
        );
        assert_eq!(seq.submit(b"ok".to_vec()).await, Ok(0));
    }
}
