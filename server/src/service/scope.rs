//! Pull cursors that remember the scope they were issued for, and what a
//! device gets when its user's scope changed since (issue 21).
//!
//! A cursor says "you hold everything of scope S up to feed position c".
//! When IT adds cells, the reports of those cells older than c would never
//! come (the feed only moves forward); when IT removes cells, the copies of
//! their reports would stay on the device. So the cursor carries S, and a
//! pull whose cursor names another scope than the user's now first runs a
//! *catch-up*: one pass, in pages, over the cells that changed (added ones
//! and removed ones), from the start of the feed. A report the user may see
//! now comes whole; one they may no longer see comes as an out-of-scope
//! notice, so the device drops its copy (their own reports are always in
//! scope and stay). Then the ordinary feed resumes at c under the new
//! scope. A layer replaced with new codes is the same change: IT moves the
//! users to the new codes (`users cells`) and the reports moved there by
//! `--reassign` follow.
//!
//! The cursor names the cells it was issued for. So that a device cannot
//! claim cells it never held (and learn the ids of their reports from the
//! notices), the cursor is signed with a key the server keeps in its store.
//! A cursor that does not verify (forged, or issued before a restore from a
//! backup older than the key) starts the feed over for today's scope: the
//! device receives again what it holds, which merges away, and nothing it
//! may not see. Cursors from before this (eight bytes: a feed position)
//! are taken as issued for today's scope.

use std::collections::BTreeSet;

use gridwarden_protocol::{codec, Cursor};
use serde::{Deserialize, Serialize};

use super::ServiceResult;
use crate::store::{FeedItem, Page, Scope, Store};

/// A scope as a cursor names it: `None` for everything (a supervisor
/// without a district), else the cells (with the user's own reports).
pub(super) type Cells = Option<BTreeSet<String>>;

/// Where a device's pull stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Position {
    /// The ordinary feed: everything of `scope` up to `seq` is held.
    At { seq: u64, scope: Cells },
    /// Catching up after a scope change.
    CatchUp(CatchUp),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CatchUp {
    /// The device holds its old scope's reports up to this feed position.
    pub until: u64,
    /// Cells whose reports up to `until` it holds whole (`None`: all).
    pub held: Cells,
    /// Cells whose reports it may hold copies of (`held` and any scope a
    /// catch-up interrupted by another change was heading for).
    pub maybe: Cells,
    /// The scope being caught up to.
    pub target: BTreeSet<String>,
    /// Where the catch-up's pass over the feed goes on.
    pub at: u64,
}

/// A user name no report has (no user's or API client's name holds a
/// control character): the catch-up asks the store for cells only. Not NUL,
/// which PostgreSQL's text refuses (the pull failed there).
const NOBODY: &str = "\u{1}catch-up";
/// Bytes of the signature on a cursor.
const TAG_LEN: usize = 16;
/// The store's meta entry holding the signing key (hex).
const KEY_META: &str = "pull_cursor_key";

/// What the cursor's signature is made with.
pub(super) struct CursorKey([u8; 32]);

impl CursorKey {
    /// The store's key, made when a store that has none is first opened
    /// (read and made in one unit of work: two processes opening a new
    /// store at once agree on one key).
    pub fn load_or_create(store: &dyn Store) -> ServiceResult<Self> {
        let parse = |hex: &str| {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            <[u8; 32]>::try_from(bytes).ok()
        };
        if let Some(key) = store.meta(KEY_META)?.as_deref().and_then(parse) {
            return Ok(Self(key));
        }
        let key = crate::store::write(store, |tx| {
            if let Some(key) = tx.meta(KEY_META)?.as_deref().and_then(parse) {
                return Ok(key);
            }
            let key: [u8; 32] = rand::random();
            tx.set_meta(KEY_META, &gridwarden_protocol::enrolment::hex(&key))?;
            Ok(key)
        })?;
        Ok(Self(key))
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        blake3::keyed_hash(&self.0, body).as_bytes()[..TAG_LEN]
            .try_into()
            .expect("16 of 32 bytes")
    }

