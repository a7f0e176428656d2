//! Photo metadata: which reports and case steps carry a photo, so the
//! server knows who may upload or fetch it. The bytes live in photo storage
//! (`crate::photos`), the references in the reports and cases themselves.

use gridwarden_protocol::{PhotoHash, ReportState};

use super::{CasePhotoUse, StoreResult};

pub trait PhotoStore {
    /// Live reports that carry a photo: who may fetch or upload it.
    fn photo_reports(&self, hash: PhotoHash) -> StoreResult<Vec<ReportState>>;
    /// Case steps that carry this photo: who took it, for which report.
    fn case_photo_uses(&self, hash: PhotoHash) -> StoreResult<Vec<CasePhotoUse>>;
    /// How many photo index rows deleted reports still hold (what `gc`
    /// would drop with `FeedTx::forget_photos_of_deleted_reports`).
    fn photo_rows_of_deleted_reports(&self) -> StoreResult<u64>;
}
