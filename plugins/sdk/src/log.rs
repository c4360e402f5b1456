//! Log lines into the host's log, tagged there with the plugin's id.
//!
//! The host redacts the values of secret config keys from every line, but a provider should
//! still not log credentials on purpose. Use the macros ([`crate::info!`], [`crate::warn!`], …),
//! which format like `format!`.

pub use crate::wit::tributary::provider::log::Level;

/// Writes one line at `level`.
pub fn write(level: Level, message: &str) {
    crate::wit::tributary::provider::log::log(level, message);
}

/// Logs at trace level, formatting like `format!`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Trace, &::std::format!($($arg)+))
    };
}

/// Logs at debug level, formatting like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs at info level, formatting like `format!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs at warn level, formatting like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs at error level, formatting like `format!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)+))
    };
}
