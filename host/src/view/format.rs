//! Human formats, as the API's examples write them: binary units labelled KB/MB/GB, no
//! trailing ".0" ("512 KB/s", "33 MB", "36s", "2m 15s", "1h 5m").

const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];

/// `33 MB`, `1.5 GB`, `0 B`.
pub fn bytes(n: u64) -> String {
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{n} B");
    }
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0} {}", UNITS[unit])
    } else {
        format!("{rounded:.1} {}", UNITS[unit])
    }
}

/// `512 KB/s`.
pub fn speed(bytes_per_sec: f64) -> String {
    let b = if bytes_per_sec.is_finite() && bytes_per_sec > 0.0 {
        bytes_per_sec.round() as u64
    } else {
        0
    };
    format!("{}/s", bytes(b))
}

/// `36s`, `2m 15s`, `1h 5m`; `Unknown` when there is no estimate.
pub fn eta(seconds: Option<u64>) -> String {
    match seconds {
        None => "Unknown".to_owned(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        Some(s) => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_examples() {
        assert_eq!(speed(524_288.0), "512 KB/s");
        assert_eq!(eta(Some(36)), "36s");
        assert_eq!(eta(Some(135)), "2m 15s");
        assert_eq!(eta(Some(3900)), "1h 5m");
        assert_eq!(bytes(34_603_008), "33 MB");
    }

    #[test]
    fn edges() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1 KB");
        assert_eq!(bytes(1536), "1.5 KB");
        assert_eq!(bytes(15_728_640), "15 MB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
        assert_eq!(speed(0.0), "0 B/s");
        assert_eq!(speed(f64::NAN), "0 B/s");
        assert_eq!(eta(None), "Unknown");
        assert_eq!(eta(Some(0)), "0s");
        assert_eq!(eta(Some(60)), "1m 0s");
    }
}
