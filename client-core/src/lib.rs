//! The gridwarden client core: everything a device does, shared by the phone
//! apps (through bindings) and the command-line client (brief decision 10).
//!
//! # Layers
//!
//! Each layer uses only the layers above it in this list (checked by the
//! `layers` test, which reads every module's `use crate::…` lines):
//!
//! 1. **base** — [`error`] (the one error type), `time` (the server-time
//!    estimate's arithmetic), [`tls`] (certificate pins).
//! 2. **link** — `link`: the [`Exchange`] trait (one connection: a message
//!    out, its answer back), [`Connect`] (opens one), the helpers for
//!    unexpected answers, and `link::quic` ([`transport`]), the only code on
//!    the device that touches quinn.
//! 3. **store** — [`store`]: the SQLite tables, one function per query.
//! 4. **local** — `local`: what a device does without the network. The
//!    report, photo, patrol and case writes are functions over one
//!    `&rusqlite::Transaction` and a `Clock`; `local::Device` holds the
//!    store, the reference cache and the clock they share.
//! 5. **sync** — [`sync`]: the IO-free [`sync::engine`] and its driver over
//!    any [`Connect`], the photo upload, retries.
//! 6. **remote** — `remote`: enrolment and the on-demand requests (photo
//!    fetch, patrol review), over any [`Connect`] too, so the simulation
//!    drives them like the sync.
//! 7. **client** — [`Client`]: the thin facade front ends hold; it delegates
//!    to the layers below and none of them calls back into it. Its blocking
//!    calls share one runtime the client keeps (never one per call).

pub mod error;
mod time;
pub mod tls;

mod link;

pub mod store;

mod local;

pub mod sync;

mod remote;

mod client;

#[cfg(test)]
mod layers;
#[cfg(test)]
mod testutil;

/// The QUIC link (`link::quic`), for tools and tests that open raw
/// connections or sync over a session of their own.
pub use link::quic as transport;

/// The case loop's views and filter.
pub mod cases {
    pub use crate::local::cases::{CaseFilter, CaseView, StepView};
}
/// Ids by typed prefix, short ids, names of codes.
pub mod lookup {
    pub use crate::local::lookup::{
        id_prefix_digits, PrefixMatches, ReferenceNames, ShortIds, MIN_SHORT_ID_DIGITS,
    };
}
/// Patrol inputs and results.
pub mod patrol {
    pub use crate::local::patrols::{ImportedPatrol, PointInput, POINTS_PER_OP};
}
/// Photos as a device shows them.
pub mod photo {
    pub use crate::local::budget::{Applied as BudgetApplied, Storage as PhotoStorage};
    pub use crate::local::photos::{PhotoView, DEVICE_MAX_PHOTO_BYTES};
    pub use crate::local::thumbnail::LONGEST_SIDE as THUMBNAIL_LONGEST_SIDE;
    pub use crate::store::photos::{Usage as PhotoUsage, DEFAULT_BUDGET as DEFAULT_PHOTO_BUDGET};
}
/// Reports as a device shows them.
pub mod view {
    pub use crate::local::view::{ReportStatus, ReportView};
}

pub use cases::{CaseFilter, CaseView, StepView};
pub use client::{Client, ClientStatus, EnrolmentInfo, DEFAULT_CONNECT_TIMEOUT};
pub use error::{ClientError, Result};
pub use link::quic::Timing as LinkTiming;
pub use link::{Connect, Exchange};
pub use local::cache::CellGuess;
pub use local::enrolment::UnsentWork;
pub use lookup::{PrefixMatches, ReferenceNames, ShortIds};
pub use patrol::{ImportedPatrol, PointInput};
pub use photo::{PhotoStorage, PhotoView};
pub use store::overwrites::Overwrite;
pub use store::rejections::Rejection;
pub use sync::live::LiveEvent;
pub use sync::{CancelToken, Controls, RetryPolicy, SyncProgress, SyncSummary, RENEW_EVERY_MS};
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
        is_send(&client.fetch_photo(
            &crate::PhotoRef {
                hash: gridwarden_protocol::PhotoHash([0; 32]),
                size: 0,
                mime: String::new(),
            },
            dir.path(),
        ));
        is_send(&client.remote_patrols(crate::ListPatrols {
            warden: None,
            since_ms: None,
            until_ms: None,
            max_patrols: 1,
        }));
    }
}
