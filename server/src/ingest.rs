//! Group commit. Handlers hand accepted batches to one writer task over a bounded queue; the
//! writer commits everything waiting in one transaction and only then answers each handler.
//!
//! While one commit waits for its fsync, new batches queue up, so the next commit carries all of
//! them: the cost of a durable commit is shared by every batch in it, and the queue never waits
//! on a timer when the database is idle. A full queue means the database is not keeping up: the
//! handler answers `503` at once instead of letting memory and latency grow without bound.

use crate::store::{IncomingBatch, Store, StoreError, StoredBatch};
use crate::webhooks::dispatcher::Watch;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Why a batch was not stored. Nothing of it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The write queue is full: the database is not keeping up.
    #[error("the collector is overloaded: its write queue is full")]
    Overloaded,
    /// The database refused the commit for a reason that may pass (unreachable, locked,
    /// read-only, full). The writer logged the cause.
    #[error("the database is unavailable")]
    Unavailable,
    /// The database failed the commit for another reason. The writer logged the cause.
    #[error("the database failed to store the batch")]
    Failed,
    /// The collector is stopping and takes no more batches.
    #[error("the collector is shutting down")]
    ShuttingDown,
}

/// How the writer groups batches.
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    /// Batches that may wait for the writer before handlers answer `503`.
    pub queue_capacity: usize,
    /// The most events one commit carries; more wait for the next.
    pub max_events_per_commit: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            queue_capacity: 10_000,
            max_events_per_commit: 5_000,
        }
    }
}

/// The longest a group waits for more batches before it is committed (see [`write_groups`]).
const MAX_LINGER: Duration = Duration::from_millis(2);

/// The handlers' side of the queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    batch: IncomingBatch,
    reply: oneshot::Sender<Result<StoredBatch, IngestError>>,
}

/// The writer task. [`Writer::finish`] stops it after it has committed everything queued.
#[derive(Debug)]
pub struct Writer {
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl Ingest {
    /// Starts the writer on the current Tokio runtime; it rings `watch` after committing new
    /// answers of watched sites, so webhooks go out at once.
    pub fn start(
        store: Arc<dyn Store>,
        settings: IngestSettings,
        watch: Arc<Watch>,
    ) -> (Ingest, Writer) {
        let (queue, receiver) = mpsc::channel(settings.queue_capacity);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(write_groups(
            store,
            receiver,
            stopped,
            settings.max_events_per_commit,
            watch,
        ));
        (Ingest { queue }, Writer { task, stop })
    }

    /// Stores `batch`, returning once it is committed (or failed).
    pub async fn submit(&self, batch: IncomingBatch) -> Result<StoredBatch, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Pending { batch, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => IngestError::ShuttingDown,
            })?;
        // A dropped reply means the writer is gone: the batch was not committed.
        answer.await.unwrap_or(Err(IngestError::ShuttingDown))
    }

    /// Batches waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

impl Writer {
    /// Takes no more batches, commits the ones already queued, and returns when done.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the writer task failed");
        }
    }
}

async fn write_groups(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Pending>,
    mut stop: oneshot::Receiver<()>,
    max_events_per_commit: usize,
    watch: Arc<Watch>,
) {
    let mut stopping = false;
    // What the last commit carried and how long it took: what to wait for next, and how long.
    let mut last_events = 0;
    let mut last_duration = Duration::ZERO;
    loop {
        let first = tokio::select! {
            pending = queue.recv() => match pending {
                Some(pending) => pending,
                // Closed and drained: everything queued is committed.
                None => return,
            },
            _ = &mut stop, if !stopping => {
                stopping = true;
                queue.close();
                continue;
            }
        };
        let started = Instant::now();
        let mut events = first.batch.events.len();
        let mut group = vec![first];
        while events < max_events_per_commit {
            let Ok(next) = queue.try_recv() else { break };
            events += next.batch.events.len();
            group.push(next);
        }
        // Under load, the handlers the last commit answered send their next batches while this
        // group is being gathered: two half groups would each pay for a durable commit. Waiting
        // a fraction of a commit's time for as many events as the last commit carried merges
        // them. When the collector is idle the last commit carried one batch, so nothing waits.
        if events < last_events && !stopping {
            let deadline = started + (last_duration / 2).min(MAX_LINGER);
            while events < last_events.min(max_events_per_commit) {
                let Ok(Some(next)) = tokio::time::timeout_at(deadline.into(), queue.recv()).await
                else {
                    break;
                };
                events += next.batch.events.len();
                group.push(next);
            }
        }
        let committing = Instant::now();
        commit(store.as_ref(), group, &watch).await;
        last_events = events;
        last_duration = committing.elapsed();
    }
}

async fn commit(store: &dyn Store, group: Vec<Pending>, watch: &Watch) {
    let (batches, replies): (Vec<IncomingBatch>, Vec<_>) = group
        .into_iter()
        .map(|pending| (pending.batch, pending.reply))
        .unzip();
    let metrics = crate::metrics::metrics();
    let started = std::time::Instant::now();
    let committed = store.store_batches(&batches).await;
    metrics
        .commit_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.commit_events.observe(
        batches
            .iter()
            .map(|batch| batch.events.len())
            .sum::<usize>() as f64,
    );
    match committed {
        Ok(outcomes) => {
            for outcome in &outcomes {
                metrics.events_stored.inc_by(outcome.new);
                metrics.events_duplicate.inc_by(outcome.duplicates);
            }
            // Only new answers give the dispatcher work: page views and touchpoints do not.
            if outcomes.iter().any(|outcome| outcome.inboxed > 0) {
                watch.ring();
            }
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A handler that stopped waiting (the client went away) still had its batch stored.
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            let answer = match &error {
                StoreError::Unavailable(_) => IngestError::Unavailable,
                _ => IngestError::Failed,
            };
            tracing::error!(error = %crate::error::cause_chain(&error), batches = batches.len(), "a commit failed; nothing of it was stored");
            for reply in replies {
                let _ = reply.send(Err(answer));
            }
        }
    }
}
