//! The `current_time` tool: the date and time now in an IANA time zone.

use std::fmt;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use parasol_agent::Tool;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest zone name looked up; IANA names are far shorter, and a bound keeps a
/// hostile name out of the error message.
const MAX_ZONE_NAME: usize = 64;

/// Why there is no time to tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrentTimeError {
    /// The zone is not in the time zone database.
    #[error(
        "unknown time zone `{name}`; use an IANA name such as `Europe/Paris`, \
         `America/New_York`, `Asia/Tokyo` or `UTC`"
    )]
    UnknownZone {
        /// The name asked for, cut short if it was long.
        name: String,
    },
    /// The time could not be written out.
    #[error("the time could not be formatted: {0}")]
    Format(String),
}

/// Where the tool reads the time from: the system clock, or a fixed instant in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Timestamp::now))
    }

    /// A clock that always reads `now`.
    pub fn fixed(now: Timestamp) -> Self {
        Self(Arc::new(move || now))
    }

    /// The instant now, by this clock.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The current time tool's arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CurrentTimeArgs {
    /// An IANA time zone name such as `Europe/Berlin` or `America/Chicago`; leave it out
    /// for the user's own zone.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// The time now, as the tool reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentTimeOutput {
    /// ISO 8601 with the UTC offset, to the second: `2026-12-03T10:15:00+01:00`.
    pub time: String,
    /// The canonical IANA name of the zone.
    pub time_zone: String,
    /// The day of the week, in English.
    pub weekday: String,
    /// The offset from UTC in force, `+01:00`.
    pub utc_offset: String,
}

/// Tells the date and time, which a model cannot know by itself.
#[derive(Debug, Clone)]
pub struct CurrentTime {
    default_zone: TimeZone,
    clock: Clock,
}

impl CurrentTime {
    /// A tool that answers in `default_zone` unless asked for another, from the system
    /// clock.
    pub fn new(default_zone: &str) -> Result<Self, CurrentTimeError> {
        Ok(Self {
            default_zone: zone(default_zone)?,
            clock: Clock::system(),
        })
    }

    /// The same tool reading the time from `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }
}

fn zone(name: &str) -> Result<TimeZone, CurrentTimeError> {
    let name = name.trim();
    let unknown = || CurrentTimeError::UnknownZone {
        name: name.chars().take(MAX_ZONE_NAME).collect(),
    };
    if name.is_empty() || name.len() > MAX_ZONE_NAME {
        return Err(unknown());
    }
    TimeZone::get(name).map_err(|_| unknown())
}

fn describe(now: &ZonedDateTime) -> Result<CurrentTimeOutput, CurrentTimeError> {
    let format = |pattern: &str| {
        jiff::fmt::strtime::format(pattern, now)
            .map_err(|error| CurrentTimeError::Format(error.to_string()))
    };
    Ok(CurrentTimeOutput {
        time: format("%Y-%m-%dT%H:%M:%S%:z")?,
        time_zone: now.time_zone().iana_name().unwrap_or("UTC").to_owned(),
        weekday: format("%A")?,
        utc_offset: format("%:z")?,
    })
}

impl Tool for CurrentTime {
    type Args = CurrentTimeArgs;
    type Output = CurrentTimeOutput;
    type Error = CurrentTimeError;
    const NAME: &'static str = "current_time";

    fn description(&self) -> String {
        let default = self.default_zone.iana_name().unwrap_or("UTC");
        format!(
            "Returns the current date and time (ISO 8601 with UTC offset), the weekday and \
             the time zone. Give an IANA time zone name for another place; without one the \
             answer is in {default}. Use it whenever the answer depends on today's date or \
             the time."
        )
    }

    async fn call(&self, args: CurrentTimeArgs) -> Result<CurrentTimeOutput, CurrentTimeError> {
        let zone = match args.time_zone.as_deref() {
            Some(name) if !name.trim().is_empty() => zone(name)?,
            _ => self.default_zone.clone(),
        };
        describe(&self.clock.now().to_zoned_datetime(zone))
    }
}
