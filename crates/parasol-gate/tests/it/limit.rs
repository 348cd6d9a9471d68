//! The waits imposed after failed sign-ins, on a clock the tests move by hand.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parasol_gate::config::LoginLimitConfig;
use parasol_gate::limit::LoginLimiter;

/// A clock that stands still until a test moves it.
#[derive(Clone)]
struct Clock(Arc<Mutex<Instant>>);

impl Clock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    fn advance_secs(&self, seconds: u64) {
        self.advance(Duration::from_secs(seconds));
    }
}

/// Three free failures, then 1, 2, 4, 8 seconds at most; forgotten after a minute.
fn limiter() -> (LoginLimiter, Clock) {
    let config = LoginLimitConfig {
        free_failures: 3,
        base_delay: 1,
        max_delay: 8,
        forget_after: 60,
    };
    let clock = Clock::new();
    let reader = clock.clone();
    let limiter = LoginLimiter::with_clock(&config, move || *reader.0.lock().unwrap());
    (limiter, clock)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The wait `check` imposes, in whole seconds, or 0 when none.
fn wait(limiter: &LoginLimiter, address: &str, account: &str) -> u64 {
    match limiter.check(ip(address), account) {
        Ok(()) => 0,
        Err(retry) => retry.seconds(),
    }
}

#[test]
fn the_free_failures_pass_then_each_wait_doubles() {
    let (limiter, clock) = limiter();
    let client = "192.0.2.1";
    for _ in 0..2 {
        limiter.record_failure(ip(client), "alice");
        assert_eq!(wait(&limiter, client, "alice"), 0);
    }

    let mut waits = Vec::new();
    for _ in 0..3 {
        limiter.record_failure(ip(client), "alice");
        let seconds = wait(&limiter, client, "alice");
        waits.push(seconds);
        clock.advance_secs(seconds);
        assert_eq!(wait(&limiter, client, "alice"), 0, "the wait is over");
    }
    assert_eq!(waits, [1, 2, 4]);
}

#[test]
fn the_wait_stops_growing_at_the_maximum() {
    let (limiter, clock) = limiter();
    for _ in 0..40 {
        limiter.record_failure(ip("192.0.2.1"), "alice");
    }
    assert_eq!(wait(&limiter, "192.0.2.1", "alice"), 8);
    clock.advance_secs(8);
    assert_eq!(wait(&limiter, "192.0.2.1", "alice"), 0);
}

#[test]
fn the_wait_counts_from_the_last_failure_and_rounds_up() {
    let (limiter, clock) = limiter();
    for _ in 0..4 {
        limiter.record_failure(ip("192.0.2.1"), "alice");
    }
    clock.advance(Duration::from_millis(500));
    let retry = limiter.check(ip("192.0.2.1"), "alice").unwrap_err();
    assert_eq!(retry.duration(), Duration::from_millis(1500));
    assert_eq!(retry.seconds(), 2);
    assert!(
        retry.to_string().contains("try again in 2 seconds"),
        "{retry}"
    );
}

#[test]
fn a_success_clears_the_address_and_the_account() {
    let (limiter, _clock) = limiter();
    for _ in 0..5 {
        limiter.record_failure(ip("192.0.2.1"), "alice");
    }
    assert!(wait(&limiter, "192.0.2.1", "alice") > 0);

    limiter.record_success(ip("192.0.2.1"), "alice");
    assert_eq!(wait(&limiter, "192.0.2.1", "alice"), 0);
    assert_eq!(limiter.tracked_keys(), 0);
    for _ in 0..2 {
        limiter.record_failure(ip("192.0.2.1"), "alice");
    }
    assert_eq!(
        wait(&limiter, "192.0.2.1", "alice"),
        0,
        "counting starts again"
    );
}

#[test]
fn failures_older_than_forget_after_are_dropped() {
    let (limiter, clock) = limiter();
    for _ in 0..5 {
        limiter.record_failure(ip("192.0.2.1"), "alice");
    }
    clock.advance_secs(60);
    assert_eq!(wait(&limiter, "192.0.2.1", "alice"), 0);

    // The next failure counts as the first, not the sixth.
    limiter.record_failure(ip("192.0.2.1"), "alice");
    assert_eq!(wait(&limiter, "192.0.2.1", "alice"), 0);
}

#[test]
fn one_account_is_limited_across_many_addresses() {
    let (limiter, _clock) = limiter();
    for host in 1..=3 {
        limiter.record_failure(ip(&format!("198.51.100.{host}")), "alice");
    }
    assert_eq!(
        wait(&limiter, "203.0.113.9", "ALICE"),
        1,
        "names ignore case"
    );
    assert_eq!(wait(&limiter, "203.0.113.9", "bob"), 0);
}

#[test]
fn one_address_is_limited_across_many_accounts() {
    let (limiter, _clock) = limiter();
    for account in ["alice", "bob", "carol"] {
        limiter.record_failure(ip("192.0.2.7"), account);
    }
    assert_eq!(wait(&limiter, "192.0.2.7", "dave"), 1);
    assert_eq!(wait(&limiter, "192.0.2.8", "dave"), 0);
}

#[test]
fn ipv6_addresses_in_one_64_share_a_count() {
    let (limiter, _clock) = limiter();
    for (address, account) in [
        ("2001:db8:1:2::1", "a"),
        ("2001:db8:1:2::2:3", "b"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "c"),
    ] {
        limiter.record_failure(ip(address), account);
    }
    assert_eq!(wait(&limiter, "2001:db8:1:2:abcd::9", "d"), 1);
    assert_eq!(wait(&limiter, "2001:db8:1:3::1", "d"), 0, "another /64");
}

#[test]
fn an_ipv4_mapped_address_counts_as_the_ipv4_address() {
    let (limiter, _clock) = limiter();
    for account in ["a", "b", "c"] {
        limiter.record_failure(ip("::ffff:192.0.2.1"), account);
    }
    assert_eq!(wait(&limiter, "192.0.2.1", "d"), 1);
}

#[test]
fn the_table_stays_bounded_under_a_flood_of_addresses() {
    let (limiter, clock) = limiter();
    let limiter = limiter.with_max_keys(100);
    for host in 0..1_000u32 {
        let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + host));
        limiter.record_failure(address, &format!("user{host}"));
        clock.advance(Duration::from_millis(1));
        assert!(limiter.tracked_keys() <= 100, "{}", limiter.tracked_keys());
    }

    // The newest failures are the ones kept.
    let newest = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 999));
    for _ in 0..2 {
        limiter.record_failure(newest, "user999");
    }
    assert_eq!(limiter.check(newest, "user999").unwrap_err().seconds(), 1);
}
