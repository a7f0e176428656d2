//! What a device shows of a report: the merged state flattened, plus the
//! device-only facts (its grid guess, whether it still waits to be sent).

use std::fmt;

use gridwarden_protocol::category::CategoryTable;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::store::reports::StoredReport;

/// Where a report stands between this device and the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportStatus {
    /// At least one op of it waits in the outbox.
    Pending,
    /// Everything recorded here was acknowledged by the server.
    Synced,
    /// The server refused an op of it; the reason is for the user.
    Rejected { code: String, reason: String },
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportStatus::Pending => f.write_str("pending"),
            ReportStatus::Synced => f.write_str("synced"),
            ReportStatus::Rejected { reason, .. } => write!(f, "rejected: {reason}"),
        }
    }
}

/// Serialised as its display text (`pending`, `synced`, `rejected: REASON`),
/// the form documented for `--json` output.
impl Serialize for ReportStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportView {
    pub id: Uuid,
    pub category: String,
    /// Name of the category in the cached table, if the device has one.
    pub category_name: Option<String>,
    pub note: String,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f32>,
    pub address: Option<String>,
    /// The city asset concerned (protocol 3).
    pub asset: Option<String>,
    pub observed_at_ms: i64,
    pub reporter: String,
    pub device: Uuid,
    pub patrol: Option<Uuid>,
    /// Grid cell assigned by the server; `None` until it has assigned one.
    pub grid_cell: Option<String>,
    /// This device's own guess from its cached grid layer.
    pub local_cell: Option<String>,
    pub deleted: bool,
    pub status: ReportStatus,
    /// Photos of the report (never their bytes): where each stands.
    pub photos: Vec<super::photos::PhotoView>,
}

impl ReportView {
    /// Flattens a stored report; `None` while its create op is unknown here
    /// (an edit can arrive first), since such a report cannot be shown.
    pub(crate) fn from_stored(r: StoredReport, categories: Option<&CategoryTable>) -> Option<Self> {
        let s = &r.state;
        let origin = s.origin.as_ref()?;
        let location = s.location()?;
        let category = s.category()?.to_owned();
        let category_name = categories
            .and_then(|t| t.get(&category))
            .map(|c| c.name.clone());
        let status = if r.pending {
            ReportStatus::Pending
        } else if let Some((code, reason)) = r.rejection.filter(|_| r.rejection_marks) {
            ReportStatus::Rejected { code, reason }
        } else {
            ReportStatus::Synced
        };
        Some(ReportView {
            id: s.id,
            category,
            category_name,
            note: s.note().unwrap_or_default().to_owned(),
            lon: location.lon,
            lat: location.lat,
            accuracy_m: location.accuracy_m,
            address: s.address().map(str::to_owned),
            asset: s.asset().map(str::to_owned),
            observed_at_ms: origin.observed_at_ms,
            reporter: origin.reporter.clone(),
            device: origin.device,
            patrol: origin.patrol,
            grid_cell: s.grid_cell().map(str::to_owned),
            local_cell: r.local_cell,
            deleted: s.is_deleted(),
            status,
            photos: s
                .photos
                .iter()
                .map(|p| super::photos::PhotoView::of(p, None))
                .collect(),
        })
    }
}
