//! The plugin's configuration: the keys its `plugin.toml` declares, with the values the operator
//! granted (or the manifest's defaults).

use crate::types::ProviderError;

/// A config key the provider cannot work without has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}` has no value")]
pub struct MissingConfig {
    /// The key, as declared in `plugin.toml`.
    pub key: String,
}

impl From<MissingConfig> for ProviderError {
    /// A missing value is the plugin's (or its operator's) problem, not the service's.
    fn from(missing: MissingConfig) -> Self {
        ProviderError::Internal(missing.to_string())
    }
}

/// The value of `key`, or `None` when it has none.
///
/// An empty value counts as none: an operator who blanks a key (`api_key = ""`) means "unset".
/// Only keys declared in `plugin.toml` can have a value; the host answers none for any other.
pub fn get(key: &str) -> Option<String> {
    non_empty(crate::wit::tributary::provider::config::get(key))
}

/// The value of `key`, or an error naming the key when it has none (see [`get`]).
///
/// ```no_run
/// # use tributary_plugin_sdk::{config, ProviderError};
/// # fn f() -> Result<(), ProviderError> {
/// let url = config::require("url")?;
/// # Ok(()) }
/// ```
pub fn require(key: &str) -> Result<String, MissingConfig> {
    get(key).ok_or_else(|| MissingConfig {
        key: key.to_owned(),
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_none() {
        assert_eq!(non_empty(Some(String::new())), None);
        assert_eq!(non_empty(Some("x".into())), Some("x".into()));
        assert_eq!(non_empty(None), None);
    }

    #[test]
    fn a_missing_key_is_an_internal_error_that_names_it() {
        let error: ProviderError = MissingConfig { key: "url".into() }.into();
        assert_eq!(
            error,
            ProviderError::Internal("config key `url` has no value".into())
        );
    }
}
