//! What one user may start: messages per minute, answers generating at once, and one
//! answer at a time in each thread.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::GenerationError;
use crate::config::LimitsConfig;
use crate::store::{ThreadId, UserId};

/// The window the message rate is counted over.
const WINDOW: Duration = Duration::from_secs(60);

/// What a user hitting the concurrency limit is told to wait: answers take seconds.
const BUSY_RETRY: Duration = Duration::from_secs(5);

/// Past this many users in the table, those with nothing recent are forgotten.
const PRUNE_ABOVE: usize = 1024;

/// The counts behind the limits, for every user seen lately.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_minute: usize,
    concurrent: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, Load>,
    /// The threads answering now, each with its owner: keyed by the person posting, so
    /// that someone posting to a thread of another's, busy or not, is never told it is
    /// busy, and gets the same 404 as for a missing thread.
    busy_threads: HashSet<(UserId, ThreadId)>,
}

#[derive(Debug, Default)]
struct Load {
    /// When each accepted message of the last minute arrived, oldest first.
    recent: VecDeque<Instant>,
    /// Answers generating now.
    active: usize,
}

impl Limiter {
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        Self {
            per_minute: usize::try_from(config.messages_per_minute).unwrap_or(usize::MAX),
            concurrent: usize::try_from(config.max_concurrent_generations).unwrap_or(usize::MAX),
            state: Mutex::default(),
        }
    }

    /// Takes a place for a new answer by `user` in `thread`, or says why there is none.
    /// The place is given back when the returned [`Slot`] is dropped.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        user: UserId,
        thread: &ThreadId,
    ) -> Result<Slot, GenerationError> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.users.len() > PRUNE_ABOVE {
            state
                .users
                .retain(|_, load| load.active > 0 || load.prune(now) > 0);
        }
        let busy = (user, thread.clone());
        if state.busy_threads.contains(&busy) {
            return Err(GenerationError::Busy);
        }

        let load = state.users.entry(user).or_default();
        load.prune(now);
        if load.recent.len() >= self.per_minute {
            let oldest = load.recent.front().copied().unwrap_or(now);
            let retry_after = (oldest + WINDOW).saturating_duration_since(now);
            return Err(GenerationError::RateLimited { retry_after });
        }
        if load.active >= self.concurrent {
            return Err(GenerationError::TooManyGenerations {
                retry_after: BUSY_RETRY,
            });
        }
        load.recent.push_back(now);
        load.active += 1;
        state.busy_threads.insert(busy.clone());

        Ok(Slot {
            limiter: Arc::clone(self),
            busy,
            refund: false,
        })
    }

    fn release(&self, busy: &(UserId, ThreadId), refund: bool) {
        let mut state = self.lock();
        state.busy_threads.remove(busy);
        if let Some(load) = state.users.get_mut(&busy.0) {
            load.active = load.active.saturating_sub(1);
            if refund {
                load.recent.pop_back();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The counts stay consistent at every step, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Load {
    /// Forgets arrivals older than the window and returns how many are left.
    fn prune(&mut self, now: Instant) -> usize {
        while self
            .recent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.len()
    }
}

/// A place held for one answer being generated.
#[derive(Debug)]
pub(crate) struct Slot {
    limiter: Arc<Limiter>,
    /// The user and the thread, as in the limiter's busy set.
    busy: (UserId, ThreadId),
    /// Whether the message is not to count against the user's rate.
    refund: bool,
}

impl Slot {
    /// Gives the place back as if the message had never been sent: for one that was
    /// refused after its place was taken (a thread that is not the user's).
    pub(crate) fn refund(mut self) {
        self.refund = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.release(&self.busy, self.refund);
    }
}
