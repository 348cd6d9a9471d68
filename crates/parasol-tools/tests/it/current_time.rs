//! current_time against a fixed clock.

use jiff::Timestamp;
use parasol_agent::Tool;
use parasol_tools::CurrentTime;
use parasol_tools::current_time::{Clock, CurrentTimeArgs, CurrentTimeError};

/// 2026-12-03T09:00:00Z, a Thursday.
const NOW: i64 = 1_796_288_400;

fn tool(default_zone: &str) -> CurrentTime {
    CurrentTime::new(default_zone)
        .unwrap()
        .with_clock(Clock::fixed(Timestamp::from_second(NOW).unwrap()))
}

fn zone(name: &str) -> CurrentTimeArgs {
    CurrentTimeArgs {
        time_zone: Some(name.into()),
    }
}

#[tokio::test]
async fn a_named_zone_gives_its_local_time_offset_and_weekday() {
    let cases = [
        ("Europe/Paris", "2026-12-03T10:00:00+01:00", "Thursday"),
        ("America/New_York", "2026-12-03T04:00:00-05:00", "Thursday"),
        ("Asia/Kolkata", "2026-12-03T14:30:00+05:30", "Thursday"),
        ("Pacific/Honolulu", "2026-12-02T23:00:00-10:00", "Wednesday"),
        ("UTC", "2026-12-03T09:00:00+00:00", "Thursday"),
    ];
    for (name, time, weekday) in cases {
        let output = tool("UTC").call(zone(name)).await.unwrap();
        assert_eq!(output.time, time, "{name}");
        assert_eq!(output.weekday, weekday, "{name}");
        assert_eq!(output.time_zone, name);
        assert!(output.time.ends_with(&output.utc_offset));
    }
}

#[tokio::test]
async fn without_a_zone_the_default_is_used() {
    let output = tool("Europe/Berlin")
        .call(CurrentTimeArgs { time_zone: None })
        .await
        .unwrap();
    assert_eq!(output.time_zone, "Europe/Berlin");
    assert_eq!(output.time, "2026-12-03T10:00:00+01:00");
}

#[tokio::test]
async fn zone_names_are_matched_regardless_of_case() {
    let output = tool("UTC").call(zone("europe/paris")).await.unwrap();
    assert_eq!(output.time_zone, "Europe/Paris");
}

#[tokio::test]
async fn an_unknown_zone_is_refused_with_an_example() {
    for name in [
        "Mars/Olympus_Mons",
        "Europe/Pariss",
        "../../etc/passwd",
        &"A".repeat(500),
    ] {
        let error = tool("UTC").call(zone(name)).await.unwrap_err();
        assert!(
            matches!(error, CurrentTimeError::UnknownZone { .. }),
            "{name}"
        );
        let message = error.to_string();
        assert!(message.contains("Europe/Paris"), "{message}");
        assert!(message.len() < 300, "{message}");
    }
}

#[test]
fn an_unknown_default_zone_is_refused_at_construction() {
    assert!(CurrentTime::new("Nowhere/Special").is_err());
}

#[tokio::test]
async fn the_system_clock_tells_a_time_near_now() {
    let output = CurrentTime::new("UTC")
        .unwrap()
        .call(CurrentTimeArgs { time_zone: None })
        .await
        .unwrap();
    let reported: Timestamp = output.time.parse().unwrap();
    let drift = Timestamp::now().as_second() - reported.as_second();
    assert!((0..5).contains(&drift), "{drift}");
}
