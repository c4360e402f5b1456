//! slskd's time formats: ISO-8601 timestamps with or without `Z` (a missing zone is UTC), and
//! .NET TimeSpan strings `[d.]hh:mm:ss[.fffffff]`.

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

/// Seconds in a TimeSpan string, or `None` when it is not one.
pub fn timespan_secs(text: &str) -> Option<f64> {
    let (days, clock) = match text.split_once(':') {
        // "d.hh:mm:ss": the part before the first ':' may carry days.
        Some((head, _)) if head.contains('.') => {
            let (d, rest) = text.split_once('.')?;
            (d.parse::<f64>().ok()?, rest)
        }
        _ => (0.0, text),
    };
    let mut parts = clock.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(0.0..60.0).contains(&minutes) || !(0.0..60.0).contains(&seconds)
    {
        return None;
    }
    Some(days * 86_400.0 + hours * 3_600.0 + minutes * 60.0 + seconds)
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

    #[test]
    fn timespans_parse() {
        assert_eq!(timespan_secs("00:00:00"), Some(0.0));
        let s = timespan_secs("00:01:25.1758398").unwrap();
        assert!((s - 85.1758398).abs() < 1e-9);
        assert_eq!(timespan_secs("1.02:03:04"), Some(93_784.0));
        assert_eq!(timespan_secs("nonsense"), None);
        assert_eq!(timespan_secs("00:61:00"), None);
    }
}
