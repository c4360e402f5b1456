//! The SDK carries its own copy of the WIT (so plugins build outside this repository); inside
//! the repository the copy must be the released contract, byte for byte.

use std::path::Path;

#[test]
fn the_carried_wit_is_the_released_contract() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let carried = std::fs::read_to_string(crate_dir.join("wit/provider.wit"))
        .expect("the SDK carries wit/provider.wit");
    assert!(
        carried.contains(&format!(
            "package tributary:provider@{};",
            tributary_plugin_sdk::WIT_VERSION
        )),
        "WIT_VERSION does not match the carried WIT's package version"
    );
    let released = crate_dir
        .join("../../wit")
        .join(format!("v{}", tributary_plugin_sdk::WIT_VERSION))
        .join("provider.wit");
    let Ok(released) = std::fs::read_to_string(&released) else {
        // Outside the repository (a packaged SDK) there is nothing to compare with.
        eprintln!("{} not found: skipped", released.display());
        return;
    };
    assert!(
        carried == released,
        "plugins/sdk/wit/provider.wit differs from wit/v{}/provider.wit: copy the released contract \
         (a released version is frozen; a new version gets a new folder)",
        tributary_plugin_sdk::WIT_VERSION
    );
}
