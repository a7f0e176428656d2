//! The report entity, its operations and the merge.
//!
//! A replica's view of a report is a [`ReportState`]: each editable field is a
//! last-writer-wins register ordered by [`Hlc`], the delete is a tombstone, and
//! the server-assigned grid cell is a register written only by the server.
//! Applying an [`Op`] and merging two states are both joins in a semilattice
//! (commutative, associative, idempotent), so replicas that saw the same ops
//! hold equal states whatever the order and however often they saw them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case::CaseOp;
use crate::photo::PhotoRef;
use crate::track::PatrolOp;
use crate::Hlc;

/// A position reported by the device (WGS84).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lon: f64,
    pub lat: f64,
    /// Horizontal accuracy in metres, when the device knows it.
    pub accuracy_m: Option<f32>,
}

/// The fields a device supplies when it records a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewReport {
    pub category: String,
    pub location: Location,
    pub address: Option<String>,
    pub note: String,
    /// When the warden saw the issue, device wall clock, ms since the epoch.
    pub observed_at_ms: i64,
    pub patrol: Option<Uuid>,
    /// The code of the city asset concerned (a lamp post's or manhole
    /// cover's number, 部件编号), when there is one (since 3).
    pub asset: Option<String>,
}

/// A change to some fields of a report; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportEdit {
    pub category: Option<String>,
    pub note: Option<String>,
    pub location: Option<Location>,
    pub address: Option<Option<String>>,
    /// Since 3.
    pub asset: Option<Option<String>>,
}

impl ReportEdit {
    pub fn is_empty(&self) -> bool {
        self.category.is_none()
            && self.note.is_none()
            && self.location.is_none()
            && self.address.is_none()
            && self.asset.is_none()
    }
}

/// What an operation does to one report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReportOp {
    Create(NewReport),
    Edit(ReportEdit),
    Delete,
    /// Adds photos (already stored on the device) to the report's grow-only
    /// set of photos.
    AttachPhotos(Vec<PhotoRef>),
}

/// The entity an operation addresses. New entities (patrols, photos, cases)
/// are added as new variants at the end, which keeps old encodings valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpBody {
    Report {
        report_id: Uuid,
        op: ReportOp,
    },
    Patrol {
        patrol_id: Uuid,
        op: PatrolOp,
    },
    /// A step of the case loop of a report (protocol/src/case.rs).
    Case {
        report_id: Uuid,
        op: CaseOp,
    },
}

/// One operation from a device's outbox. `op_id` makes a push idempotent: the
/// server applies each op id at most once, however often it is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub op_id: Uuid,
    pub hlc: Hlc,
    pub body: OpBody,
}

/// A last-writer-wins register.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lww<T> {
    pub value: T,
    pub hlc: Hlc,
}

impl<T: Clone + PartialEq> Lww<T> {
    pub fn new(value: T, hlc: Hlc) -> Self {
        Self { value, hlc }
    }

    /// Keeps the write with the greater clock. Two writes never share a clock
    /// (the node id is part of it); if they do, the values are equal.
    pub fn merge(&mut self, other: &Lww<T>) {
        if other.hlc > self.hlc {
            *self = other.clone();
        }
    }
}

fn merge_opt<T: Clone + PartialEq>(slot: &mut Option<Lww<T>>, incoming: Option<&Lww<T>>) {
    match (slot.as_mut(), incoming) {
        (Some(mine), Some(theirs)) => mine.merge(theirs),
        (None, Some(theirs)) => *slot = Some(theirs.clone()),
        (_, None) => {}
    }
}

/// Facts fixed when a report is created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// User name of the reporter.
    pub reporter: String,
    /// Device that recorded it.
    pub device: Uuid,
    pub observed_at_ms: i64,
    pub patrol: Option<Uuid>,
    /// Clock of the create op.
    pub created: Hlc,
}

/// A replica's merged view of one report.
///
/// Every part is optional because an edit can reach a replica before the
/// create it follows; the report is visible once `origin` is known.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportState {
    pub id: Uuid,
    pub origin: Option<Origin>,
    pub category: Option<Lww<String>>,
    pub note: Option<Lww<String>>,
    pub location: Option<Lww<Location>>,
    pub address: Option<Lww<Option<String>>>,
    /// Since 3: a phone on version 2 never sees it, and its edits (which
    /// cannot carry it) leave it as it is.
    pub asset: Option<Lww<Option<String>>>,
    /// Tombstone: the greatest clock of any delete. A delete wins over every
    /// edit, concurrent or later (docs/adr/0003-merge-rules.md).
    pub deleted: Option<Hlc>,
    /// Grid cell code assigned by the server; `Some(None)` means the server
    /// looked and found no cell.
    pub grid_cell: Option<Lww<Option<String>>>,
    /// Photos attached: a grow-only set, kept sorted so equal sets encode
    /// equally.
    pub photos: Vec<PhotoRef>,
}

impl ReportState {
    pub fn empty(id: Uuid) -> Self {
        Self {
            id,
            origin: None,
            category: None,
            note: None,
            location: None,
            address: None,
            asset: None,
            deleted: None,
            grid_cell: None,
            photos: Vec::new(),
        }
    }

