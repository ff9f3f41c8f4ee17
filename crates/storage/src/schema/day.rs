//! `DayTime`: a schema period's `from`, written `YYYY-MM-DD` (UTC midnight) as in Cortex.

use std::fmt;

use neocortex_core::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar day, kept as the millisecond timestamp of its midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DayTime {
    /// Milliseconds since the epoch of the day's UTC midnight.
    pub start_ms: i64,
}

impl DayTime {
    /// The day starting `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        Self { start_ms: days * MS_PER_DAY }
    }

    /// Days since 1970-01-01.
    pub fn days(&self) -> i64 {
        self.start_ms.div_euclid(MS_PER_DAY)
    }
}

/// Why a `from` date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {0:?} as \"2006-01-02\": expected YYYY-MM-DD")]
pub struct DayTimeError(pub String);

impl std::str::FromStr for DayTime {
    type Err = DayTimeError;

    /// Parses `YYYY-MM-DD` strictly (Go's `2006-01-02` layout: zero-padded, valid day of month).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || DayTimeError(text.to_string());
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(err());
        }
        let number = |range: std::ops::Range<usize>| -> Result<i64, DayTimeError> {
            let part = &text[range];
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            part.parse::<i64>().map_err(|_| err())
        };
        let year = number(0..4)?;
        let month = number(5..7)?;
        let day = number(8..10)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err());
        }
        Ok(Self::from_days(days_from_civil(year, month, day)))
    }
}

impl fmt::Display for DayTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.days());
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl serde::Serialize for DayTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DayTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_dates() {
        let day: DayTime = "2020-01-01".parse().unwrap();
        assert_eq!(day.start_ms, 1_577_836_800_000);
        assert_eq!(day.to_string(), "2020-01-01");
        let leap: DayTime = "2024-02-29".parse().unwrap();
        assert_eq!(leap.to_string(), "2024-02-29");
        assert_eq!("1970-01-01".parse::<DayTime>().unwrap().start_ms, 0);
    }

    #[test]
    fn refuses_malformed_dates() {
        for bad in ["2023-02-29", "2020-1-01", "2020-13-01", "2020-01-32", "20-01-01", "2020/01/01", ""] {
            assert!(bad.parse::<DayTime>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn round_trips_every_day_for_a_century() {
        for days in 0..36_500 {
            let day = DayTime::from_days(days);
            assert_eq!(day.to_string().parse::<DayTime>().unwrap(), day);
        }
    }
}
