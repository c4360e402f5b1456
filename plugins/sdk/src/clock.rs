//! Wall-clock time, from the host.

/// Milliseconds since the Unix epoch, UTC, as the host's clock says.
///
/// A plugin has no other clock it can trust: WASI clocks may be absent or frozen in the sandbox.
pub fn now_ms() -> u64 {
    crate::wit::tributary::provider::clock::now_ms()
}
