//! The weather tools: Open-Meteo's forecast for one configured place.
//!
//! - `get_hourly_weather_data(from_date, to_date)`: hourly readings for up to three days;
//! - `get_daily_forecast(days)`: a line per day for up to sixteen days.
//!
//! Both answer in a compact table (column names once, then rows) so that a small model's
//! context holds a day of hourly data, and both accept the days as people say them
//! (`today`, `tomorrow`, `+N`) beside ISO dates. Identical questions within the cache
//! lifetime cost no request.

mod client;
mod codes;
mod dates;
mod prompt;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::Date;
use parasol_agent::{Tool, ToolSet};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use client::ClientError;
pub use codes::describe as describe_weather_code;
pub use dates::{DateError, parse_day};
pub use prompt::{STARTERS, Starter, system_prompt};

use crate::current_time::Clock;

/// Where the weather is for, and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct WeatherConfig {
    /// The place's name, as the user knows it.
    pub name: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The place's IANA time zone; days and hours are the place's own.
    pub timezone: String,
    /// The Open-Meteo API root: `https://api.open-meteo.com`, or a self-hosted one.
    pub base_url: String,
    /// How long one request may take.
    pub timeout: Duration,
    /// How long an answer is reused for an identical question.
    pub cache_ttl: Duration,
}

impl Default for WeatherConfig {
    fn default() -> Self {
        Self {
            name: "Madrid".into(),
            latitude: 40.4168,
            longitude: -3.7038,
            timezone: "Europe/Madrid".into(),
            base_url: "https://api.open-meteo.com".into(),
            timeout: Duration::from_secs(10),
            cache_ttl: Duration::from_secs(300),
        }
    }
}

/// Why the weather tools could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeatherError {
    /// A day the tool cannot use.
    #[error(transparent)]
    Date(#[from] DateError),
    /// The days are in the wrong order or too many.
    #[error("{0}")]
    Range(String),
    /// The service failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The configured time zone is unknown.
    #[error("the configured time zone `{0}` is unknown")]
    TimeZone(String),
}

/// The most days of hourly readings in one call: three days is already 72 rows.
pub const MAX_HOURLY_DAYS: i64 = 3;

const HOURLY: [(&str, &str); 8] = [
    ("temperature_2m", "temperature"),
    ("apparent_temperature", "apparent_temperature"),
    ("relative_humidity_2m", "humidity"),
    ("precipitation", "precipitation"),
    ("precipitation_probability", "precipitation_probability"),
    ("surface_pressure", "pressure"),
    ("et0_fao_evapotranspiration", "evapotranspiration"),
    ("weather_code", "weather"),
];

const DAILY: [(&str, &str); 5] = [
    ("weather_code", "weather"),
    ("temperature_2m_max", "max_temperature"),
    ("temperature_2m_min", "min_temperature"),
    ("precipitation_sum", "precipitation"),
    ("precipitation_probability_max", "precipitation_probability"),
];

/// What both tools share: the place, the client and the clock.
#[derive(Debug, Clone)]
struct Forecast {
    config: WeatherConfig,
    client: client::Client,
    clock: Clock,
    zone: jiff::tz::TimeZone,
}

impl Forecast {
    fn new(config: WeatherConfig, clock: Clock) -> Result<Self, WeatherError> {
        let zone = jiff::tz::TimeZone::get(&config.timezone)
            .map_err(|_| WeatherError::TimeZone(config.timezone.clone()))?;
        let client = client::Client::new(&config.base_url, config.timeout, config.cache_ttl)?;
        Ok(Self {
            config,
            client,
            clock,
            zone,
        })
    }

    /// Today at the place.
    fn today(&self) -> Date {
        self.clock.now().to_zoned_datetime(self.zone.clone()).date()
    }

    /// The query for the `series` ("hourly" or "daily") readings in `names`.
    fn query(&self, series: &'static str, names: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let fields: Vec<&str> = names.iter().map(|(api, _)| *api).collect();
        vec![
            ("latitude", self.config.latitude.to_string()),
            ("longitude", self.config.longitude.to_string()),
            ("timezone", self.config.timezone.clone()),
            (series, fields.join(",")),
        ]
    }
}

/// The part of an Open-Meteo answer the tools read.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    hourly_units: BTreeMap<String, String>,
    #[serde(default)]
    hourly: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    daily_units: BTreeMap<String, String>,
    #[serde(default)]
    daily: BTreeMap<String, Vec<Value>>,
}

/// One series of an answer, turned from columns into rows.
struct Table {
    /// The `time` column.
    times: Vec<Value>,
    /// One row per time, cells in the order of the names asked for; weather codes are
    /// already in words.
    rows: Vec<Vec<Value>>,
    /// Units by the model's column names.
    units: BTreeMap<String, String>,
}

