//! The weather tools against a local server that answers like Open-Meteo.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::date;
use parasol_agent::{Tool, ToolSet};
use parasol_tools::current_time::Clock;
use parasol_tools::weather::{
    self, DailyArgs, HourlyArgs, STARTERS, WeatherConfig, WeatherError, weather_tools,
};
use serde_json::json;

use crate::open_meteo::{FakeOpenMeteo, Mode};

/// 10:00 in Madrid on Thursday 3 December 2026.
const MORNING: &str = "2026-12-03T09:00:00Z";

fn config(server: &FakeOpenMeteo) -> WeatherConfig {
    WeatherConfig {
        base_url: server.url(),
        timeout: Duration::from_millis(500),
        ..WeatherConfig::default()
    }
}

fn hourly(from: &str, to: &str) -> HourlyArgs {
    HourlyArgs {
        from_date: from.into(),
        to_date: to.into(),
    }
}

fn clock(at: &str) -> Clock {
    Clock::fixed(at.parse::<Timestamp>().unwrap())
}

#[tokio::test]
async fn a_day_of_hourly_readings_comes_back_as_a_compact_table() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Normal).await;
    let (tool, _) = weather_tools(config(&server), clock(MORNING)).unwrap();
    let output = tool.call(hourly("today", "today")).await.unwrap();

    let query = server.last_query();
    assert_eq!(query["start_date"], "2026-12-03");
    assert_eq!(query["end_date"], "2026-12-03");
    assert_eq!(query["timezone"], "Europe/Madrid");
    assert_eq!(query["latitude"], "40.4168");
    assert_eq!(
        query["hourly"],
        "temperature_2m,apparent_temperature,relative_humidity_2m,precipitation,precipitation_probability,surface_pressure,et0_fao_evapotranspiration,weather_code"
    );

    assert_eq!(output.location, "Madrid");
    assert_eq!(output.rows.len(), 24);
    assert_eq!(
        output.columns,
        [
            "time",
            "temperature",
            "apparent_temperature",
            "humidity",
            "precipitation",
            "precipitation_probability",
            "pressure",
            "evapotranspiration",
            "weather"
        ]
    );
    assert_eq!(
        output.rows[15],
        json!([
            "2026-12-03T15:00",
            12.6,
            10.3,
            49,
            0.3,
            52,
            936.8,
            0.09,
            "slight rain"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    assert_eq!(output.units["temperature"], "°C");
    assert_eq!(output.units["pressure"], "hPa");
    assert_eq!(output.units["evapotranspiration"], "mm");
    assert!(
        !output.units.contains_key("weather"),
        "a code is not a unit"
    );

    let day = &output.days[0];
    assert_eq!(day.date, "2026-12-03");
    assert_eq!(
        (day.min_temperature, day.max_temperature),
        (Some(2.3), Some(12.6))
    );
    assert_eq!(day.precipitation, Some(1.6));
    assert_eq!(day.max_precipitation_probability, Some(61.0));

    // A small model's context must hold it: about a third of SmolLM2's default window.
    let size = serde_json::to_string(&output).unwrap().len();
    assert!(size < 3_000, "a day of hourly data is {size} bytes");
}

#[tokio::test]
async fn relative_days_are_the_places_own() {
    let server = FakeOpenMeteo::start(date(2026, 12, 4), Mode::Normal).await;
    // 23:30 UTC on the 3rd is already 00:30 on the 4th in Madrid.
    let (tool, _) = weather_tools(config(&server), clock("2026-12-03T23:30:00Z")).unwrap();
    let output = tool.call(hourly("tomorrow", "+2")).await.unwrap();

    let query = server.last_query();
    assert_eq!(
        (query["start_date"].as_str(), query["end_date"].as_str()),
        ("2026-12-05", "2026-12-06")
    );
    assert_eq!(output.rows.len(), 48);
    assert_eq!(output.days.len(), 2);
    assert_eq!(output.days[1].date, "2026-12-06");
}

#[tokio::test]
async fn bad_days_are_refused_before_any_request() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Normal).await;
    let (tool, daily) = weather_tools(config(&server), clock(MORNING)).unwrap();

    let cases: [(HourlyArgs, &str); 5] = [
        (hourly("tomorrow", "today"), "is before from_date"),
        (hourly("today", "+3"), "at most 3 days of hourly data"),
        (
            hourly("+20", "+20"),
            "outside the forecast, which covers 2026-09-02 to 2026-12-18",
        ),
        (hourly("2024-01-01", "2024-01-01"), "outside the forecast"),
        (hourly("next monday", "today"), "is not a day"),
    ];
    for (args, expected) in cases {
        let error = tool.call(args).await.unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error:?} should say {expected:?}"
        );
    }
    let error = daily.call(DailyArgs { days: 0 }).await.unwrap_err();
    assert!(error.to_string().contains("between 1 and 16"), "{error}");
    let error = daily.call(DailyArgs { days: 17 }).await.unwrap_err();
    assert!(matches!(error, WeatherError::Range(_)), "{error}");
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn the_daily_forecast_has_a_line_per_day_in_words() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Normal).await;
    let (_, tool) = weather_tools(config(&server), clock(MORNING)).unwrap();
    let output = tool.call(DailyArgs { days: 7 }).await.unwrap();

    assert_eq!(server.last_query()["forecast_days"], "7");
    assert_eq!(output.days.len(), 7);
    assert_eq!(
        serde_json::to_value(&output.days[0]).unwrap(),
        json!({
            "date": "2026-12-03",
            "weekday": "Thursday",
            "weather": "moderate rain",
            "max_temperature": 12.6,
            "min_temperature": 2.3,
            "precipitation": 1.6,
            "precipitation_probability": 61,
        })
    );
    assert_eq!(output.days[6]["weekday"], "Wednesday");
    assert_eq!(output.units["precipitation_probability"], "%");
}

