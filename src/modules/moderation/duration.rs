//! Durations of temporary bans and mutes: `30m`, `4h`, `2d`, `1w` (and the
//! rest of humantime's grammar), from one minute to 365 days. Telegram
//! takes less than 30 seconds or more than 366 days as "forever": such a
//! duration is refused, never passed on.

use std::time::Duration;

pub const SHORTEST: Duration = Duration::from_secs(60);
pub const LONGEST: Duration = Duration::from_secs(365 * 24 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// Not a duration at all.
    Invalid,
    TooShort,
    TooLong,
}

impl DurationError {
    pub fn locale_key(self) -> &'static str {
        match self {
            DurationError::Invalid => "mod-duration-invalid",
            DurationError::TooShort => "mod-duration-too-short",
            DurationError::TooLong => "mod-duration-too-long",
        }
    }
}

pub fn parse(word: &str) -> Result<Duration, DurationError> {
    // humantime reads "1M" as a month and "1m" as a minute; a number alone
    // means nothing to it, nor to a user.
    let duration = humantime::parse_duration(word).map_err(|_| DurationError::Invalid)?;
    if duration < SHORTEST {
        Err(DurationError::TooShort)
    } else if duration > LONGEST {
        Err(DurationError::TooLong)
    } else {
        Ok(duration)
    }
}

/// A duration as users write it ("2d 4h"), to the minute.
pub fn format(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    let parts = [
        (minutes / (24 * 60), "d"),
        (minutes / 60 % 24, "h"),
        (minutes % 60, "m"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect();
    if text.is_empty() {
        "0m".to_owned()
    } else {
        text.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_forms_parse() {
        assert_eq!(parse("30m"), Ok(Duration::from_secs(30 * 60)));
        assert_eq!(parse("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse("1w"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("365d"), Ok(LONGEST));
        assert_eq!(parse("1m"), Ok(SHORTEST));
    }

    #[test]
    fn what_telegram_would_take_as_forever_is_refused() {
        assert_eq!(parse("30s"), Err(DurationError::TooShort));
        assert_eq!(parse("59s"), Err(DurationError::TooShort));
        assert_eq!(parse("366d"), Err(DurationError::TooLong));
        assert_eq!(parse("2y"), Err(DurationError::TooLong));
        assert_eq!(parse("10"), Err(DurationError::Invalid));
        assert_eq!(parse("soon"), Err(DurationError::Invalid));
        assert_eq!(parse(""), Err(DurationError::Invalid));
        assert_eq!(parse("-1h"), Err(DurationError::Invalid));
    }

    #[test]
    fn durations_read_back() {
        assert_eq!(format(Duration::from_secs(2 * 86400 + 4 * 3600)), "2d 4h");
        assert_eq!(format(Duration::from_secs(7 * 86400 + 30 * 60)), "7d 30m");
        assert_eq!(format(Duration::from_secs(90)), "1m");
        assert_eq!(format(LONGEST), "365d");
    }
}