    /// Applies one op authored by `reporter` on `device`. Idempotent and
    /// order-independent with respect to other ops on the same report.
    pub fn apply(&mut self, op: &ReportOp, hlc: Hlc, reporter: &str, device: Uuid) {
        match op {
            ReportOp::Create(new) => {
                let origin = Origin {
                    reporter: reporter.to_owned(),
                    device,
                    observed_at_ms: new.observed_at_ms,
                    patrol: new.patrol,
                    created: hlc,
                };
                self.merge_origin(Some(&origin));
                merge_opt(
                    &mut self.category,
                    Some(&Lww::new(new.category.clone(), hlc)),
                );
                merge_opt(&mut self.note, Some(&Lww::new(new.note.clone(), hlc)));
                merge_opt(&mut self.location, Some(&Lww::new(new.location, hlc)));
                merge_opt(&mut self.address, Some(&Lww::new(new.address.clone(), hlc)));
                // Only a set asset writes its register: a report without one
                // (nearly all) carries no clock for it on the wire.
                if new.asset.is_some() {
                    merge_opt(&mut self.asset, Some(&Lww::new(new.asset.clone(), hlc)));
                }
            }
            ReportOp::Edit(edit) => {
                if let Some(v) = &edit.category {
                    merge_opt(&mut self.category, Some(&Lww::new(v.clone(), hlc)));
                }
                if let Some(v) = &edit.note {
                    merge_opt(&mut self.note, Some(&Lww::new(v.clone(), hlc)));
                }
                if let Some(v) = edit.location {
                    merge_opt(&mut self.location, Some(&Lww::new(v, hlc)));
                }
                if let Some(v) = &edit.address {
                    merge_opt(&mut self.address, Some(&Lww::new(v.clone(), hlc)));
                }
                if let Some(v) = &edit.asset {
                    merge_opt(&mut self.asset, Some(&Lww::new(v.clone(), hlc)));
                }
            }
            ReportOp::Delete => self.deleted = self.deleted.max(Some(hlc)),
            ReportOp::AttachPhotos(photos) => self.add_photos(photos),
        }
    }

    /// Joins another replica's state of the same report into this one.
    pub fn merge(&mut self, other: &ReportState) {
        debug_assert_eq!(self.id, other.id, "merging states of different reports");
        self.merge_origin(other.origin.as_ref());
        merge_opt(&mut self.category, other.category.as_ref());
        merge_opt(&mut self.note, other.note.as_ref());
        merge_opt(&mut self.location, other.location.as_ref());
        merge_opt(&mut self.address, other.address.as_ref());
        merge_opt(&mut self.asset, other.asset.as_ref());
        self.deleted = self.deleted.max(other.deleted);
        merge_opt(&mut self.grid_cell, other.grid_cell.as_ref());
        self.add_photos(&other.photos);
    }

    fn add_photos(&mut self, photos: &[PhotoRef]) {
        for photo in photos {
            if let Err(at) = self.photos.binary_search(photo) {
                self.photos.insert(at, photo.clone());
            }
        }
    }

    /// Records the server's grid cell decision.
    pub fn set_grid_cell(&mut self, cell: Option<String>, hlc: Hlc) {
        merge_opt(&mut self.grid_cell, Some(&Lww::new(cell, hlc)));
    }