#[tokio::test]
async fn the_apis_error_answer_becomes_a_clear_tool_error() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Refuse).await;
    let (tool, _) = weather_tools(config(&server), clock(MORNING)).unwrap();
    let error = tool
        .call(hourly("today", "today"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "the weather service refused the request: Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly"
    );
}

#[tokio::test]
async fn a_slow_answer_past_the_timeout_is_an_error() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Slow(Duration::from_secs(5))).await;
    let (tool, _) = weather_tools(config(&server), clock(MORNING)).unwrap();
    let started = Instant::now();
    let error = tool
        .call(hourly("today", "today"))
        .await
        .unwrap_err()
        .to_string();

    assert!(error.contains("did not answer within 0.5 s"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_answer_whose_columns_disagree_is_refused() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Broken).await;
    let (tool, _) = weather_tools(config(&server), clock(MORNING)).unwrap();
    let error = tool
        .call(hourly("today", "today"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("could not be read") && error.contains("23 values for 24 times"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_service_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = WeatherConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        ..WeatherConfig::default()
    };
    let (tool, _) = weather_tools(config, clock(MORNING)).unwrap();
    let error = tool
        .call(hourly("today", "today"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("unavailable") && error.contains("refused"),
        "{error}"
    );
}

#[tokio::test]
async fn a_repeated_question_is_answered_from_the_cache() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Normal).await;
    let config = WeatherConfig {
        cache_ttl: Duration::from_millis(300),
        ..config(&server)
    };
    let (tool, daily) = weather_tools(config, clock(MORNING)).unwrap();

    let first = tool.call(hourly("today", "today")).await.unwrap();
    let second = tool.call(hourly("2026-12-03", "today")).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(
        server.requests(),
        1,
        "the same question, written two ways, costs one request"
    );

    daily.call(DailyArgs { days: 3 }).await.unwrap();
    assert_eq!(server.requests(), 2, "another question is asked");

    tokio::time::sleep(Duration::from_millis(400)).await;
    tool.call(hourly("today", "today")).await.unwrap();
    assert_eq!(server.requests(), 3, "an expired answer is asked again");
}

#[tokio::test]
async fn the_tools_register_with_schemas_a_small_model_can_fill() {
    let server = FakeOpenMeteo::start(date(2026, 12, 3), Mode::Normal).await;
    let mut tools = ToolSet::new();
    weather::register(&mut tools, config(&server)).unwrap();
    let specs = tools.specs();
    let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
    assert_eq!(names, ["get_daily_forecast", "get_hourly_weather_data"]);

    let daily = &specs[0].input_schema;
    assert_eq!(daily["properties"]["days"]["type"], "integer");
    assert_eq!(daily["properties"]["days"]["minimum"], 1);
    assert_eq!(daily["properties"]["days"]["maximum"], 16);
    let hourly = &specs[1].input_schema;
    assert_eq!(hourly["required"], json!(["from_date", "to_date"]));
    assert_eq!(hourly["properties"]["from_date"]["type"], "string");
    assert!(
        hourly["properties"]["from_date"]["description"]
            .as_str()
            .unwrap()
            .contains("tomorrow")
    );
    assert!(specs[1].description.contains("Madrid"));

    let output = tools
        .call(
            "get_daily_forecast",
            json!({ "days": 2 }),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(output["days"].as_array().unwrap().len(), 2);
}

#[test]
fn the_prompt_knows_today_the_place_and_its_zone() {
    let prompt = weather::system_prompt(&WeatherConfig::default(), date(2026, 12, 3));
    assert!(prompt.contains("Thursday 2026-12-03"), "{prompt}");
    assert!(prompt.contains("tomorrow is 2026-12-04"), "{prompt}");
    assert!(
        prompt.contains("Madrid") && prompt.contains("Europe/Madrid"),
        "{prompt}"
    );
}

#[test]
fn the_starters_are_the_original_three() {
    let messages: Vec<&str> = STARTERS.iter().map(|starter| starter.message).collect();
    assert_eq!(
        messages,
        [
            "Is going to rain today?",
            "What will the weather be like tomorrow?",
            "Make a weather forecast for the next 7 days."
        ]
    );
}

#[test]
fn a_config_with_an_unknown_zone_is_refused() {
    let config = WeatherConfig {
        timezone: "Mars/Olympus".into(),
        ..WeatherConfig::default()
    };
    assert!(matches!(
        weather_tools(config, Clock::system()),
        Err(WeatherError::TimeZone(_))
    ));
}
