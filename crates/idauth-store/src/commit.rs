//! Group commit: many writers, one fsync; audit entries appended by the same thread.
//!
//! Writers apply their change to sled first, then ask for durability, handing over
//! the change's audit entry if it has one. A dedicated thread takes every request
//! waiting at that moment, links their audit entries into their stores' chains (and
//! sets each resident's latest entry in sled), calls sled's `flush` and then
//! `fdatasync` on sled's data file (sled's own flush stops at `sync_file_range`,
//! which is not durable against a power cut), then writes and syncs the entries in
//! each store's journal ([`crate::journal`]: an entry is never on disk before the
//! write it records), and answers them all;
//! requests arriving during the fsync wait for the next one. Every write therefore
//! reaches disk before its acknowledgement, and under load one fsync is shared by the
//! whole batch.
//!
//! The first failed flush or sync stops the engine for writes until the process
//! restarts: sled keeps the error and fails every later write anyway, and after a
//! failed fsync the kernel's page cache no longer says what reached the disk
//! (PostgreSQL stops for the same reason). Later requests are refused at once with
//! [`StoreError::Stopped`] instead of each trying sled again.
//!
//! Appending here rather than in the writer keeps disk writes off the async reactor,
//! and lets one thread own the chain's head without contention. A journal that fails
//! to write or sync stops the engine as a failed flush does.

use std::sync::{Arc, OnceLock, mpsc};
use std::thread;

use tokio::sync::oneshot;

use crate::audit::AuditRecord;
use crate::audit_log::{self, AuditLog, Staged};
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

/// What the group commit syncs after sled's flush: sled's files
/// ([`crate::sled_files::SledFiles`]), or in tests a stand-in whose sync fails or is
/// slow, to show that nothing is acknowledged before it returns.
pub(crate) trait DataSync: Send + 'static {
    /// Makes the data durable (`fdatasync`).
    fn sync_data(&mut self) -> std::io::Result<()>;
}

impl DataSync for std::fs::File {
    fn sync_data(&mut self) -> std::io::Result<()> {
        std::fs::File::sync_data(self)
    }
}

/// What one durability request was answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Committed {
    /// Requests that shared the fsync, this one included.
    pub batch: usize,
    /// The sequence number of the request's audit entry, if it handed one over.
    pub seq: Option<u64>,
}

/// An entry for the chain of one store.
type Entry = (Arc<AuditLog>, AuditRecord);

struct Request {
    audit: Option<Entry>,
    done: oneshot::Sender<std::result::Result<Committed, String>>,
}

/// The group-commit thread of one engine.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    requests: Option<mpsc::Sender<Request>>,
    /// Why the engine stopped writing, once a flush or sync failed.
    stopped: Arc<OnceLock<String>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flushing thread for `db`.
    pub(crate) fn start(
        db: sled::Db,
        data_file: impl DataSync,
        durability: Durability,
    ) -> std::io::Result<Self> {
        let (requests, queue) = mpsc::channel::<Request>();
        let stopped = Arc::new(OnceLock::new());
        let stop = Arc::clone(&stopped);
        let thread = thread::Builder::new()
            .name("idauth-group-commit".into())
            .spawn(move || flush_loop(&db, data_file, durability, &queue, &stop))?;
        Ok(Self {
            requests: Some(requests),
            stopped,
            thread: Some(thread),
        })
    }

    /// Appends `audit` (if any) and waits until it and everything written before this
    /// call are on disk.
    pub(crate) async fn commit(&self, audit: Option<Entry>) -> Result<Committed> {
        self.check_writable()?;
        let (done, wait) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(|| StoreError::Flush("group commit closed".into()))?
            .send(Request { audit, done })
            .map_err(|_| StoreError::Flush("group-commit thread stopped".into()))?;
        match wait.await {
            Ok(Ok(committed)) => Ok(committed),
            Ok(Err(message)) => Err(StoreError::Flush(message)),
            Err(_) => Err(StoreError::Flush("group-commit thread stopped".into())),
        }
    }
}

