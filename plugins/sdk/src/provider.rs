//! The [`Provider`] trait: what a plugin implements.

use crate::types::{
    Capabilities, Health, PluginInfo, ProviderError, SearchProgress, Source, TrackQuery, Transfer,
};

/// A download provider, as the host sees it: the WIT world's exports as plain Rust.
///
/// Every call may run in a fresh instance of the plugin, so the trait has no `self`: keep no
/// state between calls, and name what must survive (a search, a transfer) by the handle you
/// return. Calls are short and have a hard deadline; split long work (start a search, then poll
/// it).
///
/// `info`, `ping`, `enqueue`, `list_transfers` and `cancel` are required. The others belong to
/// optional capabilities and answer an error by default, so a provider without them implements
/// less:
///
/// | capability declared in `info` | calls it promises |
/// |---|---|
/// | [`Capabilities::SEARCH`] | [`start_search`](Provider::start_search) and [`poll_search`](Provider::poll_search) |
/// | [`Capabilities::CLEAR_FINISHED`] | [`clear_finished`](Provider::clear_finished) |
///
/// **A provider that declares a capability must implement its calls.** The default
/// implementations check this: when the host reaches one of them while `info` declares its
/// capability, the answer is an [`ProviderError::Internal`] naming the call that is missing,
/// which shows in the host's log and counts against the provider's circuit breaker. When the
/// capability is not declared, the answer is [`ProviderError::NotFound`] ("does not provide"),
/// which is no fault of the provider's service and does not.
///
/// Export the implementation with [`crate::export_provider!`].
pub trait Provider {
    /// Who the plugin is. `id` must equal the `id` in `plugin.toml`.
    ///
    /// Must not call out (no HTTP, no config): the host calls it when it loads the plugin.
    fn info() -> PluginInfo;

    /// Is the provider's service reachable and ready?
    fn ping() -> Result<Health, ProviderError>;

    /// Starts a search for `query`; returns the handle [`poll_search`](Provider::poll_search)
    /// gets. Part of [`Capabilities::SEARCH`].
    fn start_search(query: TrackQuery) -> Result<String, ProviderError> {
        let _ = query;
        Err(not_implemented::<Self>(
            Capabilities::SEARCH,
            "start-search",
        ))
    }

    /// Polls a search started by [`start_search`](Provider::start_search). Part of
    /// [`Capabilities::SEARCH`].
    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        let _ = search_id;
        Err(not_implemented::<Self>(Capabilities::SEARCH, "poll-search"))
    }

    /// Asks the provider to fetch a file; returns the provider's id for the transfer.
    fn enqueue(source: Source) -> Result<String, ProviderError>;

    /// Every transfer the provider currently knows of.
    fn list_transfers() -> Result<Vec<Transfer>, ProviderError>;

    /// Cancels a transfer; with `remove`, also drops it from the provider's list once it has
    /// ended.
    fn cancel(external_id: String, peer: String, remove: bool) -> Result<(), ProviderError>;

    /// Drops every finished transfer from the provider's list. Part of
    /// [`Capabilities::CLEAR_FINISHED`].
    fn clear_finished() -> Result<(), ProviderError> {
        Err(not_implemented::<Self>(
            Capabilities::CLEAR_FINISHED,
            "clear-finished",
        ))
    }
}

/// The answer of an optional call the provider does not implement: a plugin bug when its
/// `info` declares the capability, a plain "not provided" otherwise (see [`Provider`]).
fn not_implemented<P: Provider + ?Sized>(capability: Capabilities, call: &str) -> ProviderError {
    let info = P::info();
    let name = capability_name(capability);
    if info.capabilities.contains(capability) {
        ProviderError::Internal(format!(
            "plugin {} declares the `{name}` capability but does not implement `{call}`",
            info.id
        ))
    } else {
        ProviderError::NotFound(format!(
            "plugin {} does not provide the `{name}` capability (`{call}`)",
            info.id
        ))
    }
}

/// The WIT name of one capability flag.
pub fn capability_name(capability: Capabilities) -> &'static str {
    if capability == Capabilities::SEARCH {
        "search"
    } else if capability == Capabilities::PAUSE {
        "pause"
    } else if capability == Capabilities::CLEAR_FINISHED {
        "clear-finished"
    } else if capability == Capabilities::QUEUE_POSITION {
        "queue-position"
    } else {
        "(several capabilities)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Declares search but implements none of it: the bug the defaults report.
    struct Forgetful;

    /// Declares nothing optional and implements nothing optional.
    struct Basic;

    fn info(id: &str, capabilities: Capabilities) -> PluginInfo {
        PluginInfo {
            id: id.into(),
            kind: "test".into(),
            display_name: id.into(),
            version: "0.0.0".into(),
            capabilities,
        }
    }

    macro_rules! required_calls {
        () => {
            fn ping() -> Result<Health, ProviderError> {
                unimplemented!()
            }
            fn enqueue(_: Source) -> Result<String, ProviderError> {
                unimplemented!()
            }
            fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
                unimplemented!()
            }
            fn cancel(_: String, _: String, _: bool) -> Result<(), ProviderError> {
                unimplemented!()
            }
        };
    }

    impl Provider for Forgetful {
        fn info() -> PluginInfo {
            info(
                "forgetful",
                Capabilities::SEARCH | Capabilities::CLEAR_FINISHED,
            )
        }
        required_calls!();
    }

    impl Provider for Basic {
        fn info() -> PluginInfo {
            info("basic", Capabilities::empty())
        }
        required_calls!();
    }

    #[test]
    fn a_declared_capability_without_its_calls_is_a_plugin_bug() {
        let error = Forgetful::poll_search("s".into()).unwrap_err();
        assert_eq!(
            error,
            ProviderError::Internal(
                "plugin forgetful declares the `search` capability but does not implement `poll-search`"
                    .into()
            )
        );
        assert!(matches!(
            Forgetful::clear_finished(),
            Err(ProviderError::Internal(m)) if m.contains("`clear-finished`")
        ));
    }

    #[test]
    fn an_undeclared_capability_is_not_provided() {
        let query = TrackQuery {
            artist: "a".into(),
            title: "t".into(),
            album: None,
            duration_secs: None,
            search_timeout_ms: 1,
        };
        assert_eq!(
            Basic::start_search(query).unwrap_err(),
            ProviderError::NotFound(
                "plugin basic does not provide the `search` capability (`start-search`)".into()
            )
        );
        assert!(matches!(
            Basic::clear_finished(),
            Err(ProviderError::NotFound(_))
        ));
    }
}
