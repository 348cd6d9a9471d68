//! The days a weather question is about, as a person (or a small model) says them.
//!
//! Small models map "tomorrow" to today's date, so the tools take the relative words
//! too: `today`, `tomorrow`, `yesterday`, `+N` (N days from today), beside ISO dates.
//! Every day is checked against what the Open-Meteo forecast API serves.

use jiff::Span;
use jiff::civil::Date;

/// Days before today the forecast API still serves (its `past_days` limit).
pub const PAST_DAYS: i64 = 92;
/// Days the forecast API covers, today included (its `forecast_days` limit).
pub const FORECAST_DAYS: i64 = 16;

/// A day that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not a form the tool reads.
    #[error("`{0}` is not a day; write YYYY-MM-DD, today, tomorrow, yesterday or +N")]
    Unreadable(String),
    /// Outside what the forecast covers.
    #[error("{day} is outside the forecast, which covers {first} to {last}")]
    OutOfRange {
        /// The day asked for.
        day: Date,
        /// The first day served.
        first: Date,
        /// The last day served.
        last: Date,
    },
}

/// Reads `text` as a day, relative to `today` where it is relative.
pub fn parse_day(text: &str, today: Date) -> Result<Date, DateError> {
    let text = text.trim();
    let unreadable = || DateError::Unreadable(text.chars().take(40).collect());
    let offset = match text.to_ascii_lowercase().as_str() {
        "today" | "now" => Some(0),
        "tomorrow" => Some(1),
        "yesterday" => Some(-1),
        other => match other.strip_prefix('+') {
            Some(days) => Some(days.parse::<i64>().map_err(|_| unreadable())?),
            None => None,
        },
    };
    let day = match offset {
        Some(days) => shift(today, days).ok_or_else(unreadable)?,
        None => text.parse::<Date>().map_err(|_| unreadable())?,
    };
    check_served(day, today)?;
    Ok(day)
}

/// `day` moved by `days`, if the result is a date.
pub fn shift(day: Date, days: i64) -> Option<Date> {
    let span = Span::new().try_days(days).ok()?;
    day.checked_add(span).ok()
}

fn check_served(day: Date, today: Date) -> Result<(), DateError> {
    let (first, last) = served_range(today);
    if day < first || day > last {
        return Err(DateError::OutOfRange { day, first, last });
    }
    Ok(())
}

/// The first and last day the forecast API serves, seen from `today`.
pub fn served_range(today: Date) -> (Date, Date) {
    let first = shift(today, -PAST_DAYS).unwrap_or(today);
    let last = shift(today, FORECAST_DAYS - 1).unwrap_or(today);
    (first, last)
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    const TODAY: Date = date(2026, 12, 3);

    #[test]
    fn relative_words_are_read_from_today() {
        assert_eq!(parse_day("today", TODAY), Ok(TODAY));
        assert_eq!(parse_day("Tomorrow", TODAY), Ok(date(2026, 12, 4)));
        assert_eq!(parse_day("yesterday", TODAY), Ok(date(2026, 12, 2)));
        assert_eq!(parse_day("+6", TODAY), Ok(date(2026, 12, 9)));
        assert_eq!(parse_day(" 2026-12-11 ", TODAY), Ok(date(2026, 12, 11)));
    }

    #[test]
    fn days_the_api_does_not_serve_are_refused() {
        assert!(matches!(
            parse_day("+16", TODAY),
            Err(DateError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_day("2025-01-01", TODAY),
            Err(DateError::OutOfRange { .. })
        ));
        assert_eq!(parse_day("+15", TODAY), Ok(date(2026, 12, 18)));
    }

    #[test]
    fn other_text_is_not_a_day() {
        for text in ["next week", "2026-13-01", "+x", "", "+99999999999999999999"] {
            assert!(
                matches!(parse_day(text, TODAY), Err(DateError::Unreadable(_))),
                "{text}"
            );
        }
    }
}