impl GroupCommit {
    /// [`StoreError::Stopped`] once a flush or sync has failed.
    pub(crate) fn check_writable(&self) -> Result<()> {
        match self.stopped.get() {
            Some(why) => Err(StoreError::Stopped(why.clone())),
            None => Ok(()),
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

fn flush_loop(
    db: &sled::Db,
    mut data_file: impl DataSync,
    durability: Durability,
    queue: &mpsc::Receiver<Request>,
    stopped: &OnceLock<String>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        if durability == Durability::GroupCommit {
            batch.extend(queue.try_iter());
        }
        let (order, staged) = stage_entries(&mut batch);
        // Flushed even when staging failed: the other writers' changes are in sled
        // and still need their fsync.
        let flushed = db
            .flush()
            .map(|_| ())
            .map_err(|error| error.to_string())
            .and_then(|()| {
                data_file
                    .sync_data()
                    .map_err(|error| format!("fdatasync of sled's files: {error}"))
            });
        let seqs = match (&flushed, staged) {
            (Ok(()), staged) => write_entries(batch.len(), &order, staged, stopped),
            (Err(_), _) => vec![None; batch.len()],
        };
        if let Err(error) = &flushed
            && stopped.set(error.clone()).is_ok()
        {
            tracing::error!(
                %error,
                "storage engine stopped: a flush to disk failed; writes and verifies are refused (STORAGE_FAILURE) until the service restarts; every write acknowledged before is on disk"
            );
        }
        let size = batch.len();
        for (request, seq) in batch.into_iter().zip(seqs) {
            let answer = match (&flushed, seq) {
                (Err(error), _) => Err(error.clone()),
                (Ok(()), Some(Err(error))) => Err(error),
                (Ok(()), seq) => Ok(Committed {
                    batch: size,
                    seq: seq.and_then(std::result::Result::ok),
                }),
            };
            // A writer that gave up (deadline) no longer listens; nothing to do.
            let _ = request.done.send(answer);
        }
    }
}

/// Links the batch's entries, each store's in request order, and stages them in
/// sled: which requests handed an entry over, in the order [`audit_log::write`]
/// answers (store by store, in request order), and the staged batches or why
/// staging failed.
fn stage_entries(batch: &mut [Request]) -> (Vec<usize>, std::result::Result<Vec<Staged>, String>) {
    // Per store: its log, and the requests whose entries go to it, in order.
    let mut groups: Vec<(Arc<AuditLog>, Vec<usize>, Vec<AuditRecord>)> = Vec::new();
    for (i, request) in batch.iter_mut().enumerate() {
        let Some((log, record)) = request.audit.take() else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(other, _, _)| Arc::ptr_eq(other, &log))
        {
            Some((_, indices, records)) => {
                indices.push(i);
                records.push(record);
            }
            None => groups.push((log, vec![i], vec![record])),
        }
    }
    let order: Vec<usize> = groups
        .iter()
        .flat_map(|(_, indices, _)| indices.iter().copied())
        .collect();
    let staged = audit_log::stage(
        groups
            .into_iter()
            .map(|(log, _, records)| (log, records))
            .collect(),
    )
    .map_err(|error| {
        tracing::error!(%error, entries = order.len(), "audit staging failed");
        error.to_string()
    });
    (order, staged)
}

/// Writes the staged entries to their journals; what each request's entry became
/// (`None`: it had none). A journal that fails stops the engine.
fn write_entries(
    requests: usize,
    order: &[usize],
    staged: std::result::Result<Vec<Staged>, String>,
    stopped: &OnceLock<String>,
) -> Vec<Option<std::result::Result<u64, String>>> {
    let mut seqs = vec![None; requests];
    let written = staged.and_then(|staged| {
        audit_log::write(staged).map_err(|error| {
            let error = format!("writing the audit journal: {error}");
            if stopped.set(error.clone()).is_ok() {
                tracing::error!(
                    %error,
                    "storage engine stopped: the audit journal could not be written or synced; writes and verifies are refused (STORAGE_FAILURE) until the service restarts"
                );
            }
            error
        })
    });
    match written {
        Ok(numbers) => {
            for (&i, seq) in order.iter().zip(numbers.into_iter().flatten()) {
                seqs[i] = Some(Ok(seq));
            }
        }
        Err(error) => {
            for &i in order {
                seqs[i] = Some(Err(error.clone()));
            }
        }
    }
    seqs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(data_file: impl DataSync) -> (tempfile::TempDir, sled::Db, GroupCommit) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let commit = GroupCommit::start(db.clone(), data_file, Durability::GroupCommit).unwrap();
        (dir, db, commit)
    }

