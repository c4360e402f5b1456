//! Generated bindings, one frozen module per supported WIT version.
//!
//! When `tributary:provider` gets a new version, its bindings go in a new module and `latest`
//! moves; older modules stay as they are and their values are converted to the latest types in
//! `convert`, so nothing past the runtime sees a version.

pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "tributary:provider/provider",
        imports: {
            "tributary:provider/http.send": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}

pub use v0_1_0 as latest;

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "tributary:provider";

/// The `tributary:provider` versions this host can load.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["0.1.0"];
