//! A patrol's cells kept up to date as its points arrive, so that each part
//! of the track is looked up in the layer once, when it arrives, and a
//! listing of patrols reads a stored result instead of walking every track
//! again (50,000 untimed points zig-zagging across a city are ~10⁸ cell
//! lookups: once on arrival is a cost, once per listing is an attack).
//!
//! The accepted track is a sequence of pieces (a run's first point, or a
//! step between consecutive accepted points) and the visited cells are the
//! union of the cells each piece samples ([`super::summarise`] computes
//! exactly that union). A tally counts, for every cell, the pieces that
//! sampled it. New points can change the flags of a few earlier ones (a
//! recovered jump, a bad first fix) or split a step (a point arriving out
//! of order), so an update classifies the track before and after (linear,
//! no lookups), and looks up only the pieces that appeared or went away:
//! counts go up and down, and the cells with a count are exactly what
//! `summarise` would say for the whole track.

use std::collections::{BTreeMap, BTreeSet};

use gridwarden_protocol::track::TrackPoint;
use serde::{Deserialize, Serialize};

use super::sorted;
use super::summary::{walk, Coverage, Piece};
use crate::GridIndex;

/// Cell code → how many pieces of the accepted track sampled a position in
/// it. Only meaningful with the layer it was counted against: a new layer
/// needs a tally counted from nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    cells: BTreeMap<String, u32>,
}

/// A piece by the points it joins, so pieces of two versions of a track can
/// be compared: (seq, lon bits, lat bits) of each end.
type PointKey = (u32, u64, u64);
type PieceKey = (Option<PointKey>, PointKey);

fn key_of(points: &[TrackPoint], piece: Piece) -> PieceKey {
    let point = |i: usize| {
        let p = &points[i];
        (p.seq, p.lon.to_bits(), p.lat.to_bits())
    };
    (piece.from.map(point), point(piece.to))
}

impl Tally {
    /// Brings the tally of the track `before` to the track `after` (both in
    /// any order; the points of `before` still in `after` unchanged, as a
    /// grow-only track keeps them). Returns the cell lookups it made: only
    /// the pieces that differ between the two are looked up.
    pub fn update(&mut self, before: &[TrackPoint], after: &[TrackPoint], grid: &GridIndex) -> u64 {
        let before = sorted(before);
        let after = sorted(after);
        let old_pieces = walk(&before).pieces;
        let old: BTreeSet<PieceKey> = old_pieces.iter().map(|&p| key_of(&before, p)).collect();
        let new_pieces = walk(&after).pieces;
        let new: BTreeSet<PieceKey> = new_pieces.iter().map(|&p| key_of(&after, p)).collect();
        let mut coverage = Coverage::new(grid);
        // Gone first: a count never has to go below zero in between.
        for piece in old_pieces {
            if !new.contains(&key_of(&before, piece)) {
                coverage.piece(&before, piece);
                for code in coverage.take_marked() {
                    if let Some(n) = self.cells.get_mut(code) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.cells.remove(code);
                        }
                    }
                }
            }
        }
        for piece in new_pieces {
            if !old.contains(&key_of(&after, piece)) {
                coverage.piece(&after, piece);
                for code in coverage.take_marked() {
                    *self.cells.entry(code.to_owned()).or_insert(0) += 1;
                }
            }
        }
        coverage.lookups
    }

    /// The cells the track visited, sorted: `summarise`'s `visited_cells`.
    pub fn visited(&self) -> Vec<String> {
        self.cells.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
