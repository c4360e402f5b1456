//! Exporting a [`Provider`] as the component's implementation of the WIT world.

use std::marker::PhantomData;

use crate::Provider;
use crate::types::{
    Enqueued, Health, PluginInfo, ProviderError, SearchProgress, Source, TrackQuery, Transfer,
    TransferRef,
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

    fn end_search(search_id: String) -> Result<(), ProviderError> {
        P::end_search(search_id)
    }

    fn enqueue(source: Source) -> Result<Enqueued, ProviderError> {
        P::enqueue(source)
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        P::list_transfers()
    }

    fn cancel(transfer: TransferRef) -> Result<(), ProviderError> {
        P::cancel(transfer)
    }

    fn remove_transfer(transfer: TransferRef) -> Result<(), ProviderError> {
        P::remove(transfer)
    }

    fn pause_transfer(transfer: TransferRef) -> Result<(), ProviderError> {
        P::pause(transfer)
    }

    fn resume_transfer(transfer: TransferRef) -> Result<(), ProviderError> {
        P::resume(transfer)
    }

    fn queue_position(transfer: TransferRef) -> Result<Option<u32>, ProviderError> {
        P::queue_position(transfer)
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
