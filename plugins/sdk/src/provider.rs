//! The [`Provider`] trait: what a plugin implements.

use crate::types::{
    Capabilities, Enqueued, Health, PluginInfo, ProviderError, SearchProgress, Source, TrackQuery,
    Transfer, TransferRef,
};

/// A download provider, as the host sees it: the WIT world's exports as plain Rust.
///
/// Every call may run in a fresh instance of the plugin, so the trait has no `self`: keep no
/// state between calls, and name what must survive (a search, a transfer) by the handle you
/// return, or keep it in your service. Calls are short and have a hard deadline; split long
/// work (start a search, then poll it).
///
/// `info`, `ping`, `enqueue`, `list_transfers` and `cancel` are required. The others belong to
/// optional capabilities and answer an error by default, so a provider without them implements
/// less:
///
/// | capability declared in `info` | calls it promises |
/// |---|---|
/// | [`Capabilities::SEARCH`] | [`start_search`](Provider::start_search), [`poll_search`](Provider::poll_search), [`end_search`](Provider::end_search) |
/// | [`Capabilities::REMOVE`] | [`remove`](Provider::remove) |
/// | [`Capabilities::PAUSE`] | [`pause`](Provider::pause), [`resume`](Provider::resume) |
/// | [`Capabilities::QUEUE_POSITION`] | [`queue_position`](Provider::queue_position) |
///
/// The host never makes a call whose capability is not declared. **A provider that declares a
/// capability must implement its calls**: the default implementations check this, answering
/// [`ProviderError::Internal`] naming the missing call when the capability is declared (a plugin
/// bug, which shows in the host's log and in `tributary plugins check --conformance`), and
/// [`ProviderError::Unsupported`] when it is not.
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

    /// Polls a search started by [`start_search`](Provider::start_search): every candidate
    /// found so far, and whether more may come. Part of [`Capabilities::SEARCH`].
    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        let _ = search_id;
        Err(not_implemented::<Self>(Capabilities::SEARCH, "poll-search"))
    }

    /// The host is done with a search: stop it if it still runs and forget it at the service.
    /// Called once for every search started. Part of [`Capabilities::SEARCH`].
    fn end_search(search_id: String) -> Result<(), ProviderError> {
        let _ = search_id;
        Err(not_implemented::<Self>(Capabilities::SEARCH, "end-search"))
    }

    /// Asks the provider to fetch a file; returns the provider's id for the transfer (and when
    /// the provider created it, if it says).
    fn enqueue(source: Source) -> Result<Enqueued, ProviderError>;

    /// Every transfer the provider currently knows of.
    fn list_transfers() -> Result<Vec<Transfer>, ProviderError>;

    /// Stops a transfer. It may end a moment later; the host watches for it in
    /// [`list_transfers`](Provider::list_transfers).
    fn cancel(transfer: TransferRef) -> Result<(), ProviderError>;

    /// Drops an ended transfer from the provider's list, never its file. Part of
    /// [`Capabilities::REMOVE`].
    fn remove(transfer: TransferRef) -> Result<(), ProviderError> {
        let _ = transfer;
        Err(not_implemented::<Self>(
            Capabilities::REMOVE,
            "remove-transfer",
        ))
    }

    /// Holds a transfer at the provider. Part of [`Capabilities::PAUSE`].
    fn pause(transfer: TransferRef) -> Result<(), ProviderError> {
        let _ = transfer;
        Err(not_implemented::<Self>(
            Capabilities::PAUSE,
            "pause-transfer",
        ))
    }

    /// Continues a held transfer. Part of [`Capabilities::PAUSE`].
    fn resume(transfer: TransferRef) -> Result<(), ProviderError> {
        let _ = transfer;
        Err(not_implemented::<Self>(
            Capabilities::PAUSE,
            "resume-transfer",
        ))
    }

    /// Asks the remote peer where a transfer stands in its queue; `None` when it does not say.
    /// The host calls it sparingly. Part of [`Capabilities::QUEUE_POSITION`].
    fn queue_position(transfer: TransferRef) -> Result<Option<u32>, ProviderError> {
        let _ = transfer;
        Err(not_implemented::<Self>(
            Capabilities::QUEUE_POSITION,
            "queue-position",
        ))
    }
}

/// The answer of an optional call the provider does not implement: a plugin bug when its
/// `info` declares the capability, `unsupported` otherwise (see [`Provider`]).
fn not_implemented<P: Provider + ?Sized>(capability: Capabilities, call: &str) -> ProviderError {
    let info = P::info();
    let name = capability_name(capability);
    if info.capabilities.contains(capability) {
        ProviderError::Internal(format!(
            "plugin {} declares the `{name}` capability but does not implement `{call}`",
            info.id
        ))
    } else {
        ProviderError::Unsupported(format!(
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
    } else if capability == Capabilities::REMOVE {
        "remove"
    } else if capability == Capabilities::QUEUE_POSITION {
        "queue-position"
    } else {
        "(several capabilities)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Declares search and remove but implements none of it: the bug the defaults report.
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
            peer_files: true,
            uri_schemes: Vec::new(),
        }
    }

    macro_rules! required_calls {
        () => {
            fn ping() -> Result<Health, ProviderError> {
                unimplemented!()
            }
            fn enqueue(_: Source) -> Result<Enqueued, ProviderError> {
                unimplemented!()
            }
            fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
                unimplemented!()
            }
            fn cancel(_: TransferRef) -> Result<(), ProviderError> {
                unimplemented!()
            }
        };
    }

    impl Provider for Forgetful {
        fn info() -> PluginInfo {
            info("forgetful", Capabilities::SEARCH | Capabilities::REMOVE)
        }
        required_calls!();
    }

    impl Provider for Basic {
        fn info() -> PluginInfo {
            info("basic", Capabilities::empty())
        }
        required_calls!();
    }

    fn reference() -> TransferRef {
        TransferRef {
            external_id: "x".into(),
            peer: "p".into(),
        }
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
            Forgetful::remove(reference()),
            Err(ProviderError::Internal(m)) if m.contains("`remove-transfer`")
        ));
    }

    #[test]
    fn an_undeclared_capability_is_unsupported() {
        let query = TrackQuery {
            artist: "a".into(),
            title: "t".into(),
            album: None,
            duration_secs: None,
            search_timeout_ms: 1,
        };
        assert_eq!(
            Basic::start_search(query).unwrap_err(),
            ProviderError::Unsupported(
                "plugin basic does not provide the `search` capability (`start-search`)".into()
            )
        );
        for answer in [
            Basic::end_search("s".into()),
            Basic::remove(reference()),
            Basic::pause(reference()),
            Basic::resume(reference()),
        ] {
            assert!(matches!(answer, Err(ProviderError::Unsupported(_))));
        }
        assert!(matches!(
            Basic::queue_position(reference()),
            Err(ProviderError::Unsupported(_))
        ));
    }
}
