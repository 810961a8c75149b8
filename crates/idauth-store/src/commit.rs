//! Group commit: many writers, one fsync.
//!
//! Writers apply their change to sled first, then ask for durability. A dedicated
//! thread takes every request waiting at that moment, calls `flush` (which fsyncs),
//! and answers them all; requests arriving during the fsync wait for the next one.
//! Every write therefore reaches disk before its acknowledgement, and under load the
//! cost of one fsync is shared by the whole batch.

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::error::{Result, StoreError};

/// How writes are made durable before they are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Concurrent writes share one fsync (the default).
    GroupCommit,
    /// Every write pays its own fsync (for comparison in benchmarks).
    FlushEach,
}

type Waiter = oneshot::Sender<std::result::Result<usize, String>>;

/// The group-commit thread of one store.
#[derive(Debug)]
pub struct GroupCommit {
    requests: Option<mpsc::Sender<Waiter>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flushing thread for `db`.
    pub fn start(db: sled::Db) -> std::io::Result<Self> {
        let (requests, queue) = mpsc::channel::<Waiter>();
        let thread = thread::Builder::new()
            .name("idauth-group-commit".into())
            .spawn(move || flush_loop(&db, &queue))?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Waits until everything written before this call is on disk. Returns how many
    /// writers shared the fsync.
    pub async fn durable(&self) -> Result<usize> {
        let (done, wait) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(|| StoreError::Flush("group commit closed".into()))?
            .send(done)
            .map_err(|_| StoreError::Flush("group-commit thread stopped".into()))?;
        match wait.await {
            Ok(Ok(batch)) => Ok(batch),
            Ok(Err(message)) => Err(StoreError::Flush(message)),
            Err(_) => Err(StoreError::Flush("group-commit thread stopped".into())),
        }
    }
}

impl Drop for GroupCommit {
    /// Closes the queue and waits for the thread, so that the database (which the
    /// thread holds) is closed and its lock released when the store is dropped.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn flush_loop(db: &sled::Db, queue: &mpsc::Receiver<Waiter>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter());
        let outcome = db
            .flush()
            .map(|_| batch.len())
            .map_err(|error| error.to_string());
        if let Err(error) = &outcome {
            tracing::error!(%error, "group commit flush failed");
        }
        for waiter in batch {
            // A writer that gave up (deadline) no longer listens; nothing to do.
            let _ = waiter.send(outcome.clone());
        }
    }
}
