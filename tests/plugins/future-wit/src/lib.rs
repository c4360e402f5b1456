//! Built against `tributary:provider@0.9.0`, which the host does not support.

#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "tributary:provider/provider@0.9.0" });
}

struct Future;

impl bindings::Guest for Future {
    fn info() -> String {
        bindings::tributary::provider::log::log("from the future");
        "future".into()
    }
}

bindings::export!(Future with_types_in bindings);
