//! The reports every scenario records: what a warden types on a phone (a
//! category, a GPS fix with its accuracy, a short note in Chinese, no photo),
//! deterministic so every run and the PouchDB peer see the same ones.

use gridwarden_client_core::{Location, NewReport};

use crate::synthetic_grid::SplitMix64;

/// Real-looking notes of the lengths wardens type: 8–20 characters.
const NOTES: &[&str] = &[
    "井盖缺失，存在安全隐患",
    "人行道地砖破损约两平方米",
    "垃圾桶满溢，周边有散落垃圾",
    "路灯不亮 streetlight out",
    "占道经营，早市摊点未撤",
    "绿化带树木倒伏",
    "电线杆张贴小广告",
    "施工围挡破损，未设警示标志",
    "雨水篦子堵塞，路面积水",
    "共享单车乱停放，阻碍通行",
];

/// Categories of the bundled table (GB/T 30428.2 codes).
const CATEGORIES: &[&str] = &[
    "0101", "0102", "0103", "0110", "0201", "0202", "0301", "0401",
];

/// When the reports were observed: a fixed recent day, so runs are equal.
const OBSERVED_FROM_MS: i64 = 1_763_800_000_000;

/// Report number `i`, placed near one of `places` (within ~10 m).
pub fn report(i: usize, places: &[(f64, f64)]) -> NewReport {
    let mut random = SplitMix64(i as u64);
    let (lon, lat) = places[i % places.len()];
    let jitter = |r: &mut SplitMix64| (r.unit() - 0.5) * 0.0002;
    NewReport {
        category: CATEGORIES[i % CATEGORIES.len()].into(),
        location: Location {
            lon: lon + jitter(&mut random),
            lat: lat + jitter(&mut random),
            accuracy_m: Some(3.0 + (i % 20) as f32),
        },
        address: None,
        asset: None,
        note: NOTES[i % NOTES.len()].into(),
        observed_at_ms: OBSERVED_FROM_MS + i as i64 * 1_000,
        patrol: None,
    }
}
