//! Slowing down password guessing: failed local sign-ins counted per client address and
//! per account name, with a wait that doubles after each failure past the free ones.
//!
//! Counting by address stops one client trying many accounts; counting by account stops
//! many clients (a botnet) trying one account. Both counts are in one bounded table.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::LoginLimitConfig;

/// The table size past which forgotten entries are dropped, and then, if it is still too
/// large, the oldest ones.
const DEFAULT_MAX_KEYS: usize = 100_000;

/// Account names are cut to this many characters before they are counted, so that long
/// made-up names cannot make each entry large; real names are at most 64.
const MAX_ACCOUNT_KEY_CHARS: usize = 128;

/// How long a client must wait before its next sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed sign-ins; try again in {} seconds", self.seconds())]
pub struct RetryAfter(Duration);

impl RetryAfter {
    /// The exact wait.
    pub fn duration(&self) -> Duration {
        self.0
    }

    /// The wait in whole seconds, rounded up and at least 1, as a `Retry-After` header
    /// (RFC 9110, section 10.2.3) carries it.
    pub fn seconds(&self) -> u64 {
        let whole = self.0.as_secs();
        let rounded = if self.0.subsec_nanos() > 0 {
            whole.saturating_add(1)
        } else {
            whole
        };
        rounded.max(1)
    }
}

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A client address; IPv6 addresses by their /64.
    Address(IpAddr),
    /// An account name, lowercased.
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Where the limiter reads the time; tests pass a clock they move by hand.
type Clock = Box<dyn Fn() -> Instant + Send + Sync>;

/// Failed sign-in counts and the waits they impose. Safe to share between threads.
pub struct LoginLimiter {
    free_failures: u32,
    base_delay: Duration,
    max_delay: Duration,
    forget_after: Duration,
    max_keys: usize,
    clock: Clock,
    table: Mutex<HashMap<Key, Failures>>,
}

impl fmt::Debug for LoginLimiter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LoginLimiter")
            .field("free_failures", &self.free_failures)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("forget_after", &self.forget_after)
            .field("max_keys", &self.max_keys)
            .field("tracked_keys", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// A limiter on the system clock.
    pub fn new(config: &LoginLimitConfig) -> Self {
        Self::with_clock(config, Instant::now)
    }

    /// A limiter that reads the time from `clock`.
    pub fn with_clock(
        config: &LoginLimitConfig,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        Self {
            free_failures: config.free_failures,
            base_delay: Duration::from_secs(config.base_delay),
            max_delay: Duration::from_secs(config.max_delay),
            forget_after: Duration::from_secs(config.forget_after),
            max_keys: DEFAULT_MAX_KEYS,
            clock: Box::new(clock),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the table size past which entries are pruned (100,000 by default).
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// Whether a sign-in attempt from `ip` for `account` may go ahead now; if not, how
    /// long until it may. The longer of the address's and the account's waits wins.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), RetryAfter> {
        let now = (self.clock)();
        let table = self.lock();
        let wait = keys(ip, account)
            .iter()
            .filter_map(|key| table.get(key))
            .filter_map(|failures| self.remaining(failures, now))
            .max();
        match wait {
            Some(wait) => Err(RetryAfter(wait)),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against both the address and the account.
    pub fn record_failure(&self, ip: IpAddr, account: &str) {
        let now = (self.clock)();
        let mut table = self.lock();
        for key in keys(ip, account) {
            let failures = table.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if self.forgotten(failures, now) {
                failures.count = 0;
            }
            failures.count = failures.count.saturating_add(1);
            failures.last = now;
        }
        if table.len() > self.max_keys {
            self.prune(&mut table, now);
        }
    }

    /// Clears the counts of the address and the account after a successful sign-in.
    pub fn record_success(&self, ip: IpAddr, account: &str) {
        let mut table = self.lock();
        for key in keys(ip, account) {
            table.remove(&key);
        }
    }

    /// How many addresses and accounts have failures counted.
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    /// A poisoned lock only means a thread panicked between two plain field updates;
    /// the counts are still usable.
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Failures>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forgotten(&self, failures: &Failures, now: Instant) -> bool {
        now.saturating_duration_since(failures.last) >= self.forget_after
    }

    /// The wait `failures` impose from their last failure:
    /// `base_delay * 2^(count - free_failures)` once `count` reaches `free_failures`,
    /// capped at `max_delay`.
    fn delay(&self, count: u32) -> Duration {
        let Some(doublings) = count.checked_sub(self.free_failures) else {
            return Duration::ZERO;
        };
        match 1u32.checked_shl(doublings) {
            Some(factor) => self.base_delay.saturating_mul(factor).min(self.max_delay),
            None => self.max_delay,
        }
    }

    /// What is left of the wait at `now`, if anything.
    fn remaining(&self, failures: &Failures, now: Instant) -> Option<Duration> {
        if self.forgotten(failures, now) {
            return None;
        }
        let elapsed = now.saturating_duration_since(failures.last);
        let wait = self.delay(failures.count).checked_sub(elapsed)?;
        (!wait.is_zero()).then_some(wait)
    }

    /// Drops forgotten entries; if the table is still above 90% of its bound, drops the
    /// oldest down to that, so that the next prune is at least a tenth of the bound away.
    /// Flooding the table to push one's own count out needs that many fresh addresses or
    /// accounts, each of which must itself fail: one address gets only its free failures
    /// before it waits.
    fn prune(&self, table: &mut HashMap<Key, Failures>, now: Instant) {
        table.retain(|_, failures| !self.forgotten(failures, now));
        let target = self.max_keys - self.max_keys / 10;
        if table.len() <= target {
            return;
        }
        let mut lasts: Vec<Instant> = table.values().map(|failures| failures.last).collect();
        let excess = table.len() - target;
        let (_, cutoff, _) = lasts.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        table.retain(|_, failures| failures.last > cutoff);
        tracing::warn!(
            kept = table.len(),
            "the sign-in failure table was full; dropped its oldest entries"
        );
    }
}

/// The address key and the account key of an attempt.
fn keys(ip: IpAddr, account: &str) -> [Key; 2] {
    let account: String = account
        .chars()
        .take(MAX_ACCOUNT_KEY_CHARS)
        .collect::<String>()
        .to_lowercase();
    [Key::Address(address_key(ip)), Key::Account(account)]
}

/// IPv4 addresses as they are; IPv4-mapped IPv6 addresses as the IPv4 address; other
/// IPv6 addresses by their /64, the smallest block a host is usually given, so that one
/// host cannot step through its addresses to reset its count.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}
