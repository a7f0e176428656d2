//! Bytes per report of a pull page of realistic reports, plain (protocol 3)
//! and packed (protocol 4), and what the other option ADR 0032 weighs —
//! clocks sent only where they differ from the create's — would save. The
//! benchmark's reports repeat ten notes, which packs far better than real
//! ones; here every note is different (characters drawn uniformly from 3,000
//! common ones, so no better than random), as are ids, places and times.
//!
//! `cargo test -p gridwarden-protocol --test page_bytes -- --nocapture`
//! prints the table ADR 0032 quotes; the test holds the 150 B budget.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is the report

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::*;
use uuid::Uuid;

/// xorshift64*: deterministic, so the figures are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn text(&mut self, chars: u64) -> String {
        (0..chars)
            .map(|_| char::from_u32(0x4E00 + self.below(3000) as u32).unwrap())
            .collect()
    }
    /// A UUIDv7 made at `ms`: 48 bits of time, the rest random.
    fn uuid_v7(&mut self, ms: u64) -> Uuid {
        let random = u128::from(self.next()) << 64 | u128::from(self.next());
        let bits = (u128::from(ms) << 80) | (random & ((1 << 80) - 1));
        Uuid::from_u128(bits & !(0xF << 76) | (0x7 << 76))
    }
}

struct Page {
    records: Vec<Record>,
    reports: usize,
}

/// `n` reports of a district's wardens over a working day, each with its
/// case, as the server sends them to a new device.
fn realistic_page(n: usize, rng: &mut Rng) -> Page {
    let wardens: Vec<(String, Uuid)> = (0..6)
        .map(|i| {
            (
                format!("warden.{i:02}"),
                Uuid::from_u128(u128::from(rng.next()) << 64 | rng.next() as u128),
            )
        })
        .collect();
    let cells: Vec<String> = (0..12).map(|i| format!("9901020010010{i:02}")).collect();
    let categories = [
        "0101", "0102", "0103", "0110", "0201", "0202", "0301", "0401",
    ];
    let mut at = 1_763_800_000_000u64;
    let mut records = Vec::new();
    for _ in 0..n {
        at += rng.below(60_000);
        let (reporter, device) = &wardens[rng.below(6) as usize];
        let created = Hlc::new(at, rng.below(3) as u32, node_id(*device));
        let id = rng.uuid_v7(at);
        let chars = 8 + rng.below(13);
        let report = NewReport {
            category: categories[rng.below(8) as usize].into(),
            location: Location {
                lon: 111.65 + rng.below(100_000) as f64 * 1e-6,
                lat: 40.80 + rng.below(100_000) as f64 * 1e-6,
                accuracy_m: Some(3.0 + rng.below(18) as f32),
            },
            address: (rng.below(10) < 3).then(|| rng.text(6)),
            note: rng.text(chars),
            observed_at_ms: at as i64 - rng.below(120_000) as i64,
            patrol: None,
            asset: None,
        };
        let mut state = ReportState::empty(id);
        state.apply(&ReportOp::Create(report), created, reporter, *device);
        state.set_grid_cell(
            Some(cells[rng.below(12) as usize].clone()),
            Hlc::new(at + rng.below(2000), 0, 0),
        );
        if rng.below(10) < 3 {
            let mut hash = [0u8; 32];
            hash.iter_mut().for_each(|b| *b = rng.next() as u8);
            state.apply(
                &ReportOp::AttachPhotos(vec![PhotoRef {
                    hash: PhotoHash(hash),
                    size: 2_000_000 + rng.below(1_000_000),
                    mime: "image/jpeg".into(),
                }]),
                Hlc::new(at + 1, 0, node_id(*device)),
                reporter,
                *device,
            );
        }
        records.push(Record::Report(state));
        records.push(Record::Case(CaseState::reported(
            id,
            Some(at as i64 + 3_600_000),
        )));
    }
    Page {
        records,
        reports: n,
    }
}

/// The bytes the clocks of registers equal to the create's take beyond one:
/// what sending "same as the create" as a one-byte tag would save.
fn elidable_clock_bytes(records: &[Record]) -> usize {
    let mut saved = 0;
    for record in records {
        let Record::Report(s) = record else { continue };
        let Some(created) = s.origin.as_ref().map(|o| o.created) else {
            continue;
        };
        let clocks = [
            s.category.as_ref().map(|r| r.hlc),
            s.note.as_ref().map(|r| r.hlc),
            s.location.as_ref().map(|r| r.hlc),
            s.address.as_ref().map(|r| r.hlc),
            s.asset.as_ref().map(|r| r.hlc),
        ];
        for hlc in clocks.into_iter().flatten().filter(|h| *h == created) {
            saved += codec::encode(&hlc).len() - 1;
        }
    }
    saved
}

#[test]
fn a_page_of_realistic_reports_packs_within_the_budget() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    println!(
        "reports/page  plain B/report  packed B/report  zstd-3 B/report  clocks elided B/report"
    );
    let mut packed_at_1000 = 0.0;
    for n in [20usize, 100, 1000] {
        let page = realistic_page(n, &mut rng);
        let message = ServerMessage::PullPage(PullPage {
            records: page.records,
            cursor: Cursor(vec![0x5a; 48]),
            more: true,
        });
        let plain = codec::encode(&message);
        let packed = versions::encode_server(4, &message);
        assert_eq!(versions::decode_server(4, &packed).unwrap(), message);
        let level3 = zstd::bulk::compress(&plain, 3).unwrap().len() + 8;
        let ServerMessage::PullPage(p) = &message else {
            unreachable!()
        };
        let elided = plain.len() - elidable_clock_bytes(&p.records);
        let per = |b: usize| b as f64 / page.reports as f64;
        println!(
            "{n:>12}  {:>14.1}  {:>15.1}  {:>15.1}  {:>22.1}",
            per(plain.len() + 4),
            per(packed.len() + 4),
            per(level3 + 4),
            per(elided + 4)
        );
        if n == 1000 {
            packed_at_1000 = per(packed.len() + 4);
        }
    }
    // Frame bytes only: QUIC and TLS add about 4 % on a pull (ADR 0032).
    assert!(
        packed_at_1000 <= 140.0,
        "a packed page of 1,000 reports takes {packed_at_1000:.1} B a report"
    );
}
