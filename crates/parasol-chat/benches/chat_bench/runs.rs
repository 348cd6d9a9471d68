//! The two experiments: many people asking at once, timed; and many answers held open,
//! weighed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Barrier, Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::client::{Chat, Reading, User};
use crate::model::FakeModel;
use crate::server::ServerProcess;

/// How many held answers are being opened at any moment: enough to open a thousand in
/// a few seconds, few enough that SQLite's writer is not queued for longer than its
/// busy timeout.
const OPENING_AT_ONCE: usize = 100;

/// The tokens of each held answer once it is let go.
const HELD_TOKENS: usize = 20;

/// What one run of `users` people asking at once gave.
#[derive(Debug, Clone)]
pub struct RunFigures {
    /// Text events delivered to all clients, over the time from the first post to the
    /// last `done`.
    pub tokens_per_s: f64,
    /// The time to first token each client saw, less the model's own.
    pub added_p50: Duration,
    pub added_p99: Duration,
    /// Of the above, the time to the response's headers: saving the question and
    /// starting the answer, and waiting for the others' to be done.
    pub response_p50: Duration,
    pub response_p99: Duration,
    /// The tokens delivered, and the chat server's CPU time over the run.
    pub delivered: usize,
    pub server_cpu: Duration,
}

/// `users` people, each with a fresh thread, post at once and read their `tokens`-token
/// answers to the end. The threads are made first, which also leaves a warm connection
/// per person in the pool, as a person with the page open has.
pub async fn ask_at_once(
    chat: &Chat,
    model: &FakeModel,
    server: &ServerProcess,
    users: usize,
    tokens: usize,
    tag: &str,
) -> RunFigures {
    model.set_tokens(tokens);
    let people = chat.users(users, tag).await;
    let barrier = Arc::new(Barrier::new(users));
    let cpu_before = server.cpu_time();

    let mut asking = JoinSet::new();
    for user in people {
        let (chat, barrier) = (chat.clone(), Arc::clone(&barrier));
        asking.spawn(async move {
            barrier.wait().await;
            let reading = chat.ask(&user, None).await;
            (user, reading)
        });
    }
    let answers = asking.join_all().await;
    let cpu = server.cpu_time().saturating_sub(cpu_before);

    let readings: Vec<Reading> = answers.iter().map(|(_, reading)| *reading).collect();
    for reading in &readings {
        assert!(reading.complete, "an answer did not complete");
        assert_eq!(reading.texts, tokens, "an answer lost tokens");
    }
    let delivered: usize = readings.iter().map(|reading| reading.texts).sum();
    let start = readings.iter().map(|reading| reading.sent).min().unwrap();
    let end = readings.iter().map(|reading| reading.done).max().unwrap();
    let mut added = added_first_token(model, &answers);
    let mut response: Vec<Duration> = readings
        .iter()
        .map(|reading| reading.answered - reading.sent)
        .collect();
    RunFigures {
        response_p50: percentile(&mut response, 0.50),
        response_p99: percentile(&mut response, 0.99),
        tokens_per_s: delivered as f64 / (end - start).as_secs_f64(),
        added_p50: percentile(&mut added, 0.50),
        added_p99: percentile(&mut added, 0.99),
        delivered,
        server_cpu: cpu,
    }
}

/// Each client's time to first token less the model's own for the same request, found
/// by the request's message. Both are read on this process's clock.
fn added_first_token(model: &FakeModel, answers: &[(User, Reading)]) -> Vec<Duration> {
    answers
        .iter()
        .map(|(user, reading)| {
            let timing = model
                .take_timing(&user.message)
                .expect("the model never saw a message");
            reading
                .first_token()
                .saturating_sub(timing.own_first_token())
        })
        .collect()
}

/// The nearest-rank percentile.
pub fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    let rank = (p * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// What holding answers open cost the server.
#[derive(Debug, Clone)]
pub struct HeldFigures {
    pub streams: usize,
    /// Resident memory with the people and their threads made, no stream open.
    pub before_kib: u64,
    /// Resident memory with every stream open and waiting for its next token.
    pub open_kib: u64,
    /// Resident memory once every answer has finished.
    pub after_kib: u64,
}

impl HeldFigures {
    /// The growth per open stream, in KiB.
    pub fn per_stream_kib(&self) -> f64 {
        self.open_kib.saturating_sub(self.before_kib) as f64 / self.streams as f64
    }
}

/// Opens `streams` answers, one per person, and holds them all after their first token:
/// the model sends one and waits. With every client holding its first text, the server's
/// memory is read; then the model is let go and every answer must finish.
pub async fn hold_open(
    chat: &Chat,
    model: &FakeModel,
    server: &ServerProcess,
    streams: usize,
) -> HeldFigures {
    model.set_tokens(HELD_TOKENS);
    model.hold(true);
    // The threads are made over connections that are closed before the baseline, so
    // that each stream's figure includes the connection it came on.
    let setup = chat.with_new_client();
    let people = setup.users(streams, "the held streams").await;
    drop(setup);
    settle().await;
    let before_kib = server.rss_kib();

    let chat = chat.with_new_client();
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut answers = JoinSet::new();
    let mut first_texts = Vec::new();
    for user in people {
        let (chat, opening) = (chat.clone(), Arc::clone(&opening));
        let (first_text, seen) = oneshot::channel();
        first_texts.push(seen);
        answers.spawn(async move {
            let permit = opening.acquire_owned().await.unwrap();
            let (opened, on_open) = oneshot::channel();
            let reading = chat.ask(&user, Some(opened));
            tokio::pin!(reading);
            tokio::select! {
                _ = on_open => {
                    drop(permit);
                    let _ = first_text.send(());
                    reading.await
                }
                reading = &mut reading => reading,
            }
        });
    }
    for seen in first_texts {
        seen.await.expect("an answer ended before its first text");
    }
    settle().await;
    let open_kib = server.rss_kib();

    model.hold(false);
    for reading in answers.join_all().await {
        assert!(reading.complete, "a held answer did not complete");
        assert_eq!(reading.texts, HELD_TOKENS, "a held answer lost tokens");
    }
    settle().await;
    HeldFigures {
        streams,
        before_kib,
        open_kib,
        after_kib: server.rss_kib(),
    }
}

/// Lets closed connections and finished tasks be cleaned up before memory is read.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}
