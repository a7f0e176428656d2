//! Many writers on several connections commit out of order while readers
//! pull: every reader ends with every report exactly once, and a cursor
//! never passes a position that a later commit fills (the feed-cursor rule
//! of docs/adr/0025-postgresql-backend-and-the-feed-cursor.md).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use super::{create, decide_with_cells, rules};
use crate::store::*;

const WRITERS: u128 = 6;
const PUSHES: u128 = 150;
/// Reports per push: a push holds its transaction over several writes.
const BATCH: u128 = 3;
const READERS: usize = 3;

/// One reader's pull of everything after `cursor`, page by page; returns
/// the report ids in feed order and the new cursor.
fn pull_all(s: &dyn Store, cursor: &mut u64, seen: &mut Vec<Uuid>) {
    loop {
        let page = s
            .pull(&PullQuery {
                after_seq: *cursor,
                scope: Scope::All,
                max_records: 50,
                max_bytes: usize::MAX,
            })
            .expect("pull");
        for item in &page.items {
            match item {
                FeedItem::Report(r) => seen.push(r.id),
                FeedItem::OutOfScope(id) => panic!("an out-of-scope notice for {id} in Scope::All"),
            }
        }
        assert!(page.last_seq >= *cursor, "the cursor went back");
        *cursor = page.last_seq;
        if !page.more {
            return;
        }
    }
}

pub fn writers_and_readers_never_skip(s: &dyn Store) {
    let decide = decide_with_cells;
    let done = AtomicBool::new(false);
    let readers: Vec<Vec<Uuid>> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut cursor = 0;
                    let mut seen = Vec::new();
                    // Pull while writers commit; once they are all done, one
                    // last pull takes what remains.
                    while !done.load(Ordering::Acquire) {
                        pull_all(s, &mut cursor, &mut seen);
                    }
                    pull_all(s, &mut cursor, &mut seen);
                    seen
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                scope.spawn(move || {
                    let rules = rules(&decide);
                    for p in 0..PUSHES {
                        let ops: Vec<_> = (0..BATCH)
                            .map(|i| {
                                let n = 1_000_000 + (w * PUSHES + p) * BATCH + i;
                                create(n, n, if i % 2 == 0 { 1.0 } else { -1.0 })
                            })
                            .collect();
                        let outcomes = s
                            .apply_ops(Uuid::from_u128(7), &ops, &rules, 1_000)
                            .expect("a push commits (retried on conflicts)");
                        assert!(
                            outcomes
                                .iter()
                                .all(|o| matches!(o, gridwarden_protocol::Outcome::Applied)),
                            "{outcomes:?}"
                        );
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("a writer");
        }
        done.store(true, Ordering::Release);
        readers
            .into_iter()
            .map(|r| r.join().expect("a reader"))
            .collect()
    });
    let expected: HashSet<Uuid> = (0..WRITERS * PUSHES * BATCH)
        .map(|n| Uuid::from_u128(1_000_000 + n))
        .collect();
    assert_eq!(
        s.reports(false).expect("reports").len(),
        expected.len(),
        "every push landed once"
    );
    for (i, seen) in readers.iter().enumerate() {
        let unique: HashSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "reader {i} saw a report twice: only creates were pushed"
        );
        let missing = expected.difference(&unique).count();
        assert_eq!(
            missing, 0,
            "reader {i} skipped {missing} reports: a cursor passed a position a later commit filled"
        );
    }
}
