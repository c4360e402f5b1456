//! Exporting a [`Provider`] as the component's implementation of the WIT world.

use std::marker::PhantomData;

use crate::Provider;
use crate::types::{
    Health, PluginInfo, ProviderError, SearchProgress, Source, TrackQuery, Transfer,
};

/// Adapts a [`Provider`] to the generated `Guest` trait. Used by [`crate::export_provider!`];
/// not meant to be named by plugins.
#[doc(hidden)]
pub struct Exported<P>(PhantomData<P>);

impl<P: Provider> crate::wit::Guest for Exported<P> {
    fn info() -> PluginInfo {
        P::info()
    }

    fn ping() -> Result<Health, ProviderError> {
        P::ping()
    }

    fn start_search(query: TrackQuery) -> Result<String, ProviderError> {
        P::start_search(query)
    }

    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        P::poll_search(search_id)
    }

    fn enqueue(source: Source) -> Result<String, ProviderError> {
        P::enqueue(source)
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        P::list_transfers()
    }

    fn cancel(external_id: String, peer: String, remove: bool) -> Result<(), ProviderError> {
        P::cancel(external_id, peer, remove)
    }

    fn clear_finished() -> Result<(), ProviderError> {
        P::clear_finished()
    }
}

/// Exports a type implementing [`Provider`](crate::Provider) as the plugin's component
/// exports. Use it once, in the plugin's `lib.rs`:
///
/// ```ignore
/// struct MyProvider;
/// impl tributary_plugin_sdk::Provider for MyProvider { /* … */ }
/// tributary_plugin_sdk::export_provider!(MyProvider);
/// ```
///
/// The plugin crate needs `crate-type = ["cdylib"]` (add `"rlib"` to unit-test it natively) and
/// no dependency on `wit-bindgen` of its own.
#[macro_export]
macro_rules! export_provider {
    ($provider:ty) => {
        const _: () = {
            // wit-bindgen's export macro takes a type name, not a path with generics.
            type __TributaryExportedProvider = $crate::__private::Exported<$provider>;
    $crate::wit::export!(__TributaryExportedProvider with_types_in $crate::wit);
        };
    };
}
