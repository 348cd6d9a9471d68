//! SQLite's writer thread, which saves the writes on the way of every answer (a
//! question with its empty answer, and the finished answer) as group commits.
//!
//! SQLite writes through one connection, so when fifty people post at once their
//! writes wait for each other one after another. Each would be a transaction of several
//! statements, and sqlx runs every statement on the connection's own thread and hands
//! the result back through the async runtime, where under load it waits its turn behind
//! the answers streaming. So these writes go to one thread of their own, with a runtime
//! of its own that has nothing else to do, and whenever it is free it takes every write
//! waiting and saves them all in one transaction, each through the same statements as
//! alone. Should that transaction fail, it saves each write alone, so that one write's
//! failure stays its own and none is half saved.
//!
//! The other writes (threads, steps, feedback) are rarer and go to the writing
//! connection directly; the pool lets one of them in between two group commits.

use std::sync::Arc;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::ask::{AskRequest, Asked};
use super::error::StoreError;
use super::messages::{FinishRequest, Finishing};

/// The most writes saved in one transaction: enough for a crowd posting at once, few
/// enough that the first of them is not kept long.
const MAX_TOGETHER: usize = 64;

/// One kind of write the thread saves: its statements, run inside a transaction that
/// the thread opened, and what they found.
pub(super) trait Write {
    /// What the statements found.
    type Outcome;

    /// Runs the statements on `conn`. A write that finds nothing to do must have
    /// written nothing, since in a group it cannot be rolled back alone.
    async fn run(&self, conn: &mut SqliteConnection) -> Result<Self::Outcome, sqlx::Error>;

    /// Whether `outcome`, alone in its transaction, is worth committing.
    fn keeps(outcome: &Self::Outcome) -> bool;
}

/// A write waiting for the thread, and where its outcome goes.
#[derive(Debug)]
struct Pending<W: Write> {
    write: Arc<W>,
    reply: oneshot::Sender<Result<W::Outcome, sqlx::Error>>,
    /// Set once the write has run in the current transaction.
    outcome: Option<W::Outcome>,
}

impl<W: Write> Pending<W> {
    async fn run(&mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        self.outcome = Some(self.write.run(conn).await?);
        Ok(())
    }

    /// Sends the outcome to whoever waits for it. They are gone only if their runtime is
    /// shutting down, and then nobody waits.
    fn answer(self, result: Result<(), sqlx::Error>) {
        let result = result.and_then(|()| self.outcome.ok_or(sqlx::Error::WorkerCrashed));
        let _ = self.reply.send(result);
    }

    /// Runs the write in a transaction of its own and answers.
    async fn save_alone(mut self, pool: &SqlitePool) {
        let saved = async {
            let mut tx = pool.begin().await?;
            self.run(&mut tx).await?;
            if self.outcome.as_ref().is_some_and(W::keeps) {
                tx.commit().await?;
            }
            Ok(())
        }
        .await;
        self.answer(saved);
    }
}

/// A write of either kind.
#[derive(Debug)]
enum Job {
    Ask(Pending<AskRequest>),
    Finish(Pending<FinishRequest>),
}

impl Job {
    async fn run(&mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        match self {
            Self::Ask(pending) => pending.run(conn).await,
            Self::Finish(pending) => pending.run(conn).await,
        }
    }

    fn answer(self, result: Result<(), sqlx::Error>) {
        match self {
            Self::Ask(pending) => pending.answer(result),
            Self::Finish(pending) => pending.answer(result),
        }
    }

    async fn save_alone(self, pool: &SqlitePool) {
        match self {
            Self::Ask(pending) => pending.save_alone(pool).await,
            Self::Finish(pending) => pending.save_alone(pool).await,
        }
    }
}

/// The way to the writer thread.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Starts the thread that writes through `pool` (the one writing connection); it
    /// ends when the last handle is dropped.
    pub(super) fn start(pool: SqlitePool) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::Thread)?;
        std::thread::Builder::new()
            .name("parasol-sqlite-writer".to_owned())
            .spawn(move || runtime.block_on(save_queued(pool, queue)))
            .map_err(StoreError::Thread)?;
        Ok(Self { jobs })
    }

    /// Saves a question and starts its answer (see `Store::ask`).
    pub(super) async fn ask(&self, write: Arc<AskRequest>) -> Result<Asked, sqlx::Error> {
        self.submit(write, Job::Ask).await
    }

    /// Saves a finished answer (see `Store::finish_answer`).
    pub(super) async fn finish(&self, write: Arc<FinishRequest>) -> Result<Finishing, sqlx::Error> {
        self.submit(write, Job::Finish).await
    }

    /// Queues `write` as the job `kind` makes of it and waits for its outcome.
    async fn submit<W: Write>(
        &self,
        write: Arc<W>,
        kind: fn(Pending<W>) -> Job,
    ) -> Result<W::Outcome, sqlx::Error> {
        let (reply, outcome) = oneshot::channel();
        let pending = Pending {
            write,
            reply,
            outcome: None,
        };
        // The thread stops only when every handle is gone, so a closed queue or a reply
        // never sent means the store is being dropped.
        self.jobs
            .send(kind(pending))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        outcome.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// Saves the queued jobs, as many together as are waiting, until the queue closes.
async fn save_queued(pool: SqlitePool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut waiting = Vec::with_capacity(MAX_TOGETHER);
    while queue.recv_many(&mut waiting, MAX_TOGETHER).await > 0 {
        let mut batch = std::mem::take(&mut waiting);
        match save_together(&pool, &mut batch).await {
            Ok(()) => {
                for job in batch {
                    job.answer(Ok(()));
                }
            }
            Err(error) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    job.answer(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    writes = batch.len(),
                    "saving the waiting writes together failed; saving each alone"
                );
                for job in batch {
                    job.save_alone(&pool).await;
                }
            }
        }
    }
}

/// Every job of `batch` in one transaction, each after the one before as if alone.
async fn save_together(pool: &SqlitePool, batch: &mut [Job]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for job in batch.iter_mut() {
        job.run(&mut tx).await?;
    }
    tx.commit().await
}