    #[tokio::test]
    async fn a_write_is_acknowledged_only_after_its_data_file_syncs() {
        let (dir, db, commit) = group(tempfile::tempfile().unwrap());
        db.insert(b"k", b"v").unwrap();
        assert_eq!(commit.commit(None).await.unwrap().batch, 1);
        drop((commit, db, dir));

        // A data file whose sync fails (a character device cannot fdatasync): sled's
        // own flush succeeds, and still nothing is acknowledged.
        let (_dir, db, commit) = group(std::fs::File::open("/dev/null").unwrap());
        db.insert(b"k", b"v").unwrap();
        let error = commit.commit(None).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Flush(message) if message.contains("fdatasync")),
            "{error:?}"
        );
        // The engine has stopped: later writes are refused without another try.
        let error = commit.commit(None).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Stopped(why) if why.contains("fdatasync")),
            "{error:?}"
        );
    }

    /// A data file whose every sync takes `delay`, recording when each began and ended.
    struct SlowSync {
        file: std::fs::File,
        delay: std::time::Duration,
        syncs: Arc<std::sync::Mutex<Vec<(std::time::Instant, std::time::Instant)>>>,
    }

    impl DataSync for SlowSync {
        fn sync_data(&mut self) -> std::io::Result<()> {
            let began = std::time::Instant::now();
            std::thread::sleep(self.delay);
            let result = self.file.sync_data();
            self.syncs
                .lock()
                .unwrap()
                .push((began, std::time::Instant::now()));
            result
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_sync_delays_every_acknowledgement_until_a_sync_after_its_write_ends() {
        let delay = std::time::Duration::from_millis(150);
        let syncs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let slow = SlowSync {
            file: tempfile::tempfile().unwrap(),
            delay,
            syncs: Arc::clone(&syncs),
        };
        let (_dir, db, commit) = group(slow);
        let commit = Arc::new(commit);
        // Writers arrive while syncs are under way, so some wait for the next one.
        let mut writers = Vec::new();
        for i in 0u32..12 {
            let (db, commit) = (db.clone(), Arc::clone(&commit));
            writers.push(tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(i) * 25)).await;
                db.insert(i.to_be_bytes(), b"v".as_slice()).unwrap();
                let written = std::time::Instant::now();
                commit.commit(None).await.unwrap();
                (written, std::time::Instant::now())
            }));
        }
        for writer in writers {
            let (written, acknowledged) = writer.await.unwrap();
            assert!(
                acknowledged.duration_since(written) >= delay,
                "acknowledged {:?} after the write, sooner than one sync takes",
                acknowledged.duration_since(written)
            );
            let syncs = syncs.lock().unwrap();
            assert!(
                syncs
                    .iter()
                    .any(|&(began, ended)| began >= written && ended <= acknowledged),
                "no sync began after the write and ended before its acknowledgement"
            );
        }
        assert!(
            syncs.lock().unwrap().len() < 12,
            "writers waiting together share a sync"
        );
    }
}
