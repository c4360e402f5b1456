//! The bindings wit-bindgen generates for the WIT this SDK carries (`wit/provider.wit`).
//!
//! Providers rarely need this module: the types are re-exported by [`crate::types`], the imports
//! are wrapped by [`crate::http`], [`crate::config`], [`crate::log`] and [`crate::clock`], and
//! [`crate::export_provider!`] exports a [`crate::Provider`].
//!
//! On targets other than wasm32 the imports compile to stubs that panic when called, which is
//! why everything testable in this crate is kept apart from the calls into the host.

// Generated code: its shape (and its documentation, which comes from the WIT's comments) follows
// the contract, not our lint settings.
#![allow(missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "wit",
    world: "tributary:provider/provider",
    // The export macro is invoked from the plugin's crate, through `export_provider!`.
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "tributary_plugin_sdk::wit",
    // Plugin tests compare whole values (errors, candidates, transfers).
    additional_derives: [PartialEq],
});
