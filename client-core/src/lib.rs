//! The gridwarden client core: everything a device does, shared by the phone
//! apps (through bindings) and the command-line client (brief decision 10).
//!
//! - [`Client`] records, edits, deletes and browses reports offline: each
//!   action is one SQLite transaction that also appends an op to the outbox.
//! - [`Client::sync`] pushes the outbox, refreshes reference data and pulls
//!   the device's scoped change feed over one QUIC connection, pinned to the
//!   certificate learnt at enrolment.
//! - [`sync::engine`] is the IO-free state machine behind it.

mod cache;
pub mod cases;
mod client;
mod enroll;
pub mod error;
pub mod lookup;
pub mod patrol;
pub mod photo;
mod recover;
mod remote;
pub mod store;
pub mod sync;
mod time;
pub mod tls;
pub mod transport;
mod trust;
pub mod view;

#[cfg(test)]
mod testutil;

pub use cache::CellGuess;
pub use cases::{CaseFilter, CaseView, StepView};
pub use client::{Client, ClientStatus, EnrolmentInfo, DEFAULT_CONNECT_TIMEOUT};
pub use error::{ClientError, Result};
pub use lookup::{PrefixMatches, ReferenceNames, ShortIds};
pub use patrol::{ImportedPatrol, PointInput};
pub use photo::PhotoView;
pub use recover::UnsentWork;
pub use store::overwrites::Overwrite;
pub use store::rejections::Rejection;
pub use sync::{CancelToken, Controls, Exchange, RetryPolicy, SyncProgress, SyncSummary};
pub use view::{ReportStatus, ReportView};

pub use gridwarden_protocol::{case, category};
/// Protocol types callers need to build inputs, re-exported so a caller does
/// not have to depend on the protocol crate for them.
pub use gridwarden_protocol::{
    ListPatrols, Location, NewReport, PatrolSummary, PatrolTrack, PhotoRef, ReportEdit, TrackPoint,
};
/// The KPI and calendar rules, for callers that compute figures.
pub use gridwarden_workflow as workflow;

#[cfg(test)]
mod thread_safety {
    use super::Client;

    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}

    // Bindings share one client between threads and run syncs on a
    // multi-threaded runtime: both need these bounds, checked at compile time.
    #[test]
    fn the_client_and_its_futures_can_cross_threads() {
        is_send_sync::<Client>();
        let dir = tempfile::tempdir().unwrap();
        let client = Client::open(dir.path()).unwrap();
        is_send(&client.sync_async());
        is_send(&client.enroll_async("gw1.x", "label"));
    }
}
