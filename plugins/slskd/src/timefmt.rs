//! slskd's timestamps: ISO-8601 with or without `Z` (`requestedAt` and `enqueuedAt` have none;
//! all of them are UTC).

use chrono::{DateTime, NaiveDateTime};

/// Milliseconds since the Unix epoch, or `None` when the text is not a timestamp.
pub fn timestamp_ms(text: &str) -> Option<i64> {
    let moment = DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| text.parse::<NaiveDateTime>().map(|t| t.and_utc()))
        .ok()?;
    Some(moment.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_and_without_zone_agree() {
        let with = timestamp_ms("2026-08-22T18:04:11.5120346Z").unwrap();
        let without = timestamp_ms("2026-08-22T18:04:11.5120346").unwrap();
        assert_eq!(with, without);
        assert_eq!(
            timestamp_ms("2026-08-22T18:04:11Z").unwrap(),
            1_787_421_851_000
        );
        assert_eq!(
            timestamp_ms("2026-08-22T18:04:11.515188").unwrap() % 1000,
            515
        );
        assert_eq!(timestamp_ms("yesterday"), None);
    }
}