    pub fn encode(&self, position: &Position) -> Cursor {
        let mut bytes = codec::encode(position);
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag);
        Cursor(bytes)
    }

    /// Reads a cursor; `now` is the user's scope now, which a cursor from
    /// before scopes were remembered is taken to be. One this server cannot
    /// verify starts over from the beginning of the feed.
    pub fn decode(&self, cursor: &Cursor, now: &Cells) -> Position {
        let at = |seq| Position::At {
            seq,
            scope: now.clone(),
        };
        let bytes = &cursor.0;
        match bytes.len() {
            0 => at(0),
            8 => at(u64::from_be_bytes(bytes[..].try_into().expect("8 bytes"))),
            n => {
                let verified = (n > TAG_LEN)
                    .then(|| bytes.split_at(n - TAG_LEN))
                    .filter(|(body, tag)| {
                        // Constant time: the tag is a secret's function.
                        let expected = self.tag(body);
                        expected
                            .iter()
                            .zip(tag.iter())
                            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                            == 0
                    })
                    .and_then(|(body, _)| codec::decode(body).ok());
                verified.unwrap_or_else(|| {
                    tracing::warn!(
                        bytes = n,
                        "a pull cursor this server did not issue (or issued before a restore); the feed starts over"
                    );
                    at(0)
                })
            }
        }
    }
}

/// Where a pull from `position` goes with the user's scope `now`.
pub(super) fn next(position: Position, now: &Cells) -> Position {
    let start = || Position::At {
        seq: 0,
        scope: now.clone(),
    };
    match (position, now) {
        (Position::At { seq, scope }, _) if scope == *now => Position::At { seq, scope },
        // Nothing held yet, or everything to be held now: from the start
        // (what the device holds merges with what comes again).
        (Position::At { seq: 0, .. }, _) | (_, None) => start(),
        (Position::At { seq, scope }, Some(target)) => Position::CatchUp(CatchUp {
            until: seq,
            held: scope.clone(),
            maybe: scope,
            target: target.clone(),
            at: 0,
        }),
        (Position::CatchUp(c), Some(target)) if c.target == *target => Position::CatchUp(c),
        // Another change while catching up: what the first was heading for
        // may be partly held, so it is dropped unless in the new scope.
        (Position::CatchUp(c), Some(target)) => Position::CatchUp(CatchUp {
            maybe: c.maybe.map(|mut maybe| {
                maybe.extend(c.target);
                maybe
            }),
            target: target.clone(),
            at: 0,
            ..c
        }),
    }
}

impl CatchUp {
    /// What the catch-up's pass reads from the store: the cells added and
    /// removed (`None`: nothing is left to read), or the whole feed when the
    /// device may hold anything.
    pub fn store_scope(&self) -> Option<Scope> {
        let Some(maybe) = &self.maybe else {
            return Some(Scope::All);
        };
        let held = self.held.as_ref().unwrap_or(maybe);
        let cells: Vec<String> = self
            .target
            .difference(held)
            .chain(maybe.difference(&self.target))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        (!cells.is_empty()).then(|| Scope::Cells {
            user: NOBODY.to_owned(),
            cells,
        })
    }

    /// Whether a report is in the target scope for `user`.
    fn visible(&self, user: &str, state: &gridwarden_protocol::ReportState) -> bool {
        state.origin.as_ref().is_some_and(|o| o.reporter == user)
            || state
                .grid_cell()
                .is_some_and(|cell| self.target.contains(cell))
    }

    /// The catch-up's page from the store's: a report `user` may see comes
    /// whole (unless the device held everything, and so holds it already or
    /// gets it from the feed); one they may not comes as a notice.
    pub fn filter(&self, store: &dyn Store, user: &str, page: Page) -> ServiceResult<Page> {
        let mut items = Vec::with_capacity(page.items.len());
        for item in page.items {
            match item {
                FeedItem::Report(state) if self.visible(user, &state) => {
                    if self.held.is_some() {
                        items.push(FeedItem::Report(state));
                    }
                }
                FeedItem::Report(state) => items.push(FeedItem::OutOfScope(state.id)),
                // It left one of the changed cells: a notice unless it is in
                // scope now (then it is held, or the feed brings it).
                FeedItem::OutOfScope(id) => {
                    let visible = store
                        .report(id)?
                        .is_some_and(|state| self.visible(user, &state));
                    if !visible {
                        items.push(FeedItem::OutOfScope(id));
                    }
                }
            }
        }
        Ok(Page { items, ..page })
    }

