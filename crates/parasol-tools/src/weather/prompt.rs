//! The weather agent's instructions and its conversation starters.

use jiff::civil::Date;
use serde::Serialize;

use super::WeatherConfig;

/// A suggested first message, shown on an empty conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Starter {
    /// The button's text.
    pub label: &'static str,
    /// The message it sends.
    pub message: &'static str,
}

/// The three starters of the weather assistant.
pub const STARTERS: [Starter; 3] = [
    Starter {
        label: "Is going to rain today?",
        message: "Is going to rain today?",
    },
    Starter {
        label: "Tomorrow's weather",
        message: "What will the weather be like tomorrow?",
    },
    Starter {
        label: "Next 7 days weather",
        message: "Make a weather forecast for the next 7 days.",
    },
];

/// The system prompt of the weather assistant for `config`, on `today` at the place.
///
/// It is short and literal: the embedded model is tiny, and today's date with the
/// relative forms spelled out is what keeps it from asking for the wrong day.
pub fn system_prompt(config: &WeatherConfig, today: Date) -> String {
    let tomorrow = super::dates::shift(today, 1).map_or_else(String::new, |day| day.to_string());
    format!(
        "You are a weather assistant for {name}. Today is {weekday:?} {today} in {name} \
         (time zone {zone}); tomorrow is {tomorrow}.\n\
         Use the tools to answer questions about the weather; do not guess. Examples:\n\
         - \"Will it rain today?\": get_hourly_weather_data(from_date=\"today\", \
         to_date=\"today\")\n\
         - \"What about tomorrow?\": get_hourly_weather_data(from_date=\"tomorrow\", \
         to_date=\"tomorrow\")\n\
         - \"The next 7 days?\": get_daily_forecast(days=7)\n\
         Then answer in two or three short sentences with the numbers and their units.",
        name = config.name,
        weekday = today.weekday(),
        zone = config.timezone,
    )
}