    fn merge_origin(&mut self, other: Option<&Origin>) {
        // A report has one create op; should two ever meet (a forged id), the
        // earlier clock wins everywhere, deterministically.
        match (&self.origin, other) {
            (None, Some(o)) => self.origin = Some(o.clone()),
            (Some(mine), Some(o)) if o.created < mine.created => self.origin = Some(o.clone()),
            _ => {}
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// The current category, if the create has been seen.
    pub fn category(&self) -> Option<&str> {
        self.category.as_ref().map(|c| c.value.as_str())
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_ref().map(|c| c.value.as_str())
    }

    pub fn location(&self) -> Option<Location> {
        self.location.as_ref().map(|l| l.value)
    }

    pub fn address(&self) -> Option<&str> {
        self.address.as_ref().and_then(|a| a.value.as_deref())
    }

    pub fn asset(&self) -> Option<&str> {
        self.asset.as_ref().and_then(|a| a.value.as_deref())
    }

    /// Server-assigned grid cell, `None` if not assigned (yet).
    pub fn grid_cell(&self) -> Option<&str> {
        self.grid_cell.as_ref().and_then(|g| g.value.as_deref())
    }

    /// Greatest clock of anything in this state; used to order and to observe.
    pub fn max_hlc(&self) -> Hlc {
        let mut max = self.deleted.unwrap_or(Hlc::ZERO);
        let clocks = [
            self.origin.as_ref().map(|o| o.created),
            self.category.as_ref().map(|l| l.hlc),
            self.note.as_ref().map(|l| l.hlc),
            self.location.as_ref().map(|l| l.hlc),
            self.address.as_ref().map(|l| l.hlc),
            self.asset.as_ref().map(|l| l.hlc),
            self.grid_cell.as_ref().map(|l| l.hlc),
        ];
        for c in clocks.into_iter().flatten() {
            max = max.max(c);
        }
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn new_report(category: &str) -> NewReport {
        NewReport {
            category: category.into(),
            location: Location {
                lon: 111.6,
                lat: 40.8,
                accuracy_m: Some(5.0),
            },
            address: None,
            note: "cover missing".into(),
            observed_at_ms: 1_700_000_000_000,
            patrol: None,
            asset: None,
        }
    }

    #[test]
    fn later_edit_wins_per_field() {
        let id = Uuid::nil();
        let dev = Uuid::from_u128(1);
        let mut s = ReportState::empty(id);
        s.apply(
            &ReportOp::Create(new_report("010101")),
            Hlc::new(10, 0, 1),
            "ann",
            dev,
        );
        let edit = ReportEdit {
            note: Some("fixed?".into()),
            ..Default::default()
        };
        s.apply(&ReportOp::Edit(edit), Hlc::new(20, 0, 2), "ann", dev);
        let stale = ReportEdit {
            note: Some("old".into()),
            category: Some("010102".into()),
            ..Default::default()
        };
        s.apply(&ReportOp::Edit(stale), Hlc::new(15, 0, 3), "ann", dev);
        assert_eq!(s.note(), Some("fixed?"));
        assert_eq!(
            s.category(),
            Some("010102"),
            "an older edit still wins fields nobody wrote later"
        );
    }

    #[test]
    fn delete_wins_over_concurrent_and_later_edits() {
        let mut s = ReportState::empty(Uuid::nil());
        let dev = Uuid::from_u128(1);
        s.apply(
            &ReportOp::Create(new_report("010101")),
            Hlc::new(10, 0, 1),
            "ann",
            dev,
        );
        s.apply(&ReportOp::Delete, Hlc::new(11, 0, 1), "ann", dev);
        let edit = ReportEdit {
            note: Some("x".into()),
            ..Default::default()
        };
        s.apply(&ReportOp::Edit(edit), Hlc::new(12, 0, 2), "ann", dev);
        assert!(s.is_deleted());
    }

    fn arb_op() -> impl Strategy<Value = (ReportOp, Hlc)> {
        let hlc = (0u64..50, 0u32..3, 0u64..4).prop_map(|(w, c, n)| Hlc::new(w, c, n));
        let op = prop_oneof![
            "[a-c]".prop_map(|c| ReportOp::Create(new_report(&c))),
            ("[a-c]", any::<bool>()).prop_map(|(n, cat)| ReportOp::Edit(ReportEdit {
                note: Some(n.clone()),
                category: cat.then(|| n.clone()),
                ..Default::default()
            })),
            Just(ReportOp::Delete),
        ];
        (op, hlc)
    }

    fn fold(ops: &[(ReportOp, Hlc)]) -> ReportState {
        let mut s = ReportState::empty(Uuid::nil());
        for (op, hlc) in ops {
            s.apply(
                op,
                *hlc,
                &format!("user{}", hlc.node),
                Uuid::from_u128(hlc.node.into()),
            );
        }
        s
    }

    // Distinct ops must have distinct clocks, as HlcClock guarantees.
    fn unique_clocks(ops: Vec<(ReportOp, Hlc)>) -> Vec<(ReportOp, Hlc)> {
        let mut seen = std::collections::HashSet::new();
        ops.into_iter().filter(|(_, h)| seen.insert(*h)).collect()
    }

    proptest! {
        #[test]
        fn apply_order_does_not_matter(ops in proptest::collection::vec(arb_op(), 0..12), seed in any::<u64>()) {
            let ops = unique_clocks(ops);
            let mut shuffled = ops.clone();
            // Deterministic shuffle from the seed, so shrinking stays readable.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            prop_assert_eq!(fold(&ops), fold(&shuffled));
        }

        #[test]
        fn apply_is_idempotent(ops in proptest::collection::vec(arb_op(), 0..12)) {
            let ops = unique_clocks(ops);
            let twice: Vec<_> = ops.iter().chain(ops.iter()).cloned().collect();
            prop_assert_eq!(fold(&ops), fold(&twice));
        }

        #[test]
        fn merge_of_split_histories_equals_applying_all(
            ops in proptest::collection::vec(arb_op(), 0..12), mask in any::<u16>()
        ) {
            let ops = unique_clocks(ops);
            let (left, right): (Vec<_>, Vec<_>) =
                ops.iter().cloned().enumerate().partition(|(i, _)| mask & (1 << (i % 16)) != 0);
            let left: Vec<_> = left.into_iter().map(|(_, o)| o).collect();
            let right: Vec<_> = right.into_iter().map(|(_, o)| o).collect();
            let mut a = fold(&left);
            let b = fold(&right);
            let mut b2 = b.clone();
            a.merge(&b);
            b2.merge(&fold(&left));
            prop_assert_eq!(&a, &fold(&ops));
            prop_assert_eq!(&a, &b2, "merge is commutative");
            let again = a.clone();
            a.merge(&again);
            prop_assert_eq!(a, again, "merge is idempotent");
        }
    }
}
