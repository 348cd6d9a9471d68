//! A local server that answers like Open-Meteo's forecast API.
//!
//! Its answers are built from a fixture of one real-shaped December day in Madrid
//! (hourly) and sixteen days (daily), re-dated to what is asked, with the API's own
//! envelope, units and error answers. It checks what it is asked the way the API does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde_json::{Map, Value, json};

/// How the server behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Answer like the API.
    Normal,
    /// Answer after this long.
    Slow(Duration),
    /// Answer every request with the API's error object.
    Refuse,
    /// Answer with columns of different lengths.
    Broken,
}

#[derive(Clone)]
struct Server {
    fixture: Arc<Value>,
    today: Date,
    mode: Mode,
    requests: Arc<AtomicUsize>,
    queries: Arc<std::sync::Mutex<Vec<HashMap<String, String>>>>,
}

pub struct FakeOpenMeteo {
    pub addr: SocketAddr,
    server: Server,
}

impl FakeOpenMeteo {
    pub async fn start(today: Date, mode: Mode) -> Self {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/open_meteo_madrid.json"
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let server = Server {
            fixture: Arc::new(fixture),
            today,
            mode,
            requests: Arc::default(),
            queries: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/v1/forecast", axum::routing::get(forecast))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.server.requests.load(Ordering::SeqCst)
    }

    pub fn last_query(&self) -> HashMap<String, String> {
        self.server.queries.lock().unwrap().last().cloned().unwrap()
    }
}

fn refuse(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": true, "reason": reason })),
    )
        .into_response()
}

fn days_between(from: Date, to: Date) -> Vec<Date> {
    let mut days = vec![from];
    while let Some(next) = days
        .last()
        .and_then(|day| day.tomorrow().ok())
        .filter(|next| *next <= to)
    {
        days.push(next);
    }
    days
}

async fn forecast(
    State(server): State<Server>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    server.requests.fetch_add(1, Ordering::SeqCst);
    server.queries.lock().unwrap().push(query.clone());
    match server.mode {
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Refuse => {
            return refuse(
                "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly",
            );
        }
        Mode::Normal | Mode::Broken => {}
    }
    if query
        .get("latitude")
        .and_then(|v| v.parse::<f64>().ok())
        .is_none_or(|lat| !(-90.0..=90.0).contains(&lat))
    {
        return refuse("Latitude must be in range of -90 to 90°. Given: nan.");
    }
    let fixture = &server.fixture;
    let first = server
        .today
        .checked_sub(jiff::Span::new().days(92))
        .unwrap();
    let last = server
        .today
        .checked_add(jiff::Span::new().days(15))
        .unwrap();
    let mut body = Map::new();
    for key in [
        "latitude",
        "longitude",
        "generationtime_ms",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
    ] {
        body.insert(key.into(), fixture[key].clone());
    }

    if let Some(fields) = query.get("hourly")
        && let Err(reason) = hourly(&server, &query, fields, first, last, &mut body)
    {
        return refuse(&reason);
    }
    if let Some(fields) = query.get("daily")
        && let Err(reason) = daily(&server, &query, fields, &mut body)
    {
        return refuse(&reason);
    }
    Json(Value::Object(body)).into_response()
}

fn hourly(
    server: &Server,
    query: &HashMap<String, String>,
    fields: &str,
    first: Date,
    last: Date,
    body: &mut Map<String, Value>,
) -> Result<(), String> {
    let fixture = &server.fixture;
    let parse = |key: &str| query.get(key).and_then(|value| value.parse::<Date>().ok());
    let (Some(from), Some(to)) = (parse("start_date"), parse("end_date")) else {
        return Err("Parameter 'start_date' and 'end_date' must be set together".into());
    };
    if from < first || to > last {
        return Err(format!(
            "Parameter 'start_date' is out of allowed range from {first} to {last}"
        ));
    }
    if to < from {
        return Err("End-date must be larger or equal than start-date".into());
    }
    let days = days_between(from, to);
    let mut hourly = Map::new();
    let times: Vec<Value> = days
        .iter()
        .flat_map(|day| (0..24).map(move |hour| json!(format!("{day}T{hour:02}:00"))))
        .collect();
    hourly.insert("time".into(), Value::Array(times));
    let mut units = Map::new();
    units.insert("time".into(), json!("iso8601"));
    for field in fields.split(',') {
        let Some(profile) = fixture["hourly_day"][field].as_array() else {
            return Err(format!(
                "Cannot initialize WeatherVariable from invalid String value {field} for key hourly"
            ));
        };
        let mut column: Vec<Value> = days.iter().flat_map(|_| profile.iter().cloned()).collect();
        if server.mode == Mode::Broken {
            column.pop();
        }
        hourly.insert(field.into(), Value::Array(column));
        units.insert(field.into(), fixture["hourly_units"][field].clone());
    }
    body.insert("hourly_units".into(), Value::Object(units));
    body.insert("hourly".into(), Value::Object(hourly));
    Ok(())
}

fn daily(
    server: &Server,
    query: &HashMap<String, String>,
    fields: &str,
    body: &mut Map<String, Value>,
) -> Result<(), String> {
    let fixture = &server.fixture;
    let count: i64 = query
        .get("forecast_days")
        .and_then(|value| value.parse().ok())
        .unwrap_or(7);
    if !(0..=16).contains(&count) {
        return Err(format!(
            "Forecast days is invalid. Allowed range 0 to 16. Given {count}."
        ));
    }
    let to = server
        .today
        .checked_add(jiff::Span::new().days(count - 1))
        .unwrap();
    let days = days_between(server.today, to);
    let mut daily = Map::new();
    daily.insert(
        "time".into(),
        Value::Array(days.iter().map(|day| json!(day.to_string())).collect()),
    );
    let mut units = Map::new();
    units.insert("time".into(), json!("iso8601"));
    for field in fields.split(',') {
        let Some(values) = fixture["daily_days"][field].as_array() else {
            return Err(format!(
                "Cannot initialize WeatherVariable from invalid String value {field} for key daily"
            ));
        };
        daily.insert(field.into(), Value::Array(values[..days.len()].to_vec()));
        units.insert(field.into(), fixture["daily_units"][field].clone());
    }
    body.insert("daily_units".into(), Value::Object(units));
    body.insert("daily".into(), Value::Object(daily));
    Ok(())
}
