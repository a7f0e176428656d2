//! The bridge from phones to `gridwarden-client-core`, through uniffi
//! (Kotlin, Swift and Python bindings generated from this crate's compiled
//! library by `generate.sh`).
//!
//! The rule for this crate: no domain logic, only type and error mapping over
//! the client core, so a phone runs exactly the code the command-line client
//! runs. [`GridwardenClient`] (`client.rs`) is the one object an app holds;
//! the records it takes and returns are in `types.rs`, the one error an app
//! branches on in `error.rs`, and the sync hooks (progress listener, cancel
//! token) in `sync.rs`, the live connection's listener in `live.rs`.

mod client;
mod error;
mod live;
mod runtime;
mod sync;
mod types;

pub use client::GridwardenClient;
pub use error::GridwardenError;
pub use live::{LiveEvent, LiveListener, NoticeKind};
pub use sync::{CancelToken, SyncListener};
pub use types::*;

pub use gridwarden_client_core as core;

uniffi::setup_scaffolding!();

/// Version of the client core these bindings wrap.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