/// Columns of `series` renamed for the model, with their units, checked to be of one
/// length.
fn table(
    series: &BTreeMap<String, Vec<Value>>,
    units: &BTreeMap<String, String>,
    names: &[(&str, &str)],
) -> Result<Table, WeatherError> {
    let malformed = |what: String| WeatherError::Client(ClientError::Malformed(what));
    let time = series
        .get("time")
        .ok_or_else(|| malformed("no `time` column".into()))?;
    let mut columns = Vec::new();
    let mut named_units = BTreeMap::new();
    for (api, name) in names {
        let column = series
            .get(*api)
            .ok_or_else(|| malformed(format!("no `{api}` column")))?;
        if column.len() != time.len() {
            return Err(malformed(format!(
                "`{api}` has {} values for {} times",
                column.len(),
                time.len()
            )));
        }
        if let Some(unit) = units.get(*api).filter(|_| *name != "weather") {
            named_units.insert((*name).to_owned(), unit.clone());
        }
        columns.push(column);
    }
    let rows = (0..time.len())
        .map(|row| {
            let cells = columns.iter().zip(names);
            cells
                .map(|(column, (_, name))| cell(name, &column[row]))
                .collect()
        })
        .collect();
    Ok(Table {
        times: time.clone(),
        rows,
        units: named_units,
    })
}

/// A weather code cell in words; other cells as they came.
fn cell(name: &str, value: &Value) -> Value {
    match value.as_u64().and_then(|code| u8::try_from(code).ok()) {
        Some(code) if name == "weather" => Value::String(codes::describe(code).to_owned()),
        _ => value.clone(),
    }
}

/// `get_hourly_weather_data`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HourlyArgs {
    /// The first day: `today`, `tomorrow`, `+N` (N days from today) or `YYYY-MM-DD`.
    pub from_date: String,
    /// The last day, in the same forms; at most 2 days after `from_date`.
    pub to_date: String,
}

/// Hourly readings for a range of days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourlyOutput {
    /// The place.
    pub location: String,
    /// The time zone of the times.
    pub timezone: String,
    /// Units of the columns.
    pub units: BTreeMap<String, String>,
    /// One summary per day.
    pub days: Vec<DaySummary>,
    /// The column names of `rows`.
    pub columns: Vec<String>,
    /// One row per hour: the local time, then the columns.
    pub rows: Vec<Vec<Value>>,
}

/// The gist of a day's hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySummary {
    /// The day.
    pub date: String,
    /// The lowest temperature.
    pub min_temperature: Option<f64>,
    /// The highest temperature.
    pub max_temperature: Option<f64>,
    /// Total precipitation.
    pub precipitation: Option<f64>,
    /// The highest hourly chance of precipitation.
    pub max_precipitation_probability: Option<f64>,
}

/// The `get_hourly_weather_data` tool.
#[derive(Debug, Clone)]
pub struct HourlyWeather(Forecast);

impl Tool for HourlyWeather {
    type Args = HourlyArgs;
    type Output = HourlyOutput;
    type Error = WeatherError;
    const NAME: &'static str = "get_hourly_weather_data";

    fn description(&self) -> String {
        format!(
            "Hourly weather in {} (temperature, feels-like, humidity, precipitation and its \
             probability, pressure, evapotranspiration, sky) for one to three days.",
            self.0.config.name
        )
    }

    async fn call(&self, args: HourlyArgs) -> Result<HourlyOutput, WeatherError> {
        let today = self.0.today();
        let from = parse_day(&args.from_date, today)?;
        let to = parse_day(&args.to_date, today)?;
        if to < from {
            return Err(WeatherError::Range(format!(
                "to_date {to} is before from_date {from}"
            )));
        }
        if dates::shift(from, MAX_HOURLY_DAYS - 1).is_some_and(|last| to > last) {
            return Err(WeatherError::Range(format!(
                "at most {MAX_HOURLY_DAYS} days of hourly data at once; for longer, use get_daily_forecast"
            )));
        }
        let mut query = self.0.query("hourly", &HOURLY);
        query.push(("start_date", from.to_string()));
        query.push(("end_date", to.to_string()));
        let answer: Answer = self.0.client.forecast(&query).await?;
        hourly_output(&self.0.config, &answer)
    }
}

