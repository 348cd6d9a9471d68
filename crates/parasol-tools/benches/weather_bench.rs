//! What the weather tools cost beside the HTTP round trip, and what the cache saves.
//! Run with `cargo bench -p parasol-tools --bench weather_bench` (docs/BENCHMARKS.md).
//!
//! A local server answers like Open-Meteo (the tests' fake, with its realistic
//! fixture). The baseline is a plain GET of the very URL the tool asks for, reading the
//! body; the tool's figure is a whole call with the cache off, so it includes the same
//! round trip plus building the query, parsing the answer and shaping the table. Both
//! are timed alternately in the same run, and medians are compared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[allow(dead_code)]
#[path = "../tests/it/open_meteo.rs"]
mod open_meteo;

use std::time::{Duration, Instant};

use jiff::civil::date;
use parasol_agent::Tool;
use parasol_tools::current_time::Clock;
use parasol_tools::weather::{DailyArgs, HourlyArgs, WeatherConfig, weather_tools};

use open_meteo::{FakeOpenMeteo, Mode};

const ROUNDS: usize = 400;

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

async fn plain_get(client: &reqwest::Client, url: &str, query: &[(String, String)]) {
    let body = client
        .get(url)
        .query(query)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(body.len() > 100);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Normal).await;
    let clock = Clock::fixed("2026-12-03T09:00:00Z".parse().unwrap());
    let uncached = WeatherConfig {
        base_url: server.url(),
        cache_ttl: Duration::ZERO,
        ..WeatherConfig::default()
    };
    let cached = WeatherConfig {
        cache_ttl: Duration::from_secs(300),
        ..uncached.clone()
    };
    let (hourly, daily) = weather_tools(uncached, clock.clone()).unwrap();
    let (cached_hourly, _) = weather_tools(cached, clock).unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/forecast", server.url());

    println!("weather tools benchmark: {ROUNDS} rounds each, medians, one local HTTP/1.1 server");
    for (name, is_hourly) in [
        ("get_hourly_weather_data (1 day, 24 rows)", true),
        ("get_daily_forecast (7 days)", false),
    ] {
        let call = || async {
            if is_hourly {
                hourly
                    .call(HourlyArgs {
                        from_date: "today".into(),
                        to_date: "today".into(),
                    })
                    .await
                    .map(drop)
            } else {
                daily.call(DailyArgs { days: 7 }).await.map(drop)
            }
        };
        call().await.unwrap();
        let query: Vec<(String, String)> = server.last_query().into_iter().collect();
        plain_get(&client, &url, &query).await;

        let (mut baseline, mut tool) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let started = Instant::now();
            plain_get(&client, &url, &query).await;
            baseline.push(started.elapsed());
            let started = Instant::now();
            call().await.unwrap();
            tool.push(started.elapsed());
        }
        let (baseline, tool) = (median(&mut baseline), median(&mut tool));
        println!("{name}:");
        println!("  plain GET of the same URL:  {:8.1} µs", micros(baseline));
        println!("  tool call, cache off:       {:8.1} µs", micros(tool));
        println!(
            "  added by the tool:          {:8.1} µs ({:.2}x the round trip)",
            micros(tool.saturating_sub(baseline)),
            tool.as_secs_f64() / baseline.as_secs_f64()
        );
    }

    let args = || HourlyArgs {
        from_date: "today".into(),
        to_date: "today".into(),
    };
    cached_hourly.call(args()).await.unwrap();
    let before = server.requests();
    let mut repeated = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        cached_hourly.call(args()).await.unwrap();
        repeated.push(started.elapsed());
    }
    println!("repeated hourly question, cache on:");
    println!(
        "  tool call:                  {:8.1} µs",
        micros(median(&mut repeated))
    );
    println!(
        "  requests sent for {ROUNDS} calls:  {}",
        server.requests() - before
    );
}
