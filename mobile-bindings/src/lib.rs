//! The bridge from phones to `gridwarden-client-core`.
//!
//! Skeleton only: the uniffi interface (Kotlin, Swift, Python) arrives with
//! the mobile-bindings issue. The rule for this crate is already fixed: no
//! domain logic here, only type and error mapping over the client core, so a
//! phone runs exactly the code the command-line client runs.

pub use gridwarden_client_core as core;

/// Version of the client core these bindings wrap.
pub fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
