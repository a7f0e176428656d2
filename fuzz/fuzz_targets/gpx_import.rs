//! GPX import of a walk recorded by another app (`grid/src/gpx`): the
//! input is the file's bytes.
//!
//! Must hold: nothing panics; an accepted track keeps its documented shape
//! (`seq` 0, 1, 2…, segments counting up, every point passing the server's
//! check, a short non-blank name); and exporting it with `to_gpx` and
//! importing that again gives the very same points and name, as `to_gpx`
//! promises. The points then go where an import sends them on the phone
//! (`client-core/src/patrol.rs`): thinned, and summarised for review.
#![no_main]

use gridwarden_grid::{parse_gpx, summarise, to_gpx, Thinner};
use gridwarden_protocol::track::{MAX_PATROL_NOTE_CHARS, MAX_POINTS_PER_PATROL};
use gridwarden_protocol::{validate, PatrolInfo};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let Ok(track) = parse_gpx(data) else {
        return;
    };
    assert!(track.points.len() <= MAX_POINTS_PER_PATROL as usize);
    let mut segment = 0;
    for (i, p) in track.points.iter().enumerate() {
        assert_eq!(p.seq as usize, i, "points are numbered in file order");
        assert!(
            p.segment == segment || p.segment == segment + 1,
            "segment {} after {segment}",
            p.segment
        );
        segment = p.segment;
        validate::track_point(p).unwrap_or_else(|e| panic!("an imported point is invalid: {e}"));
    }
    if let Some(name) = &track.name {
        assert!(name.chars().count() <= MAX_PATROL_NOTE_CHARS);
        assert!(!name.trim().is_empty() && name.trim() == name);
    }
    if track.points.is_empty() {
        return;
    }

    let info = PatrolInfo {
        id: Uuid::nil(),
        warden: "fuzz".to_owned(),
        device: Uuid::nil(),
        started_at_ms: 0,
        ended_at_ms: None,
        note: track.name.clone().unwrap_or_default(),
    };
    let mut thinner = Thinner::default();
    let kept: Vec<_> = track
        .points
        .iter()
        .filter(|p| thinner.keep(p))
        .copied()
        .collect();
    let summary = summarise(&info, &kept, None, &[], vec![]);
    assert_eq!(summary.points as usize, kept.len());

    let exported = to_gpx(&info, &track.points);
    let again = parse_gpx(exported.as_bytes())
        .unwrap_or_else(|e| panic!("an exported track does not import: {e}\n{exported}"));
    assert_eq!(
        again.points, track.points,
        "export → import changed the points"
    );
    if track.name.is_some() {
        assert_eq!(again.name, track.name, "export → import changed the name");
    }
});