    /// The position after a catch-up page that ended at `last_seq`.
    pub fn after(self, last_seq: u64, more: bool) -> Position {
        if more {
            Position::CatchUp(CatchUp {
                at: last_seq,
                ..self
            })
        } else {
            Position::At {
                seq: self.until,
                scope: Some(self.target),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(codes: &[&str]) -> Cells {
        Some(codes.iter().map(|c| c.to_string()).collect())
    }

    fn set(codes: &[&str]) -> BTreeSet<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_cursor_round_trips_signed_and_a_forged_one_is_refused() {
        let key = CursorKey([7; 32]);
        let at = Position::At {
            seq: 42,
            scope: cells(&["A", "B"]),
        };
        let cursor = key.encode(&at);
        assert_eq!(key.decode(&cursor, &None), at);
        let start = Position::At {
            seq: 0,
            scope: cells(&["Z"]),
        };
        let mut forged = cursor.clone();
        forged.0[1] ^= 1;
        assert_eq!(key.decode(&forged, &cells(&["Z"])), start, "starts over");
        let other = CursorKey([8; 32]);
        assert_eq!(
            other.decode(&cursor, &cells(&["Z"])),
            start,
            "another key's"
        );
        assert_eq!(key.decode(&Cursor(vec![1, 2, 3]), &cells(&["Z"])), start);
        // Cursors issued before: a feed position, today's scope.
        let old = Cursor(9u64.to_be_bytes().to_vec());
        assert_eq!(
            key.decode(&old, &cells(&["A"])),
            Position::At {
                seq: 9,
                scope: cells(&["A"])
            }
        );
    }

    #[test]
    fn a_changed_scope_catches_up_over_the_changed_cells_then_resumes_the_feed() {
        let at = Position::At {
            seq: 42,
            scope: cells(&["A", "B"]),
        };
        assert_eq!(next(at.clone(), &cells(&["A", "B"])), at, "unchanged");
        let Position::CatchUp(c) = next(at, &cells(&["B", "C"])) else {
            panic!("a catch-up")
        };
        assert_eq!((c.until, c.at), (42, 0));
        let Some(Scope::Cells { user, cells: read }) = c.store_scope() else {
            panic!("cells")
        };
        assert_eq!(user, NOBODY);
        assert_eq!(
            read,
            vec!["A".to_string(), "C".to_string()],
            "removed and added"
        );
        assert_eq!(
            c.clone().after(50, false),
            Position::At {
                seq: 42,
                scope: cells(&["B", "C"])
            }
        );
        // Changed again halfway: what it was heading for may be held.
        let halfway = Position::CatchUp(CatchUp { at: 17, ..c });
        let Position::CatchUp(again) = next(halfway, &cells(&["B"])) else {
            panic!("a catch-up")
        };
        assert_eq!(again.at, 0);
        assert_eq!(again.target, set(&["B"]));
        let Some(Scope::Cells { cells: read, .. }) = again.store_scope() else {
            panic!("cells")
        };
        assert_eq!(read, vec!["A".to_string(), "C".to_string()]);
    }

    #[test]
    fn from_or_to_everything() {
        let everything = Position::At {
            seq: 5,
            scope: None,
        };
        let Position::CatchUp(c) = next(everything, &cells(&["A"])) else {
            panic!("a catch-up")
        };
        assert_eq!(
            c.store_scope(),
            Some(Scope::All),
            "the device may hold anything"
        );
        let scoped = Position::At {
            seq: 5,
            scope: cells(&["A"]),
        };
        assert_eq!(
            next(scoped, &None),
            Position::At {
                seq: 0,
                scope: None
            },
            "everything from the start"
        );
        let fresh = Position::At {
            seq: 0,
            scope: cells(&["A"]),
        };
        assert_eq!(
            next(fresh, &cells(&["B"])),
            Position::At {
                seq: 0,
                scope: cells(&["B"])
            },
            "nothing held: no catch-up"
        );
    }
}
