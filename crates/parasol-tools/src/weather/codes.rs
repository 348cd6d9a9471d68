//! WMO weather interpretation codes, as Open-Meteo reports them, in words.

/// The words for a WMO weather code (table 4677, the subset Open-Meteo uses).
pub fn describe(code: u8) -> &'static str {
    match code {
        0 => "clear sky",
        1 => "mainly clear",
        2 => "partly cloudy",
        3 => "overcast",
        45 => "fog",
        48 => "depositing rime fog",
        51 => "light drizzle",
        53 => "moderate drizzle",
        55 => "dense drizzle",
        56 => "light freezing drizzle",
        57 => "dense freezing drizzle",
        61 => "slight rain",
        63 => "moderate rain",
        65 => "heavy rain",
        66 => "light freezing rain",
        67 => "heavy freezing rain",
        71 => "slight snow fall",
        73 => "moderate snow fall",
        75 => "heavy snow fall",
        77 => "snow grains",
        80 => "slight rain showers",
        81 => "moderate rain showers",
        82 => "violent rain showers",
        85 => "slight snow showers",
        86 => "heavy snow showers",
        95 => "thunderstorm",
        96 => "thunderstorm with slight hail",
        99 => "thunderstorm with heavy hail",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn codes_read_as_words() {
        assert_eq!(describe(0), "clear sky");
        assert_eq!(describe(63), "moderate rain");
        assert_eq!(describe(99), "thunderstorm with heavy hail");
        assert_eq!(describe(42), "unknown");
    }
}