fn hourly_output(config: &WeatherConfig, answer: &Answer) -> Result<HourlyOutput, WeatherError> {
    let Table { times, rows, units } = table(&answer.hourly, &answer.hourly_units, &HOURLY)?;
    let mut days: Vec<DaySummary> = Vec::new();
    let mut out_rows = Vec::with_capacity(rows.len());
    for (time, row) in times.iter().zip(rows) {
        let time = time.as_str().unwrap_or_default();
        let date = time.get(..10).unwrap_or(time);
        if days.last().is_none_or(|day| day.date != date) {
            days.push(DaySummary {
                date: date.to_owned(),
                min_temperature: None,
                max_temperature: None,
                precipitation: None,
                max_precipitation_probability: None,
            });
        }
        if let Some(day) = days.last_mut() {
            summarise(day, &row);
        }
        let mut cells = vec![Value::String(time.to_owned())];
        cells.extend(row);
        out_rows.push(cells);
    }
    let mut columns = vec!["time".to_owned()];
    columns.extend(HOURLY.iter().map(|(_, name)| (*name).to_owned()));
    Ok(HourlyOutput {
        location: config.name.clone(),
        timezone: config.timezone.clone(),
        units,
        days,
        columns,
        rows: out_rows,
    })
}

/// Folds one hour (cells in `HOURLY` order: temperature first, precipitation fourth,
/// its probability fifth) into its day's summary.
fn summarise(day: &mut DaySummary, row: &[Value]) {
    let number = |index: usize| row.get(index).and_then(Value::as_f64);
    let keep = |slot: &mut Option<f64>, value: Option<f64>, pick: fn(f64, f64) -> f64| {
        if let Some(value) = value {
            *slot = Some(slot.map_or(value, |old| pick(old, value)));
        }
    };
    keep(&mut day.min_temperature, number(0), f64::min);
    keep(&mut day.max_temperature, number(0), f64::max);
    keep(&mut day.max_precipitation_probability, number(4), f64::max);
    if let Some(rain) = number(3) {
        let total = day.precipitation.unwrap_or(0.0) + rain;
        day.precipitation = Some((total * 100.0).round() / 100.0);
    }
}

/// `get_daily_forecast`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyArgs {
    /// How many days, starting today: 1 for today, 2 for today and tomorrow, 7 for a week.
    #[schemars(range(min = 1, max = 16))]
    pub days: u8,
}

/// A day-by-day forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyOutput {
    /// The place.
    pub location: String,
    /// Units of the numbers.
    pub units: BTreeMap<String, String>,
    /// One entry per day.
    pub days: Vec<BTreeMap<String, Value>>,
}

/// The `get_daily_forecast` tool.
#[derive(Debug, Clone)]
pub struct DailyForecast(Forecast);

impl Tool for DailyForecast {
    type Args = DailyArgs;
    type Output = DailyOutput;
    type Error = WeatherError;
    const NAME: &'static str = "get_daily_forecast";

    fn description(&self) -> String {
        format!(
            "Daily forecast for {}: sky, highest and lowest temperature, precipitation and its \
             highest probability, for 1 to 16 days from today.",
            self.0.config.name
        )
    }

    async fn call(&self, args: DailyArgs) -> Result<DailyOutput, WeatherError> {
        let days = i64::from(args.days);
        if !(1..=dates::FORECAST_DAYS).contains(&days) {
            return Err(WeatherError::Range(format!(
                "days must be between 1 and {}, not {days}",
                dates::FORECAST_DAYS
            )));
        }
        let mut query = self.0.query("daily", &DAILY);
        query.push(("forecast_days", days.to_string()));
        let answer: Answer = self.0.client.forecast(&query).await?;
        daily_output(&self.0.config, &answer)
    }
}

fn daily_output(config: &WeatherConfig, answer: &Answer) -> Result<DailyOutput, WeatherError> {
    let Table { times, rows, units } = table(&answer.daily, &answer.daily_units, &DAILY)?;
    let days = times
        .iter()
        .zip(rows)
        .map(|(date, row)| {
            let mut day = BTreeMap::new();
            day.insert("date".to_owned(), date.clone());
            if let Some(weekday) = date.as_str().and_then(|date| date.parse::<Date>().ok()) {
                day.insert(
                    "weekday".to_owned(),
                    json!(format!("{:?}", weekday.weekday())),
                );
            }
            for ((_, name), cell) in DAILY.iter().zip(row) {
                day.insert((*name).to_owned(), cell);
            }
            day
        })
        .collect();
    Ok(DailyOutput {
        location: config.name.clone(),
        units,
        days,
    })
}

/// The two weather tools for `config`, reading today's date from `clock`.
pub fn weather_tools(
    config: WeatherConfig,
    clock: Clock,
) -> Result<(HourlyWeather, DailyForecast), WeatherError> {
    let forecast = Forecast::new(config, clock)?;
    Ok((HourlyWeather(forecast.clone()), DailyForecast(forecast)))
}

/// Adds the weather tools to `tools`.
pub fn register(tools: &mut ToolSet, config: WeatherConfig) -> Result<(), WeatherError> {
    let (hourly, daily) = weather_tools(config, Clock::system())?;
    tools.register(hourly).register(daily);
    Ok(())
}
