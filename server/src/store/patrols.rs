//! Patrols and their tracks. They are written by pushes (see
//! [`super::FeedTx::apply_ops`]); this is what the store answers about them.

use gridwarden_protocol::TrackPoint;
use uuid::Uuid;

use super::{PatrolFilter, StoreResult, StoredPatrol};

pub trait PatrolStore {
    fn patrol(&self, id: Uuid) -> StoreResult<Option<StoredPatrol>>;
    fn patrols(&self, filter: &PatrolFilter) -> StoreResult<Vec<StoredPatrol>>;
    /// A patrol's track points in sequence order.
    fn track(&self, patrol: Uuid) -> StoreResult<Vec<TrackPoint>>;
    /// Live reports recorded on a patrol, by id.
    fn patrol_reports(&self, patrol: Uuid) -> StoreResult<Vec<Uuid>>;
}
