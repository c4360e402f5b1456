//! slskd's timestamps: ISO-8601 with or without `Z` (`requestedAt` and `enqueuedAt` have none;
//! all of them are UTC).

use time::format_description::well_known::Iso8601;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Milliseconds since the Unix epoch, or `None` when the text is not a timestamp.
pub fn timestamp_ms(text: &str) -> Option<i64> {
    let moment = OffsetDateTime::parse(text, &Iso8601::DEFAULT)
        .or_else(|_| {
            PrimitiveDateTime::parse(text, &Iso8601::DEFAULT).map(PrimitiveDateTime::assume_utc)
        })
        .ok()?;
    i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).ok()
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
